//! Reference data: the states, types, tags, users, custom fields and refund
//! accounts that tickets point to by UUID.
//!
//! Shapes come from public code that reads these endpoints, not from
//! Retino's published page, so the models are lenient: localized names are
//! kept as received, and everything else survives in each record's `raw`.

use chrono::{DateTime, FixedOffset};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::models::{parse_record, RejectedRecord};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReferenceKind {
    States,
    TicketTypes,
    Tags,
    Users,
    CustomFields,
    ProductCustomFields,
    RefundAccounts,
}

impl ReferenceKind {
    pub const ALL: [ReferenceKind; 7] = [
        Self::States,
        Self::TicketTypes,
        Self::Tags,
        Self::Users,
        Self::CustomFields,
        Self::ProductCustomFields,
        Self::RefundAccounts,
    ];

    /// The endpoint under the API's base URL.
    pub fn path(self) -> &'static str {
        match self {
            Self::States => "states",
            Self::TicketTypes => "types",
            Self::Tags => "tags",
            Self::Users => "users",
            Self::CustomFields => "custom-fields",
            Self::ProductCustomFields => "product-custom-fields",
            Self::RefundAccounts => "refund-accounts",
        }
    }
}

/// A name as Retino sends it: usually `{"cs": "...", "en": "..."}`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(transparent)]
pub struct Localized(pub Value);

impl Localized {
    /// The text in `language`, else English, else the first one there is.
    pub fn text(&self, language: &str) -> Option<String> {
        match &self.0 {
            Value::String(s) => Some(s.clone()),
            Value::Object(map) => [language, "en"]
                .iter()
                .find_map(|l| map.get(*l).and_then(Value::as_str))
                .or_else(|| map.values().find_map(Value::as_str))
                .map(str::to_owned),
            _ => None,
        }
    }
}

/// A state or a ticket type.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct NamedEntry {
    pub id: Uuid,
    pub name: Option<Localized>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Tag {
    pub id: Uuid,
    pub name: Option<Localized>,
    pub fgcolor: Option<String>,
    pub bgcolor: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct User {
    pub id: Uuid,
    pub role: Option<String>,
    pub email: Option<String>,
    pub full_name: Option<String>,
    pub phone_number: Option<String>,
    pub last_activity_at: Option<DateTime<FixedOffset>>,
    pub date_joined: Option<DateTime<FixedOffset>>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct CustomField {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub field_type: Option<String>,
    pub position: Option<i32>,
    pub name: Option<Localized>,
    #[serde(default, deserialize_with = "super::models::null_as_default")]
    pub options: Vec<CustomFieldOption>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct CustomFieldOption {
    pub id: String,
    pub label: Option<Localized>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct RefundAccount {
    pub id: Uuid,
    pub name: Option<String>,
    pub bank_account: Option<String>,
    pub currency: Option<String>,
    pub due_date: Option<i32>,
}

/// A record as typed, with the object as received.
#[derive(Debug, Clone)]
pub struct Entry<T> {
    pub value: T,
    pub raw: Value,
}

/// Every record of one reference endpoint, typed by kind.
#[derive(Debug, Clone)]
pub enum ReferenceEntries {
    States(Vec<Entry<NamedEntry>>),
    TicketTypes(Vec<Entry<NamedEntry>>),
    Tags(Vec<Entry<Tag>>),
    Users(Vec<Entry<User>>),
    CustomFields(Vec<Entry<CustomField>>),
    ProductCustomFields(Vec<Entry<CustomField>>),
    RefundAccounts(Vec<Entry<RefundAccount>>),
}

/// One endpoint's complete listing: entries that fit and rejects.
#[derive(Debug, Clone)]
pub struct ReferenceList {
    pub kind: ReferenceKind,
    pub entries: ReferenceEntries,
    pub rejects: Vec<RejectedRecord>,
}

impl ReferenceList {
    pub fn parse(kind: ReferenceKind, mut records: Vec<Value>) -> Self {
        // A listing read page by page can repeat a record; the last wins.
        let mut seen = std::collections::HashSet::new();
        records.reverse();
        records.retain(|r| seen.insert(r.get("id").map(Value::to_string)));
        records.reverse();
        fn typed<T: DeserializeOwned>(
            records: Vec<Value>,
            rejects: &mut Vec<RejectedRecord>,
        ) -> Vec<Entry<T>> {
            let mut entries = Vec::with_capacity(records.len());
            for raw in records {
                match parse_record::<T>(&raw) {
                    Ok(value) => entries.push(Entry { value, raw }),
                    Err(reason) => rejects.push(RejectedRecord::new(reason, raw)),
                }
            }
            entries
        }
        let mut rejects = Vec::new();
        let entries = match kind {
            ReferenceKind::States => ReferenceEntries::States(typed(records, &mut rejects)),
            ReferenceKind::TicketTypes => {
                ReferenceEntries::TicketTypes(typed(records, &mut rejects))
            }
            ReferenceKind::Tags => ReferenceEntries::Tags(typed(records, &mut rejects)),
            ReferenceKind::Users => ReferenceEntries::Users(typed(records, &mut rejects)),
            ReferenceKind::CustomFields => {
                ReferenceEntries::CustomFields(typed(records, &mut rejects))
            }
            ReferenceKind::ProductCustomFields => {
                ReferenceEntries::ProductCustomFields(typed(records, &mut rejects))
            }
            ReferenceKind::RefundAccounts => {
                ReferenceEntries::RefundAccounts(typed(records, &mut rejects))
            }
        };
        for reject in &mut rejects {
            reject.reason = format!("{}: {}", kind.path(), reject.reason);
        }
        Self {
            kind,
            entries,
            rejects,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_prefer_the_account_language_then_english() {
        let name = Localized(json!({"en": "New", "cs": "Nový"}));
        assert_eq!(name.text("cs").as_deref(), Some("Nový"));
        assert_eq!(name.text("sk").as_deref(), Some("New"));
        assert_eq!(
            Localized(json!({"de": "Neu"})).text("cs").as_deref(),
            Some("Neu")
        );
        assert_eq!(
            Localized(json!("Plain")).text("cs").as_deref(),
            Some("Plain")
        );
    }

    #[test]
    fn a_record_that_does_not_fit_is_rejected_with_its_endpoint() {
        let list = ReferenceList::parse(
            ReferenceKind::Users,
            vec![
                json!({"id": "5d1b4a52-8f5e-4a3c-9b0e-2f6c1d7e8a90", "full_name": "Jana Nováková"}),
                json!({"id": "not-a-uuid", "full_name": "X"}),
            ],
        );
        let ReferenceEntries::Users(users) = list.entries else {
            panic!("users")
        };
        assert_eq!(users.len(), 1);
        assert_eq!(list.rejects.len(), 1);
        assert!(
            list.rejects[0].reason.starts_with("users: field `id`"),
            "{}",
            list.rejects[0].reason
        );
    }
}
