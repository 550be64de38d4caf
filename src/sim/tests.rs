//! The simulator's own checks: the HTTP contract the sync tests rely on
//! (paging, filters, auth, faults, the list hook), the ticket writes and
//! their errors, the reference endpoints,
//! and the generator's shape, determinism and consistency between tickets
//! and reference data.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, NaiveDate, TimeDelta, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::edit::is_email;
use super::{Fault, ReferenceKind, SimServer, Simulator};

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

/// Asserts `value` is a translatable name: Czech and English texts.
fn assert_named(value: &Value, what: &str) {
    for language in ["cs", "en"] {
        let text = value[language].as_str().unwrap_or_default();
        assert!(!text.is_empty(), "{what} has no {language} name: {value}");
    }
}

fn assert_timestamp(value: &Value, what: &str) {
    let text = value.as_str().unwrap_or_default();
    assert!(
        DateTime::parse_from_rfc3339(text).is_ok(),
        "{what} is not RFC 3339: {value}"
    );
}

/// Asserts the shape every record of `kind` has.
fn assert_reference_shape(kind: ReferenceKind, record: &Value) {
    let what = format!("{} record {record}", kind.path());
    assert!(
        record["id"].as_str().is_some_and(|id| !id.is_empty()),
        "{what}"
    );
    match kind {
        ReferenceKind::States | ReferenceKind::Types => assert_named(&record["name"], &what),
        ReferenceKind::Tags => {
            assert_named(&record["name"], &what);
            for colour in ["fgcolor", "bgcolor"] {
                let text = record[colour].as_str().unwrap_or_default();
                assert!(
                    text.len() == 7
                        && text.starts_with('#')
                        && text[1..].chars().all(|c| c.is_ascii_hexdigit()),
                    "{what}: {colour}"
                );
            }
        }
        ReferenceKind::Users => {
            for field in ["role", "email", "full_name", "phone_number"] {
                assert!(record[field].is_string(), "{what}: {field}");
            }
            assert!(record["email"].as_str().unwrap().contains('@'), "{what}");
            assert_timestamp(&record["last_activity_at"], &what);
            assert_timestamp(&record["date_joined"], &what);
        }
        ReferenceKind::CustomFields | ReferenceKind::ProductCustomFields => {
            assert!(record["position"].is_i64(), "{what}: position");
            assert_named(&record["name"], &what);
            let options = record["options"].as_array().expect("options is an array");
            match record["type"].as_str() {
                Some("select") => assert!(!options.is_empty(), "{what}: no options"),
                Some("text" | "date") => assert!(options.is_empty(), "{what}: options"),
                other => panic!("{what}: unexpected type {other:?}"),
            }
            for option in options {
                assert!(option["id"].is_string(), "{what}: option id");
                assert_named(&option["label"], &what);
            }
        }
        ReferenceKind::RefundAccounts => {
            assert!(record["name"].is_string(), "{what}: name");
            let account = record["bank_account"].as_str().unwrap_or_default();
            let (number, bank) = account.split_once('/').unwrap_or_default();
            assert!(
                !number.is_empty()
                    && number.chars().all(|c| c.is_ascii_digit())
                    && bank.len() == 4
                    && bank.chars().all(|c| c.is_ascii_digit()),
                "{what}: bank_account"
            );
            assert!(record["currency"].as_str().is_some_and(|c| c.len() == 3));
            assert!(record["due_date"].is_u64(), "{what}: due_date");
        }
    }
}

