//! Real Redis servers for tests: standalone servers and 3-master clusters on free loopback
//! ports, which a test can kill, pause (SIGSTOP), resume and restart. Every server is killed when
//! its handle drops, and by a watchdog if the test process dies first.
#![allow(dead_code)]

pub mod acl;
pub mod gate;
pub mod load;
pub mod sentinel;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tiered_cache::{CacheConfig, Clock, TieredCache};

/// Runs each `async fn(url)` test once on a standalone server (or `REDIS_URL`) and once on the
/// shared 3-master cluster: `on_both!(test_a, test_b);` after `#[macro_use] mod support;`.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn standalone() {
                let redis = super::support::test_redis();
                super::$name(&redis.url()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cluster() {
                super::$name(&super::support::shared_cluster().url()).await;
            }
        }
    )*};
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral loopback port");
    listener.local_addr().expect("local addr").port()
}

/// A name no other test (or earlier run against a shared `REDIS_URL`) uses.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Sends one inline command and returns the raw reply (enough for PING and CLUSTER INFO).
pub fn raw_command(port: u16, command: &str) -> Option<String> {
    let mut stream =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
            .ok()?;
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .ok()?;
    stream.write_all(format!("{command}\r\n").as_bytes()).ok()?;
    let mut buf = [0u8; 8192];
    let n = stream.read(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// One `redis-server` process on a loopback port.
pub struct RedisServer {
    port: u16,
    cluster_port: Option<u16>,
    password: Option<String>,
    /// Whether the server has the least-privilege cache user ([`acl`]) and `url()` names it.
    acl: bool,
    /// The certificate directory of a TLS-only server (see [`TlsFiles`]).
    tls: Option<PathBuf>,
    /// More `redis-server` arguments (`--maxmemory 2mb`, `--replicaof ...`).
    extra: Vec<String>,
    dir: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a standalone server on a free port.
    pub fn start() -> Self {
        Self::start_on(free_port(), None)
    }

    /// Starts a standalone server on `port` (for a test that first ran without one).
    pub fn start_on_port(port: u16) -> Self {
        Self::start_on(port, None)
    }

    /// Starts a standalone server that requires `password`.
    pub fn start_with_password(password: &str) -> Self {
        Self::start_on(free_port(), Some(password.to_owned()))
    }

    /// Starts a standalone server with more arguments (`["--maxmemory", "2mb"]`).
    pub fn start_with_args(args: &[&str]) -> Self {
        Self::start_on_port_with_args(free_port(), args)
    }

    /// Starts a standalone server on `port` with more arguments.
    pub fn start_on_port_with_args(port: u16, args: &[&str]) -> Self {
        let mut server = Self::unspawned(port);
        server.extra = args.iter().map(|a| (*a).to_owned()).collect();
        server.spawn();
        server
    }

    fn start_on(port: u16, password: Option<String>) -> Self {
        let mut server = Self::unspawned(port);
        // A server with a password tests the default user's password instead.
        server.acl = password.is_none();
        server.password = password;
        server.spawn();
        server
    }

    /// A cluster-enabled server whose nodes call a peer failed after `node_timeout_ms`.
    fn cluster_node(node_timeout_ms: u32) -> Self {
        let mut node = Self::unspawned(free_port());
        node.cluster_port = Some(free_port());
        node.extra = vec![
            "--cluster-node-timeout".to_owned(),
            node_timeout_ms.to_string(),
        ];
        node.spawn();
        node
    }

    fn unspawned(port: u16) -> Self {
        let dir = std::env::temp_dir().join(unique("tiered-cache-redis"));
        std::fs::create_dir_all(&dir).expect("create a server directory");
        RedisServer {
            port,
            cluster_port: None,
            password: None,
            acl: true,
            tls: None,
            extra: Vec::new(),
            dir,
            child: None,
        }
    }

    fn spawn(&mut self) {
        let mut command = Command::new("redis-server");
        command
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--protected-mode", "no", "--loglevel", "warning"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(certs) = &self.tls {
            command
                .args([
                    "--port",
                    "0",
                    "--tls-port",
                    &self.port.to_string(),
                    "--tls-auth-clients",
                    "no",
                ])
                .arg("--tls-cert-file")
                .arg(certs.join("server.pem"))
                .arg("--tls-key-file")
                .arg(certs.join("server.key"))
                .arg("--tls-ca-cert-file")
                .arg(certs.join("ca.pem"));
        }
        if let Some(password) = &self.password {
            command.args(["--requirepass", password]);
        }
        if self.acl {
            command.args(acl::server_args());
        }
        command.args(&self.extra);
        if let Some(cluster_port) = self.cluster_port {
            command.args([
                "--cluster-enabled",
                "yes",
                "--cluster-port",
                &cluster_port.to_string(),
                "--cluster-config-file",
                &format!("nodes-{}.conf", self.port),
            ]);
            if !self.extra.iter().any(|arg| arg == "--cluster-node-timeout") {
                command.args(["--cluster-node-timeout", "2000"]);
            }
        }
        let child = command
            .spawn()
            .expect("redis-server is installed (scripts/test installs it)");
        watchdog(child.id(), self.port);
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        // Any reply (PONG, or NOAUTH with a password) means it listens.
        while !self.answers() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn answers(&self) -> bool {
        match &self.tls {
            None => raw_command(self.port, "PING").is_some_and(|reply| !reply.is_empty()),
            Some(certs) => {
                let ca = certs.join("ca.pem");
                let args = ["--tls", "--cacert", ca.to_str().unwrap_or_default(), "PING"];
                redis_cli(self.port, &args).contains("PONG")
            }
        }
    }

    /// Starts a TLS-only server whose certificate (for IP 127.0.0.1) is signed by a fresh CA;
    /// the CA is at `ca_file()`.
    pub fn start_tls() -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(unique("tiered-cache-redis-tls"));
        std::fs::create_dir_all(&dir).expect("create a server directory");
        make_certificates(&dir);
        let mut server = RedisServer {
            port,
            cluster_port: None,
            password: None,
            acl: true,
            tls: Some(dir.clone()),
            extra: Vec::new(),
            dir,
            child: None,
        };
        server.spawn();
        server
    }

    /// The CA certificate of a TLS server.
    pub fn ca_file(&self) -> PathBuf {
        self.tls.as_ref().expect("a TLS server").join("ca.pem")
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// As the least-privilege cache user when the server has it.
    pub fn url(&self) -> String {
        let user = if self.acl {
            acl::credentials()
        } else {
            String::new()
        };
        if self.tls.is_some() {
            return format!("rediss://{user}127.0.0.1:{}", self.port);
        }
        match &self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}", self.port),
            None => format!("redis://{user}127.0.0.1:{}", self.port),
        }
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server (SIGKILL) and waits for it to go.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a paused server (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.pid().expect("server is running");
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// Starts the server again on the same port (empty: it keeps nothing on disk).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            // A paused server must be woken to die cleanly on some kernels; SIGKILL works anyway.
            let _ = Command::new("kill")
                .args(["-CONT", &pid.to_string()])
                .status();
        }
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Writes `ca.pem`, `server.pem` (SAN IP:127.0.0.1) and `server.key` into `dir` with openssl.
fn make_certificates(dir: &std::path::Path) {
    let run = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl is installed");
        assert!(status.success(), "openssl {args:?}");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=tiered-cache test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").expect("write ext.cnf");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
    ]);
}

