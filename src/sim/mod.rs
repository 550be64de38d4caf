//! The Retino API simulator: an in-memory, real-HTTP double of the Retino
//! Tickets API v2 (list, search, detail, and the writes: `PUT`/`PATCH` of a
//! ticket and closing it) and of the reference lists that
//! tickets point into by UUID (states, types, tags, users, custom fields,
//! refund accounts), for integration tests and the `retino-sim` demo binary.
//!
//! It owns the simulated account's tickets and reference records (taken and
//! given as raw `serde_json::Value`s, so tests can store malformed records
//! and unknown fields survive untouched), the server's clock, and the knobs
//! tests turn: token, latency, page-size cap, injected faults and a hook that
//! mutates data between list requests.
//!
//! It is a test and demo double only: it never talks to the real Retino, and
//! the sync code must never depend on it.

mod edit;
mod generate;
mod server;
mod store;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use edit::{Edit, Mode};
use store::{References, Selection, Store};

/// A failure the simulator answers with instead of the real response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// answer this status with {"detail": "..."} and optional Retry-After header (seconds)
    Status {
        status: u16,
        retry_after: Option<u32>,
    },
    /// answer 200 with content-type json but only the first half of the real body
    TruncatedBody,
    /// send 200 headers then abort the connection mid-body (body stream yields an error), so the client sees a transport error
    DropConnection,
}

/// A list of reference data that tickets point into by UUID, served as pages
/// like the ticket list at `/api/v2/<path>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReferenceKind {
    States,
    Types,
    Tags,
    Users,
    /// Ticket-level custom fields: the UUID keys of a ticket's `custom_fields`.
    CustomFields,
    /// Product-level custom fields: the UUID keys of a product's `custom_fields`.
    ProductCustomFields,
    RefundAccounts,
}

impl ReferenceKind {
    pub const ALL: [ReferenceKind; 7] = [
        ReferenceKind::States,
        ReferenceKind::Types,
        ReferenceKind::Tags,
        ReferenceKind::Users,
        ReferenceKind::CustomFields,
        ReferenceKind::ProductCustomFields,
        ReferenceKind::RefundAccounts,
    ];

    /// The endpoint's path under `/api/v2`, without slashes.
    pub fn path(self) -> &'static str {
        match self {
            ReferenceKind::States => "states",
            ReferenceKind::Types => "types",
            ReferenceKind::Tags => "tags",
            ReferenceKind::Users => "users",
            ReferenceKind::CustomFields => "custom-fields",
            ReferenceKind::ProductCustomFields => "product-custom-fields",
            ReferenceKind::RefundAccounts => "refund-accounts",
        }
    }
}

type ListHook = dyn Fn(&Simulator, u64) + Send + Sync;

/// A handle to one simulated Retino account; clones share the same state.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

struct Inner {
    store: Mutex<Store>,
    references: Mutex<References>,
    knobs: Mutex<Knobs>,
    list_hook: Mutex<Option<Arc<ListHook>>>,
    requests: AtomicU64,
    list_requests: AtomicU64,
    reference_requests: AtomicU64,
    write_requests: AtomicU64,
    throttled: AtomicU64,
}

struct Knobs {
    token: String,
    latency: Duration,
    max_page_size: usize,
    faults: VecDeque<Fault>,
    /// Requests per second before answering 429, like a SaaS rate limit.
    rate_limit: Option<u32>,
    /// When recent requests were let through, for the rate limit.
    recent: VecDeque<std::time::Instant>,
    /// Raw query strings of GET /tickets, in arrival order.
    list_queries: Vec<String>,
}

/// A running simulator bound to a loopback port.
pub struct SimServer {
    addr: SocketAddr,
    /// Dropping this sender is the server's shutdown signal.
    _shutdown: oneshot::Sender<()>,
}

impl SimServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API root a client is configured with, e.g. `http://127.0.0.1:PORT/api/v2`.
    pub fn base_url(&self) -> String {
        format!("http://{}/api/v2", self.addr)
    }
}

