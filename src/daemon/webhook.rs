//! `POST /webhooks/retino/{account}`: tickets pushed by a Retino automation.
//!
//! A delivery must carry the account's shared secret in `X-Retino-Secret`
//! (compared in constant time); without it nothing is stored. The ticket is
//! stored, then answered, within Retino's 10 s. Deliveries may come late,
//! twice or out of order: the store's newer-wins guard makes that harmless,
//! and polling stays the safety net. Webhooks never move the watermark.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use crate::config::AccountSettings;
use crate::retino::models::parse_ticket;
use crate::retino::RejectedRecord;
use crate::store::Store;
use crate::telemetry::metrics;

/// A ticket is a few kB; anything near this is not one.
pub const MAX_BODY: usize = 1024 * 1024;
/// Retino gives up after 10 s; answer well before, so it retries rather
/// than counting a slow success as a failure.
const STORE_TIMEOUT: Duration = Duration::from_secs(8);
const SECRET_HEADER: &str = "x-retino-secret";

#[derive(Clone)]
pub struct Webhooks {
    store: Store,
    /// Accounts with a webhook secret; the others have no webhook.
    secrets: Arc<HashMap<String, SecretString>>,
}

impl Webhooks {
    pub fn new(store: Store, accounts: &[AccountSettings]) -> Self {
        let secrets = accounts
            .iter()
            .filter_map(|a| Some((a.name.clone(), a.webhook_secret.clone()?)))
            .collect();
        Self {
            store,
            secrets: Arc::new(secrets),
        }
    }
}

pub fn router(webhooks: Webhooks) -> Router {
    Router::new()
        .route("/webhooks/retino/{account}", post(deliver))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(webhooks)
}

fn answer(status: StatusCode, detail: impl Into<String>) -> Response {
    (status, Json(json!({"detail": detail.into()}))).into_response()
}

async fn deliver(
    State(webhooks): State<Webhooks>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(secret) = webhooks.secrets.get(&account) else {
        return answer(
            StatusCode::NOT_FOUND,
            "no webhook is configured for this account",
        );
    };
    let given = headers
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !bool::from(given.ct_eq(secret.expose_secret().as_bytes())) {
        tracing::warn!(
            account,
            "webhook delivery with a missing or wrong X-Retino-Secret refused"
        );
        metrics::webhook_delivery(&account, "unauthorized");
        return answer(StatusCode::UNAUTHORIZED, "missing or wrong X-Retino-Secret");
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            metrics::webhook_delivery(&account, "too_large");
            return answer(rejection.status(), rejection.body_text());
        }
    };
    let ticket = match serde_json::from_slice::<Value>(&body) {
        Ok(value) => parse_ticket(value),
        Err(e) => {
            let text = String::from_utf8_lossy(&body).into_owned();
            Err(RejectedRecord::new(
                format!("webhook body is not JSON: {e}"),
                json!({ "body": text }),
            ))
        }
    };
    let stored = tokio::time::timeout(STORE_TIMEOUT, async {
        match &ticket {
            Ok(record) => webhooks
                .store
                .store_tickets(&account, std::slice::from_ref(record))
                .await
                .map(Some),
            Err(reject) => webhooks
                .store
                .store_reject(&account, reject)
                .await
                .map(|()| None),
        }
    })
    .await;
    match (stored, ticket) {
        (Ok(Ok(Some(written))), _) => {
            let outcome = if written > 0 { "stored" } else { "unchanged" };
            metrics::webhook_delivery(&account, outcome);
            (StatusCode::OK, Json(json!({"stored": written > 0}))).into_response()
        }
        (Ok(Ok(None)), Err(reject)) => {
            tracing::warn!(account, reason = %reject.reason, "webhook delivery kept in sync_rejects");
            metrics::webhook_delivery(&account, "rejected");
            answer(
                StatusCode::BAD_REQUEST,
                format!("not a ticket: {}", reject.reason),
            )
        }
        (Ok(Err(e)), _) => {
            tracing::error!(account, error = %crate::error_line(&e), "storing a webhook delivery failed");
            metrics::webhook_delivery(&account, "failed");
            answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "could not store the delivery; retry later",
            )
        }
        _ => {
            metrics::webhook_delivery(&account, "failed");
            answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "storing the delivery took too long; retry later",
            )
        }
    }
}
