// A `&str` argument (the background refresh owns a `String`) and a `Result` (only `Ok` cached).

#[cached(key = "query:{table}:{filters_hash}", ttl = 600, namespace = "database")]
async fn execute_query(table: &str, filters_hash: u64) -> Result<Vec<Row>, DbError> {
    let rows = db().query(table, filters_hash).await?;
    Ok(rows)
}