/// A poisoned lock only means a test closure panicked; the data is still
/// consistent enough for a test double, and the server must keep answering.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Simulator {
    /// An empty account that accepts `Authorization: Token <token>`.
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            inner: Arc::new(Inner {
                store: Mutex::new(Store::default()),
                references: Mutex::new(References::default()),
                knobs: Mutex::new(Knobs {
                    token: token.into(),
                    latency: Duration::ZERO,
                    max_page_size: 100,
                    faults: VecDeque::new(),
                    rate_limit: None,
                    recent: VecDeque::new(),
                    list_queries: Vec::new(),
                }),
                list_hook: Mutex::new(None),
                requests: AtomicU64::new(0),
                list_requests: AtomicU64::new(0),
                reference_requests: AtomicU64::new(0),
                write_requests: AtomicU64::new(0),
                throttled: AtomicU64::new(0),
            }),
        }
    }

    /// Adds `count` realistic tickets generated deterministically from `seed`,
    /// and the reference records (states, types, tags, users, custom fields
    /// and their options, refund accounts) their UUIDs point to: the same
    /// seed and count always give the same data. Reference records of another
    /// seed stay, so tickets of earlier calls keep resolving.
    pub fn generate(&self, seed: u64, count: usize) {
        let (references, tickets) = generate::account(seed, count);
        // References go in first, so no ticket is ever served before what it
        // points to.
        {
            let mut stored = lock(&self.inner.references);
            for (kind, record) in references {
                stored.upsert(kind, record);
            }
        }
        // Locking per ticket keeps a running server answering meanwhile.
        for ticket in tickets {
            let sort_key = store::updated_at(&ticket).expect("generated tickets carry updated_at");
            lock(&self.inner.store).put(sort_key, ticket);
        }
    }

    /// Binds 127.0.0.1 on a free port and serves in a background task until
    /// the returned [`SimServer`] is dropped.
    pub async fn spawn(&self) -> std::io::Result<SimServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        let server = self.clone().serve(listener, async {
            // Both a send and the sender's drop mean "stop".
            let _ = stopped.await;
        });
        tokio::spawn(async move {
            if let Err(error) = server.await {
                tracing::warn!(%error, "retino simulator stopped with an error");
            }
        });
        Ok(SimServer {
            addr,
            _shutdown: shutdown,
        })
    }

    /// Serves on `listener` until `shutdown` resolves, then lets requests in
    /// flight finish.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, server::router(self))
            .with_graceful_shutdown(shutdown)
            .await
    }

    /// Stores a well-formed ticket, replacing any with the same id.
    ///
    /// # Panics
    /// If the ticket has no parseable `updated_at`; use [`Simulator::insert_raw`]
    /// for malformed records.
    pub fn insert(&self, ticket: Value) {
        let Some(sort_key) = store::updated_at(&ticket) else {
            panic!(
                "Simulator::insert needs a ticket with an RFC 3339 \"updated_at\" \
                 (use insert_raw for malformed records), got: {ticket}"
            );
        };
        lock(&self.inner.store).put(sort_key, ticket);
    }

    /// Stores any JSON value as a ticket, listed as if its `updated_at` were
    /// `sort_key`. Its key is its `id` string, or the JSON text of a non-string
    /// id (`null` when it has none); a record with the same key is replaced.
    pub fn insert_raw(&self, sort_key: DateTime<Utc>, ticket: Value) {
        lock(&self.inner.store).put(sort_key, ticket);
    }

    /// Applies `f` to the ticket and stamps it with a fresh `updated_at`, as
    /// any change on the real server does. `f` runs under the simulator's lock,
    /// so it must not call back into the simulator. Returns false for an
    /// unknown id.
    pub fn update(&self, id: &str, f: impl FnOnce(&mut Value)) -> bool {
        lock(&self.inner.store).update(id, f)
    }

    pub fn remove(&self, id: &str) -> Option<Value> {
        lock(&self.inner.store).remove(id)
    }

    pub fn get(&self, id: &str) -> Option<Value> {
        lock(&self.inner.store).get(id)
    }

    /// Every ticket, ordered by (`updated_at`, id).
    pub fn tickets(&self) -> Vec<Value> {
        lock(&self.inner.store).all()
    }

    /// The records of one reference list, in the order they are served: by
    /// `position` where records have an integer one, then by id.
    pub fn reference(&self, kind: ReferenceKind) -> Vec<Value> {
        lock(&self.inner.references).all(kind)
    }

    /// Stores any JSON value as a reference record, replacing the one with
    /// the same id. Ids are keyed like tickets': the `id` string, or the JSON
    /// text of a non-string id (`null` when there is none).
    pub fn upsert_reference(&self, kind: ReferenceKind, record: Value) {
        lock(&self.inner.references).upsert(kind, record);
    }

    /// Deletes a reference record, as an admin deleting a state or a tag
    /// upstream does; tickets still pointing at it are left alone, as they
    /// may be on the real server. Returns false for an unknown id.
    pub fn remove_reference(&self, kind: ReferenceKind, id: &str) -> bool {
        lock(&self.inner.references).remove(kind, id)
    }

    pub fn len(&self) -> usize {
        lock(&self.inner.store).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The server's clock: the real time in microseconds, but always later
    /// than its previous reading and than every stored ticket's `updated_at`,
    /// so an update always moves a ticket to the end of the `updated_at` order.
    pub fn now(&self) -> DateTime<FixedOffset> {
        lock(&self.inner.store).tick().fixed_offset()
    }

    /// Formats a timestamp the way the API writes them: RFC 3339 with six
    /// fractional digits and a numeric offset.
    pub fn format_ts(ts: DateTime<FixedOffset>) -> String {
        ts.to_rfc3339_opts(SecondsFormat::Micros, false)
    }

    pub fn set_token(&self, token: impl Into<String>) {
        lock(&self.inner.knobs).token = token.into();
    }

    /// Sleeps this long before answering every request.
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.inner.knobs).latency = latency;
    }

    /// Caps `page_size` on the server side (default 100); 0 counts as 1.
    pub fn set_max_page_size(&self, n: usize) {
        lock(&self.inner.knobs).max_page_size = n.max(1);
    }

    /// Queues faults; each request to a `/tickets` or reference endpoint takes
    /// the next one, if any, and answers with it instead of the real response.
    /// A write that draws a [`Fault::Status`] is not applied; one that draws
    /// a body fault is, and only its answer is damaged, so a client meets
    /// both sides of "did my change happen?".
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        lock(&self.inner.knobs).faults.extend(faults);
    }

    /// Runs `hook` before answering each list request (`GET /tickets`) that
    /// got past faults and authentication, with no simulator lock held, so it
    /// may insert, update or remove tickets. It gets the request's number as
    /// counted by [`Simulator::list_request_count`] (1-based; faulted and
    /// rejected list requests take a number too; [`Simulator::reset_counts`]
    /// restarts it).
    pub fn on_list_request(&self, hook: impl Fn(&Simulator, u64) + Send + Sync + 'static) {
        *lock(&self.inner.list_hook) = Some(Arc::new(hook));
    }

    pub fn clear_list_hook(&self) {
        *lock(&self.inner.list_hook) = None;
    }

    /// Every HTTP request received, faulted and rejected ones included.
    pub fn request_count(&self) -> u64 {
        self.inner.requests.load(Ordering::SeqCst)
    }

    /// `GET /tickets` requests received, faulted and rejected ones included.
    pub fn list_request_count(&self) -> u64 {
        self.inner.list_requests.load(Ordering::SeqCst)
    }

    /// `GET` requests to any reference endpoint (`/states`, `/users`, ...),
    /// faulted and rejected ones included.
    pub fn reference_request_count(&self) -> u64 {
        self.inner.reference_requests.load(Ordering::SeqCst)
    }

    /// `PUT`, `PATCH` and `POST` requests received, to any path, faulted
    /// and rejected ones included.
    pub fn write_request_count(&self) -> u64 {
        self.inner.write_requests.load(Ordering::SeqCst)
    }

    /// Answer 429 (`Retry-After: 1`) to requests beyond `per_second` in any
    /// one-second window; `None` lifts the limit.
    pub fn set_rate_limit(&self, per_second: Option<u32>) {
        lock(&self.inner.knobs).rate_limit = per_second;
    }

    /// Requests answered 429 by the rate limit.
    pub fn throttled_count(&self) -> u64 {
        self.inner.throttled.load(Ordering::SeqCst)
    }

    /// The raw query string of every `GET /tickets` since the last reset.
    pub fn list_queries(&self) -> Vec<String> {
        lock(&self.inner.knobs).list_queries.clone()
    }

    pub fn reset_counts(&self) {
        lock(&self.inner.knobs).list_queries.clear();
        self.inner.throttled.store(0, Ordering::SeqCst);
        self.inner.requests.store(0, Ordering::SeqCst);
        self.inner.list_requests.store(0, Ordering::SeqCst);
        self.inner.reference_requests.store(0, Ordering::SeqCst);
        self.inner.write_requests.store(0, Ordering::SeqCst);
    }

    fn count_request(&self) {
        self.inner.requests.fetch_add(1, Ordering::SeqCst);
    }

    fn count_list_request(&self) -> u64 {
        self.inner.list_requests.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn count_reference_request(&self) {
        self.inner.reference_requests.fetch_add(1, Ordering::SeqCst);
    }

    fn count_write_request(&self) {
        self.inner.write_requests.fetch_add(1, Ordering::SeqCst);
    }

    fn latency(&self) -> Duration {
        lock(&self.inner.knobs).latency
    }

    /// The queued fault for this request, else a 429 when the rate limit
    /// is exceeded.
    fn pop_fault(&self) -> Option<Fault> {
        let mut knobs = lock(&self.inner.knobs);
        if let Some(fault) = knobs.faults.pop_front() {
            return Some(fault);
        }
        let limit = knobs.rate_limit?;
        let now = std::time::Instant::now();
        while knobs
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            knobs.recent.pop_front();
        }
        if knobs.recent.len() >= limit as usize {
            self.inner.throttled.fetch_add(1, Ordering::SeqCst);
            return Some(Fault::Status {
                status: 429,
                retry_after: Some(1),
            });
        }
        knobs.recent.push_back(now);
        None
    }

    fn record_list_query(&self, query: Option<&str>) {
        lock(&self.inner.knobs)
            .list_queries
            .push(query.unwrap_or_default().to_owned());
    }

    fn token_matches(&self, token: &str) -> bool {
        lock(&self.inner.knobs).token == token
    }

    fn max_page_size(&self) -> usize {
        lock(&self.inner.knobs).max_page_size
    }

    fn select(&self, selection: &Selection<'_>) -> (usize, String) {
        lock(&self.inner.store).select(selection)
    }

    fn reference_page(&self, kind: ReferenceKind, offset: usize, limit: usize) -> (usize, String) {
        lock(&self.inner.references).page(kind, offset, limit)
    }

    fn ticket_json(&self, id: &str) -> Option<String> {
        lock(&self.inner.store).json(id)
    }

    fn contains(&self, id: &str) -> bool {
        lock(&self.inner.store).contains(id)
    }

    /// Checks a `PUT` or `PATCH` body against the reference lists as they
    /// are now; the error is the 400's body.
    fn check_edit(&self, body: &Value, mode: Mode) -> Result<Edit, Value> {
        edit::check(body, mode, &lock(&self.inner.references))
    }

    /// Changes a ticket with `f`, which gets the new `updated_at`, under one
    /// lock; see [`Store::try_update`]. `None` for an unknown id.
    fn write<E>(
        &self,
        id: &str,
        f: impl FnOnce(&mut Value, DateTime<Utc>) -> Result<(), E>,
    ) -> Option<Result<String, E>> {
        lock(&self.inner.store).try_update(id, f)
    }

    fn run_list_hook(&self, number: u64) {
        let hook = lock(&self.inner.list_hook).clone();
        if let Some(hook) = hook {
            hook(self, number);
        }
    }
}
