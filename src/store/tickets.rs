//! Tickets with their products, tags and customers, written a page at a time.
//!
//! A handful of statements per page (`INSERT ... SELECT FROM UNNEST(...)`),
//! never one per row. The ticket upsert is the gate: it writes only a row
//! that is new, newer (`updated_at`), or equally new but different, and
//! returns the ids it wrote; products, tags and customers are then touched
//! for those tickets alone. So an older version never replaces a newer one
//! and re-storing an unchanged page writes nothing at all. A ticket Retino
//! sends exists, so storing it also clears a `deleted_at` that the
//! reconciliation pass had set.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::customers::{self, customer_identity};
use crate::retino::TicketRecord;

/// Writes `records` for `account`; returns how many tickets were inserted
/// or changed.
pub(super) async fn upsert_tickets(
    conn: &mut PgConnection,
    account: &str,
    records: &[TicketRecord],
) -> Result<u64, sqlx::Error> {
    let records = newest_per_id(records);
    if records.is_empty() {
        return Ok(0);
    }
    let rows = upsert_ticket_rows(conn, account, &records).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let written: HashSet<Uuid> = rows.iter().map(|(id, _)| *id).collect();
    // Only a ticket that existed before can have products or tags to drop;
    // in a backfill every ticket is new and the deletes are skipped.
    let updated: Vec<Uuid> = rows
        .iter()
        .filter(|(_, inserted)| !inserted)
        .map(|(id, _)| *id)
        .collect();
    let changed: Vec<&TicketRecord> = records
        .into_iter()
        .filter(|r| written.contains(&r.ticket.id))
        .collect();
    replace_products(conn, account, &changed, &updated).await?;
    replace_tags(conn, &changed, &updated).await?;
    customers::upsert(conn, account, &changed).await?;
    Ok(written.len() as u64)
}

/// One version per ticket: a statement may not touch a row twice. The newest
/// wins; on a tie, the later in the page.
fn newest_per_id(records: &[TicketRecord]) -> Vec<&TicketRecord> {
    let mut by_id: HashMap<Uuid, &TicketRecord> = HashMap::with_capacity(records.len());
    for record in records {
        by_id
            .entry(record.ticket.id)
            .and_modify(|kept| {
                if record.ticket.updated_at >= kept.ticket.updated_at {
                    *kept = record;
                }
            })
            .or_insert(record);
    }
    records
        .iter()
        .filter(|r| {
            by_id
                .get(&r.ticket.id)
                .is_some_and(|kept| std::ptr::eq(*kept, *r))
        })
        .collect()
}

