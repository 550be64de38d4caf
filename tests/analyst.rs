//! What analysts see: reference data resolved in the views, entries removed
//! upstream still resolving, and the read-only role.

mod common;

use std::collections::HashMap;
use std::process::Command;

use common::Harness;
use retino_sync::sim::ReferenceKind;
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;

/// id, state, type, owner, tags, custom fields of `retino.ticket_overview`.
type OverviewRow = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<Vec<String>>,
    Value,
);

/// id -> Czech name of a reference list, as the simulator serves it.
fn names(h: &Harness, kind: ReferenceKind, field: &str) -> HashMap<String, String> {
    h.sim
        .reference(kind)
        .into_iter()
        .map(|r| {
            let name = match &r[field] {
                Value::Object(by_language) => by_language["cs"].as_str().unwrap().to_owned(),
                other => other.as_str().unwrap().to_owned(),
            };
            (r["id"].as_str().unwrap().to_owned(), name)
        })
        .collect()
}

#[tokio::test]
async fn the_views_resolve_every_reference_to_its_name() {
    let h = Harness::new(400).await;
    h.sync(&h.client(&[])).await.unwrap();
    let states = names(&h, ReferenceKind::States, "name");
    let types = names(&h, ReferenceKind::Types, "name");
    let users = names(&h, ReferenceKind::Users, "full_name");
    let tags = names(&h, ReferenceKind::Tags, "name");

    let rows: Vec<OverviewRow> = sqlx::query_as(
        "SELECT id::text, state, type, owner, tags, custom_fields FROM retino.ticket_overview",
    )
    .fetch_all(&h.db.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 400);
    let source: HashMap<String, Value> = h
        .sim
        .tickets()
        .into_iter()
        .map(|t| (t["id"].as_str().unwrap().to_owned(), t))
        .collect();
    let refund_field = h
        .sim
        .reference(ReferenceKind::CustomFields)
        .into_iter()
        .find(|f| f["name"]["cs"] == "Způsob vrácení peněz")
        .expect("the simulator serves the refund method field");
    let refund_labels: HashMap<String, String> = refund_field["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["id"].as_str().unwrap().to_owned(),
                o["label"]["cs"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut resolved_refunds = 0;
    for (id, state, ticket_type, owner, tag_names, custom_fields) in rows {
        let t = &source[&id];
        let name_of =
            |map: &HashMap<String, String>, key: &str| t[key].as_str().map(|k| map[k].clone());
        assert_eq!(state, name_of(&states, "state"), "state of {id}");
        assert_eq!(ticket_type, name_of(&types, "type"), "type of {id}");
        assert_eq!(owner, name_of(&users, "owner"), "owner of {id}");
        let mut expected_tags: Vec<String> = t["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|tag| tags[tag.as_str().unwrap()].clone())
            .collect();
        expected_tags.sort();
        assert_eq!(tag_names.unwrap_or_default(), expected_tags, "tags of {id}");
        if let Some(option) = t["custom_fields"][refund_field["id"].as_str().unwrap()].as_str() {
            assert_eq!(
                custom_fields["Způsob vrácení peněz"], refund_labels[option],
                "custom fields of {id}"
            );
            resolved_refunds += 1;
        }
    }
    assert!(
        resolved_refunds > 0,
        "no ticket had a refund method to resolve"
    );

    let (lines, products): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM retino.product_lines), (SELECT count(*) FROM retino.products)",
    )
    .fetch_one(&h.db.pool)
    .await
    .unwrap();
    assert_eq!(lines, products);
    let (customer_tickets, with_customer): (Option<i64>, i64) = sqlx::query_as(
        "SELECT (SELECT sum(tickets)::bigint FROM retino.customer_summary),
                (SELECT count(*) FROM retino.tickets WHERE customer_id IS NOT NULL)",
    )
    .fetch_one(&h.db.pool)
    .await
    .unwrap();
    assert_eq!(customer_tickets, Some(with_customer));
}

#[tokio::test]
async fn a_state_removed_upstream_is_marked_and_still_resolves() {
    let h = Harness::new(200).await;
    let client = h.client(&[]);
    h.sync(&client).await.unwrap();
    let ticket = h.sim.tickets()[0].clone();
    let state_id = ticket["state"].as_str().unwrap().to_owned();
    let state_name = names(&h, ReferenceKind::States, "name")[&state_id].clone();

    assert!(h.sim.remove_reference(ReferenceKind::States, &state_id));
    h.sync(&client).await.unwrap();
    let removed: bool =
        sqlx::query_scalar("SELECT removed_at IS NOT NULL FROM retino.states WHERE id = $1::uuid")
            .bind(&state_id)
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
    assert!(removed, "a state gone upstream is marked");
    let shown: Option<String> =
        sqlx::query_scalar("SELECT state FROM retino.ticket_overview WHERE id = $1::uuid")
            .bind(ticket["id"].as_str().unwrap())
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
    assert_eq!(shown.as_deref(), Some(state_name.as_str()));

    // It comes back: unmarked.
    h.sim.upsert_reference(
        ReferenceKind::States,
        serde_json::json!({"id": state_id, "name": {"cs": state_name, "en": "Back"}}),
    );
    h.sync(&client).await.unwrap();
    let removed: bool =
        sqlx::query_scalar("SELECT removed_at IS NOT NULL FROM retino.states WHERE id = $1::uuid")
            .bind(&state_id)
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
    assert!(!removed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reader_role_reads_retino_and_nothing_else() {
    let h = Harness::new(50).await;
    h.sync(&h.client(&[])).await.unwrap();
    let role = format!(
        "analyst_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let out = Command::new(env!("CARGO_BIN_EXE_retino-sync"))
        .args(["grant-reader", &role])
        .env_clear()
        .envs(h.env())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    sqlx::query(&format!("ALTER ROLE {role} LOGIN PASSWORD 'reader-pw'"))
        .execute(&h.db.pool)
        .await
        .unwrap();
    sqlx::raw_sql("CREATE TABLE public.private_notes (note text); INSERT INTO public.private_notes VALUES ('x')")
        .execute(&h.db.pool)
        .await
        .unwrap();

    let mut url = url::Url::parse(&h.db.url).unwrap();
    url.set_username(&role).unwrap();
    url.set_password(Some("reader-pw")).unwrap();
    let reader = PgPoolOptions::new()
        .max_connections(1)
        .connect(url.as_str())
        .await
        .unwrap();

    let relations: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'retino' ORDER BY 1",
    )
    .fetch_all(&h.db.pool)
    .await
    .unwrap();
    assert!(relations.len() >= 17, "{relations:?}");
    for relation in &relations {
        sqlx::query(&format!("SELECT * FROM retino.{relation} LIMIT 1"))
            .fetch_all(&reader)
            .await
            .unwrap_or_else(|e| panic!("reader cannot read retino.{relation}: {e}"));
    }
    let denied = |sql: &'static str| {
        let reader = reader.clone();
        async move {
            let err = sqlx::query(sql).execute(&reader).await.expect_err(sql);
            let code = err
                .as_database_error()
                .and_then(|e| e.code())
                .map(|c| c.into_owned());
            assert_eq!(code.as_deref(), Some("42501"), "{sql}: {err}");
        }
    };
    denied("INSERT INTO retino.sync_rejects (account, reason, payload) VALUES ('x', 'y', '{}')")
        .await;
    denied("UPDATE retino.tickets SET code = 'x'").await;
    denied("DELETE FROM retino.customers").await;
    denied("CREATE TABLE retino.mine (x int)").await;
    denied("SELECT * FROM public.private_notes").await;
    reader.close().await;

    for cleanup in [format!("DROP OWNED BY {role}"), format!("DROP ROLE {role}")] {
        sqlx::query(&cleanup).execute(&h.db.pool).await.unwrap();
    }
}
