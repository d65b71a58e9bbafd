//! Keys read back into their values: template keys by splitting at separators, default keys by
//! being distinct for distinct values.
use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde::Serialize;

use super::{Key, KeyArg};

/// A template as the macro sees it: literal texts around the placeholders (`texts.len()` is one
/// more than the number of placeholders), and the separator set the macro computes for it.
struct Template {
    texts: &'static [&'static str],
    separators: &'static str,
}

/// `"{tenant}:{id}"` and the others the tests use; `cache-macros` checks it computes the same
/// separator sets (`key::tests::separators_are_the_first_character_after_each_placeholder`).
const TENANT_ID: Template = Template {
    texts: &["", ":", ""],
    separators: ":",
};
const PREFIXED: Template = Template {
    texts: &["tenant:", ":", ""],
    separators: ":",
};
const MIXED: Template = Template {
    texts: &["", "-x-", ":", ""],
    separators: "-:",
};
const TRAILING: Template = Template {
    texts: &["geo:{", "}"],
    separators: "}",
};
const NON_ASCII: Template = Template {
    texts: &["", "é", ""],
    separators: "é",
};

impl Template {
    /// The key an expansion builds for `values`.
    fn key(&self, values: &[&str]) -> String {
        let mut key = Key::start(self.texts[0], 0);
        for (value, text) in values.iter().zip(&self.texts[1..]) {
            key.push_display(value, self.separators);
            key.push_str(text);
        }
        key.finish()
    }

    /// Reads a key back, left to right: each value ends at the first character of the text
    /// after it. `None` when the key does not fit the template.
    fn parse(&self, key: &str) -> Option<Vec<String>> {
        let mut rest = key.strip_prefix(self.texts[0])?;
        let mut values = Vec::new();
        for text in &self.texts[1..] {
            let end = match text.chars().next() {
                Some(first) => rest.find(first)?,
                None => rest.len(),
            };
            values.push(percent_decode(&rest[..end])?);
            rest = rest[end..].strip_prefix(text)?;
        }
        rest.is_empty().then_some(values)
    }
}

fn percent_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::new();
    let mut rest = text.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(byte);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

/// Every string of up to `len` characters from `alphabet`.
fn strings(alphabet: &[char], len: usize) -> Vec<String> {
    let mut all = vec![String::new()];
    let mut last = vec![String::new()];
    for _ in 0..len {
        last = last
            .iter()
            .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
            .collect();
        all.extend(last.iter().cloned());
    }
    all
}

/// Every tuple of `n` values from `values`.
fn tuples(values: &[String], n: usize) -> Vec<Vec<&str>> {
    let mut all: Vec<Vec<&str>> = vec![Vec::new()];
    for _ in 0..n {
        all = all
            .iter()
            .flat_map(|t| {
                values.iter().map(move |v| {
                    let mut t = t.clone();
                    t.push(v.as_str());
                    t
                })
            })
            .collect();
    }
    all
}

#[test]
fn values_are_percent_escaped_and_the_rest_copied() {
    assert_eq!(TENANT_ID.key(&["acme", "42"]), "acme:42");
    assert_eq!(TENANT_ID.key(&["a:b", "c"]), "a%3Ab:c");
    assert_eq!(TENANT_ID.key(&["a", "b:c"]), "a:b%3Ac");
    assert_eq!(PREFIXED.key(&["a:b", "c"]), "tenant:a%3Ab:c");
    assert_eq!(TENANT_ID.key(&["100%", "%3A"]), "100%25:%253A");
    assert_eq!(NON_ASCII.key(&["café", "x"]), "caf%C3%A9éx");
    assert_eq!(MIXED.key(&["a-b", "x:y", "-"]), "a%2Db-x-x%3Ay:%2D");
    // Only the separators and `%`: other punctuation stays readable.
    assert_eq!(TRAILING.key(&["::1/128"]), "geo:{::1/128}");
    assert_eq!(TRAILING.key(&["}"]), "geo:{%7D}");
}

#[test]
fn format_specs_and_generic_parameters() {
    let mut key = Key::start("n:", 0);
    key.push_fmt(format_args!("{:>4}", "a:"), ":");
    key.push_str(":");
    key.push_unescaped(format_args!("{}", "x:%"));
    assert_eq!(key.finish(), "n:  a%3A:x:%");
}

