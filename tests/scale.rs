//! Many accounts, many replicas, and the parallel backfill.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::{mirror_diff, Harness, TestDb, TOKEN};
use retino_sync::sim::{SimServer, Simulator};
use retino_sync::store::Store;

/// One simulated Retino account on its own server.
struct Upstream {
    name: &'static str,
    sim: Simulator,
    server: SimServer,
}

async fn upstreams(names: &[&'static str], tickets: usize) -> Vec<Upstream> {
    let mut all = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let sim = Simulator::new(format!("{TOKEN}-{name}"));
        sim.generate(100 + i as u64, tickets);
        let server = sim.spawn().await.unwrap();
        all.push(Upstream { name, sim, server });
    }
    all
}

/// A config file with one `[[accounts]]` per upstream, each with its token.
fn accounts_file(upstreams: &[Upstream]) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    for u in upstreams {
        writeln!(
            file,
            "[[accounts]]\nname = \"{}\"\nbase_url = \"{}\"\ntoken = \"{TOKEN}-{}\"\n",
            u.name,
            u.server.base_url(),
            u.name
        )
        .unwrap();
    }
    file
}

fn daemon_with(
    db: &TestDb,
    config: &std::path::Path,
    extra: &[(&str, &str)],
) -> (std::process::Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_retino-sync"))
        .args(["--config", config.to_str().unwrap(), "run"])
        .env_clear()
        .env("RETINO_SYNC__DATABASE__URL", &db.url)
        .env("RETINO_SYNC__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("RETINO_SYNC__SYNC__SCHEDULE", "* * * * * *")
        .env("RETINO_SYNC__API__REQUESTS_PER_SECOND", "0")
        .env("RETINO_SYNC__API__BACKOFF_MIN", "10ms")
        .env("RETINO_SYNC__API__BACKOFF_MAX", "200ms")
        .env("RETINO_SYNC__API__MAX_RETRIES", "1")
        .envs(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (child, port)
}

async fn wait_until<F: std::future::Future<Output = bool>>(
    what: &str,
    within: Duration,
    check: impl Fn() -> F,
) {
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn exact(db: &TestDb, upstreams: &[Upstream]) -> HashMap<&'static str, Vec<String>> {
    let mut diffs = HashMap::new();
    for u in upstreams {
        diffs.insert(
            u.name,
            mirror_diff(&db.pool, u.name, &u.sim.tickets()).await,
        );
    }
    diffs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_refused_token_leaves_the_other_accounts_alone() {
    let ups = upstreams(&["cz", "sk", "hu"], 150).await;
    ups[2].sim.set_token("regenerated");
    let db = TestDb::new().await;
    Store::from_pool(db.pool.clone()).migrate().await.unwrap();
    let config = accounts_file(&ups);
    let (mut child, port) = daemon_with(
        &db,
        config.path(),
        &[("RETINO_SYNC__SYNC__STALE_AFTER", "1h")],
    );

    let ok = &ups[..2];
    wait_until("cz and sk mirrored", Duration::from_secs(40), || async {
        exact(&db, ok).await.values().all(|d| d.is_empty())
    })
    .await;

    let readyz = reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
        .await
        .unwrap();
    assert_eq!(readyz.status(), 503);
    let body: serde_json::Value = readyz.json().await.unwrap();
    let failing: Vec<&str> = body["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["account"].as_str().unwrap())
        .collect();
    assert_eq!(failing, ["hu"], "{body}");
    assert!(
        body["accounts"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("token"),
        "{body}"
    );

    let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"retino_sync_runs_total{account="hu",outcome="failed"}"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"retino_sync_runs_total{account="cz",outcome="succeeded"}"#));
    child.kill().unwrap();
    child.wait().unwrap();

    let status = Command::new(env!("CARGO_BIN_EXE_retino-sync"))
        .args(["--config", config.path().to_str().unwrap(), "status"])
        .env_clear()
        .env("RETINO_SYNC__DATABASE__URL", &db.url)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&status.stdout);
    let line = |name: &str| {
        table
            .lines()
            .find(|l| l.contains(&format!(" {name} ")))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        line("cz").contains("succeeded") && line("sk").contains("succeeded"),
        "{table}"
    );
    assert!(
        line("hu").contains("failed") && line("hu").contains("token"),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_four_accounts_and_one_takes_over_when_the_other_dies() {
    let ups = upstreams(&["a1", "a2", "a3", "a4"], 200).await;
    for u in &ups {
        u.sim.set_latency(Duration::from_millis(30));
        u.sim.set_max_page_size(25);
    }
    let db = TestDb::new().await;
    Store::from_pool(db.pool.clone()).migrate().await.unwrap();
    let config = accounts_file(&ups);
    let (mut first, _) = daemon_with(&db, config.path(), &[]);
    let (mut second, _) = daemon_with(&db, config.path(), &[]);

    wait_until(
        "every account mirrored",
        Duration::from_secs(60),
        || async { exact(&db, &ups).await.values().all(|d| d.is_empty()) },
    )
    .await;

    // Kill one replica in the middle of whatever it is doing.
    first.kill().unwrap();
    first.wait().unwrap();
    let killed_at = Utc::now();
    for u in &ups {
        u.sim
            .update(u.sim.tickets()[0]["id"].as_str().unwrap(), |t| {
                t["currency"] = "CHF".into()
            });
    }
    wait_until("the survivor syncs every account", Duration::from_secs(60), || async {
        let synced: i64 = sqlx::query_scalar(
            "SELECT count(DISTINCT account) FROM retino.sync_runs WHERE status = 'succeeded' AND started_at > $1",
        )
        .bind(killed_at)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        synced == 4 && exact(&db, &ups).await.values().all(|d| d.is_empty())
    })
    .await;
    second.kill().unwrap();
    second.wait().unwrap();

    let runs: Vec<(String, DateTime<Utc>, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT account, started_at, finished_at FROM retino.sync_runs ORDER BY account, started_at",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    for pair in runs.windows(2) {
        let ((a, _, end), (b, start, _)) = (&pair[0], &pair[1]);
        if a == b {
            if let Some(end) = end {
                assert!(end <= start, "runs of {a} overlap: {pair:?}");
            }
        }
    }
}

fn list_window(query: &str) -> (Option<String>, Option<String>) {
    let pairs: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    (
        pairs.get("updated_at_from").cloned(),
        pairs.get("updated_at_to").cloned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parallel_backfill_is_exact_and_resumes_only_unfinished_windows() {
    let h = Harness::new(3000).await;
    h.sim.set_latency(Duration::from_millis(10));
    h.sim.set_max_page_size(50);
    // Tickets updated while the windows are read must arrive too.
    let ids: Vec<String> = h
        .sim
        .tickets()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    h.sim.on_list_request(move |sim, n| {
        if n % 7 == 0 {
            sim.update(&ids[(n as usize * 13) % ids.len()], |t| {
                t["is_unread"] = true.into()
            });
        }
    });
    let parallel = [("RETINO_SYNC__SYNC__BACKFILL_CONCURRENCY", "4")];
    let client = h.client(&parallel);
    let settings = h.settings(&parallel);
    let options =
        retino_sync::sync::RunOptions::for_account(&settings.accounts[0], &settings.sync, false);
    let report = h.sync_with(&client, options).await.unwrap();
    h.sim.clear_list_hook();
    assert_eq!(report.windows, 16);
    h.assert_mirror_exact().await;
    let windows_left: i64 = sqlx::query_scalar("SELECT count(*) FROM retino.sync_windows")
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert_eq!(windows_left, 0, "a finished backfill leaves no plan behind");

    // The same through the binary, killed mid-way and restarted.
    let h = Harness::new(3000).await;
    h.sim.set_latency(Duration::from_millis(25));
    h.sim.set_max_page_size(50);
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_retino-sync"))
            .arg("sync")
            .env_clear()
            .envs(h.env())
            .env("RETINO_SYNC__SYNC__BACKFILL_CONCURRENCY", "4")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut child = run();
    let store = Store::from_pool(h.db.pool.clone());
    wait_until("a few windows done", Duration::from_secs(60), || async {
        store
            .backfill_windows("default")
            .await
            .unwrap()
            .iter()
            .filter(|w| w.done)
            .count()
            >= 3
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    let finished: Vec<_> = store
        .backfill_windows("default")
        .await
        .unwrap()
        .into_iter()
        .filter(|w| w.done)
        .collect();
    assert!(!finished.is_empty());

    h.sim.reset_counts();
    let status = run().wait().unwrap();
    assert!(status.success());
    h.assert_mirror_exact().await;
    for query in h.sim.list_queries() {
        let (from, to) = list_window(&query);
        let (Some(from), Some(to)) = (from, to) else {
            continue;
        };
        let from: DateTime<Utc> = from.parse().unwrap();
        let to: DateTime<Utc> = to.parse().unwrap();
        for done in &finished {
            assert!(
                to < done.from || from > done.to,
                "the resumed run read [{from}, {to}] inside finished window [{}, {}]",
                done.from,
                done.to
            );
        }
    }
}
