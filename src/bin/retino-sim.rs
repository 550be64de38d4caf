//! `retino-sim`: runs the Retino API simulator as a standalone server for
//! demos and manual testing, filled with generated tickets and the reference
//! data (states, types, tags, users, custom fields, refund accounts) they
//! point to. It never talks to the real Retino.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use retino_sync::sim::{ReferenceKind, Simulator};
use tokio::net::TcpListener;

/// Serve a simulated Retino Tickets API v2 filled with generated tickets and
/// their reference data.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// Number of tickets to generate.
    #[arg(long, default_value_t = 5000)]
    tickets: usize,
    /// Seed for the generated data; the same seed gives the same tickets and
    /// reference records.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// API token clients must send as `Authorization: Token <token>`.
    #[arg(
        long,
        env = "RETINO_SIM_TOKEN",
        default_value = "demo-token",
        hide_env_values = true
    )]
    token: String,
    /// Delay before every answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency: u64,
    /// Largest page_size the server honours.
    #[arg(long, default_value_t = 100)]
    max_page_size: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sim = Simulator::new(args.token);
    sim.generate(args.seed, args.tickets);
    sim.set_latency(Duration::from_millis(args.latency));
    sim.set_max_page_size(args.max_page_size);

    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let mut stdout = std::io::stdout().lock();
    let references: Vec<String> = ReferenceKind::ALL
        .into_iter()
        .map(|kind| format!("{} {}", sim.reference(kind).len(), kind.path()))
        .collect();
    writeln!(
        stdout,
        "retino-sim listening on http://{addr}/api/v2 with {} tickets, {}",
        sim.len(),
        references.join(", ")
    )?;
    stdout.flush()?;
    drop(stdout);

    sim.serve(listener, shutdown_signal()).await?;
    Ok(())
}

/// Resolves on SIGINT or, on Unix, SIGTERM (what systemd and Kubernetes send).
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            eprintln!("retino-sim: cannot listen for Ctrl-C: {error}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                eprintln!("retino-sim: cannot listen for SIGTERM: {error}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
