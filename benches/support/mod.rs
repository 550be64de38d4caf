//! What every benchmark needs: a fresh, migrated database on the server the
//! tests use (`RETINO_SYNC_TEST_ADMIN_URL`, as `scripts/pg-up` prints it).

use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};

pub const TOKEN: &str = "bench-token";

pub fn admin_url() -> String {
    std::env::var("RETINO_SYNC_TEST_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Database `retino_bench_{label}`, dropped and created anew and migrated;
/// kept afterwards so its rows can be inspected.
pub async fn fresh_database(label: &str, max_connections: u32) -> (String, PgPool) {
    let admin = admin_url();
    let mut conn = PgConnection::connect(&admin)
        .await
        .expect("benchmarks need PostgreSQL at RETINO_SYNC_TEST_ADMIN_URL");
    let name = format!("retino_bench_{label}");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&name);
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .connect(url.as_str())
        .await
        .unwrap();
    retino_sync::store::Store::from_pool(pool.clone())
        .migrate()
        .await
        .unwrap();
    (url.to_string(), pool)
}
