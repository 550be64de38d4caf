//! Where the next list request starts.
//!
//! Page numbers over a list that changes while it is read skip records: a
//! ticket updated mid-run moves to the end and every later one shifts a
//! place left, into a page already read. So the cursor advances by time:
//! after each page it re-queries from the page's largest `updated_at`,
//! page 1, and skips the ids it already stored at exactly that instant.
//! Only when a whole page shares the cursor's instant (more tickets at one
//! `updated_at` than a page holds) does it step by page number, which is
//! what makes such a run terminate.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::retino::{TicketPage, TicketQuery};

#[derive(Debug)]
pub struct Cursor {
    from: Option<DateTime<Utc>>,
    /// Upper bound of the span read (a backfill window); never moves.
    to: Option<DateTime<Utc>>,
    page: u64,
    /// Ids already stored whose `updated_at` equals `from`.
    stored_at_from: HashSet<Uuid>,
}

impl Cursor {
    pub fn starting_at(from: Option<DateTime<Utc>>) -> Self {
        Self::within(from, None)
    }

    /// A cursor over `[from, to]`, both inclusive as the API's filters are.
    pub fn within(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Self {
        Self {
            from,
            to,
            page: 1,
            stored_at_from: HashSet::new(),
        }
    }

    pub fn query(&self) -> TicketQuery {
        TicketQuery {
            updated_from: self.from,
            updated_to: self.to,
            page: self.page,
        }
    }

    /// Whether this record was stored earlier in the run.
    pub fn already_stored(&self, id: Uuid, updated_at: DateTime<Utc>) -> bool {
        Some(updated_at) == self.from && self.stored_at_from.contains(&id)
    }

    /// Whether `page` (the answer to [`Self::query`]) was the last one.
    pub fn is_last(&self, page: &TicketPage) -> bool {
        page.is_empty() || self.page >= page.total_pages
    }

    /// The cursor after `page` (the answer to [`Self::query`]), whose
    /// records are all being stored.
    pub fn next_after(&self, page: &TicketPage) -> Self {
        let stamped = page
            .tickets
            .iter()
            .map(|r| (Some(r.ticket.id), Some(r.ticket.updated_at.to_utc())))
            .chain(page.rejects.iter().map(|r| (None, r.updated_at)));
        let newest = stamped.clone().filter_map(|(_, at)| at).max();
        match newest {
            Some(newest) if Some(newest) > self.from => Self {
                from: Some(newest),
                to: self.to,
                page: 1,
                stored_at_from: stamped
                    .filter(|(_, at)| *at == Some(newest))
                    .filter_map(|(id, _)| id)
                    .collect(),
            },
            _ => {
                let mut stored_at_from = self.stored_at_from.clone();
                stored_at_from.extend(stamped.filter_map(|(id, _)| id));
                Self {
                    from: self.from,
                    to: self.to,
                    page: self.page + 1,
                    stored_at_from,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retino::models::parse_ticket;

    fn page(stamps: &[(u128, &str)], total_pages: u64) -> TicketPage {
        let tickets = stamps
            .iter()
            .map(|(id, at)| {
                let mut v: serde_json::Value =
                    serde_json::from_str(include_str!("../../tests/fixtures/ticket.json")).unwrap();
                v["id"] = Uuid::from_u128(*id).to_string().into();
                v["updated_at"] = (*at).into();
                parse_ticket(v).unwrap()
            })
            .collect();
        TicketPage {
            count: 0,
            current_page: 1,
            total_pages,
            tickets,
            rejects: vec![],
        }
    }

    #[test]
    fn advances_by_time_and_remembers_ids_at_the_new_instant() {
        let mut cursor = Cursor::starting_at(None);
        let p = page(
            &[
                (1, "2024-01-01T00:00:00Z"),
                (2, "2024-01-02T00:00:00Z"),
                (3, "2024-01-02T00:00:00Z"),
            ],
            5,
        );
        assert!(!cursor.is_last(&p));
        cursor = cursor.next_after(&p);
        let q = cursor.query();
        assert_eq!(q.page, 1);
        assert_eq!(
            q.updated_from.unwrap().to_rfc3339(),
            "2024-01-02T00:00:00+00:00"
        );
        let at = q.updated_from.unwrap();
        assert!(cursor.already_stored(Uuid::from_u128(2), at));
        assert!(cursor.already_stored(Uuid::from_u128(3), at));
        assert!(!cursor.already_stored(Uuid::from_u128(1), at));
    }

    #[test]
    fn a_page_all_at_the_cursor_steps_by_page_number() {
        let mut cursor = Cursor::starting_at(None);
        cursor = cursor.next_after(&page(&[(1, "2024-01-01T00:00:00Z")], 3));
        cursor = cursor.next_after(&page(
            &[(1, "2024-01-01T00:00:00Z"), (2, "2024-01-01T00:00:00Z")],
            3,
        ));
        assert_eq!(cursor.query().page, 2);
        assert!(cursor.already_stored(Uuid::from_u128(2), cursor.query().updated_from.unwrap()));
        let last = page(&[(3, "2024-01-01T00:00:00Z")], 2);
        assert!(cursor.is_last(&last));
    }
}
