//! The Retino Tickets API v2, as a typed client.
//!
//! [`models`] types tickets as the API sends them, [`reference`](mod@reference) the data
//! tickets point to; [`client`] talks HTTP with retries,
//! [`error`] says what went wrong in terms a caller can act on.

pub mod client;
pub mod error;
pub mod models;
pub mod reference;

pub use client::{RetinoClient, TicketQuery};
pub use error::ApiError;
pub use models::{CustomerChange, RejectedRecord, Ticket, TicketChange, TicketPage, TicketRecord};
pub use reference::{ReferenceKind, ReferenceList};
