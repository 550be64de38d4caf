//! The simulator's own checks: the HTTP contract the sync tests rely on
//! (paging, filters, auth, faults, the list hook) and the generator's shape
//! and determinism.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{Fault, SimServer, Simulator};

const TOKEN: &str = "test-token";

async fn start(sim: &Simulator) -> (SimServer, reqwest::Client) {
    (
        sim.spawn().await.expect("simulator binds"),
        reqwest::Client::new(),
    )
}

async fn get(
    client: &reqwest::Client,
    server: &SimServer,
    path: &str,
    query: &[(&str, &str)],
) -> (StatusCode, Value) {
    let response = client
        .get(format!("{}{path}", server.base_url()))
        .header("Authorization", format!("Token {TOKEN}"))
        .query(query)
        .send()
        .await
        .expect("request is answered");
    let status = response.status();
    (status, response.json().await.expect("body is JSON"))
}

fn ids(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .expect("results is an array")
        .iter()
        .map(|ticket| ticket["id"].as_str().expect("string id").to_owned())
        .collect()
}

/// A minimal ticket with the given id and timestamps.
fn ticket(id: &str, created_at: &str, updated_at: &str) -> Value {
    json!({ "id": id, "code": id, "created_at": created_at, "updated_at": updated_at })
}

#[tokio::test]
async fn pages_cover_everything_once_and_end_with_invalid_page() {
    let sim = Simulator::new(TOKEN);
    sim.generate(7, 45);
    let (server, client) = start(&sim).await;

    let mut seen = Vec::new();
    for page in ["1", "2", "3"] {
        let query = [
            ("page", page),
            ("page_size", "20"),
            ("ordering", "updated_at"),
        ];
        let (status, body) = get(&client, &server, "/tickets", &query).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["count"], 45);
        assert_eq!(body["total_pages"], 3);
        assert_eq!(body["current_page"], page.parse::<u64>().unwrap());
        seen.extend(ids(&body));
    }
    let expected: Vec<String> = sim
        .tickets()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(seen, expected);

    for page in ["4", "0", "abc"] {
        let (status, body) = get(&client, &server, "/tickets", &[("page", page)]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "page {page}");
        assert_eq!(body, json!({ "detail": "Invalid page." }));
    }
}

#[tokio::test]
async fn empty_list_has_one_page_and_page_size_is_capped() {
    let sim = Simulator::new(TOKEN);
    let (server, client) = start(&sim).await;
    let (status, body) = get(&client, &server, "/tickets", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({ "count": 0, "current_page": 1, "total_pages": 1, "results": [] })
    );

    sim.generate(1, 30);
    sim.set_max_page_size(10);
    let (_, body) = get(&client, &server, "/tickets", &[("page_size", "500")]).await;
    assert_eq!(ids(&body).len(), 10);
    assert_eq!(body["total_pages"], 3);
}

#[tokio::test]
async fn time_filters_are_inclusive_and_ties_page_by_id() {
    let sim = Simulator::new(TOKEN);
    sim.insert(ticket(
        "b",
        "2024-05-01T09:00:00.000000+02:00",
        "2024-05-01T12:00:00.000000+02:00",
    ));
    sim.insert(ticket(
        "a",
        "2024-05-01T08:00:00.000000+02:00",
        "2024-05-01T12:00:00.000000+02:00",
    ));
    sim.insert(ticket(
        "c",
        "2024-05-01T07:00:00.000000+02:00",
        "2024-05-01T11:59:59.999999+02:00",
    ));
    let (server, client) = start(&sim).await;

    let query = [
        ("updated_at_from", "2024-05-01T10:00:00.000000Z"),
        ("ordering", "updated_at"),
    ];
    let (_, body) = get(&client, &server, "/tickets", &query).await;
    assert_eq!(ids(&body), ["a", "b"]);

    let query = [
        ("updated_at_to", "2024-05-01T10:00:00.000000Z"),
        ("ordering", "-updated_at"),
    ];
    let (_, body) = get(&client, &server, "/tickets", &query).await;
    assert_eq!(ids(&body), ["b", "a", "c"]);

    let query = [
        ("created_at_from", "2024-05-01T08:00:00+02:00"),
        ("ordering", "nonsense"),
    ];
    let (_, body) = get(&client, &server, "/tickets", &query).await;
    assert_eq!(ids(&body), ["b", "a"], "default ordering is -created_at");

    let (status, body) = get(
        &client,
        &server,
        "/tickets",
        &[("updated_at_from", "yesterday")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({ "updated_at_from": ["Enter a valid date/time."] })
    );
}

#[tokio::test]
async fn raw_records_are_listed_by_their_sort_key() {
    let sim = Simulator::new(TOKEN);
    sim.insert(ticket("a", "2024-05-01T08:00:00Z", "2024-05-01T08:00:00Z"));
    let sort_key: DateTime<Utc> = "2024-05-02T08:00:00Z".parse().unwrap();
    sim.insert_raw(
        sort_key,
        json!({ "id": 42, "updated_at": "2024-02-30T25:00:00Z" }),
    );
    let (server, client) = start(&sim).await;

    let query = [
        ("updated_at_from", "2024-05-02T00:00:00Z"),
        ("ordering", "-created_at"),
    ];
    let (_, body) = get(&client, &server, "/tickets", &query).await;
    assert_eq!(
        body["results"],
        json!([{ "id": 42, "updated_at": "2024-02-30T25:00:00Z" }])
    );
    assert!(sim.get("42").is_some());
}

#[tokio::test]
async fn authentication_is_checked() {
    let sim = Simulator::new(TOKEN);
    let (server, client) = start(&sim).await;
    let url = format!("{}/tickets", server.base_url());

    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "detail": "Authentication credentials were not provided." })
    );

    let response = client
        .get(&url)
        .header("Authorization", "Token wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({ "detail": "Invalid token." }));

    sim.set_token("regenerated");
    let (status, _) = get(&client, &server, "/tickets", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn faults_are_consumed_in_order() {
    let sim = Simulator::new(TOKEN);
    sim.generate(3, 5);
    sim.push_faults([
        Fault::Status {
            status: 429,
            retry_after: Some(2),
        },
        Fault::TruncatedBody,
        Fault::DropConnection,
    ]);
    let (server, client) = start(&sim).await;
    let send = || {
        client
            .get(format!("{}/tickets", server.base_url()))
            .header("Authorization", format!("Token {TOKEN}"))
            .send()
    };

    let response = send().await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "2");

    let response = send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(
        serde_json::from_str::<Value>(&text).is_err(),
        "body is cut: {text}"
    );

    let response = send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.bytes().await.is_err(),
        "the connection drops mid-body"
    );

    let (status, body) = get(&client, &server, "/tickets", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["count"], 5);
    assert_eq!(sim.request_count(), 4);
    assert_eq!(sim.list_request_count(), 4);
}

