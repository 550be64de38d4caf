//! `retino-sync check`: configuration, database and each account's API,
//! one line each.

use std::process::ExitCode;

use retino_sync::config::Settings;
use retino_sync::error_line;
use retino_sync::retino::{RetinoClient, TicketQuery};
use retino_sync::store::Store;

/// One line per check, OK or the reason; false if any failed.
pub async fn check(settings: &Settings) -> ExitCode {
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
