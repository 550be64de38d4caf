//! The example queries of `docs/schema.md` on a realistically large mirror:
//! 100,000 simulator tickets synced into a fresh database, then
//! `EXPLAIN (ANALYZE, BUFFERS)` of every example, to see which ones an
//! analyst would wait for and why.
//!
//! Run: `RETINO_SYNC_TEST_ADMIN_URL=$(scripts/pg-up) cargo bench --bench queries`
//! (`BENCH_TICKETS` changes the count). Prints per query the execution
//! time, buffers and top plan node, then the slowest query's full plan. The
//! database `retino_bench_queries` is kept for further EXPLAINs.

use std::collections::HashMap;
use std::time::Instant;

use retino_sync::config::Settings;
use retino_sync::retino::RetinoClient;
use retino_sync::sim::Simulator;
use retino_sync::store::Store;
use retino_sync::sync::{sync_account, RunOptions};
use serde_json::Value;
use sqlx::PgPool;
use support::{fresh_database, TOKEN};
use tokio_util::sync::CancellationToken;

#[path = "../tests/common/docs.rs"]
mod docs;
mod support;

use docs::sql_blocks;

const SCHEMA_DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/schema.md");
/// Each query runs this often and its fastest run counts: the first may
/// still be reading pages the sync left on disk rather than in cache.
const RUNS: usize = 3;

/// One query's fastest `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)`.
struct Measured {
    heading: String,
    sql: String,
    execution_ms: f64,
    planning_ms: f64,
    /// Shared buffers of the whole plan (the top node counts its children).
    hit: u64,
    read: u64,
    top_node: String,
}

/// "Limit (10 rows)", "Aggregate Sorted (4 rows)", "Seq Scan on tickets (...)".
fn describe(plan: &Value) -> String {
    let mut node = plan["Node Type"].as_str().unwrap_or("?").to_owned();
    if let Some(strategy) = plan["Strategy"].as_str() {
        node = format!("{node} {strategy}");
    }
    if let Some(relation) = plan["Relation Name"].as_str() {
        node = format!("{node} on {relation}");
    }
    format!("{node} ({} rows)", plan["Actual Rows"])
}

async fn measure(pool: &PgPool, heading: &str, sql: &str) -> Measured {
    let explain = format!("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}");
    let mut best: Option<Measured> = None;
    for _ in 0..RUNS {
        let output: Value = sqlx::query_scalar(&explain)
            .fetch_one(pool)
            .await
            .unwrap_or_else(|e| panic!("{heading}: {e}"));
        let root = &output[0];
        let plan = &root["Plan"];
        let measured = Measured {
            heading: heading.to_owned(),
            sql: sql.to_owned(),
            execution_ms: root["Execution Time"].as_f64().unwrap_or(f64::NAN),
            planning_ms: root["Planning Time"].as_f64().unwrap_or(f64::NAN),
            hit: plan["Shared Hit Blocks"].as_u64().unwrap_or(0),
            read: plan["Shared Read Blocks"].as_u64().unwrap_or(0),
            top_node: describe(plan),
        };
        if best
            .as_ref()
            .is_none_or(|b| measured.execution_ms < b.execution_ms)
        {
            best = Some(measured);
        }
    }
    best.expect("RUNS > 0")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let count: usize = std::env::var("BENCH_TICKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let sim = Simulator::new(TOKEN);
    sim.generate(7, count);
    let server = sim.spawn().await.unwrap();
    let (db_url, pool) = fresh_database("queries", 4).await;
    let store = Store::from_pool(pool.clone());

    let env: HashMap<String, String> = [
        ("RETINO_SYNC__DATABASE__URL", db_url),
        ("RETINO_SYNC__API__BASE_URL", server.base_url()),
        ("RETINO_SYNC__API__TOKEN", TOKEN.to_owned()),
        // The simulator is local: no need for the client-side limit.
        ("RETINO_SYNC__API__REQUESTS_PER_SECOND", "0".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let settings = Settings::load_from(None, &env).unwrap();
    let account = &settings.accounts[0];
    let client = RetinoClient::new(account).unwrap();
    let started = Instant::now();
    let report = sync_account(
        &store,
        &client,
        RunOptions::for_account(account, &settings.sync, false),
        &(),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    let sync_secs = started.elapsed().as_secs_f64();
    // The state autovacuum reaches soon after a backfill: fresh statistics
    // for the planner and a visibility map, without which index-only scans
    // fetch every heap row anyway.
    sqlx::query("VACUUM ANALYZE").execute(&pool).await.unwrap();

    println!("tickets                 {count}");
    println!("sync wall time          {sync_secs:.1} s ({report:?})");
    let doc = std::fs::read_to_string(SCHEMA_DOC).unwrap();
    let mut results = Vec::new();
    for (heading, sql) in sql_blocks(&doc) {
        let m = measure(&pool, &heading, &sql).await;
        println!(
            "{:>9.1} ms  plan {:>5.1} ms  buffers hit {:>7} read {:>6}  {:<32}  {}",
            m.execution_ms, m.planning_ms, m.hit, m.read, m.top_node, m.heading
        );
        results.push(m);
    }

    let Some(slowest) = results
        .iter()
        .max_by(|a, b| a.execution_ms.total_cmp(&b.execution_ms))
    else {
        panic!("docs/schema.md has no sql examples");
    };
    println!(
        "\nslowest: {} ({:.1} ms)",
        slowest.heading, slowest.execution_ms
    );
    let plan: Vec<String> =
        sqlx::query_scalar(&format!("EXPLAIN (ANALYZE, BUFFERS) {}", slowest.sql))
            .fetch_all(&pool)
            .await
            .unwrap();
    println!("{}", plan.join("\n"));
}