#[tokio::test]
async fn reference_endpoints_serve_generated_records_in_shape() {
    let sim = Simulator::new(TOKEN);
    sim.generate(42, 50);
    let (server, client) = start(&sim).await;

    for kind in ReferenceKind::ALL {
        let path = format!("/{}", kind.path());
        let (status, body) = get(&client, &server, &path, &[("page_size", "100")]).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let records = sim.reference(kind);
        assert!(!records.is_empty(), "{path} is generated");
        assert_eq!(body["count"], records.len(), "{path}");
        assert_eq!(body["current_page"], 1);
        assert_eq!(body["total_pages"], 1);
        assert_eq!(body["results"], Value::Array(records.clone()), "{path}");
        for record in &records {
            assert_reference_shape(kind, record);
        }
        let order: Vec<_> = records
            .iter()
            .map(|r| (r["position"].as_i64(), r["id"].as_str().unwrap().to_owned()))
            .collect();
        assert!(order.is_sorted(), "{path} is served by position, then id");
    }
    assert_eq!(sim.reference(ReferenceKind::States).len(), 6);
    assert_eq!(sim.reference(ReferenceKind::Types).len(), 3);
    assert_eq!(sim.reference(ReferenceKind::Users).len(), 5);
    assert!(sim
        .reference(ReferenceKind::Users)
        .iter()
        .any(|user| !user["full_name"].as_str().unwrap().is_ascii()));
    assert_eq!(sim.reference_request_count(), 7);
    assert_eq!(sim.list_request_count(), 0);
    assert_eq!(sim.request_count(), 7);

    let again = Simulator::new(TOKEN);
    again.generate(42, 50);
    for kind in ReferenceKind::ALL {
        assert_eq!(sim.reference(kind), again.reference(kind), "{kind:?}");
    }
}

#[tokio::test]
async fn reference_endpoints_of_an_empty_account_answer_empty_pages() {
    let sim = Simulator::new(TOKEN);
    let (server, client) = start(&sim).await;
    for kind in ReferenceKind::ALL {
        let (status, body) = get(&client, &server, &format!("/{}", kind.path()), &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            json!({ "count": 0, "current_page": 1, "total_pages": 1, "results": [] })
        );
    }
}

#[test]
fn generated_tickets_resolve_in_the_reference_lists() {
    let sim = Simulator::new(TOKEN);
    sim.generate(42, 300);
    let ids = |kind: ReferenceKind| -> HashMap<String, Value> {
        sim.reference(kind)
            .into_iter()
            .map(|r| (r["id"].as_str().unwrap().to_owned(), r))
            .collect()
    };
    let states = ids(ReferenceKind::States);
    let types = ids(ReferenceKind::Types);
    let users = ids(ReferenceKind::Users);
    let tags = ids(ReferenceKind::Tags);
    let ticket_fields = ids(ReferenceKind::CustomFields);
    let product_fields = ids(ReferenceKind::ProductCustomFields);

    // Every field key must be a known field and every select value one of
    // its options; collects the field ids seen so coverage can be checked.
    fn check_custom_fields(
        custom_fields: &Value,
        fields: &HashMap<String, Value>,
        seen: &mut HashSet<String>,
    ) {
        for (key, value) in custom_fields
            .as_object()
            .expect("custom_fields is an object")
        {
            if key == "resolve_by" {
                continue;
            }
            let field = fields
                .get(key)
                .unwrap_or_else(|| panic!("custom field {key} resolves"));
            let value = value.as_str().expect("custom field values are strings");
            match field["type"].as_str() {
                Some("select") => assert!(
                    field["options"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|option| option["id"] == value),
                    "option {value} of field {key} resolves"
                ),
                Some("date") => assert!(NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok()),
                _ => assert!(!value.is_empty()),
            }
            seen.insert(key.clone());
        }
    }

    let mut seen_ticket_fields = HashSet::new();
    let mut seen_product_fields = HashSet::new();
    let mut empty_ticket_fields = 0;
    let mut empty_product_fields = 0;
    let mut seen_states = HashSet::new();
    for ticket in sim.tickets() {
        let state = &states[ticket["state"].as_str().expect("state is set")];
        let closed_name = state["name"]["en"].as_str().unwrap();
        assert_eq!(
            ticket["closed_at"].is_string(),
            ["Rejected", "Resolved"].contains(&closed_name),
            "closed tickets are in a final state"
        );
        seen_states.insert(closed_name.to_owned());
        assert!(types.contains_key(ticket["type"].as_str().unwrap()));
        assert!(users.contains_key(ticket["owner"].as_str().unwrap()));
        for tag in ticket["tags"].as_array().unwrap() {
            assert!(
                tags.contains_key(tag.as_str().unwrap()),
                "tag {tag} resolves"
            );
        }
        check_custom_fields(
            &ticket["custom_fields"],
            &ticket_fields,
            &mut seen_ticket_fields,
        );
        empty_ticket_fields += usize::from(ticket["custom_fields"] == json!({}));
        for product in ticket["products"].as_array().unwrap() {
            check_custom_fields(
                &product["custom_fields"],
                &product_fields,
                &mut seen_product_fields,
            );
            empty_product_fields += usize::from(product["custom_fields"] == json!({}));
        }
    }
    assert_eq!(seen_states.len(), 6, "every state is used");
    assert_eq!(
        seen_ticket_fields.len(),
        ticket_fields.len(),
        "every field is used"
    );
    assert_eq!(seen_product_fields.len(), product_fields.len());
    assert!(empty_ticket_fields > 0, "some tickets have no custom field");
    assert!(
        empty_product_fields > 0,
        "some products have no custom field"
    );
    let types_used: HashSet<&str> = ticket_fields
        .values()
        .map(|field| field["type"].as_str().unwrap())
        .collect();
    assert!(types_used.is_superset(&HashSet::from(["select", "text"])));
}

