use tiered_cache::cached;

trait Directory {
    async fn find(&self, id: u64) -> String;
    async fn count(&self) -> u64;
}

#[derive(Clone)]
struct Db;

impl Directory for Db {
    // Without `in_trait_impl` the companions land in the trait impl, where no item but the
    // trait's may be.
    #[cached(key = "find:{id}")]
    async fn find(&self, id: u64) -> String {
        format!("{id}")
    }

    #[cached(key = "count", in_trait_impl, in_impl)]
    async fn count(&self) -> u64 {
        0
    }
}

struct Inherent;

impl Inherent {
    #[cached(key = "name:{id}", in_trait_impl)]
    pub async fn name(id: u64) -> String {
        format!("{id}")
    }
}

fn main() {}
