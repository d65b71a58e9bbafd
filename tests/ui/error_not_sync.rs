use std::cell::Cell;

use tiered_cache::cached;

// `Clone` is not needed (a non-`Clone` error stays with the caller that ran the body), but a
// load's error crosses tasks, so it must be `Send + Sync`.
#[derive(Debug)]
struct DbError(Cell<u32>);

#[cached(key = "row:{id}")]
async fn row(id: u64) -> Result<String, DbError> {
    Ok(format!("row {id}"))
}

fn main() {}
