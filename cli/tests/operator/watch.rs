//! `watch`: started as a child process, it prints a line for a notice another cache sends, and
//! is then killed by its PID.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::harness::{self, standalone_and_cluster};
use crate::support;

standalone_and_cluster!(prints_notices_when_another_cache_writes);

async fn prints_notices_when_another_cache_writes(url: &str) {
    let config = harness::config(url);
    let mut child = harness::command(&[
        "--redis-url",
        url,
        "--key-prefix",
        &config.key_prefix,
        "watch",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("start watch");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let ready = tokio::time::timeout(Duration::from_secs(10), stderr.next_line())
        .await
        .expect("watch says it is watching")
        .expect("read stderr")
        .expect("a line");
    assert!(
        ready.contains(&format!("{}:#bus", config.key_prefix)),
        "{ready}"
    );

    let cache = support::cache(config.clone()).await;
    cache
        .set("user:1", &"x".to_owned())
        .namespace("users")
        .await
        .expect("set");
    cache.clear_namespace("orders").await.expect("clear");
    let mut lines = Vec::new();
    for _ in 0..2 {
        let line = tokio::time::timeout(Duration::from_secs(10), stdout.next_line())
            .await
            .expect("a notice line within 10 s")
            .expect("read stdout")
            .expect("a line");
        lines.push(line);
    }
    assert!(
        lines[0].contains("  key ") && lines[0].contains("users/user:1"),
        "{lines:?}"
    );
    assert!(
        lines[1].contains("  namespace ") && lines[1].contains("orders"),
        "{lines:?}"
    );
    let pid = child.id().expect("running");
    child.start_kill().expect("kill the watch by its PID");
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("it exits")
        .expect("wait");
    assert!(!status.success(), "killed (pid {pid})");
    cache.close().await;
}
