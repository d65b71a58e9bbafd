//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// See and act on what Redis holds for a tiered-cache: entries, their state, and the
/// invalidations running instances react to.
#[derive(Debug, Parser)]
#[command(name = "tiered-cache", version, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub connection: Connection,
    #[command(subcommand)]
    pub command: Command,
}

const AFTER_HELP: &str = "\
Connection: --redis-url, then $TIERED_CACHE_REDIS_URL, then $REDIS_URL, then `redis_url` of \
--config, then redis://localhost:6379. Prefix: --key-prefix, then $TIERED_CACHE_KEY_PREFIX, \
then `key_prefix` of --config, then \"tc\".
Exit codes: 0 ok, 1 Redis unreachable / refused / did not take a change, 2 bad arguments or \
configuration, 3 no such entry (inspect), 4 stored bytes not decodable (inspect).";

/// Where the cache's Redis is (flags win over the environment, which wins over the file).
#[derive(Debug, Default, Args)]
pub struct Connection {
    /// Redis URL, as in the cache's `redis_url` (never printed with its password).
    #[arg(long, global = true, value_name = "URL")]
    pub redis_url: Option<String>,
    /// The cache's `key_prefix`: every key the CLI reads or writes starts with `<prefix>:`.
    #[arg(long, global = true, value_name = "PREFIX")]
    pub key_prefix: Option<String>,
    /// A TOML file whose top-level `redis_url` and `key_prefix` are read (other keys ignored).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show one entry: timeline, state now, tags, type, Redis TTL and payload.
    Inspect {
        /// The key, as the application passes it to the cache.
        key: String,
        #[arg(long, short, default_value = "default")]
        namespace: String,
        /// Most payload bytes to dump.
        #[arg(long, default_value_t = 512, value_name = "N")]
        max_bytes: usize,
    },
    /// List a namespace's entries with their state (SCAN, on every primary of a cluster).
    Ls {
        namespace: String,
        /// Stop after N entries (0: no limit).
        #[arg(long, default_value_t = 1000, value_name = "N")]
        limit: usize,
        /// One JSON object per line (JSON Lines) instead of columns.
        #[arg(long)]
        json: bool,
    },
    /// Invalidate one key in Redis and in every running instance (`cache.invalidate`).
    Invalidate {
        key: String,
        #[arg(long, short, default_value = "default")]
        namespace: String,
    },
    /// Clear a namespace (or, with --all, every namespace) in every running instance.
    Clear {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        namespace: Option<String>,
        /// Clear every namespace under the prefix (`cache.clear_all`).
        #[arg(long)]
        all: bool,
    },
    /// Invalidate every entry carrying TAG, in every namespace and instance.
    ClearTag { tag: String },
    /// Key counts and memory per namespace, from a bounded SCAN sample with MEMORY USAGE.
    Stats {
        /// Most keys to sample.
        #[arg(long, default_value_t = 10_000, value_name = "N")]
        sample: usize,
    },
    /// Print each backplane notice as it arrives, one line each, until Ctrl-C.
    Watch,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
