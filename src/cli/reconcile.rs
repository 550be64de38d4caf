//! `retino-sync reconcile`: the deletion pass now, per account.

use std::process::ExitCode;

use anyhow::{bail, Context};
use tokio_util::sync::CancellationToken;

use retino_sync::config::Settings;
use retino_sync::error_line;
use retino_sync::retino::RetinoClient;
use retino_sync::store::Store;
use retino_sync::sync::{reconcile_account, ReconcileOptions};

pub async fn reconcile(
    settings: &Settings,
    store: &Store,
    only: Option<&str>,
    force: bool,
) -> anyhow::Result<ExitCode> {
    let accounts = super::chosen_accounts(settings, only)?;
    let options = ReconcileOptions {
        max_share: settings.reconcile.max_share,
        force,
    };
    let mut failures = Vec::new();
    for account in accounts {
        let client = RetinoClient::new(account).context("building the HTTP client")?;
        match reconcile_account(store, &client, options, &CancellationToken::new()).await {
            Ok(report) => println!(
                "{}: {} tickets in Retino, {} marked deleted, {} unmarked",
                account.name, report.upstream, report.marked, report.unmarked
            ),
            Err(e) => failures.push(format!("account `{}`: {}", account.name, error_line(&e))),
        }
    }
    if !failures.is_empty() {
        bail!("reconcile failed: {}", failures.join("; "));
    }
    Ok(ExitCode::SUCCESS)
}
