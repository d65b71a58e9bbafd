//! Expansion snapshots: every `tests/snapshots/<case>.rs` is expanded (each `#[cached]` item,
//! free or in an `impl`), pretty-printed with `prettyplease`, and compared with
//! `tests/snapshots/<case>.expanded.rs`. `UPDATE_SNAPSHOTS=1 cargo test -p tiered-cache-macros`
//! rewrites the expected files; review the diff like any other code change.
//!
//! Documentation shows expansions too: a block between `<!-- expansion:<case> -->` and
//! `<!-- /expansion -->` in the README must hold that case's snapshot, and
//! `UPDATE_SNAPSHOTS=1` rewrites it, so the listing a reader sees cannot drift from the macro.

use std::path::{Path, PathBuf};

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::parse::{ParseStream, Parser};
use syn::{Attribute, ImplItem, Item};

use crate::expand_cached;

const HEADER: &str = "// The expansion of the file of the same name without `.expanded`, as `cargo expand` shows it.\n\
// Regenerate with `UPDATE_SNAPSHOTS=1 cargo test -p tiered-cache-macros snapshots`.\n\n";

fn snapshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots")
}

/// Splits `#[cached(...)]` off `attrs`, returning its arguments.
fn take_cached(attrs: &mut Vec<Attribute>) -> Option<TokenStream> {
    let at = attrs.iter().position(|a| a.path().is_ident("cached"))?;
    let attr = attrs.remove(at);
    Some(match attr.meta {
        syn::Meta::List(list) => list.tokens,
        _ => TokenStream::new(),
    })
}

fn expand_items(items: Vec<Item>) -> Vec<Item> {
    let mut out = Vec::new();
    for item in items {
        match item {
            Item::Fn(mut func) => match take_cached(&mut func.attrs) {
                Some(args) => {
                    let expanded = expand_cached(args, func.into_token_stream());
                    let file: syn::File = syn::parse2(expanded).expect("expansion parses as items");
                    out.extend(file.items);
                }
                None => out.push(Item::Fn(func)),
            },
            Item::Impl(mut block) => {
                block.items = expand_impl_items(std::mem::take(&mut block.items));
                out.push(Item::Impl(block));
            }
            other => out.push(other),
        }
    }
    out
}

fn expand_impl_items(items: Vec<ImplItem>) -> Vec<ImplItem> {
    let parse_items = |input: ParseStream| {
        let mut items = Vec::new();
        while !input.is_empty() {
            items.push(input.parse::<ImplItem>()?);
        }
        Ok(items)
    };
    let mut out = Vec::new();
    for item in items {
        match item {
            ImplItem::Fn(mut func) => match take_cached(&mut func.attrs) {
                Some(args) => {
                    let expanded = expand_cached(args, func.into_token_stream());
                    out.extend(
                        parse_items
                            .parse2(expanded)
                            .expect("expansion parses as impl items"),
                    );
                }
                None => out.push(ImplItem::Fn(func)),
            },
            other => out.push(other),
        }
    }
    out
}

fn expand_file(source: &str) -> String {
    let mut file = syn::parse_file(source).expect("snapshot input parses");
    file.items = expand_items(std::mem::take(&mut file.items));
    prettyplease::unparse(&file)
}

/// Files whose `<!-- expansion:<case> -->` blocks are kept equal to the snapshots.
const DOCS: &[&str] = &["../README.md"];

/// The doc text with every expansion block set to its snapshot.
fn with_expansions(doc: &str, expansions: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = doc;
    while let Some(start) = rest.find("<!-- expansion:") {
        let Some(name_end) = rest[start..].find(" -->") else {
            break;
        };
        let name = &rest[start + "<!-- expansion:".len()..start + name_end];
        let Some(end) = rest[start..].find("<!-- /expansion -->") else {
            break;
        };
        let Some((_, code)) = expansions.iter().find(|(case, _)| case == name) else {
            panic!("documentation shows an expansion of `{name}`, which has no snapshot");
        };
        out.push_str(&rest[..start + name_end + " -->".len()]);
        out.push_str(&format!("\n```rust,ignore\n{code}```\n"));
        out.push_str("<!-- /expansion -->");
        rest = &rest[start + end + "<!-- /expansion -->".len()..];
    }
    out.push_str(rest);
    out
}

#[test]
fn expansions_match_their_snapshots() {
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| v == "1");
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(snapshot_dir())
        .expect("tests/snapshots exists")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension().is_some_and(|e| e == "rs")
                && !path.to_string_lossy().ends_with(".expanded.rs")
        })
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no snapshot inputs in tests/snapshots");
    let mut stale = Vec::new();
    let mut expansions = Vec::new();
    for input in inputs {
        let source = std::fs::read_to_string(&input).expect("read snapshot input");
        let code = expand_file(&source);
        let case = input
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        expansions.push((case, code.clone()));
        let actual = format!("{HEADER}{code}");
        let expected_path = input.with_extension("expanded.rs");
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if actual == expected {
            continue;
        }
        if update {
            std::fs::write(&expected_path, &actual).expect("write snapshot");
        } else {
            stale.push(format!(
                "{}:\n--- expected\n{expected}\n--- actual\n{actual}",
                expected_path.display()
            ));
        }
    }
    for doc in DOCS {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(doc);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let expected = with_expansions(&text, &expansions);
        if expected == text {
            continue;
        }
        if update {
            std::fs::write(&path, expected).expect("write doc");
        } else {
            stale.push(format!(
                "{}: an expansion listing differs from its snapshot",
                path.display()
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "expansions differ from their snapshots (rerun with UPDATE_SNAPSHOTS=1 to accept):\n{}",
        stale.join("\n")
    );
}