async fn upsert_ticket_rows(
    conn: &mut PgConnection,
    account: &str,
    records: &[&TicketRecord],
) -> Result<Vec<(Uuid, bool)>, sqlx::Error> {
    let n = records.len();
    let mut ids = Vec::with_capacity(n);
    let mut codes = Vec::with_capacity(n);
    let mut states = Vec::with_capacity(n);
    let mut types = Vec::with_capacity(n);
    let mut owners = Vec::with_capacity(n);
    let mut customers = Vec::with_capacity(n);
    let mut bound_orders = Vec::with_capacity(n);
    let mut currencies = Vec::with_capacity(n);
    let mut languages = Vec::with_capacity(n);
    let mut countries = Vec::with_capacity(n);
    let mut order_ids = Vec::with_capacity(n);
    let mut order_dates: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(n);
    let mut ratings = Vec::with_capacity(n);
    let mut rating_comments = Vec::with_capacity(n);
    let mut verification_states = Vec::with_capacity(n);
    let mut unread = Vec::with_capacity(n);
    let mut custom_fields = Vec::with_capacity(n);
    let mut shipping = Vec::with_capacity(n);
    let mut created: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(n);
    let mut updated: Vec<DateTime<Utc>> = Vec::with_capacity(n);
    let mut closed: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(n);
    let mut raws = Vec::with_capacity(n);
    for record in records {
        let t = &record.ticket;
        ids.push(t.id);
        codes.push(t.code.clone());
        states.push(t.state);
        types.push(t.ticket_type);
        owners.push(t.owner);
        customers.push(
            t.customer
                .as_ref()
                .and_then(|c| customer_identity(account, c))
                .map(|(id, _)| id),
        );
        bound_orders.push(t.bound_order.as_ref());
        currencies.push(t.currency.clone());
        languages.push(t.language.clone());
        countries.push(t.country.clone());
        order_ids.push(t.order_id.clone());
        order_dates.push(t.order_date.map(|d| d.to_utc()));
        ratings.push(t.customer_rating);
        rating_comments.push(t.customer_rating_comment.clone());
        verification_states.push(t.verification_state.clone());
        unread.push(t.is_unread);
        custom_fields.push(t.custom_fields.as_ref());
        shipping.push(t.shipping.as_ref());
        created.push(t.created_at.map(|d| d.to_utc()));
        updated.push(t.updated_at.to_utc());
        closed.push(t.closed_at.map(|d| d.to_utc()));
        raws.push(&record.raw);
    }
    sqlx::query_as(
        "INSERT INTO retino.tickets AS t (
             id, account, code, state_id, type_id, owner_id, customer_id, bound_order,
             currency, language, country, order_id, order_date, customer_rating,
             customer_rating_comment, verification_state, is_unread, custom_fields, shipping,
             created_at, updated_at, closed_at, raw, synced_at)
         SELECT u.id, $1, u.code, u.state_id, u.type_id, u.owner_id, u.customer_id, u.bound_order,
                u.currency, u.language, u.country, u.order_id, u.order_date, u.customer_rating,
                u.customer_rating_comment, u.verification_state, u.is_unread, u.custom_fields,
                u.shipping, u.created_at, u.updated_at, u.closed_at, u.raw, now()
         FROM UNNEST($2::uuid[], $3::text[], $4::uuid[], $5::uuid[], $6::uuid[], $7::uuid[],
                     $8::jsonb[], $9::text[], $10::text[], $11::text[], $12::text[],
                     $13::timestamptz[], $14::numeric[], $15::text[], $16::text[], $17::bool[],
                     $18::jsonb[], $19::jsonb[], $20::timestamptz[], $21::timestamptz[],
                     $22::timestamptz[], $23::jsonb[])
              AS u(id, code, state_id, type_id, owner_id, customer_id, bound_order, currency,
                   language, country, order_id, order_date, customer_rating,
                   customer_rating_comment, verification_state, is_unread, custom_fields,
                   shipping, created_at, updated_at, closed_at, raw)
         ON CONFLICT (id) DO UPDATE SET
             account = EXCLUDED.account,
             code = EXCLUDED.code,
             state_id = EXCLUDED.state_id,
             type_id = EXCLUDED.type_id,
             owner_id = EXCLUDED.owner_id,
             customer_id = EXCLUDED.customer_id,
             bound_order = EXCLUDED.bound_order,
             currency = EXCLUDED.currency,
             language = EXCLUDED.language,
             country = EXCLUDED.country,
             order_id = EXCLUDED.order_id,
             order_date = EXCLUDED.order_date,
             customer_rating = EXCLUDED.customer_rating,
             customer_rating_comment = EXCLUDED.customer_rating_comment,
             verification_state = EXCLUDED.verification_state,
             is_unread = EXCLUDED.is_unread,
             custom_fields = EXCLUDED.custom_fields,
             shipping = EXCLUDED.shipping,
             created_at = EXCLUDED.created_at,
             updated_at = EXCLUDED.updated_at,
             closed_at = EXCLUDED.closed_at,
             raw = EXCLUDED.raw,
             deleted_at = NULL,
             synced_at = now()
         WHERE t.updated_at < EXCLUDED.updated_at
            OR (t.updated_at = EXCLUDED.updated_at
                AND (t.raw IS DISTINCT FROM EXCLUDED.raw OR t.deleted_at IS NOT NULL))
         RETURNING t.id, t.xmax = 0 AS inserted",
    )
    .bind(account)
    .bind(ids)
    .bind(codes)
    .bind(states)
    .bind(types)
    .bind(owners)
    .bind(customers)
    .bind(bound_orders)
    .bind(currencies)
    .bind(languages)
    .bind(countries)
    .bind(order_ids)
    .bind(order_dates)
    .bind(ratings)
    .bind(rating_comments)
    .bind(verification_states)
    .bind(unread)
    .bind(custom_fields)
    .bind(shipping)
    .bind(created)
    .bind(updated)
    .bind(closed)
    .bind(raws)
    .fetch_all(conn)
    .await
}

