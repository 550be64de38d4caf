//! `retino-sync sync`: one run per account now, with a progress bar on a
//! terminal; Ctrl-C lets the page in flight commit.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use tokio_util::sync::CancellationToken;

use retino_sync::config::Settings;
use retino_sync::error_line;
use retino_sync::retino::{RetinoClient, TicketPage};
use retino_sync::store::Store;
use retino_sync::sync::{sync_account, Progress, RunOptions, RunReport};

pub async fn sync(
    settings: &Settings,
    store: &Store,
    only: Option<&str>,
    full: bool,
) -> anyhow::Result<ExitCode> {
    let accounts = super::chosen_accounts(settings, only)?;
    // Ctrl-C lets the page in flight commit, like the daemon's SIGTERM.
    let stop = CancellationToken::new();
    let on_signal = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.cancel();
        }
    });
    let mut failures = Vec::new();
    for account in accounts {
        if stop.is_cancelled() {
            break;
        }
        let client = RetinoClient::new(account).context("building the HTTP client")?;
        let progress = TerminalProgress::new(&account.name);
        let options = RunOptions::for_account(account, &settings.sync, full);
        match sync_account(store, &client, options, &progress, &stop).await {
            Ok(report) => {
                progress.bar.finish_and_clear();
                println!(
                    "{}: {}{} tickets written, {} rejects, {} pages, {} requests, watermark {}",
                    account.name,
                    if report.interrupted {
                        "interrupted, "
                    } else {
                        ""
                    },
                    report.tickets_written,
                    report.rejects,
                    report.pages,
                    report.requests,
                    report
                        .watermark_after
                        .map_or_else(|| "none".to_owned(), |w| w.to_rfc3339()),
                )
            }
            Err(e) => {
                progress.bar.abandon();
                failures.push(format!("account `{}`: {}", account.name, error_line(&e)));
            }
        }
    }
    if !failures.is_empty() {
        bail!("sync failed: {}", failures.join("; "));
    }
    Ok(ExitCode::SUCCESS)
}

/// A progress bar on a terminal during a long run; hidden otherwise.
struct TerminalProgress {
    bar: ProgressBar,
}

impl TerminalProgress {
    fn new(account: &str) -> Self {
        let bar = if std::io::stderr().is_terminal() {
            ProgressBar::new(0).with_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} tickets, {per_sec}, eta {eta}",
                )
                .expect("the template is valid")
                .progress_chars("=> "),
            )
        } else {
            ProgressBar::hidden()
        };
        bar.set_prefix(account.to_owned());
        Self { bar }
    }
}

impl Progress for TerminalProgress {
    fn page_committed(&self, page: &TicketPage, _: &RunReport) {
        // `count` is what the current query still matches, this page
        // included. Parallel windows each count only their own span, so the
        // length only ever grows rather than jumping back.
        let left = page.count.max(page.len() as u64);
        let length = (self.bar.position() + left).max(self.bar.length().unwrap_or(0));
        self.bar.set_length(length);
        self.bar.inc(page.len() as u64);
    }
}
