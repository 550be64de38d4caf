//! Reference tables: one endpoint's complete listing replaces the account's
//! rows in one transaction. An entry missing from the listing is marked
//! `removed_at`, never deleted, so old tickets keep resolving to its last
//! known name; one that comes back is unmarked. Unchanged rows are not
//! written.

use serde_json::{Map, Value};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::retino::reference::{
    CustomField, Entry, Localized, NamedEntry, RefundAccount, Tag, User,
};
use crate::retino::reference::{ReferenceEntries, ReferenceKind, ReferenceList};
use crate::retino::RejectedRecord;

fn table(kind: ReferenceKind) -> &'static str {
    match kind {
        ReferenceKind::States => "retino.states",
        ReferenceKind::TicketTypes => "retino.ticket_types",
        ReferenceKind::Tags => "retino.tags",
        ReferenceKind::Users => "retino.users",
        ReferenceKind::CustomFields => "retino.custom_fields",
        ReferenceKind::ProductCustomFields => "retino.product_custom_fields",
        ReferenceKind::RefundAccounts => "retino.refund_accounts",
    }
}

/// The write half of every upsert: refresh a row only when it changed or
/// had been marked removed.
const ON_CHANGE: &str = "synced_at = now(), removed_at = NULL
     WHERE r.raw IS DISTINCT FROM EXCLUDED.raw OR r.removed_at IS NOT NULL";

/// Stores `list` for `account`; returns how many rows were newly marked removed.
pub(super) async fn replace(
    conn: &mut PgConnection,
    account: &str,
    language: &str,
    list: &ReferenceList,
) -> Result<u64, sqlx::Error> {
    let table = table(list.kind);
    let present: Vec<Uuid> = match &list.entries {
        ReferenceEntries::States(entries) | ReferenceEntries::TicketTypes(entries) => {
            upsert_named(conn, table, account, language, entries).await?
        }
        ReferenceEntries::Tags(entries) => upsert_tags(conn, account, language, entries).await?,
        ReferenceEntries::Users(entries) => upsert_users(conn, account, entries).await?,
        ReferenceEntries::CustomFields(entries)
        | ReferenceEntries::ProductCustomFields(entries) => {
            upsert_custom_fields(conn, table, account, language, entries).await?
        }
        ReferenceEntries::RefundAccounts(entries) => {
            upsert_refund_accounts(conn, account, entries).await?
        }
    };
    // A rejected record is still there upstream: keep its row if its id reads.
    let kept: Vec<Uuid> = present
        .into_iter()
        .chain(list.rejects.iter().filter_map(RejectedRecord::id))
        .collect();
    let marked = sqlx::query(&format!(
        "UPDATE {table} SET removed_at = now()
         WHERE account = $1 AND removed_at IS NULL AND NOT (id = ANY($2))"
    ))
    .bind(account)
    .bind(&kept)
    .execute(conn)
    .await?;
    Ok(marked.rows_affected())
}

fn name_text(name: &Option<Localized>, language: &str) -> Option<String> {
    name.as_ref().and_then(|n| n.text(language))
}

fn name_json(name: &Option<Localized>) -> Option<Value> {
    name.as_ref().map(|n| n.0.clone())
}

fn ids_and_raws<T>(entries: &[Entry<T>], id: impl Fn(&T) -> Uuid) -> (Vec<Uuid>, Vec<&Value>) {
    entries.iter().map(|e| (id(&e.value), &e.raw)).unzip()
}