#[tokio::test]
async fn removed_and_upserted_references_show_in_the_served_list() {
    let sim = Simulator::new(TOKEN);
    sim.generate(42, 10);
    let (server, client) = start(&sim).await;
    let served_ids = |body: Value| ids(&body);

    let tags = sim.reference(ReferenceKind::Tags);
    let gone = tags[0]["id"].as_str().unwrap().to_owned();
    assert!(sim.remove_reference(ReferenceKind::Tags, &gone));
    assert!(!sim.remove_reference(ReferenceKind::Tags, &gone));
    assert!(!sim.remove_reference(ReferenceKind::States, &gone));
    let (_, body) = get(&client, &server, "/tags", &[("page_size", "100")]).await;
    assert_eq!(body["count"], tags.len() - 1);
    let served = served_ids(body);
    assert!(!served.contains(&gone));
    assert_eq!(served.len(), tags.len() - 1);

    // An upsert replaces by id, and a new record takes its place in order.
    let renamed = tags[1]["id"].as_str().unwrap().to_owned();
    sim.upsert_reference(
        ReferenceKind::Tags,
        json!({ "id": renamed, "name": { "cs": "Nové jméno", "en": "New name" },
                "fgcolor": "#000000", "bgcolor": "#ffffff" }),
    );
    sim.upsert_reference(ReferenceKind::Tags, json!({ "id": "00000000-new" }));
    let (_, body) = get(&client, &server, "/tags", &[("page_size", "100")]).await;
    assert_eq!(body["count"], tags.len());
    let results = body["results"].as_array().unwrap();
    assert_eq!(results[0], json!({ "id": "00000000-new" }));
    let record = results
        .iter()
        .find(|r| r["id"] == renamed.as_str())
        .unwrap();
    assert_eq!(record["name"]["en"], "New name");
    assert_eq!(sim.reference(ReferenceKind::Tags), *results);

    // A custom field moved to the front by its position is served first.
    let fields = sim.reference(ReferenceKind::CustomFields);
    let mut last = fields.last().unwrap().clone();
    last["position"] = json!(0);
    sim.upsert_reference(ReferenceKind::CustomFields, last.clone());
    assert_eq!(sim.reference(ReferenceKind::CustomFields)[0], last);
    assert_eq!(
        sim.reference(ReferenceKind::CustomFields).len(),
        fields.len()
    );

    assert_eq!(sim.reference_request_count(), 2);
    sim.reset_counts();
    assert_eq!(sim.reference_request_count(), 0);
    assert_eq!(sim.request_count(), 0);
}

