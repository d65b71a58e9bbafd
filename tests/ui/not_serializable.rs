use tiered_cache::cached;

#[derive(Clone)]
struct Connection;

#[cached(key = "conn:{id}")]
async fn connect(id: u64) -> Connection {
    let _ = id;
    Connection
}

fn main() {}
