//! The sync engine: one incremental run for one account.
//!
//! A run takes the account's lock, refreshes its reference data, then reads
//! `GET /tickets` ordered by `updated_at` from `watermark - lookback`
//! (everything with `--full`), committing each page together with the
//! watermark it earns; a large gap is read as parallel windows
//! (`backfill.rs`). A crash at any point resumes from the last committed
//! page. The deletion pass lives in `reconcile.rs`. The engine decides what to
//! fetch and when to stop; it leaves HTTP to [`crate::retino`] and SQL to
//! [`crate::store`].

mod backfill;
mod cursor;
mod read;
mod reconcile;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::{AccountSettings, SyncSettings};
use crate::retino::{ApiError, ReferenceKind, RetinoClient, TicketPage};
use crate::store::{RunFinish, RunId, RunStatus, Store, StoreError};
use crate::telemetry::metrics;
use cursor::Cursor;
pub use reconcile::{reconcile_account, ReconcileOptions, ReconcileReport};

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Re-read the whole list instead of starting at the watermark.
    pub full: bool,
    /// How far behind the watermark to start.
    pub lookback: Duration,
    /// The account's language, for reference names (`api.language`).
    pub language: String,
    /// Windows read at once in a parallel backfill; 1 reads sequentially.
    pub backfill_concurrency: usize,
    /// A gap behind the watermark longer than this is backfilled in parallel.
    pub parallel_backfill_after: Duration,
}

impl RunOptions {
    pub fn for_account(account: &AccountSettings, sync: &SyncSettings, full: bool) -> Self {
        Self {
            full,
            lookback: sync.lookback,
            language: account.api.language.clone(),
            backfill_concurrency: sync.backfill_concurrency,
            parallel_backfill_after: sync.parallel_backfill_after,
        }
    }
}

/// What a run did, for the CLI and for metrics.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    pub pages: u64,
    pub tickets_written: u64,
    pub rejects: u64,
    pub requests: u64,
    pub retries: u64,
    pub watermark_before: Option<DateTime<Utc>>,
    pub watermark_after: Option<DateTime<Utc>>,
    /// The run stopped early for a shutdown; the next one resumes.
    pub interrupted: bool,
    /// Backfill windows read in parallel (0 for a sequential run).
    pub windows: u64,
}

/// Called after each committed page with the page and the run so far;
/// used for progress display.
pub trait Progress: Send + Sync {
    fn page_committed(&self, page: &TicketPage, report: &RunReport);
}

impl Progress for () {
    fn page_committed(&self, _: &TicketPage, _: &RunReport) {}
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("account `{0}` is being synced by another process; try again when it finishes")]
    AlreadyRunning(String),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "Retino did not return tickets ordered by updated_at for account `{0}`; \
         check api.query.ordering and api.query.ordering_by_update"
    )]
    Unordered(String),
    #[error(
        "reconciliation of account `{account}` would mark {would_mark} of {live} tickets deleted, \
         more than reconcile.max_share ({max_share}); nothing was marked. If Retino really lost \
         them, run `retino-sync reconcile --account {account} --force`"
    )]
    TooManyDeletions {
        account: String,
        would_mark: u64,
        live: u64,
        max_share: f64,
    },
    #[error("reconciliation of account `{0}` stopped before its listing was complete; nothing was marked")]
    ReconcileStopped(String),
}

/// Runs one sync of the client's account and records it in `sync_runs`.
/// When `stop` is cancelled the run ends after the page being committed
/// (a fetch in flight is dropped) and is recorded as interrupted.
pub async fn sync_account(
    store: &Store,
    client: &RetinoClient,
    options: RunOptions,
    progress: &dyn Progress,
    stop: &CancellationToken,
) -> Result<RunReport, SyncError> {
    holding_account_lock(
        store,
        client.account(),
        locked_run(store, client, options, progress, stop),
    )
    .await
}

/// Runs `work` while holding the account's lock (one run or pass per
/// account across all processes), or fails with `AlreadyRunning`.
async fn holding_account_lock<T>(
    store: &Store,
    account: &str,
    work: impl std::future::Future<Output = Result<T, SyncError>>,
) -> Result<T, SyncError> {
    let lock = store
        .try_lock_account(account)
        .await?
        .ok_or_else(|| SyncError::AlreadyRunning(account.to_owned()))?;
    let result = work.await;
    // The lock also goes when its connection closes, so a failed unlock
    // must not hide the work's own result.
    if let Err(e) = lock.release().await {
        tracing::warn!(account, error = %e, "releasing the account lock failed");
    }
    result
}

/// What every step of one run works with.
struct Run<'a> {
    store: &'a Store,
    client: &'a RetinoClient,
    id: RunId,
    progress: &'a dyn Progress,
    stop: &'a CancellationToken,
}

