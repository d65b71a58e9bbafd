// The seed's example: a plain return value, a key template, ttl in seconds, a namespace.

/// Looks a product up in the catalogue database.
#[cached(key = "product:{product_id}", ttl = 300, namespace = "products")]
pub async fn get_product_details(product_id: u64) -> Product {
    fetch_product(product_id).await
}