#[tokio::test]
async fn reference_endpoints_page_authenticate_and_fault_like_the_ticket_list() {
    let sim = Simulator::new(TOKEN);
    for n in (1..=5).rev() {
        sim.upsert_reference(
            ReferenceKind::Users,
            json!({ "id": format!("user-{n}"), "full_name": format!("Uživatel {n}") }),
        );
    }
    let (server, client) = start(&sim).await;

    let mut seen = Vec::new();
    for page in ["1", "2", "3"] {
        let query = [("page", page), ("page_size", "2"), ("ordering", "-id")];
        let (status, body) = get(&client, &server, "/users", &query).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["count"], 5);
        assert_eq!(body["total_pages"], 3);
        assert_eq!(body["current_page"], page.parse::<u64>().unwrap());
        seen.extend(ids(&body));
    }
    assert_eq!(seen, ["user-1", "user-2", "user-3", "user-4", "user-5"]);
    for page in ["4", "0", "abc"] {
        let (status, body) = get(&client, &server, "/users", &[("page", page)]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "page {page}");
        assert_eq!(body, json!({ "detail": "Invalid page." }));
    }
    // Ticket filters mean nothing here and are ignored, not rejected.
    let query = [("updated_at_from", "yesterday"), ("page_size", "500")];
    sim.set_max_page_size(4);
    let (status, body) = get(&client, &server, "/users", &query).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (ids(&body).len(), body["total_pages"].clone()),
        (4, json!(2))
    );

    let response = client
        .get(format!("{}/users", server.base_url()))
        .header("Authorization", "Token wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    sim.push_faults([
        Fault::Status {
            status: 503,
            retry_after: None,
        },
        Fault::TruncatedBody,
    ]);
    let (status, _) = get(&client, &server, "/states", &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let response = client
        .get(format!("{}/users", server.base_url()))
        .header("Authorization", format!("Token {TOKEN}"))
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err(), "cut: {text}");
    let (status, _) = get(&client, &server, "/users", &[]).await;
    assert_eq!(status, StatusCode::OK);

    assert_eq!(sim.reference_request_count(), 11);
    assert_eq!(sim.list_request_count(), 0);
}

/// Sends `method` to `path` with the test token, and `body` as JSON if any.
async fn send(
    client: &reqwest::Client,
    server: &SimServer,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut request = client
        .request(method, format!("{}{path}", server.base_url()))
        .header("Authorization", format!("Token {TOKEN}"));
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("request is answered");
    let status = response.status();
    (status, response.json().await.expect("body is JSON"))
}

fn timestamp(ticket: &Value, field: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(ticket[field].as_str().expect("a timestamp")).expect("RFC 3339")
}

/// The ids of all tickets, oldest update first, as a client listing them sees them.
async fn ids_by_update(client: &reqwest::Client, server: &SimServer) -> Vec<String> {
    let query = [("ordering", "updated_at"), ("page_size", "100")];
    let (_, body) = get(client, server, "/tickets", &query).await;
    ids(&body)
}

/// A reference record's id other than `current`.
fn other_id(sim: &Simulator, kind: ReferenceKind, current: &Value) -> String {
    sim.reference(kind)
        .iter()
        .map(|record| record["id"].as_str().unwrap().to_owned())
        .find(|id| current.as_str() != Some(id))
        .expect("a second record")
}

