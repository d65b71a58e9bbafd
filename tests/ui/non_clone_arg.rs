use tiered_cache::cached;

#[derive(Debug)]
struct Filter {
    table: String,
}

#[cached(key = "rows:{filter.table}")]
async fn rows(filter: Filter) -> Vec<String> {
    vec![filter.table]
}

#[cached(key = "rows:{filter.table}")]
async fn rows_by_ref(filter: &Filter) -> Vec<String> {
    vec![filter.table.clone()]
}

#[cached(key = "count:{n}")]
async fn count(n: &mut u64) -> u64 {
    *n += 1;
    *n
}

fn main() {}
