//! The `#[cached]` attribute macro of [`tiered-cache`](https://docs.rs/tiered-cache). Use it
//! through the facade crate: `use tiered_cache::cached;`. The facade documents every option,
//! the rules for arguments, `self`, generics and errors, and shows an expansion.
//!
//! The macro is built like `thiserror-impl`: `attr` parses the options (`hints` says what to do
//! about an unknown one), `ast` is a typed view of
//! the function, `valid` checks the rules that tie them together and produces a plan, `expand`
//! emits code from the plan (and cannot fail), `fallback` emits the errors plus the function
//! unchanged.
#![forbid(unsafe_code)]
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]

mod ast;
mod attr;
mod expand;
mod fallback;
mod hints;
#[cfg(test)]
mod hostile;
mod key;
#[cfg(test)]
mod snapshots;
mod valid;

use proc_macro::TokenStream;

/// Caches an `async fn` in a `TieredCache` (L1 in-process, L2 Redis) with single-flight loads
/// and stale-while-revalidate.
///
/// ```text
/// #[cached(key = "product:{product_id}", ttl = 300, namespace = "products")]
/// async fn get_product_details(product_id: u64) -> Product { ... }
/// ```
///
/// | option | meaning |
/// |---|---|
/// | `key = "product:{id}"` | key template: `{arg}` (`Display`), `{arg.field}`, `{self.field}`, `{T}` (type parameter), `{arg:?}` (a format spec), `{{`/`}}` for braces; values are percent-escaped so keys cannot collide; default (required for `&self` methods): the function's path and every argument's `Serialize` |
/// | `ttl = 300` / `ttl = Duration::from_millis(1500)` | entry lifetime, whole seconds or a `Duration`; default: the cache's `l2_ttl` |
/// | `namespace = "products"` | namespace; default `"default"` |
/// | `stale = 60` / `stale = <Duration>` | stale-while-revalidate window; default: the cache's window |
/// | `refresh = false` | serve the entry until its ttl, never refresh it in the background |
/// | `cache = CACHE` | a `TieredCache` value or field (`self.cache`), or a function returning one; default: the global cache |
/// | `crate = path` | where the `tiered_cache` crate is (for crates that re-export it) |
/// | `cache_none` | `Option` functions: cache `None` too |
/// | `cache_err` | `Result` functions: cache `Err` too (the error must be serializable) |
/// | `in_impl` | an associated function without `self` whose signature does not mention `Self` |
/// | `in_trait_impl` | a method of a trait impl: cached, without companions |
/// | `codec = "postcard"` | the codec this function's writes use (`bincode`, `msgpack`, `postcard`, `json`); default: the cache's `codec` |
///
/// Next to the function it generates `{fn}_no_cache` (the body, uncached), `{fn}_invalidate`
/// (drops the entry for some arguments), `{fn}_prime` (runs the body and stores the result),
/// `{fn}_key` (the key of some arguments), `{fn}_with_meta` (the value and where it came from)
/// and `{fn}_stats` (the function's hits, misses and body runs). The full guide, with the rules
/// for arguments, `self`, generics, errors and recursion, is in the `tiered-cache` crate
/// documentation.
#[proc_macro_attribute]
pub fn cached(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand_cached(attr.into(), item.into()).into()
}

/// Parses, validates and expands; on any error, the errors plus the function unchanged.
fn expand_cached(
    attr: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    match plan(attr, item.clone()) {
        Ok(plan) => expand::expand(&plan),
        Err(error) => fallback::expand(item, &error),
    }
}

fn plan(
    attr: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> syn::Result<valid::Plan> {
    let args: attr::Args = syn::parse2(attr)?;
    let item: syn::ItemFn = syn::parse2(item).map_err(|error| {
        syn::Error::new(
            error.span(),
            format!("#[cached] goes on an `async fn` with a body: {error}"),
        )
    })?;
    let func = ast::Function::from_item(item)?;
    valid::check(args, func)
}
