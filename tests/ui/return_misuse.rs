use tiered_cache::cached;

#[cached]
async fn nothing(id: u64) {
    let _ = id;
}

#[cached(cache_none)]
async fn not_an_option(id: u64) -> u64 {
    id
}

#[cached(cache = 42)]
async fn not_a_cache(id: u64) -> u64 {
    id
}

fn main() {}
