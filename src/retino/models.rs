//! Typed models of what the Retino API sends, and the split of a list page
//! into records that fit them and records that do not.
//!
//! Every field the docs show is typed; everything else survives in the
//! record's `raw` object, so nothing the API sends is lost. Money is
//! `Decimal`, never a float. A record that does not fit (a non-UUID id, an
//! impossible date) becomes a [`RejectedRecord`] instead of failing its page.

use chrono::{DateTime, FixedOffset, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
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

/// The editable fields of a ticket; `None` leaves a field as it is (PATCH).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TicketChange {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<Uuid>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub ticket_type: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerChange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_fields: Option<serde_json::Map<String, Value>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CustomerChange {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

impl TicketChange {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// What Retino would refuse, checked before sending: one `field: why`
    /// per problem. (UUIDs are typed, so they are valid by construction.)
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        let letters = |value: &Option<String>, n: usize, upper: bool| {
            value.as_deref().is_none_or(|v| {
                v.len() == n
                    && v.chars().all(|c| {
                        if upper {
                            c.is_ascii_uppercase()
                        } else {
                            c.is_ascii_lowercase()
                        }
                    })
            })
        };
        if self.is_empty() {
            errors.push("nothing to change: give at least one field".to_owned());
        }
        if !letters(&self.currency, 3, true) {
            errors.push(
                "currency: must be a 3-letter ISO 4217 code in capitals, e.g. CZK".to_owned(),
            );
        }
        if !letters(&self.country, 2, true) {
            errors
                .push("country: must be a 2-letter ISO 3166 code in capitals, e.g. CZ".to_owned());
        }
        if !letters(&self.language, 2, false) {
            errors.push("language: must be a 2-letter code in lower case, e.g. cs".to_owned());
        }
        if let Some(email) = self.customer.as_ref().and_then(|c| c.email.as_deref()) {
            if !plausible_email(email) {
                errors.push(format!(
                    "customer.email: `{email}` is not an e-mail address"
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// One `@` with something before it and a dotted domain after it: enough
/// to catch typos; the API has the last word.
fn plausible_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.split('.').count() >= 2
                && domain.split('.').all(|part| !part.is_empty())
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    }
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
    /// Every `updated_at` on the page that reads, rejects' included.
    pub fn update_times(&self) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        self.tickets
            .iter()
            .map(|r| r.ticket.updated_at.to_utc())
            .chain(self.rejects.iter().filter_map(|r| r.updated_at))
    }

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
    /// Its id, when that much of it reads: the record still exists upstream.
    pub fn id(&self) -> Option<Uuid> {
        self.payload.get("id")?.as_str()?.parse().ok()
    }

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
    fn a_change_is_checked_before_it_is_sent() {
        let good = TicketChange {
            currency: Some("EUR".into()),
            country: Some("SK".into()),
            language: Some("sk".into()),
            customer: Some(CustomerChange {
                email: Some("jana@example.sk".into()),
                ..CustomerChange::default()
            }),
            ..TicketChange::default()
        };
        assert_eq!(good.validate(), Ok(()));
        let bad = TicketChange {
            currency: Some("euro".into()),
            country: Some("SVK".into()),
            customer: Some(CustomerChange {
                email: Some("jana@".into()),
                ..CustomerChange::default()
            }),
            ..TicketChange::default()
        };
        let errors = bad.validate().unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("currency:") && errors[1].starts_with("country:"));
        assert!(errors[2].starts_with("customer.email:"));
        assert!(TicketChange::default().validate().is_err());
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
