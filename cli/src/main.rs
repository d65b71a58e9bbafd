//! `tiered-cache`: the operator CLI of tiered-cache. See `--help` and the README's "Operator
//! CLI" section.
#![forbid(unsafe_code)]

mod args;
mod cmd;
mod config;
mod error;
mod output;
mod payload;
mod redis;
mod timefmt;
mod view;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::cmd::write::Change;
use crate::error::CliError;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| CliError::failure(format!("cannot start the async runtime: {error}")))
        .and_then(|runtime| runtime.block_on(run(cli)));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if !error.message.is_empty() {
                output::note(&format!("error: {}", error.message));
            }
            ExitCode::from(error.exit as u8)
        }
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let config = config::resolve(&cli.connection, env_vars())?;
    let url = config.redis_url.clone();
    dispatch(&config, &cli.command)
        .await
        .map_err(|error| error.scrubbed(url.as_deref()))
}

async fn dispatch(config: &tiered_cache::CacheConfig, command: &Command) -> Result<(), CliError> {
    match command {
        Command::Inspect {
            key,
            namespace,
            max_bytes,
        } => cmd::inspect::run(config, namespace, key, *max_bytes).await,
        Command::Ls {
            namespace,
            limit,
            json,
        } => cmd::ls::run(config, namespace, *limit, *json).await,
        Command::Invalidate { key, namespace } => {
            cmd::write::run(config, Change::Invalidate { namespace, key }).await
        }
        Command::Clear {
            namespace: Some(namespace),
            ..
        } => cmd::write::run(config, Change::ClearNamespace(namespace)).await,
        Command::Clear {
            namespace: None, ..
        } => cmd::write::run(config, Change::ClearAll).await,
        Command::ClearTag { tag } => cmd::write::run(config, Change::Tag(tag)).await,
        Command::Stats { sample } => cmd::stats::run(config, *sample).await,
        Command::Watch => cmd::watch::run(config).await,
    }
}

/// The process environment as text; a variable whose name or value is not UTF-8 cannot be one
/// of the cache's, and is left out.
fn env_vars() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
        .collect()
}
