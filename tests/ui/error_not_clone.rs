use tiered_cache::cached;

#[derive(Debug)]
struct DbError;

#[cached(key = "row:{id}")]
async fn row(id: u64) -> Result<String, DbError> {
    Ok(format!("row {id}"))
}

fn main() {}
