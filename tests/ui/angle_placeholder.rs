use tiered_cache::cached;

// The design card's syntax: literal text in a Rust key template.
#[cached(key = "product:<id>")]
async fn get_product(id: u64) -> String {
    format!("product {id}")
}

fn main() {}
