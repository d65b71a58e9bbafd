//! Credential redaction for anything that prints a Redis URL.

/// Returns `url` with its password (and any `password`-like query value) replaced by `***`.
///
/// `redis://user:secret@host:6379/0` becomes `redis://user:***@host:6379/0`; a URL without
/// credentials comes back unchanged.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    // A password may hold '/' or '@', so the authority ends at the first '/' or '?' after the
    // last '@' that precedes the query.
    let query_start = rest.find('?').unwrap_or(rest.len());
    let search_from = rest[..query_start].rfind('@').map_or(0, |at| at + 1);
    let authority_end = rest[search_from..]
        .find(['/', '?'])
        .map_or(rest.len(), |i| search_from + i);
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (userinfo, host) = authority.split_at(at);
            match userinfo.find(':') {
                Some(colon) => format!("{}:***{host}", &userinfo[..colon]),
                // `redis://secret@host` puts the password where the user usually goes.
                None => format!("***{host}"),
            }
        }
        None => authority.to_owned(),
    };
    format!("{scheme}{authority}{}", redact_query(tail))
}

/// `text` with every secret of `url` (its password, any `password`-like query value) replaced by
/// `***`: for messages from elsewhere (a backend's error) that might quote them.
pub(crate) fn scrub_credentials(text: &str, url: &str) -> String {
    let mut text = text.to_owned();
    let mut secrets = secrets_of(url);
    // Longest first: a secret inside another must not leave the rest of that one showing.
    secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
    for secret in secrets {
        if !secret.is_empty() {
            text = text.replace(secret, "***");
        }
    }
    text
}

/// The password of `url` and its `password`-like query values, as `redact_url` finds them.
fn secrets_of(url: &str) -> Vec<&str> {
    let rest = url.find("://").map_or(url, |i| &url[i + 3..]);
    let query_start = rest.find('?').unwrap_or(rest.len());
    let mut secrets = Vec::new();
    if let Some(at) = rest[..query_start].rfind('@') {
        let userinfo = &rest[..at];
        // `redis://secret@host` puts the password where the user usually goes.
        secrets.push(
            userinfo
                .split_once(':')
                .map_or(userinfo, |(_, password)| password),
        );
    }
    if let Some(query) = rest.get(query_start + 1..) {
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some((name, value)) if name.to_ascii_lowercase().contains("password") => {
                    secrets.push(value);
                }
                _ => {}
            }
        }
    }
    secrets
}

fn redact_query(tail: &str) -> String {
    let Some(q) = tail.find('?') else {
        return tail.to_owned();
    };
    let (path, query) = tail.split_at(q + 1);
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if name.to_ascii_lowercase().contains("password") => {
                format!("{name}=***")
            }
            _ => pair.to_owned(),
        })
        .collect();
    format!("{path}{}", pairs.join("&"))
}

#[cfg(test)]
mod tests {
    use super::{redact_url, scrub_credentials};

    #[test]
    fn scrubs_a_urls_secrets_from_other_text() {
        let url = "redis-sentinel://app:s3cret@h:1?sentinelPassword=t0ps3cret";
        let text = "WRONGPASS for app:s3cret; sentinel said t0ps3cret; s3cret again";
        let out = scrub_credentials(text, url);
        assert!(!out.contains("s3cret") && !out.contains("t0p"), "{out}");
        assert_eq!(
            scrub_credentials("nothing here", "redis://h:1"),
            "nothing here"
        );
        assert_eq!(
            scrub_credentials("bad secret", "redis://secret@h"),
            "bad ***"
        );
    }

    #[test]
    fn hides_passwords_and_keeps_the_rest() {
        assert_eq!(
            redact_url("redis://user:s3cret@127.0.0.1:6379/2"),
            "redis://user:***@127.0.0.1:6379/2"
        );
        assert_eq!(
            redact_url("rediss://:s3cret@cache.internal"),
            "rediss://:***@cache.internal"
        );
        assert_eq!(redact_url("redis://s3cret@host"), "redis://***@host");
        assert_eq!(
            redact_url("redis-sentinel://h:1?node=h2:2&sentinelPassword=s3cret"),
            "redis-sentinel://h:1?node=h2:2&sentinelPassword=***"
        );
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
    }

    #[test]
    fn a_password_containing_at_signs_is_hidden_whole() {
        let out = redact_url("redis://u:p@ss@w0rd@host:1");
        assert!(!out.contains("ss"), "{out}");
        assert!(!out.contains("w0rd"), "{out}");
        let out = redact_url("redis://u:pa/ss@host:1/0");
        assert_eq!(out, "redis://u:***@host:1/0");
    }
}
