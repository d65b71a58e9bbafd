use std::rc::Rc;

use tiered_cache::cached;

// A background refresh runs the body on another task, so its future must be `Send`.
#[cached(key = "count:{id}")]
async fn count(id: u64) -> u64 {
    let local = Rc::new(id);
    tokio::task::yield_now().await;
    *local
}

fn main() {}
