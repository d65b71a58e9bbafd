//! A Sentinel-managed primary on loopback: a primary, a replica of it, and one Sentinel
//! (quorum 1) that promotes the replica one second after the primary stops answering.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{RedisServer, acl, free_port, redis_cli, unique, watchdog};

/// The name Sentinel knows the primary by.
pub const SERVICE: &str = "mymaster";

/// A primary, its replica and a Sentinel watching them.
pub struct RedisSentinel {
    pub primary: RedisServer,
    pub replica: RedisServer,
    sentinel_port: u16,
    dir: PathBuf,
    sentinel: Option<Child>,
}

impl RedisSentinel {
    /// Starts the three processes and waits until the replica is in sync and Sentinel knows
    /// both.
    pub fn start() -> Self {
        let primary = RedisServer::start();
        let replica = RedisServer::start_with_args(&[
            "--replicaof",
            "127.0.0.1",
            &primary.port().to_string(),
        ]);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !redis_cli(replica.port(), &["INFO", "replication"]).contains("master_link_status:up")
        {
            assert!(Instant::now() < deadline, "the replica did not sync");
            std::thread::sleep(Duration::from_millis(50));
        }
        let sentinel_port = free_port();
        let dir = std::env::temp_dir().join(unique("tiered-cache-sentinel"));
        std::fs::create_dir_all(&dir).expect("create a sentinel directory");
        let conf = dir.join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {sentinel_port}\nbind 127.0.0.1\ndir {dir}\n\
                 sentinel monitor {SERVICE} 127.0.0.1 {primary} 1\n\
                 sentinel down-after-milliseconds {SERVICE} 1000\n\
                 sentinel failover-timeout {SERVICE} 5000\n",
                dir = dir.display(),
                primary = primary.port(),
            ),
        )
        .expect("write sentinel.conf");
        let child = Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server can run as a Sentinel");
        watchdog(child.id(), sentinel_port);
        let sentinel = RedisSentinel {
            primary,
            replica,
            sentinel_port,
            dir,
            sentinel: Some(child),
        };
        while !redis_cli(sentinel_port, &["SENTINEL", "REPLICAS", SERVICE])
            .contains(&sentinel.replica.port().to_string())
        {
            assert!(
                Instant::now() < deadline,
                "Sentinel did not find the replica"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        sentinel
    }

    /// `redis-sentinel://<cache user>@127.0.0.1:<sentinel>?sentinelServiceName=mymaster`.
    pub fn url(&self) -> String {
        format!(
            "redis-sentinel://{}127.0.0.1:{}?sentinelServiceName={SERVICE}",
            acl::credentials(),
            self.sentinel_port
        )
    }

    /// The port of the server Sentinel calls the primary now.
    pub fn primary_port(&self) -> Option<u16> {
        let reply = redis_cli(
            self.sentinel_port,
            &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE],
        );
        reply.lines().nth(1)?.trim().parse().ok()
    }
}

impl Drop for RedisSentinel {
    fn drop(&mut self) {
        if let Some(mut child) = self.sentinel.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
