//! The simulator's HTTP surface: routes, query parsing, authentication,
//! fault injection and the Django REST framework's answer shapes (pages,
//! `{"detail": ...}` errors, field errors). Reference lists answer exactly
//! like the ticket list, minus its filters and ordering, since a client
//! pages through all of them with the same code.

use std::collections::HashMap;
use std::io;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Map, Value};

use super::store::{Field, Selection, Window};
use super::{Fault, ReferenceKind, Simulator};

/// How long a dropped connection keeps its half-sent body open before the
/// abort, so the headers and first bytes really reach the client first.
const DROP_DELAY: Duration = Duration::from_millis(50);

/// The page size a list answers with when the request names none.
const DEFAULT_PAGE_SIZE: usize = 20;

pub(super) fn router(sim: Simulator) -> Router {
    let tickets = Router::new()
        .route("/api/v2/tickets", get(list))
        .route("/api/v2/tickets/search", get(search))
        .route("/api/v2/tickets/{id}", get(detail));
    ReferenceKind::ALL
        .into_iter()
        .fold(tickets, |router, kind| {
            router.route(
                &format!("/api/v2/{}", kind.path()),
                get(
                    move |State(sim): State<Simulator>,
                          headers: HeaderMap,
                          RawQuery(query): RawQuery| {
                        reference(kind, sim, headers, query)
                    },
                ),
            )
        })
        .fallback(|| async { Reply::detail(StatusCode::NOT_FOUND, "Not found.").into_response() })
        .layer(middleware::from_fn_with_state(sim.clone(), count_and_delay))
        .with_state(sim)
}

async fn count_and_delay(State(sim): State<Simulator>, request: Request, next: Next) -> Response {
    sim.count_request();
    let latency = sim.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    next.run(request).await
}

/// A JSON answer before any fault is applied to it.
struct Reply {
    status: StatusCode,
    body: String,
}

impl Reply {
    fn ok(body: String) -> Self {
        Self {
            status: StatusCode::OK,
            body,
        }
    }

    fn json(status: StatusCode, body: &Value) -> Self {
        Self {
            status,
            body: body.to_string(),
        }
    }

    fn detail(status: StatusCode, detail: &str) -> Self {
        Self::json(status, &json!({ "detail": detail }))
    }

    fn bytes(self) -> Bytes {
        Bytes::from(self.body)
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let status = self.status;
        let mut response = (status, json_headers(), self.bytes()).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Token"));
        }
        response
    }
}

fn json_headers() -> [(axum::http::HeaderName, HeaderValue); 1] {
    [(CONTENT_TYPE, HeaderValue::from_static("application/json"))]
}

/// Answers with the queued fault, if any, or else with what `handle` returns.
/// Body faults damage the real answer, so `handle` still runs for them.
fn respond(fault: Option<Fault>, handle: impl FnOnce() -> Result<Reply, Reply>) -> Response {
    match fault {
        Some(Fault::Status {
            status,
            retry_after,
        }) => status_fault(status, retry_after),
        Some(Fault::TruncatedBody) => {
            let body = handle().unwrap_or_else(|reply| reply).bytes();
            let half = body.slice(..body.len() / 2);
            (StatusCode::OK, json_headers(), half).into_response()
        }
        Some(Fault::DropConnection) => {
            let body = handle().unwrap_or_else(|reply| reply).bytes();
            let half = body.slice(..body.len() / 2);
            let chunks =
                stream::once(async move { Ok::<_, io::Error>(half) }).chain(stream::once(async {
                    tokio::time::sleep(DROP_DELAY).await;
                    Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "retino simulator: injected dropped connection",
                    ))
                }));
            (StatusCode::OK, json_headers(), Body::from_stream(chunks)).into_response()
        }
        None => handle().unwrap_or_else(|reply| reply).into_response(),
    }
}

fn status_fault(status: u16, retry_after: Option<u32>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let detail = match status {
        StatusCode::TOO_MANY_REQUESTS => match retry_after {
            Some(seconds) => {
                format!("Request was throttled. Expected available in {seconds} seconds.")
            }
            None => "Request was throttled.".to_owned(),
        },
        StatusCode::UNAUTHORIZED => "Invalid token.".to_owned(),
        StatusCode::FORBIDDEN => "You do not have permission to perform this action.".to_owned(),
        StatusCode::NOT_FOUND => "Not found.".to_owned(),
        StatusCode::INTERNAL_SERVER_ERROR => "A server error occurred.".to_owned(),
        other => other.canonical_reason().unwrap_or("Error.").to_owned(),
    };
    let mut response = Reply::detail(status, &detail).into_response();
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// Token authentication as the Django REST framework does it: another scheme
/// counts as no credentials at all.
fn authenticate(sim: &Simulator, headers: &HeaderMap) -> Result<(), Reply> {
    let credentials = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("Token"));
    match credentials {
        None => Err(Reply::detail(
            StatusCode::UNAUTHORIZED,
            "Authentication credentials were not provided.",
        )),
        Some((_, token)) if sim.token_matches(token) => Ok(()),
        Some(_) => Err(Reply::detail(StatusCode::UNAUTHORIZED, "Invalid token.")),
    }
}

async fn list(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let number = sim.count_list_request();
    let fault = sim.pop_fault();
    let served = fault.is_none();
    respond(fault, || {
        authenticate(&sim, &headers)?;
        let params = ListParams::parse(query.as_deref(), sim.max_page_size())?;
        if served {
            sim.run_list_hook(number);
        }
        tickets_page(&sim, &params, &[])
    })
}

