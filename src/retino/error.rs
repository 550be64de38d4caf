//! What can go wrong talking to Retino, sorted by what the caller does next:
//! retry ([`ApiError::is_transient`]), stop the run (a refused token), or
//! report (everything else). Messages name the account and what to fix,
//! and never contain the token.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(
        "Retino refused the API token of account `{account}` (HTTP {status}: {detail}); \
         set a valid token in api.token / api.token_file (regenerated tokens invalidate the old one)"
    )]
    Unauthorized {
        account: String,
        status: u16,
        detail: String,
    },

    #[error("Retino rate-limited account `{account}` (HTTP 429){}", retry_after_text(.retry_after))]
    RateLimited {
        account: String,
        retry_after: Option<Duration>,
    },

    #[error("Retino answered HTTP {status} for account `{account}`: {detail}")]
    Server {
        account: String,
        status: u16,
        detail: String,
    },

    #[error("Retino answered HTTP {status} for account `{account}` at {path}: {detail}")]
    Rejected {
        account: String,
        status: u16,
        path: String,
        detail: String,
    },

    #[error("not found in Retino account `{account}`: {path}")]
    NotFound { account: String, path: String },

    #[error("ticket {id} does not exist in Retino account `{account}`")]
    NoSuchTicket { account: String, id: uuid::Uuid },

    #[error("Retino refused the change for account `{account}`: {}", errors.join("; "))]
    Invalid {
        account: String,
        errors: Vec<String>,
    },

    /// Caught before sending: nothing reached Retino.
    #[error("the change for account `{account}` was not sent: {}", errors.join("; "))]
    InvalidChange {
        account: String,
        errors: Vec<String>,
    },

    #[error("Retino sent a ticket for account `{account}` that does not fit the model: {reason}")]
    UnfitTicket { account: String, reason: String },

    #[error("cannot reach Retino for account `{account}` at {base_url}: {source}")]
    Transport {
        account: String,
        base_url: String,
        #[source]
        source: reqwest::Error,
    },

    #[error("Retino sent a malformed response body for account `{account}` at {path}: {source}")]
    MalformedBody {
        account: String,
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

fn retry_after_text(retry_after: &Option<Duration>) -> String {
    retry_after.map_or_else(String::new, |d| format!(", retry after {}s", d.as_secs()))
}

impl ApiError {
    /// Faults worth another attempt: the request may well succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::Server { .. }
                | Self::Transport { .. }
                | Self::MalformedBody { .. }
        )
    }

    /// The server's own idea of when to come back.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status when one was received, for metrics and reports.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Unauthorized { status, .. }
            | Self::Server { status, .. }
            | Self::Rejected { status, .. } => Some(*status),
            Self::RateLimited { .. } => Some(429),
            Self::NotFound { .. } | Self::NoSuchTicket { .. } => Some(404),
            Self::Invalid { .. } => Some(400),
            Self::Transport { .. }
            | Self::MalformedBody { .. }
            | Self::UnfitTicket { .. }
            | Self::InvalidChange { .. } => None,
        }
    }
}
