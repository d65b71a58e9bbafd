use tiered_cache::cached;

#[cached(codec = "yaml")]
async fn yaml(id: u64) -> u64 {
    id
}

#[cached(codec = Postcard)]
async fn not_a_string(id: u64) -> u64 {
    id
}

#[cached(codek = "json")]
async fn misspelt(id: u64) -> u64 {
    id
}

fn main() {}
