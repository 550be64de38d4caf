//! Webhook deliveries to the running daemon, and the reconciliation pass
//! that notices deleted tickets.

mod common;

use std::time::{Duration, Instant};

use common::{Daemon, Harness};
use retino_sync::sim::Fault;
use retino_sync::sync::{reconcile_account, ReconcileOptions, SyncError};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const SECRET: &str = "whsec-5b1f0c";

async fn currency(h: &Harness, id: &str) -> String {
    sqlx::query_scalar("SELECT currency FROM retino.tickets WHERE id = $1::uuid")
        .bind(id)
        .fetch_one(&h.db.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_deliveries_are_stored_guarded_and_authenticated() {
    let h = Harness::new(20).await;
    let daemon = Daemon::start(
        &h,
        &[
            ("RETINO_SYNC__API__WEBHOOK_SECRET", SECRET),
            ("RETINO_SYNC__SYNC__SCHEDULE", "0 0 0 1 1 *"),
        ],
    );
    daemon
        .wait_for("/readyz", Duration::from_secs(30), |s, _| s == 200)
        .await;
    let url = format!("http://127.0.0.1:{}/webhooks/retino/default", daemon.port());
    // No connection reuse: the daemon closes the one it refused a body on.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let post = |body: Vec<u8>, secret: Option<&str>| {
        let mut request = http
            .post(&url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(secret) = secret {
            request = request.header("X-Retino-Secret", secret);
        }
        request.send()
    };

    let old = h.sim.tickets()[3].clone();
    let id = old["id"].as_str().unwrap().to_owned();
    h.sim.update(&id, |t| t["currency"] = "PLN".into());
    let newer = h.sim.get(&id).unwrap();

    let sent = Instant::now();
    let response = post(serde_json::to_vec(&newer).unwrap(), Some(SECRET))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["stored"], true);
    assert_eq!(currency(&h, &id).await, "PLN");
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "visible within a second"
    );

    // A late, older delivery changes nothing.
    let response = post(serde_json::to_vec(&old).unwrap(), Some(SECRET))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["stored"], false);
    assert_eq!(currency(&h, &id).await, "PLN");

    // Without the secret nothing is stored, however new the ticket.
    let mut forged = newer.clone();
    forged["currency"] = "USD".into();
    forged["updated_at"] = "2030-01-01T00:00:00.000000+00:00".into();
    for secret in [None, Some("wrong")] {
        let response = post(serde_json::to_vec(&forged).unwrap(), secret)
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "secret {secret:?}");
    }
    assert_eq!(currency(&h, &id).await, "PLN");

    // The daemon answers 413 without reading the rest, so the sender may
    // see the answer or only the closed connection.
    let huge = vec![b' '; 2 * 1024 * 1024];
    match post(huge, Some(SECRET)).await {
        Ok(response) => assert_eq!(response.status(), 413),
        Err(e) => assert!(e.is_request(), "{e}"),
    }

    let response = post(b"{\"id\": \"broken".to_vec(), Some(SECRET))
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let reason: String = sqlx::query_scalar("SELECT reason FROM retino.sync_rejects")
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert!(reason.contains("not JSON"), "{reason}");

    let metrics = daemon.get("/metrics").await.unwrap().1;
    for outcome in [
        "stored",
        "unchanged",
        "unauthorized",
        "too_large",
        "rejected",
    ] {
        assert!(
            metrics.contains(&format!(
                "retino_sync_webhook_deliveries_total{{account=\"default\",outcome=\"{outcome}\"}}"
            )),
            "no {outcome} in {metrics}"
        );
    }
    assert!(!metrics.contains(SECRET));
}

#[tokio::test]
async fn reconciliation_marks_deleted_tickets_within_its_safety_limits() {
    let h = Harness::new(200).await;
    let client = h.client(&[("RETINO_SYNC__API__MAX_RETRIES", "1")]);
    h.sync(&client).await.unwrap();
    let options = ReconcileOptions {
        max_share: 0.10,
        force: false,
    };
    let stop = CancellationToken::new();
    let deleted_ids = || async {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id::text FROM retino.tickets WHERE deleted_at IS NOT NULL ORDER BY 1",
        )
        .fetch_all(&h.db.pool)
        .await
        .unwrap();
        ids
    };

    let ids: Vec<String> = h
        .sim
        .tickets()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    let removed: Vec<Value> = ids[..5]
        .iter()
        .map(|id| h.sim.remove(id).unwrap())
        .collect();
    let report = reconcile_account(&h.store, &client, options, &stop)
        .await
        .unwrap();
    assert_eq!(
        (report.upstream, report.marked, report.unmarked),
        (195, 5, 0)
    );
    let mut expected: Vec<String> = ids[..5].to_vec();
    expected.sort();
    assert_eq!(deleted_ids().await, expected);
    let remaining: i64 = sqlx::query_scalar("SELECT count(*) FROM retino.tickets")
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert_eq!(remaining, 200, "never a hard delete");

    // One comes back: unmarked.
    h.sim.insert(removed[0].clone());
    let report = reconcile_account(&h.store, &client, options, &stop)
        .await
        .unwrap();
    assert_eq!((report.marked, report.unmarked), (0, 1));
    assert_eq!(deleted_ids().await.len(), 4);

    // A listing with a failed page marks nothing.
    for id in &ids[5..10] {
        h.sim.remove(id);
    }
    h.sim.set_max_page_size(50);
    h.sim.reset_counts();
    h.sim.on_list_request(|sim, n| {
        if n == 2 {
            sim.push_faults([
                Fault::Status {
                    status: 500,
                    retry_after: None,
                },
                Fault::Status {
                    status: 500,
                    retry_after: None,
                },
            ]);
        }
    });
    let err = reconcile_account(&h.store, &client, options, &stop)
        .await
        .unwrap_err();
    assert!(matches!(err, SyncError::Api(_)), "{err}");
    assert_eq!(
        deleted_ids().await.len(),
        4,
        "an incomplete listing must not mark anything"
    );
    h.sim.clear_list_hook();

    // More than 10% at once is refused without --force.
    for id in &ids[10..40] {
        h.sim.remove(id);
    }
    let err = reconcile_account(&h.store, &client, options, &stop)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SyncError::TooManyDeletions { would_mark: 35, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("--force"), "{err}");
    assert_eq!(deleted_ids().await.len(), 4);
    let forced = ReconcileOptions {
        force: true,
        ..options
    };
    let report = reconcile_account(&h.store, &client, forced, &stop)
        .await
        .unwrap();
    assert_eq!(report.marked, 35);
    assert_eq!(deleted_ids().await.len(), 39);

    // The sync itself unmarks a ticket it sees again.
    let mut back = removed[1].clone();
    back["updated_at"] = retino_sync::sim::Simulator::format_ts(h.sim.now()).into();
    h.sim.insert(back);
    h.sync(&client).await.unwrap();
    assert_eq!(deleted_ids().await.len(), 38);
}
