//! The Redis the bench runs against: a `redis-server` of its own on a free loopback port, or
//! `REDIS_URL` when it points at loopback. Our server is killed when the handle drops, and by a
//! watchdog if the bench dies first.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::BenchResult;

/// A Redis to talk to.
pub struct Redis {
    url: String,
    child: Option<Child>,
    dir: Option<PathBuf>,
    port: u16,
    /// Whether the server keeps an append-only file (fsync on every write), so a restart after
    /// a kill brings its data back.
    persistent: bool,
}

impl Redis {
    /// `REDIS_URL` (loopback only), or a fresh `redis-server` on a free loopback port.
    pub fn start() -> BenchResult<Self> {
        match std::env::var("REDIS_URL") {
            Ok(url) if !url.is_empty() => {
                if !is_loopback_url(&url) {
                    return Err(format!(
                        "REDIS_URL must point at a loopback address (127.0.0.1, [::1], localhost), got {}",
                        tiered_cache::redact_url(&url)
                    )
                    .into());
                }
                Ok(Redis {
                    url,
                    child: None,
                    dir: None,
                    port: 0,
                    persistent: false,
                })
            }
            _ => Self::spawn(false),
        }
    }

    /// Always a `redis-server` of our own (one the caller may kill, pause and restart).
    pub fn start_own() -> BenchResult<Self> {
        Self::spawn(false)
    }

    /// A `redis-server` of our own with an append-only file fsynced on every write: after
    /// [`kill`](Self::kill), [`restart`](Self::restart) brings back everything it had taken.
    pub fn start_own_persistent() -> BenchResult<Self> {
        Self::spawn(true)
    }

    fn spawn(persistent: bool) -> BenchResult<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        Self::spawn_on(port, persistent)
    }

    fn spawn_on(port: u16, persistent: bool) -> BenchResult<Self> {
        let aof: &[&str] = if persistent {
            &["--appendonly", "yes", "--appendfsync", "always"]
        } else {
            &["--appendonly", "no"]
        };
        let dir =
            std::env::temp_dir().join(format!("tiered-cache-bench-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--protected-mode", "no"])
            .args(aof)
            .args(["--loglevel", "warning"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start redis-server (is it installed?): {e}"))?;
        watchdog(child.id(), port);
        let redis = Redis {
            url: format!("redis://127.0.0.1:{port}"),
            child: Some(child),
            dir: Some(dir),
            port,
            persistent,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !answers_ping(port) {
            if Instant::now() > deadline {
                return Err(format!("redis-server did not answer on port {port}").into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(redis)
    }

    /// The URL to connect to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether this is a server the bench started (rather than `REDIS_URL`).
    pub fn is_own(&self) -> bool {
        self.child.is_some()
    }

    /// SIGKILLs our server (never a `REDIS_URL` one) and waits for it to go.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts our server again on the same port: empty, or with its data when persistent.
    pub fn restart(&mut self) -> BenchResult<()> {
        self.kill();
        let mut fresh = Self::spawn_on(self.port, self.persistent)?;
        // Same port, same directory: this handle keeps removing it at drop.
        self.child = fresh.child.take();
        fresh.dir = None;
        Ok(())
    }

    /// SIGSTOP (`true`) or SIGCONT (`false`) to our server.
    pub fn pause(&self, stop: bool) -> BenchResult<()> {
        let Some(child) = &self.child else {
            return Err("only a server the bench started can be paused".into());
        };
        let signal = if stop { "-STOP" } else { "-CONT" };
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("kill {signal} failed").into())
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Whether `url`'s host is 127.0.0.0/8, `[::1]` or `localhost`.
pub fn is_loopback_url(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = if host_port.starts_with('[') {
        host_port.split_inclusive(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    host == "localhost"
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn answers_ping(port: u16) -> bool {
    let Ok(mut stream) =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
    else {
        return false;
    };
    if stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .is_err()
        || stream.write_all(b"PING\r\n").is_err()
    {
        return false;
    }
    let mut buf = [0u8; 64];
    matches!(stream.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
}

/// Kills `pid` (if it is still our redis-server on `port`) once this process is gone.
fn watchdog(pid: u32, port: u16) {
    let script = format!(
        "while kill -0 {parent} 2>/dev/null; do sleep 0.5; done; \
         grep -q -- '{port}' /proc/{pid}/cmdline 2>/dev/null && kill -9 {pid}",
        parent = std::process::id(),
    );
    let _ = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_urls_pass() {
        assert!(is_loopback_url("redis://127.0.0.1:6379"));
        assert!(is_loopback_url("redis://:secret@127.0.0.1:6379/0"));
        assert!(is_loopback_url("redis://localhost"));
        assert!(is_loopback_url("redis://[::1]:6379"));
        assert!(!is_loopback_url("redis://10.0.0.5:6379"));
        assert!(!is_loopback_url("redis://cache.example.com:6379"));
        assert!(!is_loopback_url("redis://127.0.0.1@evil.example:6379"));
        assert!(!is_loopback_url("redis://localhost.example.com:6379"));
        assert!(!is_loopback_url("no scheme"));
    }
}
