//! What each command prints: the binary's side of the commands. The work
//! itself is the library's; these files only call it and format results.

pub mod check;
pub mod reconcile;
pub mod status;
pub mod sync;
pub mod tickets;

use anyhow::Context;
use retino_sync::config::{AccountSettings, Settings};

/// The account named by `--account`, or every configured one.
pub fn chosen_accounts<'a>(
    settings: &'a Settings,
    only: Option<&str>,
) -> anyhow::Result<Vec<&'a AccountSettings>> {
    match only {
        Some(name) => Ok(vec![settings.account(name).with_context(|| {
            format!(
                "--account: no account `{name}` is configured (configured: {})",
                account_names(settings)
            )
        })?]),
        None => Ok(settings.accounts.iter().collect()),
    }
}

pub fn account_names(settings: &Settings) -> String {
    settings
        .accounts
        .iter()
        .map(|a| a.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