/// Kills `pid` (if it is still our redis-server on `port`) once this test process is gone.
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

/// How long the nodes of a cluster with replicas wait before they call an unreachable node
/// failed and its replica takes over: short, so failover tests are quick. (2 s elsewhere.)
pub const FAILOVER_NODE_TIMEOUT_MS: u32 = 1000;

/// A Redis Cluster of three masters on loopback, with a replica each when started so.
pub struct RedisCluster {
    /// The masters as started (`nodes[i]` held the i-th third of the slots), then the replicas
    /// (`nodes[3 + i]` replicates `nodes[i]`).
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three cluster-enabled servers, splits the slots among them and waits for
    /// `cluster_state:ok` on every node.
    pub fn start() -> Self {
        Self::start_masters(2000)
    }

    fn start_masters(node_timeout_ms: u32) -> Self {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| RedisServer::cluster_node(node_timeout_ms))
            .collect();
        let ranges = [(0, 5460), (5461, 10922), (10923, 16383)];
        for (node, (first, last)) in nodes.iter().zip(ranges) {
            redis_cli(
                node.port,
                &[
                    "CLUSTER",
                    "ADDSLOTSRANGE",
                    &first.to_string(),
                    &last.to_string(),
                ],
            );
        }
        for node in &nodes[1..] {
            let bus = node.cluster_port.expect("cluster node").to_string();
            redis_cli(
                nodes[0].port,
                &["CLUSTER", "MEET", "127.0.0.1", &node.port.to_string(), &bus],
            );
        }
        let cluster = RedisCluster { nodes };
        cluster.wait_ok();
        cluster
    }

    /// Three masters and three replicas (one per master), every replica in sync.
    pub fn start_with_replicas() -> Self {
        let mut cluster = Self::start_masters(FAILOVER_NODE_TIMEOUT_MS);
        for master in 0..3 {
            let replica = RedisServer::cluster_node(FAILOVER_NODE_TIMEOUT_MS);
            let bus = replica.cluster_port.expect("cluster node").to_string();
            redis_cli(
                cluster.nodes[0].port,
                &[
                    "CLUSTER",
                    "MEET",
                    "127.0.0.1",
                    &replica.port.to_string(),
                    &bus,
                ],
            );
            let id = redis_cli(cluster.nodes[master].port, &["CLUSTER", "MYID"]);
            let deadline = Instant::now() + Duration::from_secs(30);
            // The replica must know the master before it can follow it.
            while !redis_cli(replica.port, &["CLUSTER", "REPLICATE", id.trim()]).contains("OK") {
                assert!(Instant::now() < deadline, "the replica did not join");
                std::thread::sleep(Duration::from_millis(50));
            }
            cluster.nodes.push(replica);
        }
        cluster.wait_ok();
        let deadline = Instant::now() + Duration::from_secs(30);
        for replica in &cluster.nodes[3..] {
            while !redis_cli(replica.port, &["INFO", "replication"])
                .contains("master_link_status:up")
            {
                assert!(Instant::now() < deadline, "a replica did not sync");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        cluster
    }

    fn wait_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let known = format!("cluster_known_nodes:{}", self.nodes.len());
        loop {
            let all_ok = self.nodes.iter().all(|node| {
                raw_command(node.port, "CLUSTER INFO")
                    .is_some_and(|info| info.contains("cluster_state:ok") && info.contains(&known))
            });
            if all_ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "cluster did not reach cluster_state:ok"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `redis-cluster://<cache user>@127.0.0.1:<p1>?node=127.0.0.1:<p2>&node=127.0.0.1:<p3>`.
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self.nodes[1..]
            .iter()
            .map(|n| format!("node=127.0.0.1:{}", n.port))
            .collect();
        format!(
            "redis-cluster://{}127.0.0.1:{}?{}",
            acl::credentials(),
            self.nodes[0].port,
            seeds.join("&")
        )
    }

    /// The node that holds `key`.
    pub fn node_of(&self, key: &str) -> &RedisServer {
        let slot: u16 = redis_cli(self.nodes[0].port, &["CLUSTER", "KEYSLOT", key])
            .trim()
            .parse()
            .expect("a slot number");
        let index = match slot {
            0..=5460 => 0,
            5461..=10922 => 1,
            _ => 2,
        };
        &self.nodes[index]
    }
}

/// Runs `redis-cli -p <port> <args>` and returns its stdout.
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli is installed");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The Redis a test without fault injection uses: `REDIS_URL` when it points at loopback,
/// otherwise a server of its own.
pub enum TestRedis {
    External(String),
    Own(RedisServer),
}

impl TestRedis {
    pub fn url(&self) -> String {
        match self {
            TestRedis::External(url) => url.clone(),
            TestRedis::Own(server) => server.url(),
        }
    }
}

/// See [`TestRedis`]. A `REDIS_URL` that is not on 127.0.0.1 or ::1 is refused.
pub fn test_redis() -> TestRedis {
    match std::env::var("REDIS_URL") {
        Ok(url) if !url.is_empty() => {
            let host = url.split("://").nth(1).unwrap_or_default();
            let host = host.rsplit('@').next().unwrap_or_default();
            assert!(
                host.starts_with("127.0.0.1")
                    || host.starts_with("[::1]")
                    || host.starts_with("localhost"),
                "REDIS_URL must point at a loopback address for tests, got host `{host}`"
            );
            TestRedis::External(url)
        }
        _ => TestRedis::Own(RedisServer::start()),
    }
}

/// A config for tests: the given Redis, a unique key prefix, short timeouts.
pub fn config(url: &str) -> CacheConfig {
    CacheConfig {
        redis_url: Some(url.to_owned()),
        key_prefix: unique("t").replace('-', "_"),
        l2_timeout: Duration::from_millis(200),
        connect_timeout: Duration::from_secs(2),
        circuit_breaker_cooldown: Duration::from_millis(200),
        sync_interval: Duration::from_millis(50),
        ..Default::default()
    }
}

/// A cache on `config`, with the system clock.
pub async fn cache(config: CacheConfig) -> TieredCache {
    TieredCache::new(config).await.expect("valid test config")
}

/// A cache on `config` whose clock the test moves.
pub async fn cache_with_clock(config: CacheConfig, clock: Clock) -> TieredCache {
    TieredCache::builder(config)
        .clock(clock)
        .build()
        .await
        .expect("valid test config")
}

/// Polls `check` every 10 ms until it holds or `within` passes; returns whether it held.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One cluster shared by every test of a test binary (each test uses its own key prefix). It is
/// killed by the watchdog when the binary exits.
pub fn shared_cluster() -> &'static RedisCluster {
    static CLUSTER: std::sync::OnceLock<RedisCluster> = std::sync::OnceLock::new();
    CLUSTER.get_or_init(RedisCluster::start)
}

/// A plain fred client on `url` as the admin (default) user, for reading and planting raw
/// bytes the way another program would.
pub async fn raw_client(url: &str) -> fred::clients::Client {
    raw_client_as_is(&acl::as_admin(url)).await
}

/// A plain fred client on `url` as the user the URL names.
pub async fn raw_client_as_is(url: &str) -> fred::clients::Client {
    use fred::interfaces::ClientLike;
    let config = fred::types::config::Config::from_url(url).expect("test URL parses");
    let client = fred::types::Builder::from_config(config)
        // Reconnects (and re-learns a cluster's layout) after a fault the test caused.
        .set_policy(fred::types::config::ReconnectPolicy::new_constant(0, 100))
        .build()
        .expect("client builds");
    client.init().await.expect("test Redis answers");
    client
}
