//! What the cache checks about the Redis it connects to: settings under which Redis would drop
//! data the cache relies on for correctness. Read with `INFO memory` (read-only, and it never
//! shows a secret, unlike `CONFIG GET`); a user without the permission skips the check.

use fred::clients::Client;
use fred::interfaces::ClientLike;
use fred::types::InfoKind;

/// Reads the server's memory settings and returns the warnings they call for (logged once
/// here, kept for `health_check`). Never fails: an unreadable answer means no warning.
pub(crate) async fn check(client: &Client, endpoint: &str) -> Vec<String> {
    let info: String = match client.info(Some(InfoKind::Memory)).await {
        Ok(info) => info,
        Err(error) => {
            tracing::debug!(%error, "could not read Redis's maxmemory-policy; not checked");
            return Vec::new();
        }
    };
    let warnings = warnings(&info);
    for warning in &warnings {
        tracing::warn!(backend = %endpoint, "{warning}");
    }
    warnings
}

/// The warnings an `INFO memory` answer calls for.
pub(crate) fn warnings(info: &str) -> Vec<String> {
    let field = |name: &str| {
        info.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    };
    let mut out = Vec::new();
    if let Some(policy) = field("maxmemory_policy").filter(|p| p.starts_with("allkeys-")) {
        out.push(format!(
            "Redis's maxmemory-policy is {policy}: at maxmemory Redis may evict this cache's \
             clear and tag marks (they have no TTL), and a clear or tag invalidation not yet \
             seen by an instance is then forgotten, so it can serve the old values until their \
             ttl; use volatile-lru, volatile-lfu or noeviction"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::warnings;

    #[test]
    fn an_allkeys_policy_is_named_in_the_warning() {
        let info =
            "# Memory\r\nused_memory:1000\r\nmaxmemory:0\r\nmaxmemory_policy:allkeys-lru\r\n";
        let found = warnings(info);
        assert_eq!(found.len(), 1);
        assert!(found[0].contains("allkeys-lru"), "{found:?}");
    }

    #[test]
    fn volatile_and_noeviction_policies_are_fine() {
        for policy in ["volatile-lru", "volatile-lfu", "volatile-ttl", "noeviction"] {
            let info = format!("# Memory\r\nmaxmemory_policy:{policy}\r\n");
            assert!(warnings(&info).is_empty(), "{policy}");
        }
    }

    #[test]
    fn an_answer_without_the_field_warns_of_nothing() {
        assert!(warnings("").is_empty());
        assert!(warnings("maxmemory_policy_x:allkeys-lru\r\n").is_empty());
    }
}
