//! The service on a loopback port against a real Redis: every route, the metrics text against
//! the origin's own count, invalidation seen by another instance, and Redis killed mid-run.
//! One test: the service uses the process-wide cache, installed once.

#[path = "../../../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use tiered_cache_axum_service::{AppState, Product, app, origin};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Reply {
    status: u16,
    body: String,
}

async fn request(addr: std::net::SocketAddr, method: &str, path: &str) -> Reply {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the service");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read reply");
    let text = String::from_utf8(raw).expect("utf-8 reply");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status code");
    Reply {
        status,
        body: body.to_owned(),
    }
}

async fn product(addr: std::net::SocketAddr, path: &str) -> Product {
    let reply = request(addr, "GET", path).await;
    assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    serde_json::from_str(&reply.body).expect("a product")
}

/// The value of one Prometheus sample line `name{labels} value`.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{series} not in the metrics:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_serves_caches_invalidates_and_survives_redis() {
    let mut redis = support::RedisServer::start();
    let origin = origin(Duration::from_millis(20));
    let prometheus = PrometheusBuilder::new()
        .install_recorder()
        .expect("the only recorder of this process");
    let mut config = support::config(&redis.url());
    config.name = "service".into();
    let cache = tiered_cache::init(config.clone()).await.expect("init");
    let other_instance = support::cache(config).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    let state = AppState::new(cache.clone(), prometheus).expect("valid namespaces");
    tokio::spawn(async move { axum::serve(listener, app(state)).await });

    // Cached: the second read is the first read's value; the origin was called once.
    let first = product(addr, "/products/7").await;
    let again = product(addr, "/products/7").await;
    assert_eq!(first, again);
    assert_eq!(origin.calls(), 1);
    // Uncached: the origin every time.
    let direct = product(addr, "/products/7/uncached").await;
    assert_ne!(direct.version, first.version);
    assert_eq!(origin.calls(), 2);
    // The programmatic API, cache in the app state.
    let price = request(addr, "GET", "/prices/7").await;
    assert_eq!(price.status, 200, "{}", price.body);
    assert!(price.body.contains("\"cents\""), "{}", price.body);
    assert_eq!(origin.calls(), 3);
    // Errors keep their status.
    assert_eq!(request(addr, "GET", "/products/9999999").await.status, 404);
    assert_eq!(origin.calls(), 4);

    // Another instance finds the entry in Redis; after the admin invalidation, nobody does.
    let seen: Option<Product> = other_instance
        .get("product:7")
        .namespace("products")
        .await
        .expect("read");
    assert_eq!(seen.as_ref(), Some(&first));
    assert_eq!(
        request(addr, "POST", "/admin/invalidate/7").await.status,
        204
    );
    let gone: Option<Product> = other_instance
        .get("product:7")
        .namespace("products")
        .await
        .expect("read");
    assert_eq!(
        gone, None,
        "the invalidation reached Redis and the other instance"
    );
    let reloaded = product(addr, "/products/7").await;
    assert!(
        reloaded.version > first.version,
        "loaded again after the invalidation"
    );

    // Metrics: what the origin saw through the cache (all its calls but the uncached one).
    let metrics = request(addr, "GET", "/metrics").await;
    assert_eq!(metrics.status, 200);
    let loader_calls = sample(
        &metrics.body,
        "tiered_cache_loader_calls_total{cache=\"service\"}",
    );
    assert_eq!(
        loader_calls,
        (origin.calls() - 1) as f64,
        "{}",
        metrics.body
    );
    let l1_hits = sample(
        &metrics.body,
        "tiered_cache_gets_total{cache=\"service\",tier=\"l1\",result=\"hit\"}",
    );
    assert_eq!(l1_hits, cache.stats().l1_stats.hits as f64);
    assert!(metrics.body.contains("# HELP tiered_cache_gets_total"));

    // Health: healthy, then degraded (still 200: it serves) with Redis killed, and the routes
    // keep answering.
    let health = request(addr, "GET", "/health").await;
    assert_eq!(health.status, 200);
    assert!(
        health.body.contains("\"status\":\"healthy\""),
        "{}",
        health.body
    );
    redis.kill();
    assert_eq!(product(addr, "/products/7").await, reloaded, "L1 serves");
    let cold = product(addr, "/products/8").await;
    assert_eq!(cold.id, 8, "the origin serves what L1 lacks");
    let health = request(addr, "GET", "/health").await;
    assert_eq!(health.status, 200);
    assert!(
        health.body.contains("\"status\":\"degraded\""),
        "{}",
        health.body
    );
    // Closed: not ready.
    cache.close().await;
    assert_eq!(request(addr, "GET", "/health").await.status, 503);
}
