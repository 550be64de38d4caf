//! The `retino-sync` command line: parses arguments, loads configuration,
//! and dispatches. Errors end here as one line naming what to fix.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use chrono::Utc;
use clap::{Parser, Subcommand};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use retino_sync::config::Settings;
use retino_sync::retino::RetinoClient;
use retino_sync::store::Store;
use retino_sync::sync::{sync_account, RunOptions};
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
    /// Show each account's watermark, lag and last run.
    Status,
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
        Command::Status => {
            store.migrate().await?;
            status(&settings, &store).await
        }
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
    let options = RunOptions {
        full,
        lookback: settings.sync.lookback,
    };
    let mut failures = Vec::new();
    for account in accounts {
        let client = RetinoClient::new(account).context("building the HTTP client")?;
        match sync_account(store, &client, options, &()).await {
            Ok(report) => println!(
                "{}: {} tickets written, {} rejects, {} pages, {} requests, watermark {}",
                account.name,
                report.tickets_written,
                report.rejects,
                report.pages,
                report.requests,
                report
                    .watermark_after
                    .map_or_else(|| "none".to_owned(), |w| w.to_rfc3339()),
            ),
            Err(e) => failures.push(format!("account `{}`: {}", account.name, error_line(&e))),
        }
    }
    if !failures.is_empty() {
        bail!("sync failed: {}", failures.join("; "));
    }
    Ok(ExitCode::SUCCESS)
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
