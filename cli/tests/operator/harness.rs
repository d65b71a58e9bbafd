//! Running the CLI: its binary, a target (URL and prefix), and the operator's extra ACL rules
//! read from the README.

use std::process::Output;
use std::time::Duration;

use tiered_cache::{CacheConfig, TieredCache};

use crate::support::{self, RedisCluster, RedisServer};

const README: &str = include_str!("../../../README.md");

/// What the CLI needs beyond the cache user's rules, as the README documents it
/// (`redis-cli ACL SETUSER tiered-cache +scan ...`).
pub fn readme_grant() -> Vec<&'static str> {
    let rules = README
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix("redis-cli ACL SETUSER tiered-cache ")
        })
        .expect("the README documents the CLI's extra ACL rules");
    let rules: Vec<&str> = rules.split_whitespace().collect();
    assert!(
        rules.iter().all(|rule| rule.starts_with('+')),
        "only command grants: {rules:?}"
    );
    rules
}

/// Applies the README's grant to the cache user on a server listening on `port`.
pub fn grant(port: u16) {
    let mut args = vec!["ACL", "SETUSER", support::acl::CACHE_USER];
    args.extend(readme_grant());
    let reply = support::redis_cli(port, &args);
    assert!(reply.contains("OK"), "ACL SETUSER: {reply}");
}

/// A standalone server whose cache user may run the CLI.
pub fn server() -> RedisServer {
    let server = RedisServer::start();
    grant(server.port());
    server
}

/// The shared cluster, its cache user allowed to run the CLI on every node.
pub fn cluster() -> &'static RedisCluster {
    let cluster = support::shared_cluster();
    for node in &cluster.nodes {
        grant(node.port());
    }
    cluster
}

/// A cache config on `url` with its own prefix, as test caches use.
pub fn config(url: &str) -> CacheConfig {
    support::config(url)
}

/// An instance that learns of other instances' changes only through the backplane: its L1
/// keeps copies for long and it reads the clear marks rarely.
pub async fn observer(config: &CacheConfig) -> TieredCache {
    support::cache(CacheConfig {
        l1_ttl: Duration::from_secs(300),
        sync_interval: Duration::from_secs(300),
        ..config.clone()
    })
    .await
}

/// Runs the CLI against `config`'s Redis and prefix, with the environment cleared of the
/// variables it reads.
pub async fn run(config: &CacheConfig, args: &[&str]) -> Output {
    let url = config.redis_url.as_deref().expect("a Redis URL");
    run_raw(
        &[
            &["--redis-url", url, "--key-prefix", &config.key_prefix],
            args,
        ]
        .concat(),
    )
    .await
}

/// Runs the CLI with exactly `args`.
pub async fn run_raw(args: &[&str]) -> Output {
    let mut command = command(args);
    let run = command.output();
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the CLI finishes within 30 s")
        .expect("the CLI runs")
}

/// The CLI as a command, for tests that read its output as it comes.
pub fn command(args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_tiered-cache"));
    command
        .args(args)
        .env_remove("TIERED_CACHE_REDIS_URL")
        .env_remove("REDIS_URL")
        .env_remove("TIERED_CACHE_KEY_PREFIX")
        .kill_on_drop(true);
    command
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the exit code, showing both streams when it differs.
pub fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "exit code\nstdout:\n{}\nstderr:\n{}",
        stdout(output),
        stderr(output)
    );
    assert!(
        !stderr(output).contains("panicked"),
        "no panic: {}",
        stderr(output)
    );
}

/// The value of an `inspect` field (`name   value`).
pub fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        rest.starts_with(' ').then(|| rest.trim())
    })
}

/// Runs each `async fn(url: &str)` test once on a standalone server and once on the shared
/// cluster, the cache user allowed to run the CLI on both.
macro_rules! standalone_and_cluster {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn standalone() {
                let redis = $crate::harness::server();
                super::$name(&redis.url()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cluster() {
                super::$name(&$crate::harness::cluster().url()).await;
            }
        }
    )*};
}
pub(crate) use standalone_and_cluster;
