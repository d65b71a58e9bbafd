use tiered_cache::cached;

#[derive(Clone, Debug)]
struct Filter {
    table: String,
}

// Without `key`, the key is built from the arguments' `Serialize`, which `Filter` lacks.
#[cached(ttl = 60)]
async fn rows(limit: u32, filter: Filter) -> Vec<String> {
    vec![filter.table; limit as usize]
}

// The same type is fine in a function whose key names what it needs.
#[cached(key = "rows:{filter.table}:{limit}", ttl = 60)]
async fn keyed_rows(limit: u32, filter: &Filter) -> Vec<String> {
    vec![filter.table.clone(); limit as usize]
}

fn main() {}