async fn search(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let fault = sim.pop_fault();
    respond(fault, || {
        authenticate(&sim, &headers)?;
        let params = ListParams::parse(query.as_deref(), sim.max_page_size())?;
        let terms = search_terms(params.search.as_deref().unwrap_or_default());
        tickets_page(&sim, &params, &terms)
    })
}

async fn reference(
    kind: ReferenceKind,
    sim: Simulator,
    headers: HeaderMap,
    query: Option<String>,
) -> Response {
    sim.count_reference_request();
    let fault = sim.pop_fault();
    respond(fault, || {
        authenticate(&sim, &headers)?;
        let params = query_params(query.as_deref());
        let paging = Paging::parse(&params, sim.max_page_size());
        paging.answer(|offset, limit| sim.reference_page(kind, offset, limit))
    })
}

async fn detail(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let fault = sim.pop_fault();
    respond(fault, || {
        authenticate(&sim, &headers)?;
        sim.ticket_json(&id)
            .map(Reply::ok)
            .ok_or_else(|| Reply::detail(StatusCode::NOT_FOUND, "Not found."))
    })
}

/// Splits a search like the Django REST framework's `SearchFilter`: on
/// whitespace and commas, every term has to match some field.
fn search_terms(search: &str) -> Vec<String> {
    search
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|term| !term.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn tickets_page(sim: &Simulator, params: &ListParams, terms: &[String]) -> Result<Reply, Reply> {
    params.paging.answer(|offset, limit| {
        sim.select(&Selection {
            order_by: params.order_by,
            descending: params.descending,
            updated: params.updated,
            created: params.created,
            terms,
            offset,
            limit,
        })
    })
}

/// A query's parameters; the last of repeated ones wins, as with Django's
/// QueryDict.
fn query_params(query: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// Which page of a paginated list a request asks for.
struct Paging {
    /// `None` when `page` is not a positive integer.
    page: Option<u64>,
    page_size: usize,
}

impl Paging {
    fn parse(params: &HashMap<String, String>, max_page_size: usize) -> Self {
        let get = |name: &str| params.get(name).map(String::as_str);
        let page = match get("page") {
            None => Some(1),
            Some(text) => text.trim().parse::<u64>().ok().filter(|&n| n >= 1),
        };
        // An unusable page_size falls back to the default, as in the
        // Django REST framework; the cap applies either way.
        let page_size = get("page_size")
            .and_then(|text| text.trim().parse::<usize>().ok())
            .filter(|&n| n >= 1)
            .unwrap_or(DEFAULT_PAGE_SIZE)
            .min(max_page_size);
        Self { page, page_size }
    }

    /// Answers the page in the Django REST framework's envelope, or 404
    /// "Invalid page." for a page past the last. `select` gets the page's
    /// offset and limit, and returns the list's full count and the page's
    /// records as comma-separated JSON.
    fn answer(&self, select: impl FnOnce(usize, usize) -> (usize, String)) -> Result<Reply, Reply> {
        let invalid_page = || Reply::detail(StatusCode::NOT_FOUND, "Invalid page.");
        let number = self.page.ok_or_else(invalid_page)?;
        let offset = usize::try_from(number - 1)
            .unwrap_or(usize::MAX)
            .saturating_mul(self.page_size);
        let (count, results) = select(offset, self.page_size);
        let total_pages = count.div_ceil(self.page_size).max(1);
        if number > total_pages as u64 {
            return Err(invalid_page());
        }
        // Records come as JSON text (stored tickets already are), so the
        // page is spliced together rather than built as a tree and
        // serialized again.
        Ok(Reply::ok(format!(
            r#"{{"count":{count},"current_page":{number},"total_pages":{total_pages},"results":[{results}]}}"#
        )))
    }
}

/// The query of a list or search request.
struct ListParams {
    paging: Paging,
    updated: Window,
    created: Window,
    order_by: Field,
    descending: bool,
    search: Option<String>,
}

impl ListParams {
    fn parse(query: Option<&str>, max_page_size: usize) -> Result<Self, Reply> {
        let params = query_params(query);
        let get = |name: &str| params.get(name).map(String::as_str);

        let mut errors = Map::new();
        let mut time = |name: &str| -> Option<DateTime<Utc>> {
            let text = get(name)?;
            match DateTime::parse_from_rfc3339(text.trim()) {
                Ok(t) => Some(t.with_timezone(&Utc)),
                Err(_) => {
                    errors.insert(name.to_owned(), json!(["Enter a valid date/time."]));
                    None
                }
            }
        };
        let updated = Window {
            from: time("updated_at_from"),
            to: time("updated_at_to"),
        };
        let created = Window {
            from: time("created_at_from"),
            to: time("created_at_to"),
        };
        if !errors.is_empty() {
            return Err(Reply::json(StatusCode::BAD_REQUEST, &Value::Object(errors)));
        }

        // Unknown ordering terms are ignored; the first known one decides.
        let (order_by, descending) = get("ordering")
            .unwrap_or_default()
            .split(',')
            .find_map(|term| match term.trim() {
                "updated_at" => Some((Field::Updated, false)),
                "-updated_at" => Some((Field::Updated, true)),
                "created_at" => Some((Field::Created, false)),
                "-created_at" => Some((Field::Created, true)),
                _ => None,
            })
            .unwrap_or((Field::Created, true));

        Ok(Self {
            paging: Paging::parse(&params, max_page_size),
            updated,
            created,
            order_by,
            descending,
            search: get("search").map(str::to_owned),
        })
    }
}
