//! PostgreSQL: the mirror's tables and the sync's bookkeeping.
//!
//! Owns the pool, the migrations and every SQL statement. Its one
//! transactional entry point for the sync is [`Store::commit_page`]: a
//! page's tickets, rejects, run progress and new watermark commit together
//! or not at all. It never calls the API and never decides what to fetch.

mod customers;
mod deletions;
mod lock;
mod reader;
mod reference;
mod runs;
mod status;
mod tickets;
mod watermark;
mod windows;

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use sqlx::postgres::{PgPool, PgPoolOptions};

pub use customers::customer_identity;
pub use deletions::DeletionOutcome;
pub use lock::AccountLock;
pub use runs::{RunFinish, RunId, RunStatus};
pub use status::{AccountFreshness, AccountStatus};
pub use windows::{BackfillWindow, WindowProgress};

use crate::config::DatabaseSettings;
use crate::retino::{ReferenceList, RejectedRecord, TicketRecord};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The stream name of the ticket list in `sync_state`.
pub const TICKETS_STREAM: &str = "tickets";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot connect to PostgreSQL at {target} (database.url): {source}")]
    Connect {
        target: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("applying database migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
}

/// What one page commit wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageOutcome {
    /// Tickets inserted or changed; unchanged ones write nothing.
    pub tickets_written: u64,
    /// Rejects newly stored (one seen before is not stored twice).
    pub rejects_stored: u64,
    /// The account's watermark after the commit.
    pub watermark: Option<DateTime<Utc>>,
}

/// What replacing one reference listing did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReferenceOutcome {
    /// Entries newly marked `removed_at`: gone upstream.
    pub removed: u64,
    pub rejects_stored: u64,
}

/// A page ready to commit, with the watermark it earns.
#[derive(Debug)]
pub struct PageCommit<'a> {
    pub account: &'a str,
    pub run_id: RunId,
    pub tickets: &'a [TicketRecord],
    pub rejects: &'a [RejectedRecord],
    pub progress: PageProgress,
}

/// What a page earns besides its rows.
#[derive(Debug, Clone, Copy)]
pub enum PageProgress {
    /// A sequential read: the watermark moves to here.
    Watermark(Option<DateTime<Utc>>),
    /// A parallel backfill window: the windows earn the watermark together.
    Window(WindowProgress),
}

#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let url = settings.url.expose_secret();
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(Duration::from_secs(15))
            .connect(url)
            .await
            .map_err(|source| StoreError::Connect {
                target: redacted(url),
                source,
            })?;
        Ok(Self { pool })
    }

    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// Stores one page and moves the watermark, atomically: a crash at any
    /// point leaves either all of the page or none of it.
    pub async fn commit_page(&self, page: PageCommit<'_>) -> Result<PageOutcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        let tickets_written = tickets::upsert_tickets(&mut tx, page.account, page.tickets).await?;
        let rejects_stored =
            runs::store_rejects(&mut tx, page.account, Some(page.run_id), page.rejects).await?;
        let watermark = match page.progress {
            PageProgress::Window(progress) => {
                windows::record(&mut tx, page.account, progress).await?
            }
            PageProgress::Watermark(watermark) => {
                if let Some(watermark) = watermark {
                    watermark::advance(&mut tx, page.account, TICKETS_STREAM, watermark).await?;
                }
                watermark
            }
        };
        runs::record_page(&mut tx, page.run_id, tickets_written, rejects_stored).await?;
        tx.commit().await?;
        Ok(PageOutcome {
            tickets_written,
            rejects_stored,
            watermark,
        })
    }

    /// Stores tickets outside a run (write-through after an update, a
    /// webhook delivery): the same upsert and newer-wins guard as a page,
    /// without touching the watermark, which only the list may move.
    pub async fn store_tickets(
        &self,
        account: &str,
        tickets: &[TicketRecord],
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let written = tickets::upsert_tickets(&mut tx, account, tickets).await?;
        tx.commit().await?;
        Ok(written)
    }

    /// Marks the account's tickets missing from `upstream` (every id Retino
    /// listed) as deleted and unmarks those present, in one transaction,
    /// unless that would mark more than `max_share` of them and not `force`.
    pub async fn mark_deleted(
        &self,
        account: &str,
        upstream: &[uuid::Uuid],
        listed_since: DateTime<Utc>,
        max_share: f64,
        force: bool,
    ) -> Result<DeletionOutcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        let outcome =
            deletions::mark(&mut tx, account, upstream, listed_since, max_share, force).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Keeps a record that arrived outside a run and does not fit.
    pub async fn store_reject(
        &self,
        account: &str,
        reject: &RejectedRecord,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        runs::store_rejects(&mut tx, account, None, std::slice::from_ref(reject)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces the account's rows of one reference endpoint with its
    /// complete listing, and stores the records that did not fit.
    pub async fn replace_reference(
        &self,
        account: &str,
        language: &str,
        run_id: RunId,
        list: &ReferenceList,
    ) -> Result<ReferenceOutcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        let removed = reference::replace(&mut tx, account, language, list).await?;
        let rejects_stored =
            runs::store_rejects(&mut tx, account, Some(run_id), &list.rejects).await?;
        tx.commit().await?;
        Ok(ReferenceOutcome {
            removed,
            rejects_stored,
        })
    }

    /// Lets `role` read schema `retino` and nothing else (created without
    /// login when missing).
    pub async fn grant_reader(&self, role: &str) -> Result<(), StoreError> {
        Ok(reader::grant(&self.pool, role).await?)
    }

    /// The windows of the account's unfinished parallel backfill, if any.
    pub async fn backfill_windows(&self, account: &str) -> Result<Vec<BackfillWindow>, StoreError> {
        Ok(windows::load(&self.pool, account).await?)
    }

    pub async fn plan_backfill(
        &self,
        account: &str,
        windows: &[BackfillWindow],
    ) -> Result<(), StoreError> {
        Ok(windows::plan(&self.pool, account, windows).await?)
    }

    pub async fn watermark(&self, account: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(watermark::load(&self.pool, account, TICKETS_STREAM).await?)
    }

    /// Takes the account's cross-process lock, or `None` when another
    /// process (or task) holds it.
    pub async fn try_lock_account(&self, account: &str) -> Result<Option<AccountLock>, StoreError> {
        Ok(AccountLock::try_acquire(&self.pool, account).await?)
    }

    pub async fn start_run(
        &self,
        account: &str,
        full: bool,
        watermark_before: Option<DateTime<Utc>>,
    ) -> Result<RunId, StoreError> {
        Ok(runs::start(&self.pool, account, full, watermark_before).await?)
    }

    pub async fn finish_run(&self, run_id: RunId, finish: &RunFinish) -> Result<(), StoreError> {
        Ok(runs::finish(&self.pool, run_id, finish).await?)
    }

    pub async fn status(&self, accounts: &[String]) -> Result<Vec<AccountStatus>, StoreError> {
        Ok(status::load(&self.pool, accounts).await?)
    }

    /// Per configured account: watermark, last finished run, last success.
    pub async fn freshness(
        &self,
        accounts: &[String],
    ) -> Result<Vec<AccountFreshness>, StoreError> {
        Ok(status::freshness(&self.pool, accounts).await?)
    }
}

/// The URL without its password, for error messages.
fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => "(unparsable database.url)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            super::redacted("postgres://u:hunter2@db:5432/x"),
            "postgres://u:***@db:5432/x"
        );
    }
}
