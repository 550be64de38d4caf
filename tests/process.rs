//! The `retino-sync` binary as users run it: killed mid-backfill and
//! restarted, and what it prints when its token is refused.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Harness, TOKEN};

fn retino_sync(h: &Harness) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_retino-sync"));
    cmd.env_clear()
        .envs(h.env())
        .env("RETINO_SYNC__API__PAGE_SIZE", "50")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

async fn committed_pages(h: &Harness) -> i64 {
    sqlx::query_scalar("SELECT coalesce(sum(pages), 0)::bigint FROM retino.sync_runs")
        .fetch_one(&h.db.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_mid_backfill_resumes_from_its_last_committed_page() {
    let h = Harness::new(3000).await;
    h.sim.set_latency(Duration::from_millis(15));
    let full_backfill_pages = 3000 / 49 + 1;

    // Nobody reads a spawned child's pipes: discard its output, or it blocks.
    let mut child = retino_sync(&h)
        .arg("sync")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while committed_pages(&h).await < 20 {
        assert!(Instant::now() < deadline, "the backfill made no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let pages_before_kill = committed_pages(&h).await;
    let watermark = h.store.watermark("default").await.unwrap();
    assert!(
        watermark.is_some(),
        "committed pages must have moved the watermark"
    );

    h.sim.reset_counts();
    let out = retino_sync(&h).arg("sync").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    h.assert_mirror_exact().await;

    let resumed_requests = h.sim.list_request_count() as i64;
    assert!(
        resumed_requests <= full_backfill_pages - pages_before_kill + 3,
        "resume fetched {resumed_requests} pages; a full backfill takes {full_backfill_pages}, \
         {pages_before_kill} were committed before the kill"
    );
    let statuses: Vec<String> =
        sqlx::query_scalar("SELECT status FROM retino.sync_runs ORDER BY id")
            .fetch_all(&h.db.pool)
            .await
            .unwrap();
    assert_eq!(statuses, ["interrupted", "succeeded"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_ends_the_run_with_one_line_and_never_prints_the_token() {
    let h = Harness::new(10).await;
    h.sim.set_token("the-new-token");
    let out = retino_sync(&h).arg("sync").output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stderr.lines().last().unwrap();
    assert!(
        last.starts_with("retino-sync: sync failed: account `default`"),
        "{last}"
    );
    assert!(
        last.contains("refused the API token") && last.contains("api.token"),
        "{last}"
    );
    assert!(
        !stderr.contains(TOKEN) && !stdout.contains(TOKEN),
        "the token leaked:\n{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_each_part_on_its_own_line() {
    let h = Harness::new(25).await;
    let out = retino_sync(&h).arg("check").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(
        lines[0].starts_with("configuration") && lines[0].contains(" OK "),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with("database") && lines[1].contains(" OK "),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with("account default") && lines[2].contains("25 tickets"),
        "{stdout}"
    );

    h.sim.set_token("regenerated");
    h.sim.reset_counts();
    let out = retino_sync(&h).arg("check").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        stdout.lines().nth(2).unwrap().contains("FAIL") && stdout.contains("api.token"),
        "{stdout}"
    );
    assert!(!stdout.contains(TOKEN));
    assert_eq!(
        h.sim.request_count(),
        1,
        "check calls the API once per account"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line_with_the_run_span() {
    let h = Harness::new(120).await;
    let out = retino_sync(&h)
        .arg("sync")
        .env("RETINO_SYNC__TELEMETRY__FORMAT", "json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON object ({e}): {l}")))
        .collect();
    let finished = lines
        .iter()
        .find(|l| l["message"] == "sync run succeeded")
        .expect("the run's end is logged");
    assert_eq!(finished["span"]["account"], "default");
    assert!(finished["span"]["run_id"].is_number(), "{finished}");
    assert_eq!(finished["tickets"], 120);
    assert!(
        !stderr.contains(TOKEN),
        "RUST_LOG=debug must not print the token"
    );
}
