//! What `retino-sync status` shows: per account, the watermark and last run.

use chrono::{DateTime, Utc};

use super::TICKETS_STREAM;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountStatus {
    pub account: String,
    pub watermark: Option<DateTime<Utc>>,
    pub tickets: i64,
    pub last_started_at: Option<DateTime<Utc>>,
    pub last_finished_at: Option<DateTime<Utc>>,
    pub last_status: Option<String>,
    pub last_tickets_upserted: Option<i32>,
    pub last_error: Option<String>,
    pub last_success_at: Option<DateTime<Utc>>,
}

/// The configured accounts first, then any others the database knows of.
pub(super) async fn load(
    pool: &sqlx::PgPool,
    configured: &[String],
) -> Result<Vec<AccountStatus>, sqlx::Error> {
    sqlx::query_as(
        "WITH accounts AS (
             SELECT account, min(ord) AS ord FROM (
                 SELECT account, ord FROM UNNEST($1::text[]) WITH ORDINALITY AS c(account, ord)
                 UNION ALL SELECT account, NULL::bigint FROM retino.sync_state
                 UNION ALL SELECT DISTINCT account, NULL::bigint FROM retino.sync_runs
             ) a GROUP BY account
         )
         SELECT a.account,
                s.watermark,
                (SELECT count(*) FROM retino.tickets t WHERE t.account = a.account) AS tickets,
                r.started_at AS last_started_at,
                r.finished_at AS last_finished_at,
                r.status AS last_status,
                r.tickets_upserted AS last_tickets_upserted,
                r.error AS last_error,
                (SELECT max(finished_at) FROM retino.sync_runs ok
                 WHERE ok.account = a.account AND ok.status = 'succeeded') AS last_success_at
         FROM accounts a
         LEFT JOIN retino.sync_state s ON s.account = a.account AND s.stream = $2
         LEFT JOIN LATERAL (SELECT * FROM retino.sync_runs x WHERE x.account = a.account
                            ORDER BY x.started_at DESC, x.id DESC LIMIT 1) r ON true
         ORDER BY a.ord NULLS LAST, a.account",
    )
    .bind(configured)
    .bind(TICKETS_STREAM)
    .fetch_all(pool)
    .await
}

/// What readiness needs per account, without counting tickets: it runs on
/// every probe.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountFreshness {
    pub account: String,
    pub watermark: Option<DateTime<Utc>>,
    pub last_status: Option<String>,
    pub last_error: Option<String>,
    pub last_success_at: Option<DateTime<Utc>>,
}

pub(super) async fn freshness(
    pool: &sqlx::PgPool,
    accounts: &[String],
) -> Result<Vec<AccountFreshness>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.account, s.watermark, r.status AS last_status, r.error AS last_error,
                (SELECT max(finished_at) FROM retino.sync_runs ok
                 WHERE ok.account = a.account AND ok.status = 'succeeded') AS last_success_at
         FROM UNNEST($1::text[]) WITH ORDINALITY AS a(account, ord)
         LEFT JOIN retino.sync_state s ON s.account = a.account AND s.stream = $2
         LEFT JOIN LATERAL (SELECT status, error FROM retino.sync_runs x
                            WHERE x.account = a.account AND x.status <> 'running'
                            ORDER BY x.started_at DESC, x.id DESC LIMIT 1) r ON true
         ORDER BY a.ord",
    )
    .bind(accounts)
    .bind(TICKETS_STREAM)
    .fetch_all(pool)
    .await
}
