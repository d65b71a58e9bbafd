use tiered_cache::cached;

struct Counter {
    hits: u64,
}

impl Counter {
    #[cached(key = "hits:{id}")]
    async fn bump(&mut self, id: u64) -> u64 {
        self.hits += id;
        self.hits
    }

    // `Counter` is not `Clone`: a background refresh has no `self` to run on.
    #[cached(key = "hits:{self.hits}:{id}")]
    async fn peek(&self, id: u64) -> u64 {
        self.hits + id
    }
}

#[cached(key = "user:{self.id}")]
async fn user(id: u64) -> u64 {
    id
}

fn main() {}
