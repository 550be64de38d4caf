//! One run per account at a time, across processes and replicas.
//!
//! A session-level PostgreSQL advisory lock, held on a connection taken out
//! of the pool for the run: if the process dies, its session ends and the
//! lock goes with it, so another replica can take the account over.

use sqlx::{Connection, PgConnection, PgPool};

#[derive(Debug)]
pub struct AccountLock {
    conn: PgConnection,
    key: String,
}

/// The key's namespace keeps our locks apart from any other application's
/// advisory locks on the same database.
fn lock_key(account: &str) -> String {
    format!("retino-sync/account/{account}")
}

impl AccountLock {
    pub(super) async fn try_acquire(
        pool: &PgPool,
        account: &str,
    ) -> Result<Option<Self>, sqlx::Error> {
        // Detached, so the lock cannot leak back into the pool with it: a
        // dropped lock closes its connection, which releases it.
        let mut conn = pool.acquire().await?.detach();
        let key = lock_key(account);
        let locked: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
                .bind(&key)
                .fetch_one(&mut conn)
                .await?;
        if !locked {
            conn.close().await?;
            return Ok(None);
        }
        Ok(Some(Self { conn, key }))
    }

    pub async fn release(mut self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_advisory_unlock(hashtextextended($1, 0))")
            .bind(&self.key)
            .execute(&mut self.conn)
            .await?;
        self.conn.close().await
    }
}
