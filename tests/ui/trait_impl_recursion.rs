use tiered_cache::{TieredCache, cached};

trait Maths {
    async fn fib(&self, n: u64) -> u64;
}

#[derive(Clone)]
struct Calculator {
    cache: TieredCache,
}

impl Maths for Calculator {
    #[cached(key = "fib:{n}", in_trait_impl, cache = self.cache)]
    async fn fib(&self, n: u64) -> u64 {
        if n < 2 {
            return n;
        }
        Box::pin(self.fib(n - 1)).await + Box::pin(self.fib(n - 2)).await
    }
}

fn main() {}
