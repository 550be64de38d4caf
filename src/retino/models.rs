//! Typed models of what the Retino API sends, and the split of a list page
//! into records that fit them and records that do not.
//!
//! Every field the docs show is typed; everything else survives in the
//! record's `raw` object, so nothing the API sends is lost. Money is
//! `Decimal`, never a float. A record that does not fit (a non-UUID id, an
//! impossible date) becomes a [`RejectedRecord`] instead of failing its page.

use chrono::{DateTime, FixedOffset, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Ticket {
    pub id: Uuid,
    pub code: Option<String>,
    pub state: Option<Uuid>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<Uuid>,
    #[serde(rename = "type")]
    pub ticket_type: Option<Uuid>,
    pub owner: Option<Uuid>,
    pub bound_order: Option<Value>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub products: Vec<Product>,
    pub shipping: Option<Value>,
    pub customer: Option<Customer>,
    pub currency: Option<String>,
    pub language: Option<String>,
    pub country: Option<String>,
    pub order_id: Option<String>,
    pub order_date: Option<DateTime<FixedOffset>>,
    pub customer_rating: Option<Decimal>,
    pub customer_rating_comment: Option<String>,
    pub custom_fields: Option<Value>,
    pub verification_state: Option<String>,
    pub is_unread: Option<bool>,
    pub created_at: Option<DateTime<FixedOffset>>,
    pub updated_at: DateTime<FixedOffset>,
    pub closed_at: Option<DateTime<FixedOffset>>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Product {
    pub id: Uuid,
    pub bound_order_item: Option<Value>,
    pub price: Option<Price>,
    pub files: Option<Value>,
    pub name: Option<String>,
    pub manufacturer: Option<String>,
    pub category: Option<String>,
    pub product_id: Option<String>,
    pub variant: Option<String>,
    pub ean: Option<String>,
    pub serial: Option<String>,
    pub amount: Option<Decimal>,
    pub custom_fields: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Price {
    pub with_vat: Option<Decimal>,
    pub without_vat: Option<Decimal>,
    pub vat: Option<Decimal>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Customer {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// A ticket as typed, together with the object exactly as received.
#[derive(Debug, Clone)]
pub struct TicketRecord {
    pub ticket: Ticket,
    pub raw: Value,
}

/// A record that does not fit the model, kept for `sync_rejects`.
#[derive(Debug, Clone)]
pub struct RejectedRecord {
    pub reason: String,
    /// Its `updated_at`, when that much is readable, so the cursor can
    /// still move past it.
    pub updated_at: Option<DateTime<Utc>>,
    pub payload: Value,
}

/// One page of `GET /tickets`, split into typed tickets and rejects.
#[derive(Debug, Clone)]
pub struct TicketPage {
    pub count: u64,
    pub current_page: u64,
    pub total_pages: u64,
    pub tickets: Vec<TicketRecord>,
    pub rejects: Vec<RejectedRecord>,
}

/// The page envelope as sent; records stay untyped until [`TicketPage::from`]
/// so one bad record cannot fail the whole page.
#[derive(Debug, Deserialize)]
pub struct RawPage {
    pub count: u64,
    #[serde(default)]
    pub current_page: Option<u64>,
    #[serde(default)]
    pub total_pages: Option<u64>,
    pub results: Vec<Value>,
}

impl From<RawPage> for TicketPage {
    fn from(raw: RawPage) -> Self {
        let mut tickets = Vec::with_capacity(raw.results.len());
        let mut rejects = Vec::new();
        for value in raw.results {
            match parse_ticket(value) {
                Ok(record) => tickets.push(record),
                Err(reject) => rejects.push(reject),
            }
        }
        TicketPage {
            count: raw.count,
            current_page: raw.current_page.unwrap_or(1),
            // Older or differently configured servers may omit total_pages:
            // without it, only an empty or 404 page ends the listing.
            total_pages: raw.total_pages.unwrap_or(u64::MAX),
            tickets,
            rejects,
        }
    }
}

impl TicketPage {
    pub fn is_empty(&self) -> bool {
        self.tickets.is_empty() && self.rejects.is_empty()
    }

    pub fn len(&self) -> usize {
        self.tickets.len() + self.rejects.len()
    }
}

/// Types one ticket object, or says precisely which field does not fit.
pub fn parse_ticket(value: Value) -> Result<TicketRecord, RejectedRecord> {
    match parse_record::<Ticket>(&value) {
        Ok(ticket) => Ok(TicketRecord { ticket, raw: value }),
        Err(reason) => Err(RejectedRecord::new(reason, value)),
    }
}

/// Types a record, or names the field that does not fit and why.
pub(crate) fn parse_record<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, String> {
    serde_path_to_error::deserialize::<_, T>(value)
        .map_err(|e| format!("field `{}`: {}", e.path(), e.inner()))
}

impl RejectedRecord {
    pub fn new(reason: String, payload: Value) -> Self {
        let updated_at = payload
            .get("updated_at")
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc));
        Self {
            reason,
            updated_at,
            payload,
        }
    }
}

pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn fixture() -> Value {
        serde_json::from_str(include_str!("../../tests/fixtures/ticket.json")).unwrap()
    }

    #[test]
    fn the_documented_ticket_types_exactly() {
        let record = parse_ticket(fixture()).unwrap();
        let t = &record.ticket;
        assert_eq!(t.code.as_deref(), Some("20210001"));
        assert_eq!(t.products.len(), 1);
        let price = t.products[0].price.clone().unwrap();
        assert_eq!(
            price.with_vat,
            Some(Decimal::from_str("990000000.0000").unwrap())
        );
        assert_eq!(price.with_vat.unwrap().to_string(), "990000000.0000");
        assert_eq!(price.without_vat, None);
        assert_eq!(
            t.customer.as_ref().unwrap().email.as_deref(),
            Some("support@retino.com")
        );
        assert_eq!(
            t.updated_at.to_rfc3339(),
            "2020-09-24T11:30:53.525472+02:00"
        );
        assert_eq!(record.raw, fixture());
    }

    #[test]
    fn a_bad_field_is_rejected_with_its_path() {
        let mut v = fixture();
        v["products"][0]["id"] = "not-a-uuid".into();
        let reject = parse_ticket(v).unwrap_err();
        assert!(
            reject.reason.contains("products[0].id"),
            "{}",
            reject.reason
        );
        assert!(reject.updated_at.is_some());

        let mut v = fixture();
        v["created_at"] = "2021-02-30T10:00:00+01:00".into();
        let reject = parse_ticket(v).unwrap_err();
        assert!(reject.reason.contains("created_at"), "{}", reject.reason);
    }
}
