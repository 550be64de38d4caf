//! Marking tickets gone from Retino (`deleted_at`), for the reconciliation
//! pass. Never a hard delete: analysts keep the history, and a ticket that
//! comes back is simply unmarked.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletionOutcome {
    Applied {
        marked: u64,
        unmarked: u64,
    },
    /// Nothing was changed: marking `would_mark` of `live` tickets exceeds
    /// the allowed share.
    Refused {
        would_mark: u64,
        live: u64,
    },
}

/// `upstream` is every id Retino listed. Only tickets stored before
/// `listed_since` can be missing from it for real: one stored later may
/// simply be newer than the listing.
pub(super) async fn mark(
    conn: &mut PgConnection,
    account: &str,
    upstream: &[Uuid],
    listed_since: DateTime<Utc>,
    max_share: f64,
    force: bool,
) -> Result<DeletionOutcome, sqlx::Error> {
    // Anti-joins against the listing, so 100,000 ids cost a hash, not a scan each.
    let (live, missing): (i64, i64) = sqlx::query_as(
        "WITH upstream AS (SELECT DISTINCT id FROM UNNEST($2::uuid[]) AS u(id))
         SELECT count(*) FILTER (WHERE t.deleted_at IS NULL),
                count(*) FILTER (WHERE t.deleted_at IS NULL AND t.synced_at < $3 AND u.id IS NULL)
         FROM retino.tickets t LEFT JOIN upstream u ON u.id = t.id
         WHERE t.account = $1",
    )
    .bind(account)
    .bind(upstream)
    .bind(listed_since)
    .fetch_one(&mut *conn)
    .await?;
    let (live, missing) = (live as u64, missing as u64);
    if !force && missing as f64 > max_share * live as f64 {
        return Ok(DeletionOutcome::Refused {
            would_mark: missing,
            live,
        });
    }
    let marked = sqlx::query(
        "UPDATE retino.tickets t SET deleted_at = now()
         WHERE t.account = $1 AND t.deleted_at IS NULL AND t.synced_at < $3
           AND NOT EXISTS (SELECT 1 FROM UNNEST($2::uuid[]) AS u(id) WHERE u.id = t.id)",
    )
    .bind(account)
    .bind(upstream)
    .bind(listed_since)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let unmarked = sqlx::query(
        "UPDATE retino.tickets t SET deleted_at = NULL
         FROM (SELECT DISTINCT id FROM UNNEST($2::uuid[]) AS u(id)) u
         WHERE t.id = u.id AND t.account = $1 AND t.deleted_at IS NOT NULL",
    )
    .bind(account)
    .bind(upstream)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(DeletionOutcome::Applied { marked, unmarked })
}
