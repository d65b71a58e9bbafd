// The remaining options: a `Duration` ttl, no background refresh, `cache_none`, a cache returned
// by a function, and a re-exporting crate's path.

#[cached(
    key = "geo:{{{ip}}}",
    ttl = Duration::from_millis(1500),
    refresh = false,
    cache_none,
    cache = regional_cache,
    crate = ::my_sdk::tiered_cache,
)]
pub(crate) async fn geolocate(mut ip: std::net::IpAddr) -> Option<Region> {
    ip = normalise(ip);
    lookup(ip).await
}

#[cached(key = "rate:{pair.0}-{pair.1:?}", stale = 5, ttl = 30, cache_err)]
async fn exchange_rate(pair: (Currency, Currency)) -> Result<f64, QuoteError> {
    quote(pair).await
}
