//! Parallel backfill: a large gap read as concurrent time windows.
//!
//! A first backfill of a big account through a SaaS API is bound by
//! latency, not CPU. So the range from the start of the gap to the run's
//! start is split into windows (`updated_at_from`/`updated_at_to`), read
//! `sync.backfill_concurrency` at a time, each with its own committed
//! progress in `sync_windows`: a crash resumes every window where it
//! stopped and skips finished ones. The watermark only moves up to the
//! point below which every window is complete. Tickets updated meanwhile
//! move past the planned range; a sequential read from its end picks them
//! up, so the result is exactly the mirror a sequential run produces.

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::stream::{self, StreamExt};

use super::read::{read_span, Span};
use super::{unless_stopped, Completion, Run, RunReport, SyncError};
use crate::retino::{RetinoClient, TicketQuery};
use crate::store::BackfillWindow;

/// More windows than workers, so one dense stretch of time does not leave
/// the other workers idle at the end.
const WINDOWS_PER_WORKER: usize = 4;

pub async fn parallel_backfill(
    run: &Run<'_>,
    start: Option<DateTime<Utc>>,
    concurrency: usize,
    report: &mut RunReport,
) -> Result<Completion, SyncError> {
    let (store, client, stop) = (run.store, run.client, run.stop);
    let account = client.account();
    let mut windows = store.backfill_windows(account).await?;
    if windows.is_empty() {
        let from = match start {
            Some(start) => Some(start),
            None => {
                let Some(earliest) = unless_stopped(stop, earliest_update(client)).await else {
                    return Ok(Completion::Stopped);
                };
                earliest?
            }
        };
        // An account without tickets has nothing to backfill.
        let Some(from) = from else {
            return Ok(Completion::Finished);
        };
        windows = split(from, Utc::now(), concurrency * WINDOWS_PER_WORKER);
        store.plan_backfill(account, &windows).await?;
        tracing::info!(windows = windows.len(), from = %from, "parallel backfill planned");
    } else {
        let left = windows.iter().filter(|w| !w.done).count();
        tracing::info!(
            windows = windows.len(),
            left,
            "resuming a parallel backfill"
        );
    }
    let planned_to = windows.last().map(|w| w.to);
    let pending: Vec<BackfillWindow> = windows.into_iter().filter(|w| !w.done).collect();
    report.windows = pending.len() as u64;

    let results: Vec<(RunReport, Result<Completion, SyncError>)> = stream::iter(pending)
        .map(|window| async move {
            let mut part = RunReport::default();
            // A resumed window reads on from its cursor.
            let span = Span {
                from: Some(window.cursor.unwrap_or(window.from)),
                to: Some(window.to),
                window: Some(window.from),
            };
            let result = read_span(run, span, &mut part).await;
            (part, result)
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;

    let mut outcome = Ok(Completion::Finished);
    for (part, result) in results {
        report.pages += part.pages;
        report.tickets_written += part.tickets_written;
        report.rejects += part.rejects;
        report.watermark_after = report.watermark_after.max(part.watermark_after);
        match result {
            Err(e) if outcome.is_ok() => outcome = Err(e),
            Ok(Completion::Stopped) if matches!(outcome, Ok(Completion::Finished)) => {
                outcome = Ok(Completion::Stopped)
            }
            _ => {}
        }
    }
    if !matches!(outcome, Ok(Completion::Finished)) {
        return outcome;
    }
    // Tickets updated while the windows were read now sit past their end.
    let tail = Span {
        from: planned_to,
        to: None,
        window: None,
    };
    read_span(run, tail, report).await
}

/// The oldest `updated_at` in the account, or `None` when it has no tickets.
async fn earliest_update(client: &RetinoClient) -> Result<Option<DateTime<Utc>>, SyncError> {
    let first = client
        .list_tickets(&TicketQuery {
            updated_from: None,
            updated_to: None,
            page: 1,
        })
        .await?;
    Ok(first.and_then(|page| page.update_times().min()))
}

/// `[from, to]` cut into `n` equal, disjoint, inclusive windows.
fn split(from: DateTime<Utc>, to: DateTime<Utc>, n: usize) -> Vec<BackfillWindow> {
    let to = to.max(from);
    let total = (to - from).num_microseconds().unwrap_or(i64::MAX);
    // Never more windows than microseconds to share out.
    let n = (n.max(1) as i64).min(total.max(1));
    let width = total / n;
    let one = TimeDelta::microseconds(1);
    (0..n)
        .map(|i| {
            let start = from + TimeDelta::microseconds(width * i);
            let end = if i == n - 1 {
                to
            } else {
                start + TimeDelta::microseconds(width) - one
            };
            BackfillWindow {
                from: start,
                to: end,
                cursor: None,
                done: false,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_range_without_overlap() {
        let from: DateTime<Utc> = "2024-01-01T00:00:00Z".parse().unwrap();
        let to: DateTime<Utc> = "2026-06-01T00:00:00.123456Z".parse().unwrap();
        let windows = split(from, to, 16);
        assert_eq!(windows.len(), 16);
        assert_eq!(windows[0].from, from);
        assert_eq!(windows[15].to, to);
        for pair in windows.windows(2) {
            assert_eq!(pair[1].from - pair[0].to, TimeDelta::microseconds(1));
        }
        assert_eq!(split(to, to, 4).len(), 1, "an empty range is one window");
    }
}
