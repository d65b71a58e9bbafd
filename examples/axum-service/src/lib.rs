//! An axum 0.8 service on tiered-cache, as a team would write one.
//!
//! - `GET /products/{id}`: a `#[cached]` function over a slow origin (the global cache).
//! - `GET /products/{id}/uncached`: the same function's `_no_cache` companion, for comparison.
//! - `GET /prices/{id}`: the programmatic API, with the cache in the app state.
//! - `POST /admin/invalidate/{id}`: drops product `id` and its price from both tiers, on every
//!   instance (the backplane).
//! - `GET /health`: the cache's [`HealthReport`] as JSON: 200 while it can serve (`healthy`, or
//!   `degraded`: Redis down, serving from L1 and the origin), 503 once it is closed.
//! - `GET /metrics`: Prometheus text, the cache's series published at each scrape.
//!
//! [`app`] builds the router, so tests can serve it on a loopback port; `main.rs` runs it.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::{Deserialize, Serialize};
use tiered_cache::{CacheError, HealthReport, LoadError, Namespace, TieredCache, cached};

/// A product, as the origin returns it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Product {
    /// Its id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// Which version of the product the origin served (changes on every origin read).
    pub version: u64,
}

/// A price, as the origin returns it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Price {
    /// The product's id.
    pub id: u64,
    /// Cents.
    pub cents: u64,
}

/// The deliberately slow origin (a database, say): every call sleeps `delay` and is counted.
#[derive(Debug)]
pub struct Origin {
    delay: Duration,
    calls: AtomicU64,
}

impl Origin {
    /// How many times the origin was called.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    async fn read(&self) -> u64 {
        let n = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        tokio::time::sleep(self.delay).await;
        n
    }
}

static ORIGIN: OnceLock<Origin> = OnceLock::new();

/// The process's origin, created with `delay` on first use (later calls keep the first delay).
pub fn origin(delay: Duration) -> &'static Origin {
    ORIGIN.get_or_init(|| Origin {
        delay,
        calls: AtomicU64::new(0),
    })
}

fn the_origin() -> &'static Origin {
    origin(Duration::from_millis(50))
}

/// What the origin can fail with. `Clone` because a `#[cached]` function's error is handed to
/// every caller that waited for the same load.
#[derive(Clone, Debug, thiserror::Error)]
pub enum AppError {
    /// No such product.
    #[error("product {0} not found")]
    NotFound(u64),
    /// The cache refused the call (closed, or an invalid key).
    #[error("cache: {0}")]
    Cache(#[from] CacheError),
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = match self {
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Cache(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        (status, self.to_string()).into_response()
    }
}

/// Products with an id above this do not exist (so the cache's handling of errors shows too).
pub const LAST_PRODUCT: u64 = 1_000_000;

/// Product `id`, through the global cache: 60 s ttl, the last 10 s of it stale (served at once
/// while one background refresh runs).
#[cached(key = "product:{id}", ttl = 60, stale = 10, namespace = "products")]
pub async fn product(id: u64) -> Result<Product, AppError> {
    // The origin is asked even for a product it does not have (that is how it knows).
    let version = the_origin().read().await;
    if id > LAST_PRODUCT {
        return Err(AppError::NotFound(id));
    }
    Ok(Product {
        id,
        name: format!("product {id}"),
        version,
    })
}

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The cache `#[cached]` functions use too (`tiered_cache::init` returned it).
    pub cache: TieredCache,
    /// Its `prices` namespace (a handle: no call through it can forget the namespace).
    pub prices: Namespace,
    /// Renders the Prometheus exposition.
    pub prometheus: PrometheusHandle,
}

impl AppState {
    /// The state of a service on `cache`.
    ///
    /// # Errors
    /// None in practice: the namespace names are valid.
    pub fn new(cache: TieredCache, prometheus: PrometheusHandle) -> Result<Self, CacheError> {
        Ok(AppState {
            prices: cache.namespace("prices")?,
            cache,
            prometheus,
        })
    }
}

/// The service's routes.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/products/{id}", get(get_product))
        .route("/products/{id}/uncached", get(get_product_uncached))
        .route("/prices/{id}", get(get_price))
        .route("/admin/invalidate/{id}", post(invalidate))
        .route("/health", get(health))
        .route("/metrics", get(render_metrics))
        .with_state(state)
}

async fn get_product(Path(id): Path<u64>) -> Result<Json<Product>, AppError> {
    Ok(Json(product(id).await?))
}

async fn get_product_uncached(Path(id): Path<u64>) -> Result<Json<Product>, AppError> {
    Ok(Json(product_no_cache(id).await?))
}

async fn get_price(
    State(state): State<AppState>,
    Path(id): Path<u64>,
) -> Result<Json<Price>, AppError> {
    let price = state
        .prices
        .get(&format!("price:{id}"))
        .refresh_with(move || async move {
            let version = the_origin().read().await;
            Ok::<_, AppError>(Price {
                id,
                cents: 100 * id + version % 100,
            })
        })
        .ttl(Duration::from_secs(30))
        .await
        .map_err(LoadError::into_error)?;
    Ok(Json(price))
}

async fn invalidate(
    State(state): State<AppState>,
    Path(id): Path<u64>,
) -> Result<StatusCode, AppError> {
    product_invalidate(id).await?;
    state.prices.invalidate(&format!("price:{id}")).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Readiness: a degraded cache (Redis down) still serves from L1 and the origin, so it stays
/// ready; taking every instance out of the load balancer when Redis dies would turn a cache
/// outage into a service outage. Only a closed cache is not ready.
async fn health(State(state): State<AppState>) -> (StatusCode, Json<HealthReport>) {
    let report = state.cache.health_check().await;
    let status = if report.status == "closed" {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (status, Json(report))
}

async fn render_metrics(State(state): State<AppState>) -> String {
    tiered_cache::metrics::publish(&state.cache);
    state.prometheus.render()
}