async fn upsert_named(
    conn: &mut PgConnection,
    table: &str,
    account: &str,
    language: &str,
    entries: &[Entry<NamedEntry>],
) -> Result<Vec<Uuid>, sqlx::Error> {
    let (ids, raws) = ids_and_raws(entries, |e| e.id);
    let names: Vec<_> = entries.iter().map(|e| name_json(&e.value.name)).collect();
    let texts: Vec<_> = entries
        .iter()
        .map(|e| name_text(&e.value.name, language))
        .collect();
    sqlx::query(&format!(
        "INSERT INTO {table} AS r (account, id, name, name_text, raw)
         SELECT $1, u.* FROM UNNEST($2::uuid[], $3::jsonb[], $4::text[], $5::jsonb[]) AS u
         ON CONFLICT (account, id) DO UPDATE SET
             name = EXCLUDED.name, name_text = EXCLUDED.name_text, raw = EXCLUDED.raw, {ON_CHANGE}
                OR r.name_text IS DISTINCT FROM EXCLUDED.name_text"
    ))
    .bind(account)
    .bind(&ids)
    .bind(names)
    .bind(texts)
    .bind(raws)
    .execute(conn)
    .await?;
    Ok(ids)
}

async fn upsert_tags(
    conn: &mut PgConnection,
    account: &str,
    language: &str,
    entries: &[Entry<Tag>],
) -> Result<Vec<Uuid>, sqlx::Error> {
    let (ids, raws) = ids_and_raws(entries, |e| e.id);
    let names: Vec<_> = entries.iter().map(|e| name_json(&e.value.name)).collect();
    let texts: Vec<_> = entries
        .iter()
        .map(|e| name_text(&e.value.name, language))
        .collect();
    let fg: Vec<_> = entries.iter().map(|e| e.value.fgcolor.clone()).collect();
    let bg: Vec<_> = entries.iter().map(|e| e.value.bgcolor.clone()).collect();
    sqlx::query(&format!(
        "INSERT INTO retino.tags AS r (account, id, name, name_text, fgcolor, bgcolor, raw)
         SELECT $1, u.* FROM UNNEST($2::uuid[], $3::jsonb[], $4::text[], $5::text[], $6::text[], $7::jsonb[]) AS u
         ON CONFLICT (account, id) DO UPDATE SET
             name = EXCLUDED.name, name_text = EXCLUDED.name_text, fgcolor = EXCLUDED.fgcolor,
             bgcolor = EXCLUDED.bgcolor, raw = EXCLUDED.raw, {ON_CHANGE}
                OR r.name_text IS DISTINCT FROM EXCLUDED.name_text"
    ))
    .bind(account)
    .bind(&ids)
    .bind(names)
    .bind(texts)
    .bind(fg)
    .bind(bg)
    .bind(raws)
    .execute(conn)
    .await?;
    Ok(ids)
}

async fn upsert_users(
    conn: &mut PgConnection,
    account: &str,
    entries: &[Entry<User>],
) -> Result<Vec<Uuid>, sqlx::Error> {
    let (ids, raws) = ids_and_raws(entries, |e| e.id);
    let roles: Vec<_> = entries.iter().map(|e| e.value.role.clone()).collect();
    let emails: Vec<_> = entries.iter().map(|e| e.value.email.clone()).collect();
    let names: Vec<_> = entries.iter().map(|e| e.value.full_name.clone()).collect();
    let phones: Vec<_> = entries
        .iter()
        .map(|e| e.value.phone_number.clone())
        .collect();
    let active: Vec<_> = entries
        .iter()
        .map(|e| e.value.last_activity_at.map(|t| t.to_utc()))
        .collect();
    let joined: Vec<_> = entries
        .iter()
        .map(|e| e.value.date_joined.map(|t| t.to_utc()))
        .collect();
    sqlx::query(&format!(
        "INSERT INTO retino.users AS r
             (account, id, role, email, full_name, phone_number, last_activity_at, date_joined, raw)
         SELECT $1, u.* FROM UNNEST($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
                                    $7::timestamptz[], $8::timestamptz[], $9::jsonb[]) AS u
         ON CONFLICT (account, id) DO UPDATE SET
             role = EXCLUDED.role, email = EXCLUDED.email, full_name = EXCLUDED.full_name,
             phone_number = EXCLUDED.phone_number, last_activity_at = EXCLUDED.last_activity_at,
             date_joined = EXCLUDED.date_joined, raw = EXCLUDED.raw, {ON_CHANGE}"
    ))
    .bind(account)
    .bind(&ids)
    .bind(roles)
    .bind(emails)
    .bind(names)
    .bind(phones)
    .bind(active)
    .bind(joined)
    .bind(raws)
    .execute(conn)
    .await?;
    Ok(ids)
}

