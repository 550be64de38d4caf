//! `docs/schema.md` against the real schema: its example queries run on a
//! freshly synced mirror, and its column tables match the catalog, so a
//! migration that breaks an example, leaves it answering nothing, or adds a
//! column nobody documented fails here instead of in an analyst's hands.

mod common;

use std::collections::BTreeMap;

use common::docs::sql_blocks;
use common::Harness;

const SCHEMA_DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/schema.md");

#[tokio::test]
async fn every_documented_query_runs_and_answers() {
    let h = Harness::new(1500).await;
    // A copy of a ticket with an id that is not a UUID: the sync rejects it,
    // so the example over `sync_rejects` has a row to show.
    let mut malformed = h.sim.tickets()[0].clone();
    malformed["id"] = "TICKET-17".into();
    let sort_key = chrono::DateTime::parse_from_rfc3339(malformed["updated_at"].as_str().unwrap())
        .unwrap()
        .to_utc();
    h.sim.insert_raw(sort_key, malformed);
    let report = h.sync(&h.client(&[])).await.unwrap();
    assert_eq!(report.rejects, 1);

    let doc = std::fs::read_to_string(SCHEMA_DOC).unwrap();
    let blocks = sql_blocks(&doc);
    assert!(
        blocks.len() >= 12,
        "docs/schema.md has {} sql examples, at least 12 expected",
        blocks.len()
    );

    let mut failures = Vec::new();
    for (heading, sql) in &blocks {
        if !sql.trim_end().ends_with(';') {
            failures.push(format!("{heading}: the statement does not end with `;`"));
        }
        // Read-only, as the analysts' role is; a prepared statement, so a
        // block holding two statements fails; rolled back either way.
        let mut tx = h.db.pool.begin().await.unwrap();
        sqlx::query("SET TRANSACTION READ ONLY")
            .execute(&mut *tx)
            .await
            .unwrap();
        match sqlx::query(sql).fetch_all(&mut *tx).await {
            Ok(rows) if rows.is_empty() => failures.push(format!("{heading}: no rows")),
            Ok(_) => {}
            Err(error) => failures.push(format!("{heading}: {error}")),
        }
        tx.rollback().await.unwrap();
    }
    assert!(
        failures.is_empty(),
        "documented queries that fail:\n{}",
        failures.join("\n")
    );
}

/// Columns per documented relation, as (name, type), from the tables under
/// headings like "### `retino.tickets` (table)", whose rows read
/// "| `id` | uuid, PK | meaning |".
fn documented_columns(doc: &str) -> BTreeMap<String, Vec<(String, String)>> {
    let mut relations: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        if line.starts_with('#') {
            current = line
                .strip_prefix("### `retino.")
                .filter(|_| line.ends_with("(table)") || line.ends_with("(view)"))
                .and_then(|rest| rest.split('`').next())
                .map(str::to_owned);
        } else if let (Some(relation), Some(row)) = (&current, line.strip_prefix("| `")) {
            let mut cells = row.split('|');
            let name = cells
                .next()
                .unwrap_or_default()
                .trim()
                .trim_end_matches('`');
            // "uuid, PK" and "text, not null": the type is before the comma.
            let ty = cells.next().unwrap_or_default();
            let ty = ty.split(',').next().unwrap_or_default().trim();
            relations
                .entry(relation.clone())
                .or_default()
                .push((name.to_owned(), ty.to_owned()));
        }
    }
    relations
}

#[tokio::test]
async fn every_table_and_view_is_documented_with_its_columns() {
    let h = Harness::new(0).await;
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT c.relname::text, a.attname::text,
                replace(format_type(a.atttypid, a.atttypmod), 'timestamp with time zone', 'timestamptz')
         FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         WHERE n.nspname = 'retino' AND c.relkind IN ('r', 'v')
         ORDER BY c.relname, a.attnum",
    )
    .fetch_all(&h.db.pool)
    .await
    .unwrap();
    let mut catalog: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (relation, column, ty) in rows {
        catalog.entry(relation).or_default().push((column, ty));
    }

    let doc = std::fs::read_to_string(SCHEMA_DOC).unwrap();
    let documented = documented_columns(&doc);
    let mut differences = Vec::new();
    for (relation, columns) in &catalog {
        match documented.get(relation) {
            None => differences.push(format!("retino.{relation} is not documented")),
            Some(doc_columns) if doc_columns != columns => {
                let missing: Vec<_> = columns
                    .iter()
                    .filter(|c| !doc_columns.contains(c))
                    .collect();
                let extra: Vec<_> = doc_columns
                    .iter()
                    .filter(|c| !columns.contains(c))
                    .collect();
                differences.push(format!(
                    "retino.{relation}: undocumented {missing:?}, documented but not in the schema \
                     {extra:?} (both empty: the order differs)"
                ));
            }
            Some(_) => {}
        }
    }
    for relation in documented.keys().filter(|r| !catalog.contains_key(*r)) {
        differences.push(format!(
            "retino.{relation} is documented but does not exist"
        ));
    }
    assert!(
        differences.is_empty(),
        "docs/schema.md differs from the schema:\n{}",
        differences.join("\n")
    );
}
