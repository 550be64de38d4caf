//! The deletion pass: a mirror that never notices a deleted ticket drifts.
//!
//! It lists every ticket id Retino still has, with the same time cursor as
//! a sync (so tickets updated meanwhile are not skipped), and marks mirror
//! tickets missing upstream with `deleted_at`; the store also unmarks those
//! that came back. Safety first: an incomplete listing marks nothing, and a
//! pass that would mark more than `reconcile.max_share` of the mirror is
//! refused unless forced, since a half-broken API answer must not wipe it.

use std::collections::HashSet;

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{holding_account_lock, unless_stopped, Cursor, SyncError};
use crate::retino::{RejectedRecord, RetinoClient};
use crate::store::{DeletionOutcome, Store};
use crate::telemetry::metrics;

#[derive(Debug, Clone, Copy)]
pub struct ReconcileOptions {
    pub max_share: f64,
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Ticket ids Retino listed.
    pub upstream: u64,
    pub marked: u64,
    pub unmarked: u64,
}

pub async fn reconcile_account(
    store: &Store,
    client: &RetinoClient,
    options: ReconcileOptions,
    stop: &CancellationToken,
) -> Result<ReconcileReport, SyncError> {
    let account = client.account();
    let result = holding_account_lock(
        store,
        account,
        locked_reconcile(store, client, options, stop),
    )
    .await;
    let outcome = match &result {
        Ok(_) => "applied",
        Err(SyncError::TooManyDeletions { .. }) => "refused",
        Err(_) => "failed",
    };
    let (marked, unmarked) = result.as_ref().map_or((0, 0), |r| (r.marked, r.unmarked));
    metrics::reconcile_finished(account, outcome, marked, unmarked);
    result
}

async fn locked_reconcile(
    store: &Store,
    client: &RetinoClient,
    options: ReconcileOptions,
    stop: &CancellationToken,
) -> Result<ReconcileReport, SyncError> {
    let account = client.account();
    // Only rows stored before the listing began can be judged by it.
    let listing_started = Utc::now();
    let upstream = list_every_id(client, stop).await?;
    let outcome = store
        .mark_deleted(
            account,
            &upstream,
            listing_started,
            options.max_share,
            options.force,
        )
        .await?;
    match outcome {
        DeletionOutcome::Applied { marked, unmarked } => {
            tracing::info!(
                account,
                upstream = upstream.len(),
                marked,
                unmarked,
                "reconciliation applied"
            );
            Ok(ReconcileReport {
                upstream: upstream.len() as u64,
                marked,
                unmarked,
            })
        }
        DeletionOutcome::Refused { would_mark, live } => {
            let error = SyncError::TooManyDeletions {
                account: account.to_owned(),
                would_mark,
                live,
                max_share: options.max_share,
            };
            tracing::error!(%error, "reconciliation refused");
            Err(error)
        }
    }
}

/// Every ticket id upstream, or an error: never a partial set.
async fn list_every_id(
    client: &RetinoClient,
    stop: &CancellationToken,
) -> Result<Vec<Uuid>, SyncError> {
    let mut ids = HashSet::new();
    let mut cursor = Cursor::starting_at(None);
    loop {
        let Some(fetched) = unless_stopped(stop, client.list_tickets(&cursor.query())).await else {
            return Err(SyncError::ReconcileStopped(client.account().to_owned()));
        };
        let Some(page) = fetched? else { break };
        ids.extend(page.tickets.iter().map(|r| r.ticket.id));
        // A record that does not fit the model still exists upstream.
        ids.extend(page.rejects.iter().filter_map(RejectedRecord::id));
        if cursor.is_last(&page) {
            break;
        }
        cursor = cursor.next_after(&page);
    }
    Ok(ids.into_iter().collect())
}
