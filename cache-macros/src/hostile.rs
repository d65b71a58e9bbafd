//! Hostile input for the macro's parsers: any string as a key template, and token soup built
//! from the attribute's own vocabulary as its options (then the whole macro, on a few function
//! shapes). Every input gives tokens or a spanned error; nothing panics (a panic in a proc
//! macro is an unhelpful compile error at the attribute). `PROPTEST_CASES` sets the run length.

use std::str::FromStr;

use proc_macro2::{Span, TokenStream};
use proptest::prelude::*;

use crate::key::Template;

fn cases() -> ProptestConfig {
    ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(2_000),
    )
}

/// Words and marks of the attribute language, plus a few strangers.
const VOCABULARY: &[&str] = &[
    "key",
    "ttl",
    "namespace",
    "stale",
    "refresh",
    "cache",
    "crate",
    "cache_none",
    "cache_err",
    "in_impl",
    "in_trait_impl",
    "max_size",
    "with_cached_flag",
    "=",
    ",",
    "300",
    "0",
    "-1",
    "1.5",
    "18446744073709551616",
    "true",
    "false",
    "\"p:{id}\"",
    "\"{id}{id}\"",
    "\"{\"",
    "\"}\"",
    "\"{self.x}\"",
    "\"{id:?}\"",
    "\"\"",
    "Duration::from_millis(5)",
    "std::time::Duration::MAX",
    "CACHE",
    "self.cache",
    "::",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "#",
    "'a",
    "b\"x\"",
    "'c'",
    "key2",
    "ttl_ms",
    "r#key",
    "-",
];

fn soup() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(VOCABULARY), 0..12)
        .prop_map(|words| words.join(" "))
}

const FUNCTIONS: &[&str] = &[
    "async fn f(id: u64) -> u64 { id }",
    "async fn f(&self, id: u64) -> Option<String> { None }",
    "async fn f<T: Clone>(x: T) -> Result<u8, String> { Ok(1) }",
    "fn f(id: u64) -> u64 { id }",
    "async fn f(id: &str, (a, b): (u8, u8)) { }",
    "async fn f(&self, mut id: u64, s: &str) -> u64 { self.g(|| self::h(self)); fn i(&self) {} id }",
    "pub async fn f(n: u64) -> std::io::Result<u64> { Box::pin(f(n - 1)).await }",
];

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn any_key_template_parses_or_is_a_keyed_error(text in "\\PC{0,40}|[{}a-z.:?0-9 ]{0,40}") {
        let lit = syn::LitStr::new(&text, Span::call_site());
        if let Err(error) = Template::parse(&lit) {
            prop_assert!(error.to_string().starts_with("#[cached(key)]"), "{error}");
        }
    }

    #[test]
    fn any_option_soup_parses_or_is_an_error(words in soup()) {
        if let Ok(tokens) = TokenStream::from_str(&words) {
            let _ = syn::parse2::<crate::attr::Args>(tokens);
        }
    }

    #[test]
    fn the_macro_never_panics(words in soup(), function in proptest::sample::select(FUNCTIONS)) {
        let (Ok(attr), Ok(item)) = (TokenStream::from_str(&words), TokenStream::from_str(function))
        else {
            return Ok(());
        };
        let out = crate::expand_cached(attr, item).to_string();
        prop_assert!(!out.is_empty());
    }
}
