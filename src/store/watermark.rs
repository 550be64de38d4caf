//! The watermark: per account and stream, the largest `updated_at` stored.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

pub(super) async fn load<'e>(
    executor: impl PgExecutor<'e>,
    account: &str,
    stream: &str,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar("SELECT watermark FROM retino.sync_state WHERE account = $1 AND stream = $2")
        .bind(account)
        .bind(stream)
        .fetch_optional(executor)
        .await
}

/// Moves the watermark forward, never back (a `--full` run re-reads old
/// pages), and writes nothing when it does not move.
pub(super) async fn advance(
    conn: &mut PgConnection,
    account: &str,
    stream: &str,
    watermark: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO retino.sync_state AS s (account, stream, watermark)
         VALUES ($1, $2, $3)
         ON CONFLICT (account, stream) DO UPDATE SET watermark = EXCLUDED.watermark, updated_at = now()
         WHERE s.watermark < EXCLUDED.watermark",
    )
    .bind(account)
    .bind(stream)
    .bind(watermark)
    .execute(conn)
    .await?;
    Ok(())
}
