//! Runs the service: `cargo run --release -p tiered-cache-axum-service`.
//!
//! Environment: `REDIS_URL` (unset: L1 only), `ADDR` (default `127.0.0.1:3000`),
//! `ORIGIN_DELAY_MS` (default 50), `RUST_LOG` (default `info`).

use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use tiered_cache::CacheConfig;
use tiered_cache_axum_service::{AppState, app, origin};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let delay_ms: u64 = match std::env::var("ORIGIN_DELAY_MS") {
        Ok(text) => text
            .parse()
            .map_err(|_| format!("ORIGIN_DELAY_MS must be a whole number of ms, got {text:?}"))?,
        Err(_) => 50,
    };
    origin(Duration::from_millis(delay_ms));
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());

    let prometheus = PrometheusBuilder::new().install_recorder()?;
    let cache = tiered_cache::init(CacheConfig {
        name: "service".into(),
        redis_url: std::env::var("REDIS_URL").ok(),
        l1_max_size: 100_000,
        ..Default::default()
    })
    .await?;

    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!(%addr, "listening");
    let state = AppState::new(cache.clone(), prometheus)?;
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    cache.close().await;
    Ok(())
}
