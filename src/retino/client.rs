//! The HTTP client for one Retino account.
//!
//! Owns the request shape (`Authorization: Token ...`, the list's query
//! parameter names from configuration), the client-side rate limit
//! (`governor`), the retry policy (`backon`: exponential backoff with
//! jitter, bounded; `Retry-After` honoured) and the mapping of responses
//! to [`ApiError`]. It knows nothing of the database.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, Utc};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::{HeaderMap, AUTHORIZATION, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use url::Url;
use uuid::Uuid;

use super::error::ApiError;
use super::models::{parse_ticket, RawPage, TicketChange, TicketPage, TicketRecord};
use super::reference::{ReferenceKind, ReferenceList};
use crate::config::{AccountSettings, QueryNames};
use crate::telemetry::metrics;

/// Which slice of `GET /tickets` to read; always ordered by `updated_at`
/// ascending, the order the sync cursor relies on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketQuery {
    pub updated_from: Option<DateTime<Utc>>,
    pub updated_to: Option<DateTime<Utc>>,
    pub page: u64,
}

#[derive(Debug, Clone, Copy)]
enum Retry {
    Transient,
    RateLimitOnly,
}

/// Counters a run reports; shared so clones of the client add up.
#[derive(Debug, Default)]
pub struct RequestStats {
    requests: AtomicU64,
    retries: AtomicU64,
}

impl RequestStats {
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Clone)]
pub struct RetinoClient {
    http: reqwest::Client,
    account: String,
    base_url: Url,
    token: SecretString,
    page_size: u32,
    query: QueryNames,
    backoff: ExponentialBuilder,
    backoff_max: Duration,
    /// Shared by clones, so every request of the account counts.
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
    stats: Arc<RequestStats>,
}

