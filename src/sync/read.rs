//! Reading one span of the ticket list, page by page, into the store.
//!
//! The span is everything from a point in time (a sequential run), or one
//! window of a parallel backfill. Each page commits with the progress it
//! earns, and the next page is fetched while the current one commits, so a
//! read is bound by the slower of API and database, not their sum.

use chrono::{DateTime, Utc};

use super::{unless_stopped, Completion, Cursor, Run, RunReport, SyncError};
use crate::retino::TicketPage;
use crate::store::{PageCommit, PageProgress, WindowProgress};
use crate::telemetry::metrics;

/// What to read: `[from, to]` by `updated_at` (open ends read everything),
/// and, for a backfill window, the start that keys its progress row (a
/// resumed window reads from its cursor, later than that).
#[derive(Debug, Clone, Copy)]
pub struct Span {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub window: Option<DateTime<Utc>>,
}

pub async fn read_span(
    run: &Run<'_>,
    span: Span,
    report: &mut RunReport,
) -> Result<Completion, SyncError> {
    let Run {
        store,
        client,
        id: run_id,
        progress,
        stop,
    } = *run;
    let account = client.account();
    let mut cursor = Cursor::within(span.from, span.to);
    let Some(first) = unless_stopped(stop, client.list_tickets(&cursor.query())).await else {
        return Ok(Completion::Stopped);
    };
    let mut fetched = first?;
    loop {
        let Some(mut page) = fetched.take() else {
            break;
        };
        if !is_ordered_by_update(&page) {
            return Err(SyncError::Unordered(account.to_owned()));
        }
        let newest = page.update_times().max();
        // Decided on the page as received, before dropping what is stored.
        let last = cursor.is_last(&page);
        let next = cursor.next_after(&page);
        page.tickets
            .retain(|r| !cursor.already_stored(r.ticket.id, r.ticket.updated_at.to_utc()));
        let earned = match span.window {
            Some(from) => PageProgress::Window(WindowProgress {
                from,
                cursor: newest,
                done: last,
            }),
            None => PageProgress::Watermark(report.watermark_after.max(newest)),
        };
        let commit = store.commit_page(PageCommit {
            account,
            run_id,
            tickets: &page.tickets,
            rejects: &page.rejects,
            progress: earned,
        });
        // Commits happen strictly in page order, and a commit is never
        // abandoned for a stop; only the fetch is.
        let next_query = next.query();
        let (outcome, next_page) = if last {
            (commit.await, Some(Ok(None)))
        } else {
            tokio::join!(
                commit,
                unless_stopped(stop, client.list_tickets(&next_query))
            )
        };
        let outcome = outcome?;
        report.pages += 1;
        report.tickets_written += outcome.tickets_written;
        report.rejects += outcome.rejects_stored;
        report.watermark_after = report.watermark_after.max(outcome.watermark);
        metrics::page_stored(account, outcome.tickets_written, outcome.rejects_stored);
        progress.page_committed(&page, report);
        if last {
            break;
        }
        let Some(next_page) = next_page else {
            return Ok(Completion::Stopped);
        };
        if stop.is_cancelled() {
            return Ok(Completion::Stopped);
        }
        cursor = next;
        fetched = next_page?;
    }
    Ok(Completion::Finished)
}

/// The cursor is only sound over an ascending list; a server that ignores
/// the ordering parameter must stop the run rather than skip tickets.
fn is_ordered_by_update(page: &TicketPage) -> bool {
    page.tickets
        .windows(2)
        .all(|w| w[0].ticket.updated_at <= w[1].ticket.updated_at)
}