#[tokio::test]
async fn patch_changes_each_editable_field_in_place() {
    let sim = Simulator::new(TOKEN);
    sim.generate(11, 20);
    let (server, client) = start(&sim).await;
    let first = sim.tickets()[0].clone();
    let id = first["id"].as_str().unwrap().to_owned();
    let path = format!("/tickets/{id}");

    let state = other_id(&sim, ReferenceKind::States, &first["state"]);
    let ticket_type = other_id(&sim, ReferenceKind::Types, &first["type"]);
    let owner = other_id(&sim, ReferenceKind::Users, &first["owner"]);
    let mut customer = first["customer"].clone();
    customer["email"] = json!("nova.adresa@seznam.cz");
    let mut custom_fields = first["custom_fields"].clone();
    custom_fields["resolve_by"] = json!("2030-01-31");
    custom_fields["poznamka"] = json!("volal dvakrát");
    // (body, field, the field's value afterwards)
    let cases = [
        // Any spelling of a UUID is taken, and stored in canonical form.
        (
            json!({ "state": state.to_uppercase() }),
            "state",
            json!(state),
        ),
        (json!({ "type": ticket_type }), "type", json!(ticket_type)),
        (json!({ "owner": owner }), "owner", json!(owner)),
        (json!({ "owner": null }), "owner", Value::Null),
        // Only the given customer field changes; strings are trimmed.
        (
            json!({ "customer": { "email": " nova.adresa@seznam.cz " } }),
            "customer",
            customer,
        ),
        (json!({ "language": "en" }), "language", json!("en")),
        (json!({ "currency": "EUR" }), "currency", json!("EUR")),
        (json!({ "country": "SK" }), "country", json!("SK")),
        (
            json!({ "custom_fields": { "resolve_by": "2030-01-31", "poznamka": "volal dvakrát" } }),
            "custom_fields",
            custom_fields,
        ),
    ];
    for (body, field, value) in cases {
        let before = sim.get(&id).unwrap();
        let (status, answer) = send(&client, &server, Method::PATCH, &path, Some(&body)).await;
        assert_eq!(status, StatusCode::OK, "{body}: {answer}");
        let mut expected = before.clone();
        expected[field] = value;
        expected["updated_at"] = answer["updated_at"].clone();
        // Compared as text, so the key order counts too.
        assert_eq!(answer.to_string(), expected.to_string(), "{body}");
        let (_, stored) = get(&client, &server, &path, &[]).await;
        assert_eq!(stored.to_string(), answer.to_string(), "{body}");
        assert!(timestamp(&answer, "updated_at") > timestamp(&before, "updated_at"));
        assert_eq!(ids_by_update(&client, &server).await.last(), Some(&id));
    }
    assert_eq!(sim.write_request_count(), 9);
    assert_eq!(sim.list_request_count(), 9);
    assert_eq!(sim.request_count(), 27);
}

