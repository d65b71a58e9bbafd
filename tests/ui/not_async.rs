use tiered_cache::cached;

#[cached(key = "product:{product_id}", ttl = 300)]
fn get_product(product_id: u64) -> String {
    format!("product {product_id}")
}

fn main() {}
