//! `retino-sync run` as a real process against the simulator and PostgreSQL:
//! scheduling, health and metrics, overlap, replicas, shutdown, bad starts.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::{Daemon, Harness};

/// Parses Prometheus text with the reference client's parser (Python's
/// `prometheus_client`), returning sample name{labels} -> value.
fn parse_metrics(text: &str) -> HashMap<String, f64> {
    let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
        print(f"{s.name}{{{labels}}} {s.value}")
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is needed to parse metrics");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "/metrics is not valid Prometheus text (or prometheus_client is missing: pip install prometheus_client): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap();
            (name.to_owned(), value.parse().unwrap())
        })
        .collect()
}

fn sample(metrics: &HashMap<String, f64>, name: &str) -> f64 {
    metrics.get(name).copied().unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_syncs_on_schedule_and_reports_readiness_and_metrics() {
    let h = Harness::new(400).await;
    let daemon = Daemon::start(&h, &[("RETINO_SYNC__SYNC__STALE_AFTER", "3s")]);

    let (_, healthz) = daemon
        .wait_for("/healthz", Duration::from_secs(20), |s, _| s == 200)
        .await;
    assert_eq!(healthz.trim(), "ok");
    daemon
        .wait_for("/readyz", Duration::from_secs(30), |s, _| s == 200)
        .await;
    h.assert_mirror_exact().await;

    let first = parse_metrics(&daemon.get("/metrics").await.unwrap().1);
    let runs = r#"retino_sync_runs_total{account="default",outcome="succeeded"}"#;
    assert!(sample(&first, runs) >= 1.0);
    assert_eq!(
        sample(
            &first,
            r#"retino_sync_tickets_upserted_total{account="default"}"#
        ),
        400.0
    );
    assert!(
        sample(
            &first,
            r#"retino_sync_api_requests_total{account="default",status="200"}"#
        ) >= 4.0,
        "{first:?}"
    );
    assert!(first.contains_key(r#"retino_sync_watermark_lag_seconds{account="default"}"#));
    assert!(first.contains_key(r#"retino_sync_last_success_timestamp_seconds{account="default"}"#));

    // A ticket changed upstream arrives on the next scheduled run.
    let id = h.sim.tickets()[0]["id"].as_str().unwrap().to_owned();
    h.sim.update(&id, |t| t["currency"] = "HUF".into());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let currency: String =
            sqlx::query_scalar("SELECT currency FROM retino.tickets WHERE id = $1::uuid")
                .bind(&id)
                .fetch_one(&h.db.pool)
                .await
                .unwrap();
        if currency == "HUF" {
            break;
        }
        assert!(Instant::now() < deadline, "the update never arrived");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let later = parse_metrics(&daemon.get("/metrics").await.unwrap().1);
    assert!(
        sample(&later, runs) > sample(&first, runs),
        "the runs counter did not move"
    );

    // A regenerated token: runs fail, and readiness says so once stale.
    h.sim.set_token("regenerated");
    let (_, body) = daemon
        .wait_for("/readyz", Duration::from_secs(30), |s, _| s == 503)
        .await;
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    let reason = body["accounts"][0]["reason"].as_str().unwrap();
    assert_eq!(body["accounts"][0]["account"], "default");
    assert!(
        reason.contains("sync.stale_after") && reason.contains("token"),
        "{reason}"
    );
    let failing = parse_metrics(&daemon.get("/metrics").await.unwrap().1);
    assert!(
        sample(
            &failing,
            r#"retino_sync_runs_total{account="default",outcome="failed"}"#
        ) >= 1.0
    );
    assert!(
        sample(
            &failing,
            r#"retino_sync_api_requests_total{account="default",status="401"}"#
        ) >= 1.0
    );
    assert!(!daemon
        .get("/metrics")
        .await
        .unwrap()
        .1
        .contains(common::TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticks_during_a_run_are_skipped_and_replicas_never_overlap() {
    let h = Harness::new(600).await;
    h.sim.set_latency(Duration::from_millis(60));
    let slow = [("RETINO_SYNC__API__PAGE_SIZE", "20")];
    let a = Daemon::start(&h, &slow);
    let b = Daemon::start(&h, &slow);
    // 30 pages at 60 ms: each backfill run spans several one-second ticks.
    tokio::time::sleep(Duration::from_secs(6)).await;
    a.wait_for("/readyz", Duration::from_secs(30), |s, _| s == 200)
        .await;

    let skipped = |m: &HashMap<String, f64>, reason: &str| {
        sample(
            m,
            &format!(r#"retino_sync_skipped_ticks_total{{account="default",reason="{reason}"}}"#),
        )
    };
    let (ma, mb) = (
        parse_metrics(&a.get("/metrics").await.unwrap().1),
        parse_metrics(&b.get("/metrics").await.unwrap().1),
    );
    assert!(
        skipped(&ma, "running") + skipped(&mb, "running") >= 1.0,
        "no tick was skipped during a run"
    );
    assert!(
        skipped(&ma, "locked") + skipped(&mb, "locked") >= 1.0,
        "the replicas never met the lock"
    );
    drop((a, b));

    let runs: Vec<(DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT started_at, finished_at FROM retino.sync_runs
         WHERE account = 'default' AND finished_at IS NOT NULL ORDER BY started_at",
    )
    .fetch_all(&h.db.pool)
    .await
    .unwrap();
    assert!(runs.len() >= 2, "{runs:?}");
    for pair in runs.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "runs overlap: {pair:?}");
    }
    h.assert_mirror_exact().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_backfill_commits_the_page_in_flight_and_the_next_start_resumes() {
    let h = Harness::new(2000).await;
    h.sim.set_latency(Duration::from_millis(40));
    let slow = [
        ("RETINO_SYNC__API__PAGE_SIZE", "20"),
        ("RETINO_SYNC__SYNC__SCHEDULE", "0 0 0 1 1 *"),
    ];
    let mut daemon = Daemon::start(&h, &slow);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pages: Option<i32> = sqlx::query_scalar("SELECT max(pages) FROM retino.sync_runs")
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
        if pages.unwrap_or(0) >= 10 {
            break;
        }
        assert!(Instant::now() < deadline, "the backfill made no progress");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    daemon.terminate();
    let status = daemon.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "exit status {status:?}");

    let (run_status, pages, watermark_after): (String, i32, Option<DateTime<Utc>>) =
        sqlx::query_as(
            "SELECT status, pages, watermark_after FROM retino.sync_runs ORDER BY id DESC LIMIT 1",
        )
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert_eq!(run_status, "interrupted");
    assert!((10..2000 / 19).contains(&pages), "{pages} pages");
    let watermark = h.store.watermark("default").await.unwrap();
    assert!(watermark.is_some());
    assert_eq!(
        watermark, watermark_after,
        "the stored watermark is the last committed page's"
    );

    h.sim.reset_counts();
    let out = Command::new(env!("CARGO_BIN_EXE_retino-sync"))
        .arg("sync")
        .env_clear()
        .envs(h.env())
        .env("RETINO_SYNC__API__PAGE_SIZE", "20")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    h.assert_mirror_exact().await;
    let remaining = 2000 / 19 + 1 - pages as u64;
    assert!(
        h.sim.list_request_count() <= remaining + 3,
        "resumed with {} requests, {remaining} pages were left",
        h.sim.list_request_count()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_stops_the_daemon_at_start_with_one_line() {
    let h = Harness::new(0).await;
    let cases = [
        (
            ("RETINO_SYNC__SYNC__SCHEDULE", "every five minutes"),
            "sync.schedule",
        ),
        (
            ("RETINO_SYNC__API__TOKEN_FILE", "/nonexistent/retino-token"),
            "api.token_file",
        ),
        (
            (
                "RETINO_SYNC__DATABASE__URL",
                "postgres://postgres@127.0.0.1:1/nothing",
            ),
            "database.url",
        ),
        (
            ("RETINO_SYNC__SERVER__LISTEN", "localhost"),
            "server.listen",
        ),
    ];
    for ((key, value), named) in cases {
        let mut env = h.env();
        if key == "RETINO_SYNC__API__TOKEN_FILE" {
            env.remove("RETINO_SYNC__API__TOKEN");
        }
        env.insert(key.to_owned(), value.to_owned());
        let out = Command::new(env!("CARGO_BIN_EXE_retino-sync"))
            .arg("run")
            .env_clear()
            .envs(&env)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{key}={value} started anyway");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(named), "{key}={value}: {stderr}");
    }
}

/// Holds the running run's `sync_runs` row locked, so the daemon's next page
/// commit (which updates that row) cannot finish until the lock goes.
async fn block_the_commit_in_flight(h: &Harness) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pages: Option<i32> =
            sqlx::query_scalar("SELECT max(pages) FROM retino.sync_runs WHERE status = 'running'")
                .fetch_one(&h.db.pool)
                .await
                .unwrap();
        if pages.unwrap_or(0) >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the backfill made no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut tx = h.db.pool.begin().await.unwrap();
    sqlx::query("SELECT id FROM retino.sync_runs WHERE status = 'running' FOR UPDATE")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    tx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_shutdown_ends_at_its_timeout_and_a_second_signal_ends_it_at_once() {
    let slow = [
        ("RETINO_SYNC__API__PAGE_SIZE", "20"),
        ("RETINO_SYNC__SYNC__SCHEDULE", "0 0 0 1 1 *"),
        ("RETINO_SYNC__SYNC__SHUTDOWN_TIMEOUT", "2s"),
    ];

    // One signal: the daemon waits for the commit, then gives up at the bound.
    let h = Harness::new(1000).await;
    h.sim.set_latency(Duration::from_millis(30));
    let mut daemon = Daemon::start(&h, &slow);
    let lock = block_the_commit_in_flight(&h).await;
    let signalled = Instant::now();
    daemon.terminate();
    let status = daemon.wait_exit(Duration::from_secs(10));
    assert!(!status.success());
    assert!(
        signalled.elapsed() >= Duration::from_secs(2),
        "it did not wait for the run"
    );
    let stderr = daemon.stderr();
    let reason = stderr
        .lines()
        .find(|l| l.starts_with("retino-sync: "))
        .unwrap_or_default();
    assert!(reason.contains("sync.shutdown_timeout"), "{stderr}");
    lock.rollback().await.unwrap();

    // Two signals: the second one does not wait.
    let h = Harness::new(1000).await;
    h.sim.set_latency(Duration::from_millis(30));
    let long = [("RETINO_SYNC__SYNC__SHUTDOWN_TIMEOUT", "60s")];
    let mut daemon = Daemon::start(&h, &[slow[0], slow[1], long[0]]);
    let lock = block_the_commit_in_flight(&h).await;
    daemon.terminate();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        daemon.child.try_wait().unwrap().is_none(),
        "the first signal must wait for the commit"
    );
    let signalled = Instant::now();
    daemon.terminate();
    let status = daemon.wait_exit(Duration::from_secs(5));
    assert!(!status.success());
    assert!(signalled.elapsed() < Duration::from_secs(5));
    let stderr = daemon.stderr();
    let reason = stderr
        .lines()
        .find(|l| l.starts_with("retino-sync: "))
        .unwrap_or_default();
    assert!(reason.contains("second signal"), "{stderr}");
    lock.rollback().await.unwrap();
}
