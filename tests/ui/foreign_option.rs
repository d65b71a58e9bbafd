use tiered_cache::cached;

// Options of other caching macros say where their job is done here.
#[cached(key = "a:{id}", max_size = 100)]
async fn a(id: u64) -> u64 {
    id
}

#[cached(key = "b:{id}", with_cached_flag = true)]
async fn b(id: u64) -> u64 {
    id
}

#[cached(key = "c:{id}", sync_writes = "by_key")]
async fn c(id: u64) -> u64 {
    id
}

#[cached(key = "u64", convert = r#"{ id }"#)]
async fn d(id: u64) -> u64 {
    id
}

fn main() {}
