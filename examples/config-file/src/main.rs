//! The cache's config from a TOML file and then the environment, through `figment`:
//!
//! ```sh
//! cargo run -p tiered-cache-config-example                  # examples/config-file/cache.toml, L1 only
//! TIERED_CACHE_L2_TTL=90s TIERED_CACHE_L1_MAX_SIZE=50 cargo run -p tiered-cache-config-example
//! REDIS_URL=redis://127.0.0.1:6380 cargo run -p tiered-cache-config-example -- path/to/cache.toml
//! ```
//!
//! Precedence: the defaults < the file < `REDIS_URL` < `TIERED_CACHE_<FIELD>`. Without a config
//! crate the same is `toml::from_str::<CacheConfig>(&text)?.with_env()?`.

use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use tiered_cache::{CacheConfig, TieredCache};

const DEFAULT_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/cache.toml");

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // The messages (`Display`), which name the field or variable and redact passwords.
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| DEFAULT_FILE.to_owned());
    let config: CacheConfig = Figment::new()
        // `file_exact`: a missing file is an error, not an empty config.
        .merge(Toml::file_exact(&path))
        .merge(Env::raw().only(&["redis_url"]))
        // Keys are lower-cased: TIERED_CACHE_L2_TTL sets `l2_ttl`. A TIERED_CACHE_ variable that
        // names no field fails, as an unknown key in the file does.
        .merge(Env::prefixed(CacheConfig::ENV_PREFIX))
        .extract()?;
    // `Debug` redacts the password of redis_url.
    println!("config from {path} and the environment:\n{config:#?}");

    let cache = TieredCache::new(config).await?;
    cache
        .set("greeting", &"hello".to_owned())
        .ttl(Duration::from_secs(60))
        .await?;
    let greeting: Option<String> = cache.get("greeting").await?;
    println!("get greeting -> {greeting:?}");
    println!("health: {:?}", cache.health_check().await.status);
    cache.close().await;
    Ok(())
}
