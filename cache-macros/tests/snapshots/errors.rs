// Invalid uses: every error is reported at the tokens it is about, and the function is emitted
// unchanged, so nothing else breaks.

#[cached(key = "product:<product_id>", ttl = 300)]
fn get_product(product_id: u64) -> Product {
    Product::load(product_id)
}

#[cached(tll = 300)]
async fn get_price(product_id: u64) -> Price {
    Price::load(product_id).await
}
