//! The accounts the daemon syncs, and what one scheduler tick does to them.
//!
//! Each account runs on its own task, so one account's outage or bad token
//! never holds up another. A tick (sync or reconciliation) that finds the
//! account still busy skips it (counted, never queued); a run that finds the
//! account locked by another replica skips too. Runs stop when the
//! daemon's stop token fires, after committing the page in flight.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Settings;
use crate::retino::RetinoClient;
use crate::store::Store;
use crate::sync::{reconcile_account, sync_account, ReconcileOptions, RunOptions, SyncError};
use crate::telemetry::metrics;

#[derive(Debug, Clone, Copy)]
enum Work {
    Sync,
    Reconcile,
}

struct Account {
    client: RetinoClient,
    schedule: String,
    options: RunOptions,
    running: AtomicBool,
}

/// Clears the account's running flag however its task ends, panics included.
struct RunningGuard(Arc<Account>);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.running.store(false, Ordering::SeqCst);
    }
}

pub struct Accounts {
    store: Store,
    accounts: Vec<Arc<Account>>,
    /// At most `sync.max_concurrent_accounts` accounts run at once.
    slots: Arc<Semaphore>,
    reconcile: ReconcileOptions,
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl Accounts {
    pub fn new(
        settings: &Settings,
        store: Store,
        stop: CancellationToken,
    ) -> Result<Self, reqwest::Error> {
        let accounts = settings
            .accounts
            .iter()
            .map(|a| {
                Ok(Arc::new(Account {
                    client: RetinoClient::new(a)?,
                    schedule: a.schedule.clone(),
                    options: RunOptions::for_account(a, &settings.sync, false),
                    running: AtomicBool::new(false),
                }))
            })
            .collect::<Result<_, reqwest::Error>>()?;
        Ok(Self {
            store,
            accounts,
            slots: Arc::new(Semaphore::new(settings.sync.max_concurrent_accounts)),
            reconcile: ReconcileOptions {
                max_share: settings.reconcile.max_share,
                force: false,
            },
            stop,
            tasks: TaskTracker::new(),
        })
    }

    /// The distinct sync schedules, each with the accounts that follow it.
    pub fn schedules(&self) -> Vec<(String, Vec<String>)> {
        let mut schedules: Vec<(String, Vec<String>)> = Vec::new();
        for account in &self.accounts {
            let name = account.client.account().to_owned();
            match schedules.iter_mut().find(|(s, _)| *s == account.schedule) {
                Some((_, names)) => names.push(name),
                None => schedules.push((account.schedule.clone(), vec![name])),
            }
        }
        schedules
    }

    /// Starts a sync run for each of `names` (every account when `None`)
    /// that is not busy.
    pub fn tick(&self, names: Option<&[String]>) {
        self.start(Work::Sync, names);
    }

    /// Starts a reconciliation pass for every account that is not busy.
    pub fn reconcile_tick(&self) {
        self.start(Work::Reconcile, None);
    }

    fn start(&self, work: Work, names: Option<&[String]>) {
        let chosen =
            |a: &&Arc<Account>| names.is_none_or(|n| n.iter().any(|n| n == a.client.account()));
        for account in self.accounts.iter().filter(chosen) {
            if self.stop.is_cancelled() {
                return;
            }
            let name = account.client.account();
            if account.running.swap(true, Ordering::SeqCst) {
                tracing::info!(
                    account = name,
                    ?work,
                    "the account is still busy; skipping this tick"
                );
                metrics::tick_skipped(name, "running");
                continue;
            }
            let guard = RunningGuard(account.clone());
            let store = self.store.clone();
            let slots = self.slots.clone();
            let stop = self.stop.clone();
            let reconcile = self.reconcile;
            self.tasks.spawn(async move {
                let Ok(_slot) = slots.acquire_owned().await else {
                    return;
                };
                let Account {
                    client, options, ..
                } = &*guard.0;
                // Failures are logged (and runs recorded) by the engine; only
                // a lock held elsewhere is this module's to report.
                let result = match work {
                    Work::Sync => sync_account(&store, client, options.clone(), &(), &stop)
                        .await
                        .map(drop),
                    Work::Reconcile => reconcile_account(&store, client, reconcile, &stop)
                        .await
                        .map(drop),
                };
                if let Err(SyncError::AlreadyRunning(_)) = result {
                    tracing::info!(
                        account = client.account(),
                        ?work,
                        "another replica is busy with this account; skipping"
                    );
                    metrics::tick_skipped(client.account(), "locked");
                }
            });
        }
    }

    /// Waits for every run started so far to end.
    pub async fn drained(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }
}
