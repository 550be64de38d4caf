//! Prometheus metrics: every name, label and help text in one place.
//!
//! Code records through these functions, never through `metrics::` macros
//! with ad-hoc names, so `/metrics` stays consistent and documented. Without
//! an installed recorder (the one-shot CLI) recording is a no-op. Labels are
//! account names, outcomes and HTTP status codes: nothing secret.

use std::time::Duration;

use chrono::{DateTime, Utc};
use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

const RUNS: &str = "retino_sync_runs_total";
const RUN_DURATION: &str = "retino_sync_run_duration_seconds";
const TICKETS_UPSERTED: &str = "retino_sync_tickets_upserted_total";
const REJECTS: &str = "retino_sync_rejects_total";
const API_REQUESTS: &str = "retino_sync_api_requests_total";
const API_RETRIES: &str = "retino_sync_api_retries_total";
const SKIPPED_TICKS: &str = "retino_sync_skipped_ticks_total";
const WATERMARK_LAG: &str = "retino_sync_watermark_lag_seconds";
const LAST_SUCCESS: &str = "retino_sync_last_success_timestamp_seconds";
const RECONCILES: &str = "retino_sync_reconciles_total";
const RECONCILE_MARKED: &str = "retino_sync_reconcile_marked_total";
const RECONCILE_UNMARKED: &str = "retino_sync_reconcile_unmarked_total";
const WEBHOOK_DELIVERIES: &str = "retino_sync_webhook_deliveries_total";

/// Installs the process-wide recorder; `/metrics` renders through the handle.
pub fn install() -> Result<PrometheusHandle, metrics_exporter_prometheus::BuildError> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(RUN_DURATION.to_owned()),
            &[0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0],
        )?
        .install_recorder()?;
    describe_counter!(
        RUNS,
        "Sync runs finished, by account and outcome (succeeded, failed, interrupted)."
    );
    describe_histogram!(
        RUN_DURATION,
        Unit::Seconds,
        "Duration of sync runs, by account."
    );
    describe_counter!(
        TICKETS_UPSERTED,
        "Tickets inserted or changed in the mirror, by account."
    );
    describe_counter!(
        REJECTS,
        "API records stored in sync_rejects because they did not fit the model."
    );
    describe_counter!(
        API_REQUESTS,
        "Retino API requests, by account and HTTP status (\"error\" when none came back)."
    );
    describe_counter!(
        API_RETRIES,
        "Retino API requests retried after a fault, by account."
    );
    describe_counter!(SKIPPED_TICKS, "Scheduled runs skipped: reason \"running\" (this process is still syncing the account) or \"locked\" (another replica is).");
    describe_gauge!(
        WATERMARK_LAG,
        Unit::Seconds,
        "Now minus the account's watermark, below which every update is mirrored."
    );
    describe_gauge!(
        LAST_SUCCESS,
        Unit::Seconds,
        "Unix time of the account's last successful run."
    );
    describe_counter!(
        RECONCILES,
        "Reconciliation passes, by account and outcome (applied, refused, failed)."
    );
    describe_counter!(
        RECONCILE_MARKED,
        "Tickets marked deleted because Retino no longer lists them."
    );
    describe_counter!(
        RECONCILE_UNMARKED,
        "Tickets unmarked because Retino lists them again."
    );
    describe_counter!(WEBHOOK_DELIVERIES, "Webhook deliveries, by account and outcome (stored, unchanged, unauthorized, rejected, too_large, failed).");
    Ok(handle)
}

pub fn reconcile_finished(account: &str, outcome: &'static str, marked: u64, unmarked: u64) {
    counter!(RECONCILES, "account" => account.to_owned(), "outcome" => outcome).increment(1);
    counter!(RECONCILE_MARKED, "account" => account.to_owned()).increment(marked);
    counter!(RECONCILE_UNMARKED, "account" => account.to_owned()).increment(unmarked);
}

pub fn webhook_delivery(account: &str, outcome: &'static str) {
    counter!(WEBHOOK_DELIVERIES, "account" => account.to_owned(), "outcome" => outcome)
        .increment(1);
}

pub fn run_finished(account: &str, outcome: &'static str, duration: Duration) {
    counter!(RUNS, "account" => account.to_owned(), "outcome" => outcome).increment(1);
    histogram!(RUN_DURATION, "account" => account.to_owned()).record(duration.as_secs_f64());
}

pub fn page_stored(account: &str, tickets: u64, rejects: u64) {
    counter!(TICKETS_UPSERTED, "account" => account.to_owned()).increment(tickets);
    counter!(REJECTS, "account" => account.to_owned()).increment(rejects);
}

pub fn api_request(account: &str, status: Option<u16>) {
    let status = status.map_or_else(|| "error".to_owned(), |s| s.to_string());
    counter!(API_REQUESTS, "account" => account.to_owned(), "status" => status).increment(1);
}

pub fn api_retry(account: &str) {
    counter!(API_RETRIES, "account" => account.to_owned()).increment(1);
}

pub fn tick_skipped(account: &str, reason: &'static str) {
    counter!(SKIPPED_TICKS, "account" => account.to_owned(), "reason" => reason).increment(1);
}

/// Sets the per-account gauges from what the database says now.
pub fn account_freshness(
    account: &str,
    watermark: Option<DateTime<Utc>>,
    last_success: Option<DateTime<Utc>>,
) {
    if let Some(watermark) = watermark {
        let lag = (Utc::now() - watermark).num_milliseconds().max(0) as f64 / 1000.0;
        gauge!(WATERMARK_LAG, "account" => account.to_owned()).set(lag);
    }
    if let Some(at) = last_success {
        gauge!(LAST_SUCCESS, "account" => account.to_owned())
            .set(at.timestamp_millis() as f64 / 1000.0);
    }
}
