use tiered_cache::cached;

// ("ab", "c") and ("a", "bc") would both be `user:abc`.
#[cached(key = "user:{tenant}{id}")]
async fn user(tenant: String, id: String) -> String {
    format!("{tenant}/{id}")
}

fn main() {}