#[tokio::test]
async fn list_hook_can_move_a_ticket_to_the_end() {
    let sim = Simulator::new(TOKEN);
    sim.generate(5, 10);
    let first = sim.tickets()[0]["id"].as_str().unwrap().to_owned();
    let calls = Arc::new(AtomicU64::new(0));
    let seen = calls.clone();
    let target = first.clone();
    sim.on_list_request(move |sim, number| {
        seen.store(number, Ordering::SeqCst);
        if number == 2 {
            assert!(sim.update(&target, |t| t["is_unread"] = json!(true)));
        }
    });
    let (server, client) = start(&sim).await;

    let query = [("ordering", "updated_at"), ("page_size", "100")];
    let (_, body) = get(&client, &server, "/tickets", &query).await;
    assert_eq!(ids(&body)[0], first);
    let (_, body) = get(&client, &server, "/tickets", &query).await;
    assert_eq!(ids(&body).last(), Some(&first));
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    let updated = sim.get(&first).unwrap();
    assert_eq!(updated["is_unread"], true);
    let stamp = DateTime::parse_from_rfc3339(updated["updated_at"].as_str().unwrap()).unwrap();
    assert!(sim.now() > stamp);
}

#[tokio::test]
async fn detail_and_search() {
    let sim = Simulator::new(TOKEN);
    let mut ticket = ticket("t1", "2024-05-01T08:00:00Z", "2024-05-01T08:00:00Z");
    ticket["customer"] =
        json!({ "name": "Jiří Dvořák", "email": "  Jiri.Dvorak@Seznam.cz ", "phone": null });
    ticket["products"] = json!([{ "name": "Pračka", "ean": "8594000000001", "serial": null }]);
    sim.insert(ticket.clone());
    sim.insert(self::ticket(
        "t2",
        "2024-05-02T08:00:00Z",
        "2024-05-02T08:00:00Z",
    ));
    let (server, client) = start(&sim).await;

    let (status, body) = get(&client, &server, "/tickets/t1", &[]).await;
    assert_eq!((status, body), (StatusCode::OK, ticket));
    let (status, body) = get(&client, &server, "/tickets/nope", &[]).await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, json!({ "detail": "Not found." }))
    );

    for search in [
        "jiri.dvorak@seznam.cz",
        "DVOŘÁK jiří",
        "8594000000001",
        "pračka",
    ] {
        let (_, body) = get(&client, &server, "/tickets/search", &[("search", search)]).await;
        assert_eq!(ids(&body), ["t1"], "search {search}");
    }
    let (_, body) = get(&client, &server, "/tickets/search", &[("search", "")]).await;
    assert_eq!(ids(&body), ["t2", "t1"]);
}

#[test]
fn generation_is_deterministic_and_shaped_like_the_fixture() {
    let sim = Simulator::new(TOKEN);
    sim.generate(42, 300);
    let again = Simulator::new(TOKEN);
    again.generate(42, 300);
    assert_eq!(sim.tickets(), again.tickets());
    assert_eq!(sim.len(), 300);

    let fixture: Value =
        serde_json::from_str(include_str!("../../tests/fixtures/ticket.json")).unwrap();
    let keys = |value: &Value| {
        value
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    let mut expected = keys(&fixture);
    expected.push("portal_url".to_owned());
    let product_keys = keys(&fixture["products"][0]);

    let tickets = sim.tickets();
    for ticket in &tickets {
        assert_eq!(keys(ticket), expected);
        for product in ticket["products"].as_array().unwrap() {
            assert_eq!(keys(product), product_keys);
        }
        let at =
            |field: &str| DateTime::parse_from_rfc3339(ticket[field].as_str().unwrap()).unwrap();
        assert!(at("updated_at") - at("created_at") >= TimeDelta::minutes(5));
        if ticket["closed_at"].is_string() {
            assert!(at("created_at") <= at("closed_at") && at("closed_at") <= at("updated_at"));
        }
    }
    let open = tickets.iter().filter(|t| t["closed_at"].is_null()).count();
    assert!((80..160).contains(&open), "about 40% open, got {open}");
    let names: std::collections::HashSet<_> =
        tickets.iter().map(|t| &t["customer"]["name"]).collect();
    assert!(names.len() < 100, "customers repeat");
}
