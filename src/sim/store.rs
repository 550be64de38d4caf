//! The simulator's ticket store: raw JSON records with ordered indexes on
//! `updated_at` and `created_at`, so a filtered, ordered page walks one range
//! of an index instead of sorting the whole account per request; and the
//! server clock that stamps updates.
//!
//! Records are kept as their serialized JSON text rather than as `Value`
//! trees: a tree takes about seven times the memory (50,000 tickets would
//! need over half a gigabyte), and a page is then assembled by concatenation
//! instead of cloning and serializing a hundred trees per request.
//!
//! Reference lists (states, users, custom fields, ...) live here too, but as
//! plain sorted `Value` vectors: an account has tens of such records, not
//! tens of thousands, so neither indexes nor the text form would pay off.

use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;
use std::ops::Bound;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::ReferenceKind;

/// An index key: the timestamp, then the id so equal timestamps page in a
/// fixed order.
type IndexKey = (DateTime<Utc>, String);

struct Record {
    json: Box<str>,
    /// The lower-cased fields search covers, one per line: search terms never
    /// hold a line break, so a term found here lies within one field.
    searchable: Box<str>,
    updated: DateTime<Utc>,
    created: DateTime<Utc>,
}

impl Record {
    fn ticket(&self) -> Value {
        serde_json::from_str(&self.json).expect(
            "stored ticket JSON parses back (serde_json reads at most 128 levels of nesting)",
        )
    }
}

#[derive(Default)]
pub(super) struct Store {
    records: HashMap<String, Record>,
    by_updated: BTreeSet<IndexKey>,
    by_created: BTreeSet<IndexKey>,
    /// The last time handed out or stored, whichever is later.
    clock: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    Updated,
    Created,
}

/// An inclusive time window; `None` leaves that side open.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Window {
    pub(super) from: Option<DateTime<Utc>>,
    pub(super) to: Option<DateTime<Utc>>,
}

impl Window {
    fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from.is_none_or(|from| from <= t) && self.to.is_none_or(|to| t <= to)
    }

    fn is_empty(&self) -> bool {
        matches!((self.from, self.to), (Some(from), Some(to)) if from > to)
    }

    fn bounds(&self) -> (Bound<IndexKey>, Bound<IndexKey>) {
        let lower = match self.from {
            Some(from) => Bound::Included((from, String::new())),
            None => Bound::Unbounded,
        };
        // Every key at `to` sorts below (`to` + 1ns, ""), whatever its id.
        let upper = match self
            .to
            .and_then(|to| to.checked_add_signed(TimeDelta::nanoseconds(1)))
        {
            Some(after) => Bound::Excluded((after, String::new())),
            None => Bound::Unbounded,
        };
        (lower, upper)
    }
}

/// Which tickets a list or search request asks for.
pub(super) struct Selection<'a> {
    pub(super) order_by: Field,
    pub(super) descending: bool,
    pub(super) updated: Window,
    pub(super) created: Window,
    /// Lower-case search terms; a ticket must match every one.
    pub(super) terms: &'a [String],
    pub(super) offset: usize,
    pub(super) limit: usize,
}

/// The store's key for a ticket: its id string, or the JSON text of a
/// malformed id.
fn key_of(ticket: &Value) -> String {
    match ticket.get("id") {
        Some(Value::String(id)) => id.clone(),
        Some(other) => other.to_string(),
        None => Value::Null.to_string(),
    }
}

fn timestamp(ticket: &Value, field: &str) -> Option<DateTime<Utc>> {
    let text = ticket.get(field)?.as_str()?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

pub(super) fn updated_at(ticket: &Value) -> Option<DateTime<Utc>> {
    timestamp(ticket, "updated_at")
}

/// The fields the API's search covers, lower-cased, one per line.
fn searchable(ticket: &Value) -> String {
    fn text(value: Option<&Value>) -> Option<&str> {
        value.and_then(Value::as_str)
    }
    let customer = ticket.get("customer");
    let customer_fields = ["name", "email", "phone"]
        .into_iter()
        .map(|field| text(customer.and_then(|c| c.get(field))));
    let product_fields = ticket
        .get("products")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|product| {
            ["name", "product_id", "ean", "serial"]
                .into_iter()
                .map(|field| text(product.get(field)))
        });
    let ticket_fields = ["order_id", "code"]
        .into_iter()
        .map(|field| text(ticket.get(field)));
    customer_fields
        .chain(product_fields)
        .chain(ticket_fields)
        .flatten()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join("\n")
}

