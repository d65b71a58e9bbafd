// The expansion of the file of the same name without `.expanded`, as `cargo expand` shows it.
// Regenerate with `UPDATE_SNAPSHOTS=1 cargo test -p tiered-cache-macros snapshots`.

::core::compile_error! {
    "#[cached] needs an `async fn`: a cached call may wait for Redis or for another caller's load; write `async fn`"
}
::core::compile_error! {
    "#[cached(key)] writes `<product_id>`, which is literal text; placeholders use braces: write `{product_id}`"
}
fn get_product(product_id: u64) -> Product {
    Product::load(product_id)
}
::core::compile_error! {
    "unknown #[cached] option `tll` (did you mean `ttl`?); the options are: key, ttl, namespace, stale, refresh, cache, crate, cache_none, cache_err, in_impl, in_trait_impl, codec"
}
async fn get_price(product_id: u64) -> Price {
    Price::load(product_id).await
}
