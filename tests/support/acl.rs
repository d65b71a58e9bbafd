//! The least-privilege Redis user every test cache connects as: the README's `ACL SETUSER` line,
//! read from the README itself (so the documented rules are the tested ones), with the test key
//! prefixes (`t_*`) in place of `tc`.

/// The user name of the README's line.
pub const CACHE_USER: &str = "tiered-cache";
/// Its password in test servers.
pub const CACHE_PASSWORD: &str = "test-cache-password";

const README: &str = include_str!("../../README.md");

/// The README's rules, as `redis-server` arguments: `--user tiered-cache on >... ~t_* ...`.
pub fn server_args() -> Vec<String> {
    let line = README
        .lines()
        .find_map(|line| line.trim().strip_prefix("ACL SETUSER "))
        .expect("the README documents an `ACL SETUSER` line");
    let mut words = line.split_whitespace();
    assert_eq!(words.next(), Some(CACHE_USER), "the README's user name");
    let mut args = vec!["--user".to_owned(), CACHE_USER.to_owned()];
    for rule in words {
        args.push(match rule {
            ">PASSWORD" => format!(">{CACHE_PASSWORD}"),
            // Every test prefix (see `support::config`) instead of the README's `tc`.
            "~tc:*" => "~t_*".to_owned(),
            "&tc:#bus" => "&t_*".to_owned(),
            other => {
                assert!(
                    !other.contains("tc:"),
                    "a README rule names the prefix in a form the test harness does not map: {other}"
                );
                other.to_owned()
            }
        });
    }
    args
}

/// `user:password@` for URLs of servers that carry the user.
pub fn credentials() -> String {
    format!("{CACHE_USER}:{CACHE_PASSWORD}@")
}

/// The same URL as the default (all-powerful) user, for test code that plants or inspects
/// bytes the way another program would.
pub fn as_admin(url: &str) -> String {
    url.replacen(&credentials(), "", 1)
}