/// Makes each changed ticket's products exactly its current list; `updated`
/// are the changed tickets that existed before.
async fn replace_products(
    conn: &mut PgConnection,
    account: &str,
    tickets: &[&TicketRecord],
    updated: &[Uuid],
) -> Result<(), sqlx::Error> {
    let mut seen = HashSet::new();
    let mut ids = Vec::new();
    let mut owners = Vec::new();
    let mut positions = Vec::new();
    let mut names = Vec::new();
    let mut manufacturers = Vec::new();
    let mut categories = Vec::new();
    let mut product_ids = Vec::new();
    let mut variants = Vec::new();
    let mut eans = Vec::new();
    let mut serials = Vec::new();
    let mut amounts: Vec<Option<Decimal>> = Vec::new();
    let mut with_vat: Vec<Option<Decimal>> = Vec::new();
    let mut without_vat: Vec<Option<Decimal>> = Vec::new();
    let mut vat: Vec<Option<Decimal>> = Vec::new();
    let mut order_items: Vec<Option<&Value>> = Vec::new();
    let mut files: Vec<Option<&Value>> = Vec::new();
    let mut custom_fields: Vec<Option<&Value>> = Vec::new();
    for record in tickets {
        for (position, p) in record.ticket.products.iter().enumerate() {
            // A product id listed twice would make the upsert touch a row
            // twice; the first listing wins.
            if !seen.insert(p.id) {
                continue;
            }
            let price = p.price.clone().unwrap_or_default();
            ids.push(p.id);
            owners.push(record.ticket.id);
            positions.push(i32::try_from(position).unwrap_or(i32::MAX));
            names.push(p.name.clone());
            manufacturers.push(p.manufacturer.clone());
            categories.push(p.category.clone());
            product_ids.push(p.product_id.clone());
            variants.push(p.variant.clone());
            eans.push(p.ean.clone());
            serials.push(p.serial.clone());
            amounts.push(p.amount);
            with_vat.push(price.with_vat);
            without_vat.push(price.without_vat);
            vat.push(price.vat);
            order_items.push(p.bound_order_item.as_ref());
            files.push(p.files.as_ref());
            custom_fields.push(p.custom_fields.as_ref());
        }
    }
    if !updated.is_empty() {
        sqlx::query("DELETE FROM retino.products WHERE ticket_id = ANY($1) AND NOT (id = ANY($2))")
            .bind(updated)
            .bind(&ids)
            .execute(&mut *conn)
            .await?;
    }
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO retino.products AS p (
             id, ticket_id, account, position, name, manufacturer, category, product_id, variant,
             ean, serial, amount, price_with_vat, price_without_vat, price_vat, bound_order_item,
             files, custom_fields)
         SELECT u.id, u.ticket_id, $1, u.position, u.name, u.manufacturer, u.category,
                u.product_id, u.variant, u.ean, u.serial, u.amount, u.price_with_vat,
                u.price_without_vat, u.price_vat, u.bound_order_item, u.files, u.custom_fields
         FROM UNNEST($2::uuid[], $3::uuid[], $4::int[], $5::text[], $6::text[], $7::text[],
                     $8::text[], $9::text[], $10::text[], $11::text[], $12::numeric[],
                     $13::numeric[], $14::numeric[], $15::numeric[], $16::jsonb[], $17::jsonb[],
                     $18::jsonb[])
              AS u(id, ticket_id, position, name, manufacturer, category, product_id, variant,
                   ean, serial, amount, price_with_vat, price_without_vat, price_vat,
                   bound_order_item, files, custom_fields)
         ON CONFLICT (id) DO UPDATE SET
             ticket_id = EXCLUDED.ticket_id,
             account = EXCLUDED.account,
             position = EXCLUDED.position,
             name = EXCLUDED.name,
             manufacturer = EXCLUDED.manufacturer,
             category = EXCLUDED.category,
             product_id = EXCLUDED.product_id,
             variant = EXCLUDED.variant,
             ean = EXCLUDED.ean,
             serial = EXCLUDED.serial,
             amount = EXCLUDED.amount,
             price_with_vat = EXCLUDED.price_with_vat,
             price_without_vat = EXCLUDED.price_without_vat,
             price_vat = EXCLUDED.price_vat,
             bound_order_item = EXCLUDED.bound_order_item,
             files = EXCLUDED.files,
             custom_fields = EXCLUDED.custom_fields",
    )
    .bind(account)
    .bind(ids)
    .bind(owners)
    .bind(positions)
    .bind(names)
    .bind(manufacturers)
    .bind(categories)
    .bind(product_ids)
    .bind(variants)
    .bind(eans)
    .bind(serials)
    .bind(amounts)
    .bind(with_vat)
    .bind(without_vat)
    .bind(vat)
    .bind(order_items)
    .bind(files)
    .bind(custom_fields)
    .execute(conn)
    .await?;
    Ok(())
}

/// Makes each changed ticket's tags exactly its current list; `updated`
/// are the changed tickets that existed before.
async fn replace_tags(
    conn: &mut PgConnection,
    tickets: &[&TicketRecord],
    updated: &[Uuid],
) -> Result<(), sqlx::Error> {
    let (tag_owners, tag_ids): (Vec<Uuid>, Vec<Uuid>) = tickets
        .iter()
        .flat_map(|r| r.ticket.tags.iter().map(|tag| (r.ticket.id, *tag)))
        .unzip();
    if !updated.is_empty() {
        sqlx::query(
            "DELETE FROM retino.ticket_tags tt
             WHERE tt.ticket_id = ANY($1)
               AND NOT EXISTS (SELECT 1 FROM UNNEST($2::uuid[], $3::uuid[]) AS n(ticket_id, tag_id)
                               WHERE n.ticket_id = tt.ticket_id AND n.tag_id = tt.tag_id)",
        )
        .bind(updated)
        .bind(&tag_owners)
        .bind(&tag_ids)
        .execute(&mut *conn)
        .await?;
    }
    if tag_ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO retino.ticket_tags (ticket_id, tag_id)
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[])
         ON CONFLICT DO NOTHING",
    )
    .bind(&tag_owners)
    .bind(&tag_ids)
    .execute(conn)
    .await?;
    Ok(())
}
