//! The `retino-sync` command line: parses arguments, loads configuration,
//! and dispatches. Errors end here as one line naming what to fix.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use retino_sync::config::Settings;
use retino_sync::daemon;
use retino_sync::store::Store;
use retino_sync::{error_line, telemetry};

mod cli;

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
    /// Mark mirror tickets that Retino no longer has as deleted (and unmark
    /// those that came back); refuses to mark more than reconcile.max_share.
    Reconcile {
        /// Only this configured account (default: every account).
        #[arg(long, value_name = "NAME")]
        account: Option<String>,
        /// Mark even when it exceeds reconcile.max_share of the mirror.
        #[arg(long)]
        force: bool,
    },
    /// The rest of the Tickets API: get, search, update, close, list.
    Tickets(Box<cli::tickets::TicketsArgs>),
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
    // These need no database, or connect only when they must.
    let command = match cli.command {
        Command::Check => return Ok(cli::check::check(&settings).await),
        Command::Tickets(args) => return cli::tickets::run(&settings, *args).await,
        command => command,
    };
    let store = Store::connect(&settings.database).await?;
    match command {
        Command::Migrate => {
            store.migrate().await?;
            println!("database migrations are up to date");
            Ok(ExitCode::SUCCESS)
        }
        Command::Sync { account, full } => {
            store.migrate().await?;
            cli::sync::sync(&settings, &store, account.as_deref(), full).await
        }
        Command::Run => {
            daemon::run(settings, store).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status => {
            store.migrate().await?;
            cli::status::status(&settings, &store).await
        }
        Command::Reconcile { account, force } => {
            store.migrate().await?;
            cli::reconcile::reconcile(&settings, &store, account.as_deref(), force).await
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
        Command::Check | Command::Tickets(_) => unreachable!("handled before connecting"),
    }
}
