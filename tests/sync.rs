//! The sync engine against a real PostgreSQL and the simulator over HTTP.

mod common;

use std::time::{Duration, Instant};

use common::{xmins, Harness, TOKEN};
use retino_sync::retino::ApiError;
use retino_sync::sim::{Fault, Simulator};
use retino_sync::sync::SyncError;
use serde_json::Value;
use uuid::Uuid;

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/ticket.json")).unwrap()
}

/// A new ticket, as if just filed: fresh id and code, stamped now.
fn fresh_ticket(sim: &Simulator, n: u32) -> Value {
    let mut t = fixture();
    let now = Simulator::format_ts(sim.now());
    t["id"] = Uuid::new_v4().to_string().into();
    t["code"] = format!("2026{n:06}").into();
    t["products"][0]["id"] = Uuid::new_v4().to_string().into();
    t["customer"]["email"] = format!("novak{n}@example.cz").into();
    t["created_at"] = now.clone().into();
    t["updated_at"] = now.into();
    t
}

fn ids_by_update(sim: &Simulator) -> Vec<String> {
    sim.tickets()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn backfill_mirrors_every_column_and_keeps_the_raw_object() {
    let h = Harness::new(3000).await;
    h.sim.insert(fixture());
    let report = h.sync(&h.client(&[])).await.unwrap();
    assert_eq!(report.tickets_written, 3001);
    assert_eq!(report.rejects, 0);
    h.assert_mirror_exact().await;

    let (price, raw): (String, Value) = sqlx::query_as(
        "SELECT p.price_with_vat::text, t.raw FROM retino.products p JOIN retino.tickets t ON t.id = p.ticket_id
         WHERE p.id = '09c69980-299d-4d37-81d5-ed18c9565856'",
    )
    .fetch_one(&h.db.pool)
    .await
    .unwrap();
    assert_eq!(price, "990000000.0000");
    assert_eq!(raw, fixture());
    let with_unknown_field: i64 =
        sqlx::query_scalar("SELECT count(*) FROM retino.tickets WHERE raw ? 'portal_url'")
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
    assert_eq!(
        with_unknown_field, 3000,
        "fields the model does not know survive in raw"
    );
    let (status, pages): (String, i32) =
        sqlx::query_as("SELECT status, pages FROM retino.sync_runs ORDER BY id DESC LIMIT 1")
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
    assert_eq!(status, "succeeded");
    assert!(
        pages >= 31,
        "3001 tickets at 100 per page take at least 31 pages, got {pages}"
    );
}

#[tokio::test]
async fn an_incremental_run_catches_up_with_updates_new_tickets_and_removals() {
    let h = Harness::new(1500).await;
    let client = h.client(&[]);
    h.sync(&client).await.unwrap();

    let snapshot = h.sim.tickets();
    let untouched = |i: usize| i % 100 != 0;
    for t in snapshot.iter().step_by(100) {
        h.sim.update(t["id"].as_str().unwrap(), |t| {
            t["state"] = Uuid::new_v4().to_string().into();
            t["customer"]["name"] = "Šárka Nová".into();
            t["is_unread"] = true.into();
        });
    }
    let (_, with_products) = snapshot
        .iter()
        .enumerate()
        .find(|(i, t)| untouched(*i) && t["products"].as_array().unwrap().len() >= 2)
        .unwrap();
    h.sim.update(with_products["id"].as_str().unwrap(), |t| {
        t["products"].as_array_mut().unwrap().pop();
    });
    let (_, with_tags) = snapshot
        .iter()
        .enumerate()
        .find(|(i, t)| {
            untouched(*i)
                && t["id"] != with_products["id"]
                && !t["tags"].as_array().unwrap().is_empty()
        })
        .unwrap();
    h.sim.update(with_tags["id"].as_str().unwrap(), |t| {
        t["tags"].as_array_mut().unwrap().remove(0);
    });
    for n in 0..10 {
        h.sim.insert(fresh_ticket(&h.sim, n));
    }

    h.sim.reset_counts();
    let report = h.sync(&client).await.unwrap();
    h.assert_mirror_exact().await;
    assert_eq!(report.tickets_written, 15 + 2 + 10);
    // Reference data costs a request per endpoint on top (issue 4).
    assert!(
        h.sim.list_request_count() <= 3,
        "{} list requests for 27 changes",
        h.sim.list_request_count()
    );
}

#[tokio::test]
async fn a_run_without_changes_reads_one_ticket_page_and_writes_no_row() {
    let h = Harness::new(800).await;
    let client = h.client(&[]);
    h.sync(&client).await.unwrap();
    let before = xmins(&h.db.pool).await;

    h.sim.reset_counts();
    let report = h.sync(&client).await.unwrap();
    assert_eq!(report.tickets_written, 0);
    assert!(
        h.sim.list_request_count() <= 2,
        "{} list requests",
        h.sim.list_request_count()
    );
    assert_eq!(
        xmins(&h.db.pool).await,
        before,
        "an unchanged run rewrote rows"
    );
}

#[tokio::test]
async fn tickets_updated_between_page_requests_are_not_lost() {
    let h = Harness::new(1000).await;
    let ids = ids_by_update(&h.sim);
    // Between page requests, move tickets the reader has passed (shifting
    // every later ticket left) and tickets ahead of it to the end.
    let behind = ids.clone();
    h.sim.on_list_request(move |sim, n| {
        if n >= 2 {
            let k = n as usize;
            for id in &behind[k * 5..k * 5 + 3] {
                sim.update(id, |t| t["is_unread"] = true.into());
            }
            sim.update(&behind[behind.len() - k], |t| t["is_unread"] = false.into());
        }
    });
    h.sync(&h.client(&[("RETINO_SYNC__API__PAGE_SIZE", "50")]))
        .await
        .unwrap();
    h.sim.clear_list_hook();

    let stored: Vec<String> = sqlx::query_scalar("SELECT id::text FROM retino.tickets")
        .fetch_all(&h.db.pool)
        .await
        .unwrap();
    let missing: Vec<_> = ids.iter().filter(|id| !stored.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "lost {} tickets: {missing:?}",
        missing.len()
    );
    h.assert_mirror_exact().await;
}

#[tokio::test]
async fn more_tickets_at_one_instant_than_a_page_holds_all_arrive() {
    let h = Harness::new(0).await;
    let instant = "2025-03-01T08:00:00.000000+01:00";
    for n in 0..250 {
        let mut t = fresh_ticket(&h.sim, n);
        t["updated_at"] = instant.into();
        h.sim.insert(t);
    }
    for n in 250..260 {
        h.sim.insert(fresh_ticket(&h.sim, n));
    }
    let client = h.client(&[("RETINO_SYNC__API__PAGE_SIZE", "100")]);
    tokio::time::timeout(Duration::from_secs(120), h.sync(&client))
        .await
        .expect("the run must end")
        .unwrap();
    h.assert_mirror_exact().await;
}

#[tokio::test]
async fn faults_are_retried_until_the_mirror_is_exact() {
    let h = Harness::new(600).await;
    h.sim.push_faults([
        Fault::Status {
            status: 429,
            retry_after: Some(1),
        },
        Fault::Status {
            status: 503,
            retry_after: None,
        },
        Fault::TruncatedBody,
        Fault::Status {
            status: 502,
            retry_after: None,
        },
        Fault::DropConnection,
        Fault::Status {
            status: 500,
            retry_after: None,
        },
    ]);
    let started = Instant::now();
    let report = h.sync(&h.client(&[])).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was not honoured"
    );
    assert_eq!(report.retries, 6);
    h.assert_mirror_exact().await;
}

