//! `retino-sync tickets ...`: the rest of the Tickets API from a shell.
//!
//! Reads print a summary line per ticket (or the objects as received with
//! `--json`); `update` and `close` also store the returned ticket in the
//! mirror at once (the sync's own upsert, so a newer row is never replaced).

use std::process::ExitCode;

use anyhow::{bail, Context};
use chrono::{DateTime, FixedOffset};
use clap::{Args, Subcommand};
use serde_json::Value;
use uuid::Uuid;

use retino_sync::config::{AccountSettings, Settings};
use retino_sync::error_line;
use retino_sync::retino::{
    ApiError, CustomerChange, RetinoClient, TicketChange, TicketPage, TicketQuery, TicketRecord,
};
use retino_sync::store::Store;

#[derive(Debug, Args)]
pub struct TicketsArgs {
    /// The configured account to use (needed when several are configured).
    #[arg(long, global = true, value_name = "NAME")]
    account: Option<String>,
    /// Print the tickets as Retino sent them, as JSON, for scripts.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: TicketsCommand,
}

#[derive(Debug, Subcommand)]
enum TicketsCommand {
    /// Show one ticket.
    Get { id: Uuid },
    /// Full-text search over customer, product and order data (all pages
    /// unless --page).
    Search {
        text: String,
        #[arg(long)]
        page: Option<u64>,
    },
    /// Change a ticket's fields (PATCH: only those given; --replace: PUT).
    Update(UpdateArgs),
    /// Close a ticket (runs the account's on-close automations).
    Close { id: Uuid },
    /// Tickets updated since a time (RFC 3339, e.g. 2026-11-01T00:00:00Z).
    List {
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        updated_since: DateTime<FixedOffset>,
    },
}

#[derive(Debug, Args)]
struct UpdateArgs {
    id: Uuid,
    #[arg(long)]
    state: Option<Uuid>,
    #[arg(long = "type", value_name = "UUID")]
    ticket_type: Option<Uuid>,
    #[arg(long)]
    owner: Option<Uuid>,
    #[arg(long)]
    customer_name: Option<String>,
    #[arg(long)]
    customer_email: Option<String>,
    #[arg(long)]
    customer_phone: Option<String>,
    #[arg(long)]
    language: Option<String>,
    #[arg(long)]
    currency: Option<String>,
    #[arg(long)]
    country: Option<String>,
    /// A custom field, KEY=VALUE (repeatable); KEY is a field name or UUID.
    #[arg(long = "custom-field", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    custom_fields: Vec<(String, String)>,
    /// Replace every editable field (PUT) instead of changing the given ones.
    #[arg(long)]
    replace: bool,
}

fn parse_time(value: &str) -> Result<DateTime<FixedOffset>, String> {
    DateTime::parse_from_rfc3339(value)
        .map_err(|e| format!("not an RFC 3339 time such as 2026-11-01T00:00:00Z ({e})"))
}

fn parse_key_value(value: &str) -> Result<(String, String), String> {
    match value.split_once('=') {
        Some((key, v)) if !key.trim().is_empty() => Ok((key.trim().to_owned(), v.to_owned())),
        _ => Err("expected KEY=VALUE".to_owned()),
    }
}

impl UpdateArgs {
    fn change(&self) -> TicketChange {
        let customer = CustomerChange {
            name: self.customer_name.clone(),
            email: self.customer_email.clone(),
            phone: self.customer_phone.clone(),
        };
        TicketChange {
            state: self.state,
            ticket_type: self.ticket_type,
            owner: self.owner,
            customer: (customer != CustomerChange::default()).then_some(customer),
            language: self.language.clone(),
            currency: self.currency.clone(),
            country: self.country.clone(),
            custom_fields: (!self.custom_fields.is_empty()).then(|| {
                self.custom_fields
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect()
            }),
        }
    }
}

