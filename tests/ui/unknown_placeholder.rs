use tiered_cache::cached;

#[cached(key = "product:{prodcut_id}:{region}")]
async fn get_product(product_id: u64, region: &str) -> String {
    format!("product {product_id} in {region}")
}

fn main() {}
