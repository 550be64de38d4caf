//! Backfill throughput: the `retino-sync sync` binary mirrors 50,000
//! simulator tickets into a fresh database, against the ceiling of
//! PostgreSQL's own `COPY` of the same rows into the same tables.
//!
//! Run: `RETINO_SYNC_TEST_ADMIN_URL=$(scripts/pg-up) cargo bench --bench backfill`
//! (`BENCH_TICKETS` changes the count). Prints one figure per line.

use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use retino_sync::sim::Simulator;
use sqlx::{Connection, PgPool};
use support::{fresh_database, TOKEN};

mod support;

/// Parent tables first: COPY checks foreign keys as it goes.
const TABLES: [&str; 4] = [
    "retino.customers",
    "retino.tickets",
    "retino.ticket_tags",
    "retino.products",
];

/// The process's peak resident set so far, in MiB (Linux `VmHWM`).
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let count: usize = std::env::var("BENCH_TICKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let sim = Simulator::new(TOKEN);
    sim.generate(7, count);
    let server = sim.spawn().await.unwrap();
    let (db_url, pool) = fresh_database("sync", 2).await;

    let started = Instant::now();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_retino-sync"))
        .arg("sync")
        .env("RETINO_SYNC__DATABASE__URL", &db_url)
        .env("RETINO_SYNC__API__BASE_URL", server.base_url())
        .env("RETINO_SYNC__API__TOKEN", TOKEN)
        .env("RETINO_SYNC__API__REQUESTS_PER_SECOND", "0")
        // Sequential unless asked: the figure compares with COPY, not windows.
        .env(
            "RETINO_SYNC__SYNC__BACKFILL_CONCURRENCY",
            std::env::var("BENCH_BACKFILL_CONCURRENCY").unwrap_or_else(|_| "1".to_owned()),
        )
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Sampled while it runs: the peak of a waited-for child (getrusage)
    // would count the pages this process shares with it at fork.
    let pid = child.id().unwrap();
    let mut peak_rss = 0.0_f64;
    let status = loop {
        if let Some(rss) = peak_rss_mib(pid) {
            peak_rss = peak_rss.max(rss);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let sync_time = started.elapsed();
    assert!(status.success(), "the sync failed");

    let mirrored: i64 = sqlx::query_scalar("SELECT count(*) FROM retino.tickets")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(mirrored as usize, count);

    let copy_time = copy_ceiling(&pool).await;
    let per_second = |d: Duration| count as f64 / d.as_secs_f64();
    println!("tickets                 {count}");
    println!("sync wall time          {:.2} s", sync_time.as_secs_f64());
    println!("sync tickets/s          {:.0}", per_second(sync_time));
    println!("sync requests           {}", sim.request_count());
    println!("sync peak RSS           {peak_rss:.1} MiB");
    println!("COPY time (same rows)   {:.2} s", copy_time.as_secs_f64());
    println!("COPY tickets/s          {:.0}", per_second(copy_time));
    println!(
        "sync / COPY time        {:.2}x",
        sync_time.as_secs_f64() / copy_time.as_secs_f64()
    );
}

/// Copies the mirrored rows out, then times `COPY FROM STDIN` of them into
/// the same tables of a fresh database, in one transaction.
async fn copy_ceiling(source: &PgPool) -> Duration {
    let mut dumps = Vec::new();
    let mut conn = source.acquire().await.unwrap();
    for table in TABLES {
        let chunks: Vec<_> = conn
            .copy_out_raw(&format!("COPY {table} TO STDOUT"))
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        dumps.push((table, chunks.concat()));
    }
    let (_, target) = fresh_database("copy", 2).await;
    let mut conn = target.acquire().await.unwrap();
    let started = Instant::now();
    let mut tx = conn.begin().await.unwrap();
    for (table, data) in &dumps {
        let mut copy = tx
            .copy_in_raw(&format!("COPY {table} FROM STDIN"))
            .await
            .unwrap();
        copy.send(data.as_slice()).await.unwrap();
        copy.finish().await.unwrap();
    }
    tx.commit().await.unwrap();
    started.elapsed()
}
