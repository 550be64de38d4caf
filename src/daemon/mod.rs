//! `retino-sync run`: the long-running service.
//!
//! Owns the life cycle: migrate, serve the health endpoints and webhooks,
//! run every account at start-up and then on the `sync.schedule` cron (and
//! the deletion pass on `reconcile.schedule`), and on
//! SIGTERM/SIGINT stop scheduling, let each run commit its page in flight,
//! and exit within `sync.shutdown_timeout` (a second signal exits at once).
//! What a run does is the engine's business ([`crate::sync`]).

mod accounts;
mod http;
mod webhook;

use std::future::IntoFuture;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::store::{Store, StoreError};
use crate::telemetry::metrics;
use accounts::Accounts;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr} (server.listen): {source}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot install the metrics recorder: {0}")]
    Metrics(#[from] metrics_exporter_prometheus::BuildError),
    #[error("the scheduler failed (sync.schedule): {0}")]
    Scheduler(#[from] JobSchedulerError),
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("cannot listen for shutdown signals: {0}")]
    Signals(std::io::Error),
    #[error("runs were still going {0:?} after the shutdown signal (sync.shutdown_timeout); their committed pages are kept")]
    ShutdownTimedOut(std::time::Duration),
    #[error("a second signal arrived: exited without waiting for runs in flight; their committed pages are kept")]
    Aborted,
}

/// SIGTERM (systemd, Kubernetes) or SIGINT (a terminal), whichever first.
struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

pub async fn run(settings: Settings, store: Store) -> Result<(), DaemonError> {
    let mut signals = Signals::new().map_err(DaemonError::Signals)?;
    store.migrate().await?;
    let recorder = metrics::install()?;
    let stop = CancellationToken::new();
    let accounts = Arc::new(Accounts::new(&settings, store.clone(), stop.clone())?);

    let addr = settings.server.listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| DaemonError::Listen { addr, source })?;
    let router = http::router(http::Health {
        store: store.clone(),
        accounts: settings.accounts.iter().map(|a| a.name.clone()).collect(),
        stale_after: settings.sync.stale_after,
        metrics: recorder,
    })
    .merge(webhook::router(webhook::Webhooks::new(
        store,
        &settings.accounts,
    )));
    let server = tokio::spawn(
        axum::serve(listener, router)
            .with_graceful_shutdown(stop.clone().cancelled_owned())
            .into_future(),
    );
    tracing::info!(%addr, accounts = settings.accounts.len(), schedule = %settings.sync.schedule, "retino-sync daemon started");

    let mut scheduler = JobScheduler::new().await?;
    for (schedule, names) in accounts.schedules() {
        let ticking = accounts.clone();
        scheduler
            .add(Job::new_async(schedule.as_str(), move |_, _| {
                ticking.tick(Some(&names));
                Box::pin(async {})
            })?)
            .await?;
    }
    let reconciling = accounts.clone();
    scheduler
        .add(Job::new_async(
            settings.reconcile.schedule.as_str(),
            move |_, _| {
                reconciling.reconcile_tick();
                Box::pin(async {})
            },
        )?)
        .await?;
    scheduler.start().await?;
    accounts.tick(None);

    signals.next().await;
    tracing::info!("shutdown signal: finishing the pages in flight");
    stop.cancel();
    scheduler.shutdown().await?;
    let timeout = settings.sync.shutdown_timeout;
    tokio::select! {
        _ = accounts.drained() => {}
        _ = tokio::time::sleep(timeout) => return Err(DaemonError::ShutdownTimedOut(timeout)),
        _ = signals.next() => return Err(DaemonError::Aborted),
    }
    // The server stopped accepting when `stop` fired; an error here has
    // nothing left to lose.
    let _ = server.await;
    tracing::info!("retino-sync daemon stopped");
    Ok(())
}
