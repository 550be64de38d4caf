//! retino-sync keeps an exact, incremental mirror of Retino tickets in
//! PostgreSQL.
//!
//! Data flows one way: an API page ([`retino`]) becomes typed models, which
//! the sync engine ([`sync`]) hands to the store ([`store`]) one page per
//! transaction. [`config`] and [`telemetry`] are read once at start-up;
//! [`sim`] is the stand-in Retino that tests and the demo talk to.

pub mod config;
pub mod daemon;
pub mod retino;
pub mod sim;
pub mod store;
pub mod sync;
pub mod telemetry;

/// An error and its causes on one line, each cause once (several error
/// types, sqlx's among them, repeat their source in their own message).
/// This is how errors reach users: the CLI's last line, `sync_runs.error`.
pub fn error_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = String::new();
    let mut cause = Some(error);
    while let Some(e) = cause {
        let text = e.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
        cause = e.source();
    }
    line.replace('\n', " ")
}
