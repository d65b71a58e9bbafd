//! What the examples share: finding a Redis to use, if any.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The Redis the examples use: `REDIS_URL` when set (an empty value or `none` means L1 only),
/// else a server answering on localhost:6379, else none (L1 only).
pub fn redis_url() -> Option<String> {
    match std::env::var("REDIS_URL") {
        Ok(url) if url.is_empty() || url.eq_ignore_ascii_case("none") => return None,
        Ok(url) => return Some(url),
        Err(_) => {}
    }
    let local: SocketAddr = ([127, 0, 0, 1], 6379).into();
    TcpStream::connect_timeout(&local, Duration::from_millis(200))
        .ok()
        .map(|_| "redis://127.0.0.1:6379".to_owned())
}
