//! The example queries of `docs/schema.md` run against a freshly synced
//! mirror, so a schema change that breaks one, or leaves it answering
//! nothing, fails here instead of in an analyst's hands.

mod common;

use common::Harness;

const SCHEMA_DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/schema.md");

/// Where the line parser is: SQL is only collected from ```sql fences, and
/// lines inside other fences (shell comments start with `#` too) are never
/// taken for headings.
enum Fence {
    Outside,
    Sql(String),
    Other,
}

/// Every ```sql block of the document with the heading above it.
fn sql_blocks(doc: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut heading = String::new();
    let mut fence = Fence::Outside;
    for line in doc.lines() {
        fence = match fence {
            Fence::Outside if line.trim_end() == "```sql" => Fence::Sql(String::new()),
            Fence::Outside if line.starts_with("```") => Fence::Other,
            Fence::Outside => {
                if line.starts_with('#') {
                    heading = line.trim_start_matches('#').trim().to_owned();
                }
                Fence::Outside
            }
            Fence::Sql(sql) if line.trim_end() == "```" => {
                blocks.push((heading.clone(), sql));
                Fence::Outside
            }
            Fence::Sql(mut sql) => {
                sql.push_str(line);
                sql.push('\n');
                Fence::Sql(sql)
            }
            Fence::Other if line.trim_end() == "```" => Fence::Outside,
            Fence::Other => Fence::Other,
        };
    }
    blocks
}

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
