//! Backfill on a slow API: sequential against 4 and 8 parallel windows,
//! with 50 ms of simulator latency per request, and the 429s a rate-limited
//! API answers with and without the client-side limit.
//!
//! Run: `RETINO_SYNC_TEST_ADMIN_URL=$(scripts/pg-up) cargo bench --bench parallel`
//! (`BENCH_TICKETS` changes the count, default 20,000).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use retino_sync::config::Settings;
use retino_sync::retino::RetinoClient;
use retino_sync::sim::Simulator;
use retino_sync::store::Store;
use retino_sync::sync::{sync_account, RunOptions};
use support::{fresh_database, TOKEN};
use tokio_util::sync::CancellationToken;

mod support;

async fn fresh_store(label: &str) -> (String, Store) {
    let (url, pool) = fresh_database(label, 12).await;
    (url, Store::from_pool(pool))
}

/// One backfill into a fresh database; returns its wall time.
async fn backfill(
    sim: &Simulator,
    base_url: &str,
    label: &str,
    extra: &[(&str, &str)],
) -> Duration {
    let (db_url, store) = fresh_store(label).await;
    let mut env: HashMap<String, String> = [
        ("RETINO_SYNC__DATABASE__URL", db_url.as_str()),
        ("RETINO_SYNC__API__BASE_URL", base_url),
        ("RETINO_SYNC__API__TOKEN", TOKEN),
        ("RETINO_SYNC__API__BACKOFF_MIN", "100ms"),
        ("RETINO_SYNC__API__BACKOFF_MAX", "2s"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let settings = Settings::load_from(None, &env).unwrap();
    let account = &settings.accounts[0];
    let client = RetinoClient::new(account).unwrap();
    let options = RunOptions::for_account(account, &settings.sync, false);
    sim.reset_counts();
    let started = Instant::now();
    let report = sync_account(&store, &client, options, &(), &CancellationToken::new())
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(
        report.tickets_written as usize,
        sim.len(),
        "{label}: incomplete backfill"
    );
    elapsed
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let count: usize = std::env::var("BENCH_TICKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let sim = Simulator::new(TOKEN);
    sim.generate(11, count);
    sim.set_latency(Duration::from_millis(50));
    let server = sim.spawn().await.unwrap();
    let base_url = server.base_url();
    let unlimited = ("RETINO_SYNC__API__REQUESTS_PER_SECOND", "0");

    println!("tickets                         {count}, simulator latency 50 ms per request");
    let sequential = backfill(
        &sim,
        &base_url,
        "seq",
        &[unlimited, ("RETINO_SYNC__SYNC__BACKFILL_CONCURRENCY", "1")],
    )
    .await;
    println!(
        "sequential                      {:.2} s",
        sequential.as_secs_f64()
    );
    for windows in ["4", "8"] {
        let time = backfill(
            &sim,
            &base_url,
            &format!("par{windows}"),
            &[
                unlimited,
                ("RETINO_SYNC__SYNC__BACKFILL_CONCURRENCY", windows),
            ],
        )
        .await;
        println!(
            "parallel, {windows} at a time           {:.2} s   ({:.2}x faster than sequential)",
            time.as_secs_f64(),
            sequential.as_secs_f64() / time.as_secs_f64()
        );
    }

    // An API that allows 20 requests per second, read 8 windows at a time.
    sim.set_rate_limit(Some(20));
    for (label, limit) in [
        ("without client limit", "0"),
        ("with client limit 15/s", "15"),
    ] {
        let time = backfill(
            &sim,
            &base_url,
            "limited",
            &[
                ("RETINO_SYNC__API__REQUESTS_PER_SECOND", limit),
                ("RETINO_SYNC__SYNC__BACKFILL_CONCURRENCY", "8"),
            ],
        )
        .await;
        println!(
            "rate-limited API, {label:<22} {:.2} s, {} answers were 429",
            time.as_secs_f64(),
            sim.throttled_count()
        );
    }
}
