//! The simulator's HTTP surface: routes, query parsing, request bodies,
//! authentication, fault injection and the Django REST framework's answer
//! shapes (pages, `{"detail": ...}` errors, field errors, 405s). Reference
//! lists answer exactly like the ticket list, minus its filters and
//! ordering, since a client pages through all of them with the same code.

use std::collections::HashMap;
use std::io;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Map, Value};

use super::edit::Mode;
use super::store::{Field, Selection, Window};
use super::{Fault, ReferenceKind, Simulator};

/// How long a dropped connection keeps its half-sent body open before the
/// abort, so the headers and first bytes really reach the client first.
const DROP_DELAY: Duration = Duration::from_millis(50);

/// The page size a list answers with when the request names none.
const DEFAULT_PAGE_SIZE: usize = 20;

pub(super) fn router(sim: Simulator) -> Router {
    let tickets = Router::new()
        .route("/api/v2/tickets", get(list).fallback(method_not_allowed))
        .route(
            "/api/v2/tickets/search",
            get(search).fallback(method_not_allowed),
        )
        .route(
            "/api/v2/tickets/{id}",
            get(detail)
                .put(replace)
                .patch(modify)
                .fallback(method_not_allowed),
        )
        .route(
            "/api/v2/tickets/{id}/close",
            post(close).fallback(method_not_allowed),
        );
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
                )
                .fallback(method_not_allowed),
            )
        })
        .fallback(|| async { not_found().into_response() })
        .layer(middleware::from_fn_with_state(sim.clone(), count_and_delay))
        .with_state(sim)
}

async fn count_and_delay(State(sim): State<Simulator>, request: Request, next: Next) -> Response {
    sim.count_request();
    if matches!(
        *request.method(),
        Method::PUT | Method::PATCH | Method::POST
    ) {
        sim.count_write_request();
    }
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

    fn server_error() -> Self {
        Self::detail(
            StatusCode::INTERNAL_SERVER_ERROR,
            "A server error occurred.",
        )
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
    sim.record_list_query(query.as_deref());
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
        sim.ticket_json(&id).map(Reply::ok).ok_or_else(not_found)
    })
}

fn not_found() -> Reply {
    Reply::detail(StatusCode::NOT_FOUND, "Not found.")
}

/// Answers a method the path does not take. The Django REST framework
/// authenticates before it dispatches on the method, so a fault or a bad
/// token wins over the 405; axum adds the `Allow` header.
async fn method_not_allowed(
    State(sim): State<Simulator>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let fault = sim.pop_fault();
    respond(fault, || {
        authenticate(&sim, &headers)?;
        Err(Reply::detail(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("Method \"{method}\" not allowed."),
        ))
    })
}

async fn modify(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    edit(&sim, &headers, &id, &body, Mode::Partial)
}

async fn replace(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    edit(&sim, &headers, &id, &body, Mode::Full)
}

/// `PATCH` and `PUT`, checked in the framework's order: the token, the
/// ticket's existence, the body's media type and syntax, then its fields.
fn edit(sim: &Simulator, headers: &HeaderMap, id: &str, body: &Bytes, mode: Mode) -> Response {
    let fault = sim.pop_fault();
    respond(fault, || {
        authenticate(sim, headers)?;
        if !sim.contains(id) {
            return Err(not_found());
        }
        let body = json_body(headers, body)?;
        let edit = sim
            .check_edit(&body, mode)
            .map_err(|errors| Reply::json(StatusCode::BAD_REQUEST, &errors))?;
        write(sim, id, |ticket, _| {
            edit.apply(ticket);
            Ok(())
        })
    })
}

async fn close(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let fault = sim.pop_fault();
    respond(fault, || {
        authenticate(&sim, &headers)?;
        write(&sim, &id, |ticket, now| {
            if ticket
                .get("closed_at")
                .is_some_and(|closed| !closed.is_null())
            {
                return Err(Reply::detail(
                    StatusCode::BAD_REQUEST,
                    "Ticket is already closed.",
                ));
            }
            let now = Simulator::format_ts(now.fixed_offset());
            ticket.insert("closed_at".to_owned(), Value::String(now));
            Ok(())
        })
    })
}

/// Changes a stored ticket with `f`, which gets its fields and the new
/// `updated_at`, and answers with the whole changed ticket.
fn write(
    sim: &Simulator,
    id: &str,
    f: impl FnOnce(&mut Map<String, Value>, DateTime<Utc>) -> Result<(), Reply>,
) -> Result<Reply, Reply> {
    sim.write(id, |ticket, now| {
        // Only a record stored malformed through `insert_raw` is no object;
        // the real server would fail on such a row as well.
        let fields = ticket.as_object_mut().ok_or_else(Reply::server_error)?;
        f(fields, now)
    })
    // The ticket can be removed between the existence check and the write.
    .unwrap_or_else(|| Err(not_found()))
    .map(Reply::ok)
}

/// Reads a write's body as the framework's JSON parser does: an empty body
/// is no data at all, anything else must be declared and be valid JSON.
fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, Reply> {
    if body.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let content_type = headers
        .get(CONTENT_TYPE)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        return Err(Reply::detail(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!("Unsupported media type \"{content_type}\" in request."),
        ));
    }
    serde_json::from_slice(body).map_err(|error| {
        Reply::detail(
            StatusCode::BAD_REQUEST,
            &format!("JSON parse error - {error}"),
        )
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
