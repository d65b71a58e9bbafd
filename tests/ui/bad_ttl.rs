use tiered_cache::cached;

#[cached(ttl = "5m")]
async fn five_minutes(id: u64) -> u64 {
    id
}

#[cached(ttl = 1.5)]
async fn fractional(id: u64) -> u64 {
    id
}

#[cached(ttl = 0)]
async fn zero(id: u64) -> u64 {
    id
}

#[cached(ttl = 60, stale = 60)]
async fn stale_as_long_as_ttl(id: u64) -> u64 {
    id
}

fn main() {}
