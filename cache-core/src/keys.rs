//! Namespaces and keys: what is accepted, and the in-process key that pairs them.
//!
//! A namespace is 1-64 characters of `A-Z a-z 0-9 _ - .`, so the separator after it (`:` in
//! Redis) can never occur inside it and no two (namespace, key) pairs share a stored key.
//! A key is any non-empty UTF-8 string of at most [`MAX_KEY_LEN`] bytes.

use std::hash::{Hash, Hasher};

use crate::error::CacheError;

/// The namespace used when a call names none.
pub const DEFAULT_NAMESPACE: &str = "default";
/// Longest accepted namespace, in bytes.
pub const MAX_NAMESPACE_LEN: usize = 64;
/// Longest accepted key, in bytes.
pub const MAX_KEY_LEN: usize = 4096;

const fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// `NAME_BYTES[b]` is true for the bytes a namespace may hold (checked on every call, so a
/// table lookup per byte rather than UTF-8 decoding).
static NAME_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = is_name_char(b as u8 as char);
        b += 1;
    }
    table
};

/// Checks a namespace.
///
/// # Errors
/// [`CacheError::InvalidNamespace`] when it is empty, too long, or has other characters.
pub fn validate_namespace(namespace: &str) -> Result<(), CacheError> {
    let reason = if namespace == DEFAULT_NAMESPACE {
        return Ok(());
    } else if namespace.is_empty() {
        "must not be empty"
    } else if namespace.len() > MAX_NAMESPACE_LEN {
        "must be at most 64 bytes"
    } else if !namespace.bytes().all(|b| NAME_BYTES[usize::from(b)]) {
        "may contain only A-Z, a-z, 0-9, '_', '-' and '.'"
    } else {
        return Ok(());
    };
    Err(CacheError::InvalidNamespace {
        namespace: truncate(namespace),
        reason,
    })
}

/// Checks a key.
///
/// # Errors
/// [`CacheError::InvalidKey`] when it is empty or longer than [`MAX_KEY_LEN`] bytes.
pub fn validate_key(key: &str) -> Result<(), CacheError> {
    let reason = if key.is_empty() {
        "must not be empty"
    } else if key.len() > MAX_KEY_LEN {
        "must be at most 4096 bytes"
    } else {
        return Ok(());
    };
    Err(CacheError::InvalidKey {
        key: truncate(key),
        reason,
    })
}

/// Checks a (namespace, key) pair.
///
/// # Errors
/// See [`validate_namespace`] and [`validate_key`].
pub fn validate_pair(pair: KeyRef<'_>) -> Result<(), CacheError> {
    validate_namespace(pair.namespace)?;
    validate_key(pair.key)
}

/// Checks the Redis key prefix of a config; the reason is for a `ConfigError`.
pub(crate) fn validate_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() || prefix.len() > MAX_NAMESPACE_LEN {
        return Err(format!(
            "must be 1 to 64 bytes long, got {} bytes",
            prefix.len()
        ));
    }
    if !prefix.chars().all(is_name_char) {
        return Err(format!(
            "may contain only A-Z, a-z, 0-9, '_', '-' and '.', got `{}`",
            // Redacted before truncated: a URL put here by mistake must not show its password.
            truncate(&crate::redact::redact_url(prefix))
        ));
    }
    Ok(())
}

fn truncate(s: &str) -> String {
    const SHOWN: usize = 80;
    if s.len() <= SHOWN {
        return s.to_owned();
    }
    let mut end = SHOWN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// An owned (namespace, key) pair, stored as one allocation.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct EntryKey {
    joined: Box<str>,
    namespace_len: usize,
}

impl EntryKey {
    pub(crate) fn new(namespace: &str, key: &str) -> Self {
        let mut joined = String::with_capacity(namespace.len() + key.len());
        joined.push_str(namespace);
        joined.push_str(key);
        EntryKey {
            joined: joined.into_boxed_str(),
            namespace_len: namespace.len(),
        }
    }

    #[inline]
    pub(crate) fn namespace(&self) -> &str {
        &self.joined[..self.namespace_len]
    }

    #[inline]
    pub(crate) fn key(&self) -> &str {
        &self.joined[self.namespace_len..]
    }

    pub(crate) fn as_ref(&self) -> KeyRef<'_> {
        KeyRef {
            namespace: self.namespace(),
            key: self.key(),
        }
    }
}

impl std::fmt::Debug for EntryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace(), self.key())
    }
}

impl Hash for EntryKey {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_ref().hash(state);
    }
}

/// A borrowed (namespace, key) pair; looks entries up without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRef<'a> {
    /// The namespace.
    pub namespace: &'a str,
    /// The key within it.
    pub key: &'a str,
}

impl Hash for KeyRef<'_> {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Namespaces never contain 0xFF (not UTF-8), so the boundary is unambiguous.
        state.write(self.namespace.as_bytes());
        state.write_u8(0xFF);
        state.write(self.key.as_bytes());
    }
}

impl quick_cache::Equivalent<EntryKey> for KeyRef<'_> {
    #[inline]
    fn equivalent(&self, key: &EntryKey) -> bool {
        key.namespace_len == self.namespace.len()
            && key.namespace() == self.namespace
            && key.key() == self.key
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn namespaces_are_checked() {
        assert!(validate_namespace("users").is_ok());
        assert!(validate_namespace("api.v2_users-eu").is_ok());
        for bad in ["", "a:b", "a b", "{tag}", "ü", &"x".repeat(65)] {
            assert!(
                validate_namespace(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn keys_are_checked() {
        assert!(validate_key("user:123").is_ok());
        assert!(validate_key("{weird} key: with spaces").is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key(&"k".repeat(MAX_KEY_LEN + 1)).is_err());
    }

    #[test]
    fn pairs_that_join_to_the_same_text_stay_distinct() {
        let a = EntryKey::new("ab", "c");
        let b = EntryKey::new("a", "bc");
        assert_ne!(a, b);
        let hasher = std::collections::hash_map::RandomState::new();
        assert_ne!(hasher.hash_one(&a), hasher.hash_one(&b));
    }

    #[test]
    fn owned_and_borrowed_keys_agree() {
        let owned = EntryKey::new("users", "user:1");
        let borrowed = KeyRef {
            namespace: "users",
            key: "user:1",
        };
        let hasher = std::collections::hash_map::RandomState::new();
        assert_eq!(hasher.hash_one(&owned), hasher.hash_one(borrowed));
        assert!(quick_cache::Equivalent::equivalent(&borrowed, &owned));
        assert!(!quick_cache::Equivalent::equivalent(
            &KeyRef {
                namespace: "user",
                key: "suser:1"
            },
            &owned
        ));
    }

    #[test]
    fn long_names_are_truncated_in_errors() {
        let err = validate_key(&"k".repeat(5000)).expect_err("too long");
        assert!(err.to_string().len() < 200);
    }
}
