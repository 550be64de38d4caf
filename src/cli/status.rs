//! `retino-sync status`: each account's watermark, lag and last run as a table.

use std::process::ExitCode;

use chrono::Utc;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use retino_sync::config::Settings;
use retino_sync::store::Store;

pub async fn status(settings: &Settings, store: &Store) -> anyhow::Result<ExitCode> {
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
