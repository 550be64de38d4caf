//! The example queries of `docs/schema.md`, for the test that runs them
//! and the benchmark that explains them.

/// Where the line parser is: SQL is only collected from ```sql fences, and
/// lines inside other fences (shell comments start with `#` too) are never
/// taken for headings.
enum Fence {
    Outside,
    Sql(String),
    Other,
}

/// Every ```sql block of the document with the heading above it.
pub fn sql_blocks(doc: &str) -> Vec<(String, String)> {
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