async fn locked_run(
    store: &Store,
    client: &RetinoClient,
    options: RunOptions,
    progress: &dyn Progress,
    stop: &CancellationToken,
) -> Result<RunReport, SyncError> {
    let account = client.account();
    let started = Instant::now();
    let watermark = store.watermark(account).await?;
    let run_id = store.start_run(account, options.full, watermark).await?;
    let span = tracing::info_span!("sync", account, run_id = run_id.0, full = options.full);
    async {
        tracing::info!(watermark = ?watermark, "sync run started");
        let requests_before = client.stats().requests();
        let retries_before = client.stats().retries();
        let mut report = RunReport {
            watermark_before: watermark,
            watermark_after: watermark,
            ..RunReport::default()
        };
        let run = Run {
            store,
            client,
            id: run_id,
            progress,
            stop,
        };
        let outcome = match refresh_reference(&run, &options.language, &mut report).await {
            Ok(Completion::Finished) => read_tickets(&run, &options, &mut report).await,
            other => other,
        };
        report.requests = client.stats().requests() - requests_before;
        report.retries = client.stats().retries() - retries_before;

        let status = match &outcome {
            Ok(Completion::Finished) => RunStatus::Succeeded,
            Ok(Completion::Stopped) => RunStatus::Interrupted,
            Err(_) => RunStatus::Failed,
        };
        let error = match &outcome {
            Ok(Completion::Finished) => None,
            Ok(Completion::Stopped) => {
                Some("stopped by a shutdown signal; the next run resumes".to_owned())
            }
            Err(e) => Some(crate::error_line(e)),
        };
        store
            .finish_run(
                run_id,
                &RunFinish {
                    status,
                    requests: report.requests,
                    watermark_after: report.watermark_after,
                    error,
                },
            )
            .await?;
        metrics::run_finished(account, status.as_str(), started.elapsed());
        match outcome {
            Ok(completion) => {
                tracing::info!(
                    pages = report.pages,
                    tickets = report.tickets_written,
                    rejects = report.rejects,
                    requests = report.requests,
                    "sync run {}",
                    status.as_str()
                );
                report.interrupted = completion == Completion::Stopped;
                Ok(report)
            }
            Err(e) => {
                tracing::error!(error = %crate::error_line(&e), "sync run failed");
                Err(e)
            }
        }
    }
    .instrument(span)
    .await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Completion {
    Finished,
    Stopped,
}

/// Resolves to `None` when `stop` fires first.
async fn unless_stopped<T>(
    stop: &CancellationToken,
    work: impl std::future::Future<Output = T>,
) -> Option<T> {
    tokio::select! {
        biased;
        _ = stop.cancelled() => None,
        done = work => Some(done),
    }
}

/// Reads what changed: in parallel windows when the gap is large (or a
/// parallel backfill is unfinished), else sequentially from the watermark.
async fn read_tickets(
    run: &Run<'_>,
    options: &RunOptions,
    report: &mut RunReport,
) -> Result<Completion, SyncError> {
    let start = match report.watermark_before {
        Some(watermark) if !options.full => Some(watermark - options.lookback),
        _ => None,
    };
    let gap_is_large = start.is_none_or(|s| {
        (Utc::now() - s).to_std().unwrap_or_default() > options.parallel_backfill_after
    });
    let parallel = options.backfill_concurrency > 1
        && (gap_is_large
            || !run
                .store
                .backfill_windows(run.client.account())
                .await?
                .is_empty());
    if parallel {
        let concurrency = options.backfill_concurrency;
        return backfill::parallel_backfill(run, start, concurrency, report).await;
    }
    let span = read::Span {
        from: start,
        to: None,
        window: None,
    };
    read::read_span(run, span, report).await
}

/// Replaces the account's reference data (small: a request or two per
/// endpoint) so tickets stored in this run resolve to current names.
async fn refresh_reference(
    run: &Run<'_>,
    language: &str,
    report: &mut RunReport,
) -> Result<Completion, SyncError> {
    for kind in ReferenceKind::ALL {
        let Some(listing) = unless_stopped(run.stop, run.client.list_reference(kind)).await else {
            return Ok(Completion::Stopped);
        };
        let Some(list) = listing? else {
            tracing::debug!(
                endpoint = kind.path(),
                "this Retino has no such reference endpoint; skipped"
            );
            continue;
        };
        let outcome = run
            .store
            .replace_reference(run.client.account(), language, run.id, &list)
            .await?;
        if outcome.removed > 0 {
            tracing::info!(
                endpoint = kind.path(),
                removed = outcome.removed,
                "reference entries gone upstream marked removed"
            );
        }
        report.rejects += outcome.rejects_stored;
        metrics::page_stored(run.client.account(), 0, outcome.rejects_stored);
    }
    Ok(Completion::Finished)
}
