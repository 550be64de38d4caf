//! The analysts' read-only role: `SELECT` on schema `retino`, nothing else.

use sqlx::PgPool;

/// Creates `role` (without login; a DBA grants that) when it does not
/// exist, and lets it read every table and view in `retino`, including
/// those later migrations add. It gets no other privilege: it cannot
/// write, and other schemas stay closed unless granted elsewhere.
pub(super) async fn grant(pool: &PgPool, role: &str) -> Result<(), sqlx::Error> {
    let quoted: String = sqlx::query_scalar("SELECT quote_ident($1)")
        .bind(role)
        .fetch_one(pool)
        .await?;
    let mut tx = pool.begin().await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
            .bind(role)
            .fetch_one(&mut *tx)
            .await?;
    if !exists {
        sqlx::query(&format!("CREATE ROLE {quoted} NOLOGIN"))
            .execute(&mut *tx)
            .await?;
    }
    for statement in [
        format!("GRANT USAGE ON SCHEMA retino TO {quoted}"),
        format!("GRANT SELECT ON ALL TABLES IN SCHEMA retino TO {quoted}"),
        format!("ALTER DEFAULT PRIVILEGES IN SCHEMA retino GRANT SELECT ON TABLES TO {quoted}"),
    ] {
        sqlx::query(&statement).execute(&mut *tx).await?;
    }
    tx.commit().await
}