async fn upsert_custom_fields(
    conn: &mut PgConnection,
    table: &str,
    account: &str,
    language: &str,
    entries: &[Entry<CustomField>],
) -> Result<Vec<Uuid>, sqlx::Error> {
    let (ids, raws) = ids_and_raws(entries, |e| e.id);
    let types: Vec<_> = entries.iter().map(|e| e.value.field_type.clone()).collect();
    let positions: Vec<_> = entries.iter().map(|e| e.value.position).collect();
    let names: Vec<_> = entries.iter().map(|e| name_json(&e.value.name)).collect();
    let texts: Vec<_> = entries
        .iter()
        .map(|e| name_text(&e.value.name, language))
        .collect();
    let options: Vec<_> = entries
        .iter()
        .map(|e| e.raw.get("options").cloned())
        .collect();
    // Option id -> label in the account's language, so views resolve a value
    // with one lookup.
    let labels: Vec<Value> = entries
        .iter()
        .map(|e| {
            let map: Map<String, Value> = e
                .value
                .options
                .iter()
                .filter_map(|o| Some((o.id.clone(), Value::String(name_text(&o.label, language)?))))
                .collect();
            Value::Object(map)
        })
        .collect();
    sqlx::query(&format!(
        "INSERT INTO {table} AS r (account, id, type, position, name, name_text, options, option_labels, raw)
         SELECT $1, u.* FROM UNNEST($2::uuid[], $3::text[], $4::int[], $5::jsonb[], $6::text[],
                                    $7::jsonb[], $8::jsonb[], $9::jsonb[]) AS u
         ON CONFLICT (account, id) DO UPDATE SET
             type = EXCLUDED.type, position = EXCLUDED.position, name = EXCLUDED.name,
             name_text = EXCLUDED.name_text, options = EXCLUDED.options,
             option_labels = EXCLUDED.option_labels, raw = EXCLUDED.raw, {ON_CHANGE}
                OR r.option_labels IS DISTINCT FROM EXCLUDED.option_labels"
    ))
    .bind(account)
    .bind(&ids)
    .bind(types)
    .bind(positions)
    .bind(names)
    .bind(texts)
    .bind(options)
    .bind(labels)
    .bind(raws)
    .execute(conn)
    .await?;
    Ok(ids)
}

async fn upsert_refund_accounts(
    conn: &mut PgConnection,
    account: &str,
    entries: &[Entry<RefundAccount>],
) -> Result<Vec<Uuid>, sqlx::Error> {
    let (ids, raws) = ids_and_raws(entries, |e| e.id);
    let names: Vec<_> = entries.iter().map(|e| e.value.name.clone()).collect();
    let banks: Vec<_> = entries
        .iter()
        .map(|e| e.value.bank_account.clone())
        .collect();
    let currencies: Vec<_> = entries.iter().map(|e| e.value.currency.clone()).collect();
    let due: Vec<_> = entries.iter().map(|e| e.value.due_date).collect();
    sqlx::query(&format!(
        "INSERT INTO retino.refund_accounts AS r (account, id, name, bank_account, currency, due_date, raw)
         SELECT $1, u.* FROM UNNEST($2::uuid[], $3::text[], $4::text[], $5::text[], $6::int[], $7::jsonb[]) AS u
         ON CONFLICT (account, id) DO UPDATE SET
             name = EXCLUDED.name, bank_account = EXCLUDED.bank_account, currency = EXCLUDED.currency,
             due_date = EXCLUDED.due_date, raw = EXCLUDED.raw, {ON_CHANGE}"
    ))
    .bind(account)
    .bind(&ids)
    .bind(names)
    .bind(banks)
    .bind(currencies)
    .bind(due)
    .bind(raws)
    .execute(conn)
    .await?;
    Ok(ids)
}
