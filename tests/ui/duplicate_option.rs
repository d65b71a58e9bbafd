use tiered_cache::cached;

#[cached(ttl = 300, namespace = "products", ttl = 60)]
async fn get_product(product_id: u64) -> String {
    format!("product {product_id}")
}

fn main() {}
