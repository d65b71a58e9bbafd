//! How the CLI fails: a message for stderr and an exit code that scripts can tell apart.

use std::fmt;

/// Exit codes (documented in the README's "Operator CLI" section and in `--help`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Not a failure: the command stopped early on purpose (its output pipe was closed).
    Success = 0,
    /// Redis was unreachable, refused a command, or did not take a change.
    Failure = 1,
    /// Bad arguments or configuration (clap uses 2 for its own usage errors too).
    Usage = 2,
    /// `inspect`: no entry under that key.
    NotFound = 3,
    /// `inspect`: the stored bytes are not an entry this build can read.
    Undecodable = 4,
}

/// A failure to report.
#[derive(Debug)]
pub struct CliError {
    pub exit: Exit,
    pub message: String,
}

impl CliError {
    pub fn failure(message: impl Into<String>) -> Self {
        CliError {
            exit: Exit::Failure,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            exit: Exit::Usage,
            message: message.into(),
        }
    }

    pub fn with_exit(exit: Exit, message: impl Into<String>) -> Self {
        CliError {
            exit,
            message: message.into(),
        }
    }

    /// Stdout was closed by its reader (`| head`): stop without a message, successfully.
    pub fn pipe_closed() -> Self {
        CliError {
            exit: Exit::Success,
            message: String::new(),
        }
    }

    /// A Redis command that failed, with a hint when the Redis user lacks a permission.
    pub fn redis(doing: &str, error: &fred::error::Error) -> Self {
        let mut message = format!("{doing}: {error}");
        if error.details().contains("NOPERM") {
            message.push_str(
                "\nhint: the Redis user lacks a permission the CLI needs: the cache's own rules \
                 plus `+scan +pttl +getrange +memory|usage` (see the README, \"Operator CLI\")",
            );
        }
        CliError::failure(message)
    }

    /// The same error with every trace of the Redis password of `url` removed: the CLI's own
    /// messages show URLs through `redact_url`, and this catches any other text (a driver's
    /// error) that might echo it.
    pub fn scrubbed(mut self, url: Option<&str>) -> Self {
        if let Some(url) = url {
            self.message = scrub(&self.message, url);
        }
        self
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// `text` with `url` redacted and its secrets (the userinfo password, `*password*=` query
/// values) replaced by `***`.
pub fn scrub(text: &str, url: &str) -> String {
    let mut out = text.replace(url, &tiered_cache::redact_url(url));
    for secret in secrets(url) {
        // Very short secrets would mangle every message; they are still kept out of the URL
        // form above.
        if secret.len() >= 3 {
            out = out.replace(secret, "***");
        }
    }
    out
}

fn secrets(url: &str) -> Vec<&str> {
    let Some((_, rest)) = url.split_once("://") else {
        return Vec::new();
    };
    let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut found = Vec::new();
    if let Some(at) = authority.rfind('@') {
        let userinfo = &authority[..at];
        found.push(
            userinfo
                .split_once(':')
                .map_or(userinfo, |(_, password)| password),
        );
    }
    for pair in query.split('&') {
        if let Some((name, value)) = pair.split_once('=') {
            if name.to_ascii_lowercase().contains("password") {
                found.push(value);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubbing_removes_passwords_wherever_they_appear() {
        let url = "redis://ops:s3cr3t@10.0.0.1:6379/0?sentinelPassword=hunter22";
        let text = format!("failed on {url}: WRONGPASS for s3cr3t (hunter22)");
        let clean = scrub(&text, url);
        assert!(!clean.contains("s3cr3t"), "{clean}");
        assert!(!clean.contains("hunter22"), "{clean}");
        assert!(clean.contains("redis://ops:***@10.0.0.1:6379/0"), "{clean}");
    }

    #[test]
    fn urls_without_credentials_change_nothing() {
        let url = "redis://127.0.0.1:6379";
        assert_eq!(
            scrub("error at redis://127.0.0.1:6379", url),
            "error at redis://127.0.0.1:6379"
        );
    }
}
