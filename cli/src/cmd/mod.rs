//! One module per subcommand.

pub mod inspect;
pub mod ls;
pub mod stats;
pub mod watch;
pub mod write;

use tiered_cache::engine::keys;

use crate::error::CliError;

/// Checks a namespace the way the library does, as a usage error.
pub fn check_namespace(namespace: &str) -> Result<(), CliError> {
    keys::validate_namespace(namespace).map_err(|error| CliError::usage(error.to_string()))
}

/// Checks a key the way the library does, as a usage error.
pub fn check_key(key: &str) -> Result<(), CliError> {
    keys::validate_key(key).map_err(|error| CliError::usage(error.to_string()))
}
