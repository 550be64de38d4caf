//! `retino-sync tickets ...` against the simulator: every command, its
//! error paths, and write-through into the mirror.

mod common;

use std::process::{Command, Output};

use common::{Harness, TOKEN};
use retino_sync::sim::ReferenceKind;
use serde_json::Value;

fn tickets(h: &Harness, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_retino-sync"))
        .arg("tickets")
        .args(args)
        .env_clear()
        .envs(h.env())
        .env("RETINO_SYNC__API__MAX_RETRIES", "1")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn first_id(h: &Harness) -> String {
    h.sim.tickets()[0]["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_search_and_list_read_the_api() {
    let h = Harness::new(60).await;
    let ticket = h.sim.tickets()[5].clone();
    let id = ticket["id"].as_str().unwrap();

    let out = tickets(&h, &["get", id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(ticket["code"].as_str().unwrap()),
        "{}",
        stdout(&out)
    );
    let out = tickets(&h, &["get", id, "--json"]);
    let printed: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        printed, ticket,
        "--json prints the ticket as Retino sent it"
    );

    let order = ticket["order_id"].as_str().unwrap();
    let out = tickets(&h, &["search", order, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let found: Vec<Value> = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(
        found.iter().any(|t| t["id"] == ticket["id"]),
        "search by order id finds the ticket"
    );

    // All pages by default; one page with --page.
    let paged = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_retino-sync"))
            .arg("tickets")
            .args(args)
            .env_clear()
            .envs(h.env())
            .env("RETINO_SYNC__API__PAGE_SIZE", "10")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_str::<Vec<Value>>(&stdout(&out)).unwrap()
    };
    let everyone = paged(&["search", "@", "--json"]);
    let with_email = h
        .sim
        .tickets()
        .iter()
        .filter(|t| {
            t["customer"]["email"]
                .as_str()
                .is_some_and(|e| e.contains('@'))
        })
        .count();
    assert_eq!(everyone.len(), with_email);
    assert!(with_email > 20, "the search must span pages of 10");
    let second = paged(&["search", "@", "--page", "2", "--json"]);
    assert_eq!(second.len(), 10);
    assert!(second.iter().all(|t| everyone.contains(t)));

    let since = ticket["updated_at"].as_str().unwrap();
    let out = tickets(&h, &["list", "--updated-since", since, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed: Vec<Value> = serde_json::from_str(&stdout(&out)).unwrap();
    let at = |t: &Value| {
        chrono::DateTime::parse_from_rfc3339(t["updated_at"].as_str().unwrap()).unwrap()
    };
    let mut expected: Vec<&Value> = Vec::new();
    let all = h.sim.tickets();
    expected.extend(all.iter().filter(|t| at(t) >= at(&ticket)));
    let ids = |v: &mut dyn Iterator<Item = &Value>| {
        let mut ids: Vec<String> = v.map(|t| t["id"].as_str().unwrap().to_owned()).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&mut listed.iter()), ids(&mut expected.into_iter()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_and_close_show_in_the_mirror_at_once() {
    let h = Harness::new(30).await;
    h.sync(&h.client(&[])).await.unwrap();
    let id = first_id(&h);
    let state = h.sim.reference(ReferenceKind::States)[1]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let out = tickets(
        &h,
        &[
            "update",
            &id,
            "--state",
            &state,
            "--currency",
            "EUR",
            "--customer-email",
            "Nova.Adresa@Example.cz",
            "--custom-field",
            "resolve_by=2027-01-31",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let (db_state, currency, customer_email, custom): (String, String, Option<String>, Value) = sqlx::query_as(
        "SELECT t.state_id::text, t.currency, c.email, t.custom_fields
         FROM retino.tickets t LEFT JOIN retino.customers c ON c.id = t.customer_id WHERE t.id = $1::uuid",
    )
    .bind(&id)
    .fetch_one(&h.db.pool)
    .await
    .unwrap();
    assert_eq!(db_state, state);
    assert_eq!(currency, "EUR");
    assert_eq!(customer_email.as_deref(), Some("nova.adresa@example.cz"));
    assert_eq!(custom["resolve_by"], "2027-01-31");
    assert_eq!(h.sim.get(&id).unwrap()["currency"], "EUR");

    let out = tickets(&h, &["close", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let closed: bool =
        sqlx::query_scalar("SELECT closed_at IS NOT NULL FROM retino.tickets WHERE id = $1::uuid")
            .bind(&id)
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
    assert!(closed, "close shows in the mirror without a sync run");
    let diff = common::mirror_diff(&h.db.pool, "default", &h.sim.tickets()).await;
    assert!(
        diff.is_empty(),
        "mirror differs after write-through: {diff:?}"
    );

    let out = tickets(&h, &["close", &id]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already closed"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mistakes_are_caught_and_explained() {
    let h = Harness::new(10).await;
    let id = first_id(&h);

    // Caught before any request.
    h.sim.reset_counts();
    let out = tickets(&h, &["get", "TICKET-1"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("invalid value 'TICKET-1'"),
        "{}",
        stderr(&out)
    );
    let out = tickets(
        &h,
        &["update", &id, "--currency", "euro", "--country", "CZE"],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("currency: must be a 3-letter") && err.contains("country: must be a 2-letter"),
        "{err}"
    );
    let out = tickets(&h, &["update", &id, "--customer-email", "jana@"]);
    assert!(stderr(&out).contains("customer.email"), "{}", stderr(&out));
    assert_eq!(
        h.sim.request_count(),
        0,
        "invalid input must not reach the API"
    );

    // Retino's own 400, field by field.
    let unknown_owner = uuid::Uuid::new_v4().to_string();
    let out = tickets(
        &h,
        &["update", &id, "--owner", &unknown_owner, "--language", "cs"],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("Retino refused the change for account `default`:"),
        "{err}"
    );
    assert!(
        err.lines()
            .any(|l| l.trim_start().starts_with("owner: Invalid pk")),
        "{err}"
    );

    let missing = uuid::Uuid::new_v4().to_string();
    let out = tickets(&h, &["get", &missing]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!(
            "ticket {missing} does not exist in Retino account `default`"
        )),
        "{}",
        stderr(&out)
    );

    h.sim.set_token("regenerated");
    let out = tickets(&h, &["get", &id]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("refused the API token of account `default`"),
        "{err}"
    );
    assert!(!err.contains(TOKEN));
}