pub async fn run(settings: &Settings, args: TicketsArgs) -> anyhow::Result<ExitCode> {
    let account = choose_account(settings, args.account.as_deref())?;
    let client = RetinoClient::new(account).context("building the HTTP client")?;
    let print = Printer { json: args.json };
    match args.command {
        TicketsCommand::Get { id } => {
            print.one(&client.get_ticket(id).await.map_err(field_by_field)?)
        }
        TicketsCommand::Search { text, page } => {
            let tickets = collect_pages(page, |page| client.search_tickets(&text, page)).await?;
            print.many(&tickets);
        }
        TicketsCommand::List { updated_since } => {
            let client = &client;
            let tickets = collect_pages(None, |page| {
                let query = TicketQuery {
                    updated_from: Some(updated_since.to_utc()),
                    updated_to: None,
                    page,
                };
                async move { client.list_tickets(&query).await }
            })
            .await?;
            print.many(&tickets);
        }
        TicketsCommand::Update(update) => {
            let change = update.change();
            let ticket = client
                .update_ticket(update.id, &change, update.replace)
                .await
                .map_err(field_by_field)?;
            write_through(settings, account, &ticket).await;
            print.one(&ticket);
        }
        TicketsCommand::Close { id } => {
            let ticket = client.close_ticket(id).await.map_err(field_by_field)?;
            write_through(settings, account, &ticket).await;
            print.one(&ticket);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The named account, or the only one there is.
fn choose_account<'a>(
    settings: &'a Settings,
    name: Option<&str>,
) -> anyhow::Result<&'a AccountSettings> {
    match super::chosen_accounts(settings, name)?.as_slice() {
        [account] => Ok(account),
        _ => bail!(
            "--account: several accounts are configured ({}); name one",
            super::account_names(settings)
        ),
    }
}

/// One page when `only` is given, else every page.
async fn collect_pages<F, Fut>(only: Option<u64>, fetch: F) -> anyhow::Result<Vec<TicketRecord>>
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = Result<Option<TicketPage>, ApiError>>,
{
    let mut tickets = Vec::new();
    let mut number = only.unwrap_or(1);
    while let Some(page) = fetch(number).await? {
        for reject in &page.rejects {
            eprintln!(
                "retino-sync: skipped a record that does not fit: {}",
                reject.reason
            );
        }
        let last = page.is_empty() || number >= page.total_pages;
        tickets.extend(page.tickets);
        if only.is_some() || last {
            break;
        }
        number += 1;
    }
    Ok(tickets)
}

/// A refused change lists its problems field by field, one per line on
/// stderr; the error itself stays the one-line summary every command ends with.
fn field_by_field(error: ApiError) -> anyhow::Error {
    let (heading, errors) = match &error {
        ApiError::Invalid { account, errors } => (
            format!("Retino refused the change for account `{account}`:"),
            errors,
        ),
        ApiError::InvalidChange { account, errors } => (
            format!("the change for account `{account}` was not sent:"),
            errors,
        ),
        _ => return error.into(),
    };
    eprintln!("{heading}");
    for e in errors {
        eprintln!("  {e}");
    }
    anyhow::anyhow!(
        "the change was refused ({} problem(s), listed above)",
        errors.len()
    )
}

/// Stores the returned ticket in the mirror now; the change itself is done,
/// so a database problem only delays the mirror until the next run.
async fn write_through(settings: &Settings, account: &AccountSettings, ticket: &TicketRecord) {
    let stored = async {
        let store = Store::connect(&settings.database).await?;
        store
            .store_tickets(&account.name, std::slice::from_ref(ticket))
            .await
    };
    if let Err(e) = stored.await {
        eprintln!(
            "retino-sync: the change is done in Retino, but storing it in the mirror failed ({}); \
             the next sync run will bring it",
            error_line(&e)
        );
    }
}

struct Printer {
    json: bool,
}

impl Printer {
    fn one(&self, ticket: &TicketRecord) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&ticket.raw).expect("JSON values serialize")
            );
        } else {
            println!("{}", summary(ticket));
        }
    }

    fn many(&self, tickets: &[TicketRecord]) {
        if self.json {
            let all: Vec<&Value> = tickets.iter().map(|t| &t.raw).collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&all).expect("JSON values serialize")
            );
        } else {
            for ticket in tickets {
                println!("{}", summary(ticket));
            }
            println!("{} ticket(s)", tickets.len());
        }
    }
}

fn summary(record: &TicketRecord) -> String {
    let t = &record.ticket;
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let customer = t.customer.clone().unwrap_or_default();
    format!(
        "{code}  {id}  {status}  state {state}  {name} <{email}>  {products} product(s)  order {order}  updated {updated}",
        code = text(&t.code),
        id = t.id,
        status = if t.closed_at.is_some() { "closed" } else { "open" },
        state = t.state.map_or_else(|| "-".to_owned(), |s| s.to_string()),
        name = text(&customer.name),
        email = text(&customer.email),
        products = t.products.len(),
        order = text(&t.order_id),
        updated = t.updated_at.format("%Y-%m-%d %H:%M"),
    )
}
