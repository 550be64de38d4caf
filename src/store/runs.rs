//! `sync_runs` (one row per run) and `sync_rejects` (records that did not fit).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::retino::RejectedRecord;

#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(transparent)]
pub struct RunId(pub i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Succeeded,
    Failed,
    /// Stopped early on purpose (shutdown), or found dead by the next run.
    Interrupted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }
}

/// How a run ended, for its `sync_runs` row.
#[derive(Debug, Clone)]
pub struct RunFinish {
    pub status: RunStatus,
    pub requests: u64,
    pub watermark_after: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

/// Opens the run's row. Rows of this account still marked running belong to
/// a process that died (the caller holds the account lock), so they are
/// closed as interrupted.
pub(super) async fn start(
    pool: &PgPool,
    account: &str,
    full: bool,
    watermark_before: Option<DateTime<Utc>>,
) -> Result<RunId, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "UPDATE retino.sync_runs SET status = 'interrupted', finished_at = now(),
             error = 'the process stopped before the run finished'
         WHERE account = $1 AND status = 'running'",
    )
    .bind(account)
    .execute(&mut *tx)
    .await?;
    let id = sqlx::query_scalar(
        "INSERT INTO retino.sync_runs (account, full_sync, status, watermark_before)
         VALUES ($1, $2, 'running', $3) RETURNING id",
    )
    .bind(account)
    .bind(full)
    .bind(watermark_before)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub(super) async fn record_page(
    conn: &mut PgConnection,
    run_id: RunId,
    tickets_written: u64,
    rejects: u64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE retino.sync_runs
         SET pages = pages + 1, tickets_upserted = tickets_upserted + $2, rejects = rejects + $3
         WHERE id = $1",
    )
    .bind(run_id)
    .bind(i32::try_from(tickets_written).unwrap_or(i32::MAX))
    .bind(i32::try_from(rejects).unwrap_or(i32::MAX))
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn finish(
    pool: &PgPool,
    run_id: RunId,
    finish: &RunFinish,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE retino.sync_runs
         SET status = $2, finished_at = now(), requests = $3, watermark_after = $4, error = $5
         WHERE id = $1",
    )
    .bind(run_id)
    .bind(finish.status.as_str())
    .bind(i32::try_from(finish.requests).unwrap_or(i32::MAX))
    .bind(finish.watermark_after)
    .bind(&finish.error)
    .execute(pool)
    .await?;
    Ok(())
}

/// Stores rejects whole; one already stored (re-read through the lookback)
/// is skipped. Returns how many were new.
pub(super) async fn store_rejects(
    conn: &mut PgConnection,
    account: &str,
    run_id: Option<RunId>,
    rejects: &[RejectedRecord],
) -> Result<u64, sqlx::Error> {
    if rejects.is_empty() {
        return Ok(0);
    }
    let reasons: Vec<&str> = rejects.iter().map(|r| r.reason.as_str()).collect();
    let payloads: Vec<&serde_json::Value> = rejects.iter().map(|r| &r.payload).collect();
    let result = sqlx::query(
        "INSERT INTO retino.sync_rejects (account, run_id, reason, payload)
         SELECT $1, $2, u.reason, u.payload FROM UNNEST($3::text[], $4::jsonb[]) AS u(reason, payload)
         ON CONFLICT (account, md5(payload::text)) DO NOTHING",
    )
    .bind(account)
    .bind(run_id)
    .bind(reasons)
    .bind(payloads)
    .execute(conn)
    .await?;
    Ok(result.rows_affected())
}