#[tokio::test]
async fn a_refused_token_fails_fast_and_leaves_the_watermark() {
    let h = Harness::new(300).await;
    let client = h.client(&[]);
    h.sync(&client).await.unwrap();
    let watermark = h.store.watermark("default").await.unwrap();
    h.sim.insert(fresh_ticket(&h.sim, 1));

    h.sim.set_token("regenerated-token");
    h.sim.reset_counts();
    let err = h.sync(&client).await.unwrap_err();
    assert!(
        matches!(err, SyncError::Api(ApiError::Unauthorized { .. })),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("token") && message.contains("`default`"),
        "{message}"
    );
    assert!(!message.contains(TOKEN));
    assert_eq!(
        h.sim.request_count(),
        1,
        "a refused token must not be retried"
    );
    assert_eq!(h.store.watermark("default").await.unwrap(), watermark);
    let (status, error): (String, String) =
        sqlx::query_as("SELECT status, error FROM retino.sync_runs ORDER BY id DESC LIMIT 1")
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
    assert_eq!(status, "failed");
    assert!(error.contains("token"), "{error}");
}

#[tokio::test]
async fn records_that_do_not_fit_go_to_sync_rejects_and_the_rest_is_stored() {
    let h = Harness::new(120).await;
    let stamp = "2025-01-15T12:00:00.000000Z";
    let mut bad_id = fresh_ticket(&h.sim, 1);
    bad_id["id"] = "TICKET-17".into();
    bad_id["updated_at"] = stamp.into();
    let mut bad_date = fresh_ticket(&h.sim, 2);
    bad_date["created_at"] = "2025-02-30T10:00:00.000000+01:00".into();
    bad_date["updated_at"] = stamp.into();
    let sort_key = chrono::DateTime::parse_from_rfc3339(stamp)
        .unwrap()
        .to_utc();
    h.sim.insert_raw(sort_key, bad_id.clone());
    h.sim.insert_raw(sort_key, bad_date.clone());

    let report = h
        .sync(&h.client(&[("RETINO_SYNC__API__PAGE_SIZE", "50")]))
        .await
        .unwrap();
    assert_eq!(report.rejects, 2);
    let rejects: Vec<(String, Value)> =
        sqlx::query_as("SELECT reason, payload FROM retino.sync_rejects ORDER BY reason")
            .fetch_all(&h.db.pool)
            .await
            .unwrap();
    assert_eq!(rejects.len(), 2);
    assert!(
        rejects[0].0.contains("created_at") && rejects[0].1 == bad_date,
        "{:?}",
        rejects[0]
    );
    assert!(
        rejects[1].0.contains("`id`") && rejects[1].1 == bad_id,
        "{:?}",
        rejects[1]
    );

    let good: Vec<Value> = h
        .sim
        .tickets()
        .into_iter()
        .filter(|t| *t != bad_id && *t != bad_date)
        .collect();
    let diff = common::mirror_diff(&h.db.pool, "default", &good).await;
    assert!(diff.is_empty(), "{diff:?}");

    // Re-reading them (lookback) stores them once.
    h.sync(&h.client(&[])).await.unwrap();
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM retino.sync_rejects")
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert_eq!(count, 2);
}

#[tokio::test]
async fn an_older_version_never_replaces_a_newer_one() {
    let h = Harness::new(50).await;
    let client = h.client(&[]);
    let id = ids_by_update(&h.sim)[0].clone();
    h.sim.update(&id, |t| t["currency"] = "CZK".into());
    let old = h.sim.get(&id).unwrap();
    h.sim.update(&id, |t| t["currency"] = "EUR".into());
    h.sync(&client).await.unwrap();

    // The server serves a stale copy (e.g. a lagging replica) through --full.
    h.sim.remove(&id);
    h.sim.insert(old);
    let settings = h.settings(&[]);
    let options =
        retino_sync::sync::RunOptions::for_account(&settings.accounts[0], &settings.sync, true);
    h.sync_with(&client, options).await.unwrap();
    let currency: String =
        sqlx::query_scalar("SELECT currency FROM retino.tickets WHERE id = $1::uuid")
            .bind(&id)
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
    assert_eq!(currency, "EUR");
}