impl RetinoClient {
    pub fn new(account: &AccountSettings) -> Result<Self, reqwest::Error> {
        let api = &account.api;
        let http = reqwest::Client::builder()
            .timeout(api.timeout)
            .connect_timeout(api.timeout)
            .user_agent(concat!("retino-sync/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let backoff = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(api.backoff_min)
            .with_max_delay(api.backoff_max)
            .with_max_times(api.max_retries);
        Ok(Self {
            http,
            account: account.name.clone(),
            base_url: api.base_url.clone(),
            token: api.token.clone(),
            page_size: api.page_size,
            query: api.query.clone(),
            backoff,
            backoff_max: api.backoff_max,
            limiter: api
                .requests_per_second
                .map(|rate| Arc::new(RateLimiter::direct(Quota::per_second(rate)))),
            stats: Arc::default(),
        })
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    pub fn stats(&self) -> &RequestStats {
        &self.stats
    }

    /// One page of tickets ordered by `updated_at`. `None` when the page is
    /// past the end: the API may answer that with 404 "Invalid page."
    pub async fn list_tickets(&self, query: &TicketQuery) -> Result<Option<TicketPage>, ApiError> {
        let mut url = self.endpoint(&["tickets"]);
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair(&self.query.ordering, &self.query.ordering_by_update);
            pairs.append_pair("page", &query.page.to_string());
            pairs.append_pair("page_size", &self.page_size.to_string());
            if let Some(from) = query.updated_from {
                pairs.append_pair(&self.query.updated_from, &format_timestamp(from));
            }
            if let Some(to) = query.updated_to {
                pairs.append_pair(&self.query.updated_to, &format_timestamp(to));
            }
        }
        match self.get::<RawPage>(url).await {
            Ok(page) => Ok(Some(page.into())),
            // Page 1 always exists, even empty: a 404 there means a wrong
            // base URL, which must not pass for "nothing changed".
            Err(ApiError::NotFound { .. }) if query.page > 1 => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One ticket by id.
    pub async fn get_ticket(&self, id: Uuid) -> Result<TicketRecord, ApiError> {
        let url = self.endpoint(&["tickets", &id.to_string()]);
        let raw = self
            .get(url)
            .await
            .map_err(|e| self.no_such_ticket(e, id))?;
        self.typed_ticket(raw)
    }

    /// One page of the full-text search over customer, product and order data.
    pub async fn search_tickets(
        &self,
        text: &str,
        page: u64,
    ) -> Result<Option<TicketPage>, ApiError> {
        let mut url = self.endpoint(&["tickets", "search"]);
        url.query_pairs_mut()
            .append_pair("search", text)
            .append_pair("page", &page.to_string())
            .append_pair("page_size", &self.page_size.to_string());
        match self.get::<RawPage>(url).await {
            Ok(page) => Ok(Some(page.into())),
            Err(ApiError::NotFound { .. }) if page > 1 => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Changes the given fields (PATCH), or replaces every editable field
    /// (PUT, `replace`); returns the ticket as Retino now has it. The change
    /// is validated first, so a malformed one never reaches the API.
    pub async fn update_ticket(
        &self,
        id: Uuid,
        change: &TicketChange,
        replace: bool,
    ) -> Result<TicketRecord, ApiError> {
        change
            .validate()
            .map_err(|errors| ApiError::InvalidChange {
                account: self.account.clone(),
                errors,
            })?;
        let url = self.endpoint(&["tickets", &id.to_string()]);
        let method = if replace { Method::PUT } else { Method::PATCH };
        let body = serde_json::to_value(change).expect("a ticket change serializes");
        // Setting the same fields twice gives the same ticket: safe to retry.
        let raw = self
            .send(method, url, Some(&body), Retry::Transient)
            .await
            .map_err(|e| self.no_such_ticket(e, id))?;
        self.typed_ticket(raw)
    }

    /// Closes the ticket, which runs the account's on-close automations (a
    /// rating survey, say); returns the closed ticket.
    pub async fn close_ticket(&self, id: Uuid) -> Result<TicketRecord, ApiError> {
        let url = self.endpoint(&["tickets", &id.to_string(), "close"]);
        // Not retried after a fault the server may have acted on: the
        // automations must not run twice.
        let raw = self
            .send(Method::POST, url, None, Retry::RateLimitOnly)
            .await
            .map_err(|e| self.no_such_ticket(e, id))?;
        self.typed_ticket(raw)
    }

    fn no_such_ticket(&self, error: ApiError, id: Uuid) -> ApiError {
        match error {
            ApiError::NotFound { .. } => ApiError::NoSuchTicket {
                account: self.account.clone(),
                id,
            },
            other => other,
        }
    }

    fn typed_ticket(&self, raw: serde_json::Value) -> Result<TicketRecord, ApiError> {
        parse_ticket(raw).map_err(|reject| ApiError::UnfitTicket {
            account: self.account.clone(),
            reason: reject.reason,
        })
    }

    /// Every record of a reference endpoint, all pages; `None` when this
    /// Retino does not have the endpoint (404 on its first page): the
    /// reference endpoints are inferred, not documented.
    pub async fn list_reference(
        &self,
        kind: ReferenceKind,
    ) -> Result<Option<ReferenceList>, ApiError> {
        let mut records = Vec::new();
        for page in 1.. {
            let mut url = self.endpoint(&[kind.path()]);
            url.query_pairs_mut()
                .append_pair("page", &page.to_string())
                .append_pair("page_size", &self.page_size.to_string());
            let raw = match self.get::<RawPage>(url).await {
                Ok(raw) => raw,
                Err(ApiError::NotFound { .. }) if page == 1 => return Ok(None),
                Err(ApiError::NotFound { .. }) => break,
                Err(e) => return Err(e),
            };
            let total_pages = raw.total_pages.unwrap_or(u64::MAX);
            let empty = raw.results.is_empty();
            records.extend(raw.results);
            if empty || page >= total_pages {
                break;
            }
        }
        Ok(Some(ReferenceList::parse(kind, records)))
    }

    fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            .expect("base_url is validated as http(s) at start")
            .pop_if_empty()
            .extend(segments);
        url
    }

    async fn get<T: DeserializeOwned>(&self, url: Url) -> Result<T, ApiError> {
        self.send(Method::GET, url, None, Retry::Transient).await
    }

    /// One request with the retry policy: `Transient` retries every fault
    /// that may pass; `RateLimitOnly` retries only a 429, which the server
    /// answered without acting, for requests that must not run twice.
    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        retry: Retry,
    ) -> Result<T, ApiError> {
        (|| self.send_once(method.clone(), url.clone(), body))
            .retry(self.backoff)
            .when(|e| match retry {
                Retry::Transient => e.is_transient(),
                Retry::RateLimitOnly => matches!(e, ApiError::RateLimited { .. }),
            })
            .adjust(|error, next| {
                // Honour Retry-After when it asks for longer than the backoff,
                // but never beyond backoff_max: a run must stay bounded.
                next.map(|delay| match error.retry_after() {
                    Some(wanted) => delay.max(wanted.min(self.backoff_max)),
                    None => delay,
                })
            })
            .notify(|error, delay| {
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
                metrics::api_retry(&self.account);
                tracing::warn!(account = %self.account, %error, retry_in = ?delay, "retrying Retino request");
            })
            .await
    }

    async fn send_once<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
    ) -> Result<T, ApiError> {
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let mut request = self.http.request(method, url.clone()).header(
            AUTHORIZATION,
            format!("Token {}", self.token.expose_secret()),
        );
        if let Some(body) = body {
            request = request.json(body);
        }
        let sent = request.send().await;
        metrics::api_request(
            &self.account,
            sent.as_ref().ok().map(|r| r.status().as_u16()),
        );
        let response = sent.map_err(|source| self.transport(source))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|source| self.transport(source))?;
        tracing::debug!(account = %self.account, path = url.path(), status = status.as_u16(), "Retino response");
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|source| ApiError::MalformedBody {
                account: self.account.clone(),
                path: url.path().to_owned(),
                source,
            });
        }
        Err(self.status_error(status, &headers, &body, url.path()))
    }

