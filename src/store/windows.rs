//! Parallel backfill windows (`sync_windows`): the plan, each window's
//! progress, and the watermark they earn together, which only moves up to
//! the point below which every window is complete.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use super::{watermark, TICKETS_STREAM};

/// One slice of a backfill: `[from, to]` by `updated_at`, both inclusive
/// as the API's filters are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct BackfillWindow {
    #[sqlx(rename = "window_from")]
    pub from: DateTime<Utc>,
    #[sqlx(rename = "window_to")]
    pub to: DateTime<Utc>,
    /// Largest `updated_at` stored from this window so far.
    pub cursor: Option<DateTime<Utc>>,
    pub done: bool,
}

/// A window page's progress, committed with the page.
#[derive(Debug, Clone, Copy)]
pub struct WindowProgress {
    pub from: DateTime<Utc>,
    pub cursor: Option<DateTime<Utc>>,
    pub done: bool,
}

pub(super) async fn load(pool: &PgPool, account: &str) -> Result<Vec<BackfillWindow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT window_from, window_to, cursor, done FROM retino.sync_windows
         WHERE account = $1 ORDER BY window_from",
    )
    .bind(account)
    .fetch_all(pool)
    .await
}

pub(super) async fn plan(
    pool: &PgPool,
    account: &str,
    windows: &[BackfillWindow],
) -> Result<(), sqlx::Error> {
    let froms: Vec<_> = windows.iter().map(|w| w.from).collect();
    let tos: Vec<_> = windows.iter().map(|w| w.to).collect();
    sqlx::query(
        "INSERT INTO retino.sync_windows (account, window_from, window_to)
         SELECT $1, u.f, u.t FROM UNNEST($2::timestamptz[], $3::timestamptz[]) AS u(f, t)",
    )
    .bind(account)
    .bind(froms)
    .bind(tos)
    .execute(pool)
    .await?;
    Ok(())
}

/// Records a window's progress and moves the watermark to what the windows
/// together guarantee; the plan is dropped once every window is done.
/// Returns the watermark.
pub(super) async fn record(
    conn: &mut PgConnection,
    account: &str,
    progress: WindowProgress,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    // Lock every window row, in order, before touching any: concurrent
    // window commits then queue here instead of deadlocking on each other.
    let mut windows: Vec<BackfillWindow> = sqlx::query_as(
        "SELECT window_from, window_to, cursor, done FROM retino.sync_windows
         WHERE account = $1 ORDER BY window_from FOR UPDATE",
    )
    .bind(account)
    .fetch_all(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE retino.sync_windows
         SET cursor = GREATEST(cursor, $3), done = done OR $4
         WHERE account = $1 AND window_from = $2",
    )
    .bind(account)
    .bind(progress.from)
    .bind(progress.cursor)
    .bind(progress.done)
    .execute(&mut *conn)
    .await?;
    if let Some(window) = windows.iter_mut().find(|w| w.from == progress.from) {
        window.cursor = window.cursor.max(progress.cursor);
        window.done |= progress.done;
    }
    if let Some(earned) = complete_up_to(&windows) {
        watermark::advance(conn, account, TICKETS_STREAM, earned).await?;
    }
    if windows.iter().all(|w| w.done) {
        sqlx::query("DELETE FROM retino.sync_windows WHERE account = $1")
            .bind(account)
            .execute(&mut *conn)
            .await?;
    }
    watermark::load(conn, account, TICKETS_STREAM).await
}

/// How far everything is stored: the end of the longest run of finished
/// windows from the start, or, inside the first unfinished one, its cursor.
fn complete_up_to(windows: &[BackfillWindow]) -> Option<DateTime<Utc>> {
    let mut earned = None;
    for window in windows {
        if window.done {
            earned = Some(window.to);
        } else {
            return earned.max(window.cursor);
        }
    }
    earned
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hour: u32) -> DateTime<Utc> {
        format!("2026-01-01T{hour:02}:00:00Z").parse().unwrap()
    }

    fn window(from: u32, to: u32, cursor: Option<u32>, done: bool) -> BackfillWindow {
        BackfillWindow {
            from: at(from),
            to: at(to),
            cursor: cursor.map(at),
            done,
        }
    }

    #[test]
    fn the_watermark_stops_at_the_first_unfinished_window() {
        let windows = [
            window(0, 1, Some(1), true),
            window(2, 3, Some(2), false),
            window(4, 5, Some(5), true),
        ];
        assert_eq!(complete_up_to(&windows), Some(at(2)));
        let windows = [window(0, 1, None, false), window(2, 3, Some(3), true)];
        assert_eq!(complete_up_to(&windows), None);
        let windows = [window(0, 1, None, true), window(2, 3, Some(3), true)];
        assert_eq!(complete_up_to(&windows), Some(at(3)));
    }
}
