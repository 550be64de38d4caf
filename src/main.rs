//! The `retino-sync` command line: parses arguments, loads configuration,
//! and dispatches. Errors end here as one line naming what to fix.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use chrono::Utc;
use clap::{Parser, Subcommand};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use tokio_util::sync::CancellationToken;

use retino_sync::config::Settings;
use retino_sync::daemon;
use retino_sync::retino::{RetinoClient, TicketPage, TicketQuery};
use retino_sync::store::Store;
use retino_sync::sync::{sync_account, Progress, RunOptions, RunReport};
use retino_sync::{error_line, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "retino-sync",
    version,
    about = "Keeps a mirror of Retino tickets in PostgreSQL"
)]
struct Cli {
    /// TOML configuration file; without it, built-in defaults and
    /// RETINO_SYNC__* environment variables are used.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply database migrations and exit.
    Migrate,
    /// Run one incremental sync now and exit.
    Sync {
        /// Only this configured account (default: every account).
        #[arg(long, value_name = "NAME")]
        account: Option<String>,
        /// Re-read every ticket instead of starting at the watermark.
        #[arg(long)]
        full: bool,
    },
    /// The daemon: migrate, sync on schedule, serve /healthz, /readyz, /metrics.
    Run,
    /// Show each account's watermark, lag and last run.
    Status,
    /// Validate the configuration, reach the database and each account's API.
    Check,
    /// Let a PostgreSQL role read schema `retino` (SELECT only); creates
    /// the role without login if it does not exist.
    GrantReader {
        /// The role, e.g. `analyst`.
        role: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("retino-sync: {}", error_line(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(cli.config.as_deref())?;
    telemetry::init(&settings.telemetry);
    if let Command::Check = cli.command {
        return Ok(check(&settings).await);
    }
    let store = Store::connect(&settings.database).await?;
    match cli.command {
        Command::Migrate => {
            store.migrate().await?;
            println!("database migrations are up to date");
            Ok(ExitCode::SUCCESS)
        }
        Command::Sync { account, full } => {
            store.migrate().await?;
            sync(&settings, &store, account.as_deref(), full).await
        }
        Command::Run => {
            daemon::run(settings, store).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status => {
            store.migrate().await?;
            status(&settings, &store).await
        }
        Command::GrantReader { role } => {
            store.migrate().await?;
            store.grant_reader(&role).await?;
            println!(
                "role `{role}` can now read schema retino (SELECT only, future tables included); \
                 to let it log in: ALTER ROLE \"{role}\" LOGIN PASSWORD '...';"
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Check => unreachable!("handled before connecting"),
    }
}

async fn sync(
    settings: &Settings,
    store: &Store,
    only: Option<&str>,
    full: bool,
) -> anyhow::Result<ExitCode> {
    let accounts: Vec<_> = match only {
        Some(name) => vec![settings.account(name).with_context(|| {
            let known: Vec<_> = settings.accounts.iter().map(|a| a.name.as_str()).collect();
            format!(
                "--account: no account `{name}` is configured (configured: {})",
                known.join(", ")
            )
        })?],
        None => settings.accounts.iter().collect(),
    };
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
        // `count` is what the current query still matches, this page included.
        let done = self.bar.position();
        self.bar
            .set_length(done + page.count.max(page.len() as u64));
        self.bar.inc(page.len() as u64);
    }
}

/// One line per check, OK or the reason; false if any failed.
async fn check(settings: &Settings) -> ExitCode {
    let mut ok = true;
    let mut line = |what: &str, result: Result<String, String>| match result {
        Ok(detail) => println!("{what:<24} OK   {detail}"),
        Err(reason) => {
            ok = false;
            println!("{what:<24} FAIL {reason}");
        }
    };
    line(
        "configuration",
        Ok(format!("{} account(s)", settings.accounts.len())),
    );
    let database = async {
        let store = Store::connect(&settings.database)
            .await
            .map_err(|e| error_line(&e))?;
        let version: String = sqlx::query_scalar("SHOW server_version")
            .fetch_one(store.pool())
            .await
            .map_err(|e| error_line(&e))?;
        Ok(format!("PostgreSQL {version}"))
    };
    line("database", database.await);
    for account in &settings.accounts {
        // One attempt: a check should answer now, not after minutes of backoff.
        let mut once = account.clone();
        once.api.max_retries = 0;
        let result = async {
            let client = RetinoClient::new(&once).map_err(|e| error_line(&e))?;
            let page = client
                .list_tickets(&TicketQuery {
                    updated_from: None,
                    updated_to: None,
                    page: 1,
                })
                .await
                .map_err(|e| error_line(&e))?;
            Ok(format!(
                "{} tickets at {}",
                page.map_or(0, |p| p.count),
                account.api.base_url
            ))
        };
        line(&format!("account {}", account.name), result.await);
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn status(settings: &Settings, store: &Store) -> anyhow::Result<ExitCode> {
    let configured: Vec<String> = settings.accounts.iter().map(|a| a.name.clone()).collect();
    let rows = store.status(&configured).await?;
    let now = Utc::now();
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header([
        "account",
        "watermark",
        "lag",
        "last run",
        "outcome",
        "written",
        "tickets",
        "last success",
    ]);
    let time = |t: Option<chrono::DateTime<Utc>>| {
        t.map_or_else(
            || "-".to_owned(),
            |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
        )
    };
    for row in rows {
        let lag = row.watermark.map_or_else(
            || "-".to_owned(),
            |w| {
                humantime::format_duration(std::time::Duration::from_secs(
                    (now - w).num_seconds().max(0) as u64,
                ))
                .to_string()
            },
        );
        let outcome = match (&row.last_status, &row.last_error) {
            (Some(status), Some(error)) => format!("{status}: {error}"),
            (Some(status), None) => status.clone(),
            _ => "never run".to_owned(),
        };
        table.add_row([
            row.account,
            time(row.watermark),
            lag,
            time(row.last_started_at),
            outcome,
            row.last_tickets_upserted
                .map_or_else(|| "-".to_owned(), |n| n.to_string()),
            row.tickets.to_string(),
            time(row.last_success_at),
        ]);
    }
    println!("{table}");
    Ok(ExitCode::SUCCESS)
}