    fn transport(&self, source: reqwest::Error) -> ApiError {
        ApiError::Transport {
            account: self.account.clone(),
            base_url: self.base_url.to_string(),
            source: source.without_url(),
        }
    }

    fn status_error(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        path: &str,
    ) -> ApiError {
        let account = self.account.clone();
        let detail = error_detail(body);
        match status.as_u16() {
            401 | 403 => ApiError::Unauthorized {
                account,
                status: status.as_u16(),
                detail,
            },
            404 => ApiError::NotFound {
                account,
                path: path.to_owned(),
            },
            429 => ApiError::RateLimited {
                account,
                retry_after: headers
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs),
            },
            400 => ApiError::Invalid {
                account,
                errors: field_errors(body),
            },
            code if status.is_server_error() => ApiError::Server {
                account,
                status: code,
                detail,
            },
            code => ApiError::Rejected {
                account,
                status: code,
                path: path.to_owned(),
                detail,
            },
        }
    }
}

/// Django REST framework's 400 body, `{"field": ["message"], "customer":
/// {"email": ["message"]}}`, as one `field: message` line per error.
fn field_errors(body: &[u8]) -> Vec<String> {
    fn walk(prefix: &str, value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, inner) in map {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(&path, inner, out);
                }
            }
            serde_json::Value::Array(items) => {
                items.iter().for_each(|item| walk(prefix, item, out))
            }
            serde_json::Value::String(message) if prefix.is_empty() => out.push(message.clone()),
            serde_json::Value::String(message) => out.push(format!("{prefix}: {message}")),
            other => out.push(format!("{prefix}: {other}")),
        }
    }
    let mut errors = Vec::new();
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => walk("", &value, &mut errors),
        Err(_) => errors.push(error_detail(body)),
    }
    errors
}

/// The filter format a public client of the API is known to send.
pub fn format_timestamp(ts: DateTime<Utc>) -> String {
    ts.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// `{"detail": "..."}` as Django REST framework writes it, else the body's
/// start, so errors say what the server said.
fn error_detail(body: &[u8]) -> String {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) {
        if let Some(detail) = map.get("detail").and_then(|d| d.as_str()) {
            return detail.to_owned();
        }
        return serde_json::Value::Object(map).to_string();
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        "(empty body)".to_owned()
    } else {
        text.chars().take(200).collect()
    }
}