impl Store {
    /// Stores `ticket` under its key, listed at `sort_key` for `updated_at`;
    /// its `created_at` falls back to `sort_key` when it does not parse.
    pub(super) fn put(&mut self, sort_key: DateTime<Utc>, ticket: Value) {
        let key = key_of(&ticket);
        self.unlink(&key);
        let created = timestamp(&ticket, "created_at").unwrap_or(sort_key);
        self.by_updated.insert((sort_key, key.clone()));
        self.by_created.insert((created, key.clone()));
        self.clock = self.clock.max(sort_key);
        self.records.insert(
            key,
            Record {
                json: ticket.to_string().into(),
                searchable: searchable(&ticket).into(),
                updated: sort_key,
                created,
            },
        );
    }

    pub(super) fn remove(&mut self, key: &str) -> Option<Value> {
        self.unlink(key).as_ref().map(Record::ticket)
    }

    /// Takes a record out of the map and both indexes.
    fn unlink(&mut self, key: &str) -> Option<Record> {
        let record = self.records.remove(key)?;
        self.by_updated.remove(&(record.updated, key.to_owned()));
        self.by_created.remove(&(record.created, key.to_owned()));
        Some(record)
    }

    pub(super) fn update(&mut self, key: &str, f: impl FnOnce(&mut Value)) -> bool {
        self.try_update(key, |ticket, _| {
            f(ticket);
            Ok::<(), Infallible>(())
        })
        .is_some()
    }

    /// Applies `f` to a copy of the ticket and stores the result stamped
    /// with a fresh `updated_at`, which `f` gets too, so a write can set
    /// other timestamps to the very same instant. When `f` fails the stored
    /// ticket stays as it was. Returns `None` for an unknown key, else `f`'s
    /// error or the stored ticket's JSON, read under the same borrow so it is
    /// exactly what this change produced.
    pub(super) fn try_update<E>(
        &mut self,
        key: &str,
        f: impl FnOnce(&mut Value, DateTime<Utc>) -> Result<(), E>,
    ) -> Option<Result<String, E>> {
        let mut ticket = self.get(key)?;
        let now = self.tick();
        if let Err(error) = f(&mut ticket, now) {
            return Some(Err(error));
        }
        if let Some(object) = ticket.as_object_mut() {
            object.insert(
                "updated_at".to_owned(),
                Value::String(super::Simulator::format_ts(now.fixed_offset())),
            );
        }
        // `f` may have changed the id, and with it the key.
        self.unlink(key);
        let new_key = key_of(&ticket);
        self.put(now, ticket);
        Some(Ok(self.json(&new_key).unwrap_or_default()))
    }

    pub(super) fn contains(&self, key: &str) -> bool {
        self.records.contains_key(key)
    }

    pub(super) fn get(&self, key: &str) -> Option<Value> {
        self.records.get(key).map(Record::ticket)
    }

    /// The ticket as the API sends it.
    pub(super) fn json(&self, key: &str) -> Option<String> {
        self.records.get(key).map(|record| record.json.to_string())
    }

    pub(super) fn all(&self) -> Vec<Value> {
        self.by_updated
            .iter()
            .filter_map(|(_, key)| self.get(key))
            .collect()
    }

    pub(super) fn len(&self) -> usize {
        self.records.len()
    }

    /// Advances the clock to the later of the real time and one microsecond
    /// past its last reading, both at the API's microsecond precision.
    pub(super) fn tick(&mut self) -> DateTime<Utc> {
        let real = Utc::now().trunc_subsecs(6);
        let last = self.clock.trunc_subsecs(6);
        let next = last
            .checked_add_signed(TimeDelta::microseconds(1))
            .unwrap_or(last);
        self.clock = real.max(next);
        self.clock
    }

