use tiered_cache::cached;

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Repo {
    tenant: String,
}

impl Repo {
    // The default key names the function and `id`, not `self`: every tenant's repository would
    // share one entry per id.
    #[cached(ttl = 60)]
    async fn find(&self, id: u64) -> String {
        format!("{}/{id}", self.tenant)
    }

    // Associated functions without `self` keep the default key.
    #[cached(ttl = 60)]
    async fn open(tenant: String) -> Option<Self> {
        Some(Repo { tenant })
    }
}

fn main() {}
