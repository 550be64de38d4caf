//! Shared set-up for integration tests: a fresh PostgreSQL database per test,
//! a simulator on a real port, settings built through the real loader, and
//! a comparison of the mirror against what the simulator serves, computed
//! from the JSON itself rather than through the crate's own models.
#![allow(dead_code)] // each test binary uses its own part of this module

pub mod docs;

use std::collections::{BTreeSet, HashMap};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use retino_sync::config::Settings;
use retino_sync::retino::RetinoClient;
use retino_sync::sim::{SimServer, Simulator};
use retino_sync::store::Store;
use retino_sync::sync::{sync_account, RunOptions, RunReport, SyncError};
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row};
use tokio_util::sync::CancellationToken;

pub const TOKEN: &str = "test-token-7f3a9c";

/// The server tests create their databases on; `.ci/run` and
/// `scripts/test` export it when they start their own PostgreSQL.
pub fn admin_url() -> String {
    std::env::var("RETINO_SYNC_TEST_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

pub struct TestDb {
    pub url: String,
    pub pool: PgPool,
}

impl TestDb {
    pub async fn new() -> Self {
        let admin_url = admin_url();
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(&admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!("tests need PostgreSQL at {admin_url} (RETINO_SYNC_TEST_ADMIN_URL): {e}")
            });
        let name = format!("retino_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .expect("create test database");
        admin.close().await;
        let mut url = url::Url::parse(&admin_url).unwrap();
        url.set_path(&name);
        let url = url.to_string();
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect(&url)
            .await
            .unwrap();
        Self { url, pool }
    }
}

pub struct Harness {
    pub sim: Simulator,
    pub server: SimServer,
    pub db: TestDb,
    pub store: Store,
}

impl Harness {
    /// A simulator with `count` generated tickets and a migrated database.
    pub async fn new(count: usize) -> Self {
        let sim = Simulator::new(TOKEN);
        if count > 0 {
            sim.generate(42, count);
        }
        let server = sim.spawn().await.unwrap();
        let db = TestDb::new().await;
        let store = Store::from_pool(db.pool.clone());
        store.migrate().await.unwrap();
        Self {
            sim,
            server,
            db,
            store,
        }
    }

    /// The environment the binary or the loader gets in these tests: fast
    /// backoff, so fault tests take milliseconds, not minutes.
    pub fn env(&self) -> HashMap<String, String> {
        [
            ("RETINO_SYNC__DATABASE__URL", self.db.url.as_str()),
            ("RETINO_SYNC__API__BASE_URL", &self.server.base_url()),
            ("RETINO_SYNC__API__TOKEN", TOKEN),
            ("RETINO_SYNC__API__BACKOFF_MIN", "10ms"),
            ("RETINO_SYNC__API__BACKOFF_MAX", "2s"),
            ("RETINO_SYNC__API__TIMEOUT", "5s"),
            // The simulator is local: no need for the client-side limit.
            ("RETINO_SYNC__API__REQUESTS_PER_SECOND", "0"),
            // Sequential unless a test asks for parallel windows.
            ("RETINO_SYNC__SYNC__BACKFILL_CONCURRENCY", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    pub fn settings(&self, extra: &[(&str, &str)]) -> Settings {
        let mut env = self.env();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Settings::load_from(None, &env).expect("test settings")
    }

    pub fn client(&self, extra: &[(&str, &str)]) -> RetinoClient {
        RetinoClient::new(&self.settings(extra).accounts[0]).unwrap()
    }

    pub async fn sync(&self, client: &RetinoClient) -> Result<RunReport, SyncError> {
        let settings = self.settings(&[]);
        self.sync_with(
            client,
            RunOptions::for_account(&settings.accounts[0], &settings.sync, false),
        )
        .await
    }

    pub async fn sync_with(
        &self,
        client: &RetinoClient,
        options: RunOptions,
    ) -> Result<RunReport, SyncError> {
        sync_account(&self.store, client, options, &(), &CancellationToken::new()).await
    }

    /// Asserts the mirror of account "default" equals what the simulator
    /// serves now.
    pub async fn assert_mirror_exact(&self) {
        let diff = mirror_diff(&self.db.pool, "default", &self.sim.tickets()).await;
        assert!(
            diff.is_empty(),
            "mirror differs from the source:\n{}",
            diff.join("\n")
        );
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    }
}

fn json(v: &Value, key: &str) -> Option<Value> {
    v.get(key).filter(|x| !x.is_null()).cloned()
}

fn time(v: &Value, key: &str) -> Option<DateTime<Utc>> {
    v.get(key)
        .and_then(Value::as_str)
        .map(|s| DateTime::parse_from_rfc3339(s).unwrap().to_utc())
}

/// The customer key the design prescribes, computed from the JSON.
pub fn customer_key(ticket: &Value) -> Option<String> {
    let c = ticket.get("customer")?;
    let email = c
        .get("email")
        .and_then(Value::as_str)
        .map(|e| e.trim().to_lowercase());
    if let Some(email) = email.filter(|e| !e.is_empty()) {
        return Some(format!("email:{email}"));
    }
    let phone: String = c
        .get("phone")
        .and_then(Value::as_str)?
        .split_whitespace()
        .collect();
    (!phone.is_empty()).then(|| format!("phone:{phone}"))
}

/// Every difference between the mirror of `account` and `expected`, one
/// line each; empty when the mirror is exact.
pub async fn mirror_diff(pool: &PgPool, account: &str, expected: &[Value]) -> Vec<String> {
    let mut diff = Vec::new();
    let rows = sqlx::query(
        "SELECT t.id::text AS id, t.code, t.state_id::text AS state_id, t.type_id::text AS type_id,
                t.owner_id::text AS owner_id, t.bound_order, t.currency, t.language, t.country,
                t.order_id, t.order_date, t.customer_rating::text AS customer_rating,
                t.customer_rating_comment, t.verification_state, t.is_unread, t.custom_fields,
                t.shipping, t.created_at, t.updated_at, t.closed_at, t.raw,
                CASE WHEN c.email IS NOT NULL THEN 'email:' || c.email
                     WHEN c.id IS NOT NULL THEN 'phone:' || replace(c.phone, ' ', '') END AS customer_key
         FROM retino.tickets t LEFT JOIN retino.customers c ON c.id = t.customer_id
         WHERE t.account = $1 AND t.deleted_at IS NULL",
    )
    .bind(account)
    .fetch_all(pool)
    .await
    .unwrap();
    let mut mirrored: HashMap<String, sqlx::postgres::PgRow> = rows
        .into_iter()
        .map(|r| (r.get::<String, _>("id"), r))
        .collect();
    if mirrored.len() != expected.len() {
        diff.push(format!(
            "{} tickets mirrored, {} expected",
            mirrored.len(),
            expected.len()
        ));
    }
    for v in expected {
        let id = text(v, "id").unwrap();
        let Some(row) = mirrored.remove(&id) else {
            diff.push(format!("ticket {id} missing"));
            continue;
        };
        let mut check = |column: &str, ok: bool| {
            if !ok {
                diff.push(format!("ticket {id}: column {column} differs"));
            }
        };
        for (column, key) in [
            ("code", "code"),
            ("state_id", "state"),
            ("type_id", "type"),
            ("owner_id", "owner"),
            ("currency", "currency"),
            ("language", "language"),
            ("country", "country"),
            ("order_id", "order_id"),
            ("customer_rating_comment", "customer_rating_comment"),
            ("verification_state", "verification_state"),
        ] {
            check(column, row.get::<Option<String>, _>(column) == text(v, key));
        }
        for key in ["bound_order", "custom_fields", "shipping"] {
            check(key, row.get::<Option<Value>, _>(key) == json(v, key));
        }
        for key in ["order_date", "created_at", "closed_at"] {
            check(
                key,
                row.get::<Option<DateTime<Utc>>, _>(key) == time(v, key),
            );
        }
        check(
            "updated_at",
            Some(row.get::<DateTime<Utc>, _>("updated_at")) == time(v, "updated_at"),
        );
        check(
            "customer_rating",
            row.get::<Option<String>, _>("customer_rating")
                .map(|r| r.parse::<f64>().unwrap())
                == v.get("customer_rating").and_then(Value::as_f64),
        );
        check(
            "is_unread",
            row.get::<Option<bool>, _>("is_unread") == v.get("is_unread").and_then(Value::as_bool),
        );
        check("raw", &row.get::<Value, _>("raw") == v);
        check(
            "customer_id",
            row.get::<Option<String>, _>("customer_key") == customer_key(v),
        );
    }
    for id in mirrored.keys() {
        diff.push(format!("ticket {id} mirrored but not in the source"));
    }

    let products: HashMap<String, Value> = sqlx::query_as(
        "SELECT p.id::text,
                jsonb_build_array(p.ticket_id, p.position, p.name, p.manufacturer, p.category,
                    p.product_id, p.variant, p.ean, p.serial, p.amount::text, p.price_with_vat::text,
                    p.price_without_vat::text, p.price_vat::text, p.bound_order_item, p.files,
                    p.custom_fields)
         FROM retino.products p JOIN retino.tickets t ON t.id = p.ticket_id
         WHERE t.account = $1 AND t.deleted_at IS NULL",
    )
    .bind(account)
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    let mut expected_products: HashMap<String, Value> = HashMap::new();
    for t in expected {
        for (i, p) in t["products"].as_array().into_iter().flatten().enumerate() {
            let field = |k: &str| p.get(k).cloned().unwrap_or(Value::Null);
            let price = |k: &str| {
                p.get("price")
                    .and_then(|pr| pr.get(k))
                    .cloned()
                    .unwrap_or(Value::Null)
            };
            let line = serde_json::json!([
                t["id"],
                i,
                field("name"),
                field("manufacturer"),
                field("category"),
                field("product_id"),
                field("variant"),
                field("ean"),
                field("serial"),
                field("amount"),
                price("with_vat"),
                price("without_vat"),
                price("vat"),
                field("bound_order_item"),
                field("files"),
                field("custom_fields")
            ]);
            expected_products.insert(text(p, "id").unwrap(), line);
        }
    }
    if products != expected_products {
        let differing: Vec<_> = expected_products
            .iter()
            .filter(|(id, line)| products.get(*id) != Some(line))
            .map(|(id, line)| format!("{id}: expected {line}, mirrored {:?}", products.get(id)))
            .take(3)
            .collect();
        diff.push(format!(
            "products differ ({} mirrored, {} expected): {differing:?}",
            products.len(),
            expected_products.len()
        ));
    }

    let tags: BTreeSet<(String, String)> = sqlx::query_as(
        "SELECT tt.ticket_id::text, tt.tag_id::text FROM retino.ticket_tags tt
         JOIN retino.tickets t ON t.id = tt.ticket_id WHERE t.account = $1 AND t.deleted_at IS NULL",
    )
    .bind(account)
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    let expected_tags: BTreeSet<(String, String)> = expected
        .iter()
        .flat_map(|t| {
            let id = text(t, "id").unwrap();
            t["tags"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |tag| (id.clone(), tag.as_str().unwrap().to_owned()))
        })
        .collect();
    if tags != expected_tags {
        diff.push(format!(
            "tags differ: {} mirrored, {} expected",
            tags.len(),
            expected_tags.len()
        ));
    }

    let customers: BTreeSet<String> = sqlx::query_scalar(
        "SELECT CASE WHEN email IS NOT NULL THEN 'email:' || email ELSE 'phone:' || replace(phone, ' ', '') END
         FROM retino.customers WHERE account = $1",
    )
    .bind(account)
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    let expected_customers: BTreeSet<String> = expected.iter().filter_map(customer_key).collect();
    if !expected_customers.is_subset(&customers) {
        diff.push(format!(
            "customers missing: {:?}",
            expected_customers
                .difference(&customers)
                .take(3)
                .collect::<Vec<_>>()
        ));
    }
    diff
}

/// Every mirror row with its `xmin`: unchanged when a run writes nothing.
pub async fn xmins(pool: &PgPool) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT 'tickets/' || id, xmin::text FROM retino.tickets
         UNION ALL SELECT 'products/' || id, xmin::text FROM retino.products
         UNION ALL SELECT 'tags/' || ticket_id || '/' || tag_id, xmin::text FROM retino.ticket_tags
         UNION ALL SELECT 'customers/' || id, xmin::text FROM retino.customers
         UNION ALL SELECT 'state/' || account, xmin::text FROM retino.sync_state
         UNION ALL SELECT 'states/' || id, xmin::text FROM retino.states
         UNION ALL SELECT 'types/' || id, xmin::text FROM retino.ticket_types
         UNION ALL SELECT 'tags/' || id, xmin::text FROM retino.tags
         UNION ALL SELECT 'users/' || id, xmin::text FROM retino.users
         UNION ALL SELECT 'custom_fields/' || id, xmin::text FROM retino.custom_fields
         UNION ALL SELECT 'product_custom_fields/' || id, xmin::text FROM retino.product_custom_fields
         UNION ALL SELECT 'refund_accounts/' || id, xmin::text FROM retino.refund_accounts
         ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// `retino-sync run` as a child process on a free port.
pub struct Daemon {
    pub child: Child,
    port: u16,
    /// Its stderr: a file, so a chatty daemon can never block on a pipe.
    log: tempfile::NamedTempFile,
}

impl Daemon {
    pub fn start(h: &Harness, extra: &[(&str, &str)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_retino-sync"))
            .arg("run")
            .env_clear()
            .envs(h.env())
            .env("RETINO_SYNC__SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("RETINO_SYNC__SYNC__SCHEDULE", "* * * * * *")
            .envs(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .stdout(Stdio::null())
            .stderr(Stdio::from(log.reopen().unwrap()))
            .spawn()
            .unwrap();
        Self { child, port, log }
    }

    /// What the daemon wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn get(&self, path: &str) -> Option<(u16, String)> {
        let response = reqwest::get(format!("http://127.0.0.1:{}{path}", self.port))
            .await
            .ok()?;
        let status = response.status().as_u16();
        Some((status, response.text().await.ok()?))
    }

    /// Polls `path` until `want` holds or the time runs out.
    pub async fn wait_for(
        &self,
        path: &str,
        within: Duration,
        want: impl Fn(u16, &str) -> bool,
    ) -> (u16, String) {
        let deadline = Instant::now() + within;
        loop {
            if let Some((status, body)) = self.get(path).await {
                if want(status, &body) {
                    return (status, body);
                }
                assert!(
                    Instant::now() < deadline,
                    "{path} still answers {status} {body}"
                );
            }
            assert!(Instant::now() < deadline, "{path} never answered");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn terminate(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    pub fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
