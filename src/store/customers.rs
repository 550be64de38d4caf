//! Customers: Retino sends them inline on each ticket, without an id.
//!
//! Identity per account is the trimmed, lower-cased e-mail; without one, the
//! phone with spaces removed; without either, no customer. The id is a
//! UUIDv5 of account and key, so an upsert needs no look-up first.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::retino::models::Customer;
use crate::retino::TicketRecord;

/// Namespace of customer ids; changing it would re-key every customer.
const CUSTOMER_NAMESPACE: Uuid = Uuid::from_u128(0x6f1d_2c5e_8a4b_4e6f_9c1d_3b5a_7e2f_0a41);

/// The customer's id and normalized e-mail, or `None` when the ticket
/// carries nothing to identify them by.
pub fn customer_identity(account: &str, customer: &Customer) -> Option<(Uuid, Option<String>)> {
    let email = customer
        .email
        .as_deref()
        .map(|e| e.trim().to_lowercase())
        .filter(|e| !e.is_empty());
    let key = match &email {
        Some(email) => format!("email:{email}"),
        None => {
            let phone: String = customer
                .phone
                .as_deref()?
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            if phone.is_empty() {
                return None;
            }
            format!("phone:{phone}")
        }
    };
    let id = Uuid::new_v5(&CUSTOMER_NAMESPACE, format!("{account}\n{key}").as_bytes());
    Some((id, email))
}

struct CustomerRow {
    name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    first_seen: Option<DateTime<Utc>>,
    last_seen: Option<DateTime<Utc>>,
    newest_update: DateTime<Utc>,
}

/// Upserts the customers of `tickets`, one statement for the lot. Name and
/// contact come from the most recently updated ticket; first/last seen
/// widen to cover every ticket's `created_at`.
pub(super) async fn upsert(
    conn: &mut PgConnection,
    account: &str,
    tickets: &[&TicketRecord],
) -> Result<(), sqlx::Error> {
    let mut rows: HashMap<Uuid, CustomerRow> = HashMap::new();
    for record in tickets {
        let ticket = &record.ticket;
        let Some(customer) = &ticket.customer else {
            continue;
        };
        let Some((id, email)) = customer_identity(account, customer) else {
            continue;
        };
        let created = ticket.created_at.map(|t| t.to_utc());
        let updated = ticket.updated_at.to_utc();
        let row = rows.entry(id).or_insert_with(|| CustomerRow {
            name: None,
            email: None,
            phone: None,
            first_seen: created,
            last_seen: created,
            newest_update: DateTime::<Utc>::MIN_UTC,
        });
        // `None` sorts below `Some`, which is right for max but not for min.
        row.first_seen = match (row.first_seen, created) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        row.last_seen = row.last_seen.max(created);
        if updated >= row.newest_update {
            row.newest_update = updated;
            row.name = trimmed(customer.name.as_deref());
            row.email = email;
            row.phone = trimmed(customer.phone.as_deref());
        }
    }
    if rows.is_empty() {
        return Ok(());
    }

    let mut ids = Vec::with_capacity(rows.len());
    let mut names = Vec::with_capacity(rows.len());
    let mut emails = Vec::with_capacity(rows.len());
    let mut phones = Vec::with_capacity(rows.len());
    let mut first_seen = Vec::with_capacity(rows.len());
    let mut last_seen = Vec::with_capacity(rows.len());
    // In id order, so concurrent writers (a page, a webhook) lock rows in
    // the same order and cannot deadlock each other.
    let mut rows: Vec<_> = rows.into_iter().collect();
    rows.sort_unstable_by_key(|(id, _)| *id);
    for (id, row) in rows {
        ids.push(id);
        names.push(row.name);
        emails.push(row.email);
        phones.push(row.phone);
        first_seen.push(row.first_seen);
        last_seen.push(row.last_seen);
    }
    sqlx::query(
        "INSERT INTO retino.customers AS c (id, account, name, email, phone, first_seen_at, last_seen_at)
         SELECT u.id, $1, u.name, u.email, u.phone, u.first_seen, u.last_seen
         FROM UNNEST($2::uuid[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[])
              AS u(id, name, email, phone, first_seen, last_seen)
         ON CONFLICT (id) DO UPDATE SET
             name = EXCLUDED.name,
             email = EXCLUDED.email,
             phone = EXCLUDED.phone,
             first_seen_at = LEAST(c.first_seen_at, EXCLUDED.first_seen_at),
             last_seen_at = GREATEST(c.last_seen_at, EXCLUDED.last_seen_at)
         WHERE (c.name, c.email, c.phone, c.first_seen_at, c.last_seen_at)
               IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.email, EXCLUDED.phone,
                                 LEAST(c.first_seen_at, EXCLUDED.first_seen_at),
                                 GREATEST(c.last_seen_at, EXCLUDED.last_seen_at))",
    )
    .bind(account)
    .bind(ids)
    .bind(names)
    .bind(emails)
    .bind(phones)
    .bind(first_seen)
    .bind(last_seen)
    .execute(conn)
    .await?;
    Ok(())
}

fn trimmed(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(email: Option<&str>, phone: Option<&str>) -> Customer {
        Customer {
            name: Some("Jiří Dvořák".into()),
            email: email.map(Into::into),
            phone: phone.map(Into::into),
        }
    }

    #[test]
    fn email_identity_ignores_case_and_spaces() {
        let a = customer_identity("cz", &customer(Some("  Jiri.Dvorak@Seznam.cz "), None)).unwrap();
        let b = customer_identity(
            "cz",
            &customer(Some("jiri.dvorak@seznam.cz"), Some("+420 777")),
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.1.as_deref(), Some("jiri.dvorak@seznam.cz"));
    }

    #[test]
    fn identity_is_per_account_and_falls_back_to_phone() {
        let cz = customer_identity("cz", &customer(Some("a@b.cz"), None)).unwrap();
        let sk = customer_identity("sk", &customer(Some("a@b.cz"), None)).unwrap();
        assert_ne!(cz.0, sk.0);
        let p1 = customer_identity("cz", &customer(Some(" "), Some("+420 777 123 456"))).unwrap();
        let p2 = customer_identity("cz", &customer(None, Some("+420777123456"))).unwrap();
        assert_eq!(p1, p2);
        assert_eq!(p1.1, None);
        assert!(customer_identity("cz", &customer(Some(""), Some("  "))).is_none());
    }
}