#[tokio::test]
async fn bad_bodies_answer_field_errors_and_change_nothing() {
    let sim = Simulator::new(TOKEN);
    sim.generate(12, 5);
    let (server, client) = start(&sim).await;
    let before = sim.tickets();
    let id = before[0]["id"].as_str().unwrap().to_owned();
    let path = format!("/tickets/{id}");
    let unknown = "00000000-0000-4000-8000-000000000000";

    // Every error of a body comes in one answer, the valid fields with it
    // are not applied.
    let body = json!({
        "language": "en",
        "currency": "czk",
        "owner": unknown,
        "state": "abc",
        "code": "20240001",
        "foo": 1,
        "customer": { "name": "Eva", "email": "eva.seznam.cz", "address": "Brno" },
    });
    let (status, answer) = send(&client, &server, Method::PATCH, &path, Some(&body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer,
        json!({
            "currency": ["Enter a valid currency code."],
            "owner": [format!("Invalid pk \"{unknown}\" - object does not exist.")],
            "state": ["“abc” is not a valid UUID."],
            "code": ["This field cannot be changed."],
            "foo": ["This field cannot be changed."],
            "customer": {
                "email": ["Enter a valid email address."],
                "address": ["This field cannot be changed."],
            },
        })
    );

    let cases = [
        (
            json!(["language", "en"]),
            json!({ "non_field_errors": ["Invalid data. Expected a dictionary, but got list."] }),
        ),
        (
            json!("en"),
            json!({ "non_field_errors": ["Invalid data. Expected a dictionary, but got str."] }),
        ),
        (
            Value::Null,
            json!({ "non_field_errors": ["Invalid data. Expected a dictionary, but got NoneType."] }),
        ),
        (
            json!({ "id": id }),
            json!({ "id": ["This field cannot be changed."] }),
        ),
        (
            json!({ "created_at": "2024-01-01T00:00:00Z" }),
            json!({ "created_at": ["This field cannot be changed."] }),
        ),
        (
            json!({ "products": [] }),
            json!({ "products": ["This field cannot be changed."] }),
        ),
        (
            json!({ "type": null, "state": null }),
            json!({ "type": ["This field may not be null."], "state": ["This field may not be null."] }),
        ),
        (
            json!({ "owner": 5 }),
            json!({ "owner": ["Incorrect type. Expected pk value, received int."] }),
        ),
        (
            json!({ "language": "", "country": "CZE", "currency": 203 }),
            json!({
                "language": ["This field may not be blank."],
                "country": ["Enter a valid country code."],
                "currency": ["Not a valid string."],
            }),
        ),
        (
            json!({ "customer": "Eva" }),
            json!({ "customer": { "non_field_errors": ["Invalid data. Expected a dictionary, but got str."] } }),
        ),
        (
            json!({ "customer": null }),
            json!({ "customer": ["This field may not be null."] }),
        ),
        (
            json!({ "custom_fields": ["x"] }),
            json!({ "custom_fields": ["Expected a dictionary of items but got type \"list\"."] }),
        ),
        (
            json!({ "custom_fields": { "a": "ok", "b": 1 } }),
            json!({ "custom_fields": { "b": ["Not a valid string."] } }),
        ),
    ];
    for (body, errors) in cases {
        let (status, answer) = send(&client, &server, Method::PATCH, &path, Some(&body)).await;
        assert_eq!(
            (status, answer),
            (StatusCode::BAD_REQUEST, errors),
            "{body}"
        );
    }

    let url = format!("{}{path}", server.base_url());
    let response = client
        .patch(&url)
        .header("Authorization", format!("Token {TOKEN}"))
        .header("Content-Type", "text/plain")
        .body(r#"{"language": "en"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        answer,
        json!({ "detail": "Unsupported media type \"text/plain\" in request." })
    );
    let response = client
        .patch(&url)
        .header("Authorization", format!("Token {TOKEN}"))
        .header("Content-Type", "application/json; charset=utf-8")
        .body(r#"{"language": "en""#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let answer: Value = response.json().await.unwrap();
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .starts_with("JSON parse error - "),
        "{answer}"
    );

    assert_eq!(sim.tickets(), before, "nothing changed");
}

#[test]
fn email_addresses_are_checked_like_django() {
    for good in [
        "support@retino.com",
        "Jiri.Dvorak@Seznam.cz",
        "a+b@mail.example.co.uk",
        "jan@localhost",
        "petr@příklad.cz",
        "x@example.xn--p1ai",
    ] {
        assert!(is_email(good), "{good}");
    }
    for bad in [
        "",
        "retino.com",
        "@retino.com",
        "jan@",
        "jan@cz",
        "jan..novak@seznam.cz",
        ".jan@seznam.cz",
        "jan novak@seznam.cz",
        "jan@-seznam.cz",
        "jan@seznam.c",
        "jan@seznam.123",
        "jan@@seznam.cz",
        "jan@sez_nam.cz",
    ] {
        assert!(!is_email(bad), "{bad}");
    }
}

#[tokio::test]
async fn put_requires_every_field_and_replaces_the_customer() {
    let sim = Simulator::new(TOKEN);
    let mut stored = ticket("t1", "2024-05-01T08:00:00Z", "2024-05-01T08:00:00Z");
    stored["customer"] =
        json!({ "name": "Eva Nová", "note": "VIP", "email": "eva@seznam.cz", "phone": null });
    stored["custom_fields"] = json!({ "resolve_by": "2024-05-31" });
    sim.insert(stored.clone());
    let (server, client) = start(&sim).await;

    let (status, answer) = send(
        &client,
        &server,
        Method::PUT,
        "/tickets/t1",
        Some(&json!({ "language": "cs" })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let required = json!(["This field is required."]);
    assert_eq!(
        answer,
        json!({
            "state": required, "type": required, "owner": required,
            "customer": required, "currency": required, "country": required,
        })
    );

    // With no reference data stored, any UUID resolves.
    let mut body = json!({
        "state": "4531636a-108f-4ae3-abff-367901418600",
        "type": "44c88eec-b995-4c84-b269-2ff06c8fe5d5",
        "owner": null,
        "customer": { "phone": "+420 777 000 111" },
        "language": "cs",
        "currency": "CZK",
        "country": "CZ",
    });
    let (status, answer) = send(&client, &server, Method::PUT, "/tickets/t1", Some(&body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer,
        json!({ "customer": { "name": required, "email": required } })
    );
    assert_eq!(sim.get("t1").unwrap(), stored);

    body["customer"] = json!({ "phone": "+420 777 000 111", "email": null, "name": "Eva Nová" });
    body["custom_fields"] = json!({ "poznamka": "volat odpoledne" });
    let (status, answer) = send(&client, &server, Method::PUT, "/tickets/t1", Some(&body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // The customer is replaced, in the documented key order; custom fields
    // merge as with PATCH; new fields go after the stored ones.
    let mut expected = stored.clone();
    expected["customer"] =
        json!({ "name": "Eva Nová", "email": null, "phone": "+420 777 000 111" });
    expected["custom_fields"] =
        json!({ "resolve_by": "2024-05-31", "poznamka": "volat odpoledne" });
    expected["updated_at"] = answer["updated_at"].clone();
    for field in ["state", "type", "owner", "language", "currency", "country"] {
        expected[field] = body[field].clone();
    }
    assert_eq!(answer.to_string(), expected.to_string());
    let (_, fetched) = get(&client, &server, "/tickets/t1", &[]).await;
    assert_eq!(fetched.to_string(), answer.to_string());
    assert!(timestamp(&answer, "updated_at") > timestamp(&stored, "updated_at"));
}

#[tokio::test]
async fn close_sets_closed_at_once() {
    let sim = Simulator::new(TOKEN);
    let mut open = ticket("t1", "2024-05-01T08:00:00Z", "2024-05-01T09:00:00Z");
    open["closed_at"] = Value::Null;
    open["is_unread"] = json!(false);
    sim.insert(open.clone());
    sim.insert(ticket("t2", "2024-05-01T08:00:00Z", "2024-05-01T10:00:00Z"));
    let (server, client) = start(&sim).await;

    let (status, closed) = send(&client, &server, Method::POST, "/tickets/t1/close", None).await;
    assert_eq!(status, StatusCode::OK, "{closed}");
    let closed_at = closed["closed_at"].as_str().expect("closed_at is set");
    let fraction = closed_at.split_once('.').unwrap().1;
    assert_eq!(fraction.find(|c: char| !c.is_ascii_digit()), Some(6));
    assert_eq!(closed["closed_at"], closed["updated_at"]);
    assert!(timestamp(&closed, "closed_at") > timestamp(&open, "updated_at"));
    let mut expected = open.clone();
    expected["closed_at"] = closed["closed_at"].clone();
    expected["updated_at"] = closed["updated_at"].clone();
    assert_eq!(closed.to_string(), expected.to_string());
    let (_, fetched) = get(&client, &server, "/tickets/t1", &[]).await;
    assert_eq!(fetched, closed);
    assert_eq!(ids_by_update(&client, &server).await, ["t2", "t1"]);

    let (status, answer) = send(&client, &server, Method::POST, "/tickets/t1/close", None).await;
    assert_eq!(
        (status, answer),
        (
            StatusCode::BAD_REQUEST,
            json!({ "detail": "Ticket is already closed." })
        )
    );
    assert_eq!(
        sim.get("t1").unwrap(),
        closed,
        "a second close changes nothing"
    );
}

#[tokio::test]
async fn unknown_ids_are_not_found_and_wrong_methods_not_allowed() {
    let sim = Simulator::new(TOKEN);
    sim.insert(ticket("t1", "2024-05-01T08:00:00Z", "2024-05-01T08:00:00Z"));
    let (server, client) = start(&sim).await;

    let not_found = json!({ "detail": "Not found." });
    let body = json!({ "language": "cs" });
    for (method, path) in [
        (Method::PATCH, "/tickets/nope"),
        (Method::PUT, "/tickets/nope"),
        (Method::POST, "/tickets/nope/close"),
    ] {
        let (status, answer) = send(&client, &server, method.clone(), path, Some(&body)).await;
        assert_eq!(
            (status, answer),
            (StatusCode::NOT_FOUND, not_found.clone()),
            "{method} {path}"
        );
    }

    for (method, path, allow) in [
        (Method::DELETE, "/tickets/t1", "GET,HEAD,PATCH,PUT"),
        (Method::POST, "/tickets/t1", "GET,HEAD,PATCH,PUT"),
        (Method::GET, "/tickets/t1/close", "POST"),
        (Method::PATCH, "/tickets/t1/close", "POST"),
        (Method::POST, "/tickets", "GET,HEAD"),
        (Method::PUT, "/states", "GET,HEAD"),
    ] {
        let response = client
            .request(method.clone(), format!("{}{path}", server.base_url()))
            .header("Authorization", format!("Token {TOKEN}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        let mut allowed: Vec<_> = response.headers()["allow"]
            .to_str()
            .unwrap()
            .split(',')
            .map(str::trim)
            .map(str::to_owned)
            .collect();
        allowed.sort();
        assert_eq!(allowed.join(","), allow, "{method} {path}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(
            answer,
            json!({ "detail": format!("Method \"{method}\" not allowed.") })
        );
    }
    // PATCH, PUT and POST count as writes wherever they go; DELETE and GET do not.
    assert_eq!(sim.write_request_count(), 7);
    assert_eq!(sim.list_request_count(), 0);
    assert_eq!(
        sim.get("t1").unwrap(),
        ticket("t1", "2024-05-01T08:00:00Z", "2024-05-01T08:00:00Z")
    );
}

#[tokio::test]
async fn writes_authenticate_first() {
    let sim = Simulator::new(TOKEN);
    sim.insert(ticket("t1", "2024-05-01T08:00:00Z", "2024-05-01T08:00:00Z"));
    let (server, client) = start(&sim).await;
    let before = sim.get("t1").unwrap();

    let body = json!({ "language": "en" });
    for (method, path) in [
        (Method::PATCH, "/tickets/t1"),
        (Method::PUT, "/tickets/t1"),
        (Method::POST, "/tickets/t1/close"),
        (Method::PATCH, "/tickets/nope"),
        (Method::DELETE, "/tickets/t1"),
    ] {
        let url = format!("{}{path}", server.base_url());
        for (token, detail) in [
            (None, "Authentication credentials were not provided."),
            (Some("Token wrong"), "Invalid token."),
        ] {
            let mut request = client.request(method.clone(), &url).json(&body);
            if let Some(token) = token {
                request = request.header("Authorization", token);
            }
            let response = request.send().await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path}"
            );
            assert_eq!(response.headers()["www-authenticate"], "Token");
            let answer: Value = response.json().await.unwrap();
            assert_eq!(answer, json!({ "detail": detail }));
        }
    }
    assert_eq!(sim.get("t1").unwrap(), before);
}

#[tokio::test]
async fn writes_consume_faults_and_are_counted() {
    let sim = Simulator::new(TOKEN);
    let mut open = ticket("t1", "2024-05-01T08:00:00Z", "2024-05-01T08:00:00Z");
    open["closed_at"] = Value::Null;
    open["language"] = json!("cs");
    sim.insert(open.clone());
    let (server, client) = start(&sim).await;
    sim.push_faults([
        Fault::Status {
            status: 503,
            retry_after: None,
        },
        Fault::TruncatedBody,
        Fault::Status {
            status: 429,
            retry_after: Some(1),
        },
    ]);
    let url = format!("{}/tickets/t1", server.base_url());
    let patch = || {
        client
            .patch(&url)
            .header("Authorization", format!("Token {TOKEN}"))
            .json(&json!({ "language": "en" }))
            .send()
    };

    // A status fault stops the write before it happens.
    let response = patch().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(sim.get("t1").unwrap(), open);

    // A body fault hides that the write happened.
    let response = patch().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err(), "cut: {text}");
    assert_eq!(sim.get("t1").unwrap()["language"], "en");

    let response = client
        .post(format!("{url}/close"))
        .header("Authorization", format!("Token {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "1");
    assert!(sim.get("t1").unwrap()["closed_at"].is_null());

    let (status, closed) = send(&client, &server, Method::POST, "/tickets/t1/close", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(closed["closed_at"].is_string());
    let (status, _) = get(&client, &server, "/tickets", &[]).await;
    assert_eq!(status, StatusCode::OK);

    assert_eq!(sim.request_count(), 5);
    assert_eq!(sim.write_request_count(), 4);
    assert_eq!(sim.list_request_count(), 1);
    sim.reset_counts();
    assert_eq!(sim.write_request_count(), 0);
}
