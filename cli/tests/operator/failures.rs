//! Redis down or the password wrong: a clear message without the password, exit code 1, for
//! reads and writes alike; and a missing permission names what to grant.

use crate::harness::{self, assert_exit, run, run_raw, stderr};
use crate::support::{self, RedisServer};

const SECRET: &str = "not-the-password-9c1f";

fn assert_fails_without_secret(output: &std::process::Output, expected: &str) {
    assert_exit(output, 1);
    let (out, err) = (harness::stdout(output), stderr(output));
    assert!(err.contains(expected), "{err}");
    assert!(
        !err.contains(SECRET) && !out.contains(SECRET),
        "{out}\n{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_redis_is_a_clear_failure() {
    let url = format!("redis://ops:{SECRET}@127.0.0.1:{}", support::free_port());
    for args in [
        &["inspect", "k"][..],
        &["ls", "default"],
        &["stats"],
        &["watch"],
    ] {
        let output = run_raw(&[&["--redis-url", &url], args].concat()).await;
        assert_fails_without_secret(&output, "cannot connect");
        assert!(
            stderr(&output).contains("redis://ops:***@127.0.0.1"),
            "{}",
            stderr(&output)
        );
    }
    for args in [
        &["invalidate", "k"][..],
        &["clear", "n"],
        &["clear-tag", "t"],
    ] {
        let output = run_raw(&[&["--redis-url", &url], args].concat()).await;
        assert_fails_without_secret(&output, "nothing was changed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_a_clear_failure() {
    let redis = RedisServer::start();
    let url = redis.url().replace(support::acl::CACHE_PASSWORD, SECRET);
    assert!(url.contains(SECRET), "{url}");
    for args in [&["inspect", "k"][..], &["ls", "default"]] {
        let output = run_raw(&[&["--redis-url", &url], args].concat()).await;
        assert_fails_without_secret(&output, "WRONGPASS");
    }
    for args in [&["invalidate", "k"][..], &["clear", "default"]] {
        let output = run_raw(&[&["--redis-url", &url], args].concat()).await;
        assert_fails_without_secret(&output, "WRONGPASS");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_permission_names_the_grant() {
    // The cache user as the README sets it up, without the CLI's extra rules.
    let redis = RedisServer::start();
    let config = harness::config(&redis.url());
    let output = run(&config, &["ls", "default"]).await;
    assert_exit(&output, 1);
    let error = stderr(&output);
    assert!(error.contains("NOPERM"), "{error}");
    assert!(
        error.contains(&harness::readme_grant().join(" ")),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_redis_refuses_is_a_failure() {
    // Redis answers (PING works) but refuses the cache's scripts: the library would queue the
    // change for replay and carry on; the CLI must say it did not happen.
    let redis = RedisServer::start();
    let reply = support::redis_cli(
        redis.port(),
        &[
            "ACL",
            "SETUSER",
            support::acl::CACHE_USER,
            "-eval",
            "-evalsha",
        ],
    );
    assert!(reply.contains("OK"), "{reply}");
    let config = harness::config(&redis.url());
    for args in [
        &["invalidate", "k"][..],
        &["clear", "n"],
        &["clear-tag", "t"],
    ] {
        let output = run(&config, args).await;
        assert_exit(&output, 1);
        let error = stderr(&output);
        assert!(
            error.contains("Redis did not take the change"),
            "{args:?}: {error}"
        );
        assert!(error.contains("NOPERM"), "{args:?}: {error}");
    }
}
