//! The daemon's HTTP surface for operators: `/healthz`, `/readyz`, `/metrics`.
//!
//! Read-only: it looks at the database and the metrics recorder and never
//! starts or changes a run. Nothing secret is served.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

use crate::store::{AccountFreshness, Store};
use crate::telemetry::metrics;

/// A probe must answer quickly even when the database does not.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Clone)]
pub struct Health {
    pub store: Store,
    pub accounts: Vec<String>,
    pub stale_after: Duration,
    pub metrics: PrometheusHandle,
}

pub fn router(health: Health) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(health)
}

async fn freshness(health: &Health) -> Result<Vec<AccountFreshness>, String> {
    match tokio::time::timeout(DATABASE_TIMEOUT, health.store.freshness(&health.accounts)).await {
        Ok(Ok(rows)) => Ok(rows),
        Ok(Err(e)) => Err(crate::error_line(&e)),
        Err(_) => Err(format!("no answer within {}s", DATABASE_TIMEOUT.as_secs())),
    }
}

async fn readyz(State(health): State<Health>) -> Response {
    let rows = match freshness(&health).await {
        Ok(rows) => rows,
        Err(reason) => {
            let body = json!({"ready": false, "database": reason});
            return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
        }
    };
    let stale: Vec<_> = rows
        .iter()
        .filter_map(|row| {
            unready_reason(row, health.stale_after)
                .map(|reason| json!({"account": row.account, "reason": reason}))
        })
        .collect();
    if stale.is_empty() {
        (StatusCode::OK, Json(json!({"ready": true}))).into_response()
    } else {
        let body = json!({"ready": false, "database": "ok", "accounts": stale});
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}

/// Why an account makes the daemon unready, if it does.
fn unready_reason(row: &AccountFreshness, stale_after: Duration) -> Option<String> {
    let last_failure = match (&row.last_status, &row.last_error) {
        (Some(status), Some(error)) if status != "succeeded" => {
            format!("; last run {status}: {error}")
        }
        _ => String::new(),
    };
    let Some(success) = row.last_success_at else {
        return Some(format!("no successful run yet{last_failure}"));
    };
    let age = (Utc::now() - success).to_std().unwrap_or_default();
    (age > stale_after).then(|| {
        format!(
            "last successful run {} ago, longer than sync.stale_after ({}){last_failure}",
            humantime::format_duration(Duration::from_secs(age.as_secs())),
            humantime::format_duration(stale_after),
        )
    })
}

async fn metrics_text(State(health): State<Health>) -> Response {
    // Lag grows between runs, so it is computed at scrape time.
    if let Ok(rows) = freshness(&health).await {
        for row in rows {
            metrics::account_freshness(&row.account, row.watermark, row.last_success_at);
        }
    }
    health.metrics.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        health.metrics.render(),
    )
        .into_response()
}