#[test]
fn regression_template_values_with_separators_do_not_collide() {
    // With values joined unescaped, ("a:b", "c") and ("a", "b:c") were one key.
    assert_ne!(TENANT_ID.key(&["a:b", "c"]), TENANT_ID.key(&["a", "b:c"]));
    let alphabet = ['a', ':', '%', '3', 'A', '-', 'x', '}', 'é'];
    for template in [&TENANT_ID, &PREFIXED, &MIXED, &TRAILING, &NON_ASCII] {
        let holes = template.texts.len() - 1;
        let values = strings(&alphabet, if holes > 2 { 1 } else { 2 });
        let all = tuples(&values, holes);
        let mut keys = HashSet::new();
        let mut naive = HashSet::new();
        for values in &all {
            let key = template.key(values);
            let parsed = template.parse(&key);
            let expected: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
            assert_eq!(parsed, Some(expected), "{key}");
            assert!(keys.insert(key), "{values:?}");
            let mut joined = template.texts[0].to_owned();
            for (value, text) in values.iter().zip(&template.texts[1..]) {
                joined.push_str(value);
                joined.push_str(text);
            }
            naive.insert(joined);
        }
        // The inputs are hard enough: joined without escaping, some of them collide (a single
        // value cannot collide with anything).
        assert!(holes < 2 || naive.len() < all.len(), "{:?}", template.texts);
    }
}

/// A `Display` that breaks its contract.
struct Failing;

impl fmt::Display for Failing {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        Err(fmt::Error)
    }
}

#[test]
fn a_failing_display_gives_the_empty_key_the_cache_refuses() {
    let mut key = Key::start("user:", 0);
    key.push_display(&Failing, ":");
    key.push_str(":7");
    assert_eq!(key.finish(), "");
}

fn arg<T: KeyArg + ?Sized>(value: &T) -> String {
    let mut key = Key::start("", 0);
    value.write_key(&mut key);
    key.finish()
}

#[derive(Serialize)]
struct Filter {
    table: &'static str,
    limit: Option<u32>,
}

#[derive(Serialize)]
struct UserId(u64);

#[derive(Serialize)]
struct Pair(i8, bool);

#[derive(Serialize)]
struct Unit;

#[derive(Serialize)]
enum Order {
    Newest,
    Page(u32),
    Range(u32, u32),
    Since { day: u16 },
}

struct Bytes(&'static [u8]);

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

struct Refuses;

impl Serialize for Refuses {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(Failing))
    }
}

#[test]
fn arguments_are_written_readably() {
    assert_eq!(arg(&42_u64), "42");
    assert_eq!(arg(&-7_i128), "-7");
    assert_eq!(arg(&1.5_f64), "1.5");
    assert_eq!(arg(&true), "true");
    assert_eq!(arg("a\"b\\c"), r#""a\"b\\c""#);
    assert_eq!(arg(&'\''), r"'\''");
    assert_eq!(arg(&None::<u8>), "None");
    assert_eq!(arg(&Some("x")), r#"Some("x")"#);
    assert_eq!(arg(&()), "None");
    assert_eq!(arg(&[1, 2][..]), "[1,2]");
    assert_eq!(arg(&(1, "a")), r#"(1,"a")"#);
    let map = BTreeMap::from([("k", 1), ("l", 2)]);
    assert_eq!(arg(&map), r#"{"k":1,"l":2}"#);
    let filter = Filter {
        table: "orders",
        limit: Some(3),
    };
    assert_eq!(arg(&filter), r#"Filter{table:"orders",limit:Some(3)}"#);
    assert_eq!(arg(&UserId(7)), "UserId(7)");
    assert_eq!(arg(&Pair(-1, false)), "Pair(-1,false)");
    assert_eq!(arg(&Unit), "Unit");
    assert_eq!(arg(&Order::Newest), "Newest");
    assert_eq!(arg(&Order::Page(2)), "Page(2)");
    assert_eq!(arg(&Order::Range(1, 9)), "Range(1,9)");
    assert_eq!(arg(&Order::Since { day: 3 }), "Since{day:3}");
    assert_eq!(arg(&Bytes(&[0, 255])), "[0,255]");
    let ip: std::net::IpAddr = [127, 0, 0, 1].into();
    assert_eq!(arg(&ip), r#""127.0.0.1""#);
}

#[test]
fn a_failing_serialize_gives_the_empty_key_the_cache_refuses() {
    assert_eq!(arg(&Refuses), "");
    assert_eq!(arg(&(1, Refuses)), "");
}

#[test]
fn distinct_arguments_are_written_distinctly() {
    let alphabet = ['a', '"', '\\', ',', '(', ')', ':'];
    let values = strings(&alphabet, 2);
    let mut seen = HashSet::new();
    for pair in tuples(&values, 2) {
        assert!(seen.insert(arg(&(pair[0], pair[1]))), "{pair:?}");
    }
    let mut seen = HashSet::new();
    for list in tuples(&values, 2).iter().chain(tuples(&values, 1).iter()) {
        assert!(seen.insert(arg(list)), "{list:?}");
    }
    let nested = [None, Some(None), Some(Some(()))];
    let written: HashSet<String> = nested.iter().map(arg).collect();
    assert_eq!(written.len(), nested.len());
}