    /// Counts the tickets `selection` matches, and joins the JSON of those
    /// between `offset` and `offset + limit` into a comma-separated list.
    pub(super) fn select(&self, selection: &Selection<'_>) -> (usize, String) {
        let (index, own, other) = match selection.order_by {
            Field::Updated => (&self.by_updated, selection.updated, selection.created),
            Field::Created => (&self.by_created, selection.created, selection.updated),
        };
        if own.is_empty() || other.is_empty() {
            return (0, String::new());
        }
        let range = index.range(own.bounds());
        let keys: Box<dyn Iterator<Item = &IndexKey>> = if selection.descending {
            Box::new(range.rev())
        } else {
            Box::new(range)
        };
        let filtered = other.from.is_some() || other.to.is_some() || !selection.terms.is_empty();
        let page_end = selection.offset.saturating_add(selection.limit);
        let mut count = 0;
        let mut page = String::new();
        for (_, key) in keys {
            let in_page = (selection.offset..page_end).contains(&count);
            if !filtered && !in_page {
                count += 1;
                continue;
            }
            let Some(record) = self.records.get(key) else {
                continue;
            };
            let other_time = match selection.order_by {
                Field::Updated => record.created,
                Field::Created => record.updated,
            };
            let matches = other.contains(other_time)
                && selection
                    .terms
                    .iter()
                    .all(|term| record.searchable.contains(term.as_str()));
            if matches {
                if in_page {
                    if !page.is_empty() {
                        page.push(',');
                    }
                    page.push_str(&record.json);
                }
                count += 1;
            }
        }
        (count, page)
    }
}

/// The reference lists, each kept in served order.
#[derive(Default)]
pub(super) struct References {
    lists: HashMap<ReferenceKind, Vec<Value>>,
}

/// Where a reference record is served: by `position` (custom fields have
/// one), records without an integer position after those with one, then by
/// id so the order never depends on insertion.
fn reference_order(record: &Value) -> (i64, String) {
    let position = record
        .get("position")
        .and_then(Value::as_i64)
        .unwrap_or(i64::MAX);
    (position, key_of(record))
}

impl References {
    /// Stores `record` in its place in the served order, replacing the record
    /// with the same key.
    pub(super) fn upsert(&mut self, kind: ReferenceKind, record: Value) {
        let list = self.lists.entry(kind).or_default();
        let key = key_of(&record);
        list.retain(|stored| key_of(stored) != key);
        let order = reference_order(&record);
        let at = list.partition_point(|stored| reference_order(stored) < order);
        list.insert(at, record);
    }

    pub(super) fn remove(&mut self, kind: ReferenceKind, key: &str) -> bool {
        let Some(list) = self.lists.get_mut(&kind) else {
            return false;
        };
        let before = list.len();
        list.retain(|stored| key_of(stored) != key);
        list.len() != before
    }

    pub(super) fn all(&self, kind: ReferenceKind) -> Vec<Value> {
        self.lists.get(&kind).cloned().unwrap_or_default()
    }

    /// Whether a record of `kind` has the UUID `id`, in any spelling. While
    /// the list is empty every id resolves: tests that store bare tickets
    /// keep no reference data, and would otherwise be unable to write.
    pub(super) fn resolves(&self, kind: ReferenceKind, id: Uuid) -> bool {
        let list = self.lists.get(&kind).map(Vec::as_slice).unwrap_or_default();
        list.is_empty()
            || list.iter().any(|record| {
                record
                    .get("id")
                    .and_then(Value::as_str)
                    .and_then(|text| Uuid::parse_str(text).ok())
                    == Some(id)
            })
    }

    /// Counts the records of `kind`, and joins the JSON of those between
    /// `offset` and `offset + limit` into a comma-separated list.
    pub(super) fn page(&self, kind: ReferenceKind, offset: usize, limit: usize) -> (usize, String) {
        let list = self.lists.get(&kind).map(Vec::as_slice).unwrap_or_default();
        let page = list
            .iter()
            .skip(offset)
            .take(limit)
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join(",");
        (list.len(), page)
    }
}
