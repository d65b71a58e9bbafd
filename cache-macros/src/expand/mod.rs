//! Emits the cached function and its companions from a validated [`Plan`]. Nothing here can
//! fail: every rule was checked in `valid`.
//!
//! ```text
//! #[cached(key = "product:{id}", ttl = 300, namespace = "products")]
//! async fn product(id: u64) -> Product { BODY }
//! ```
//! becomes
//! ```text
//! async fn product(id: u64) -> Product { product_with_meta(id).await.0 } // same signature
//! async fn product_with_meta(id: u64) -> (Product, CallMeta) {
//!     let __cached_cache = <the global cache, or `cache = ...`>;
//!     let __cached_key = product_key(&id);
//!     let __cached_stats = product_stats();
//!     register(..);                                                       // first call only
//!     let __cached_loader = { <owned copies of the arguments>; move || __cached_load_product(..) };
//!     let __cached_read = load(cache.get(&key).namespace(..).refresh_with(loader).ttl(..), errors).await;
//!     match answer(__cached_read, stats) { Some(answer) => answer, None => (out_of_line(product_no_cache(id)).await, ..) }
//! }
//! async fn product_no_cache(id: u64) -> Product { BODY }               // the original body
//! fn product_key(id: &u64) -> String { <"product:", then `id` escaped> } // see `key`
//! fn product_stats() -> &'static FnStats { static .. }                  // the function's counters
//! async fn product_invalidate(id: u64) -> Result<(), CacheError> { .. } // drops one entry
//! async fn product_prime(id: u64) -> Product { .. }                     // runs BODY, stores it
//! fn __cached_load_product(id: u64) -> BoxedLoad<..> { .. }             // product_no_cache, boxed
//! ```
//! `None` means the cache refused the call (an over-long key, a closed cache), and the body then
//! runs uncached, its future boxed (`out_of_line`) so that a call's future does not carry room
//! for the body's on every hit. The loader's future is boxed in a function of its own so that a
//! body calling `product` again (recursion) does not make `product`'s future type depend on
//! itself.
//! `in_trait_impl` emits one method instead (`trait_impl`).

mod companions;
mod docs;
mod key;
mod parts;
mod read;
mod rewrite;
mod trait_impl;
mod wrapper;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{Attribute, Ident};

use crate::valid::Plan;

pub(crate) fn expand(plan: &Plan) -> TokenStream {
    let names = Names::of(plan);
    if plan.trait_impl {
        return trait_impl::method(plan, &names);
    }
    let wrapper = wrapper::wrapper(plan, &names);
    let with_meta = wrapper::with_meta(plan, &names);
    let no_cache = companions::no_cache(plan, &names);
    let key = companions::key(plan, &names);
    let stats = companions::stats(plan, &names);
    let invalidate = companions::invalidate(plan, &names);
    let prime = companions::prime(plan, &names);
    let load = companions::load(plan, &names);
    quote! {
        #wrapper
        #with_meta
        #no_cache
        #key
        #stats
        #invalidate
        #prime
        #load
    }
}

/// The function's name and its companions' names.
pub(crate) struct Names {
    pub(crate) func: Ident,
    pub(crate) no_cache: Ident,
    pub(crate) invalidate: Ident,
    pub(crate) prime: Ident,
    pub(crate) key: Ident,
    pub(crate) stats: Ident,
    pub(crate) with_meta: Ident,
    /// The loader's boxed future (hidden).
    pub(crate) load: Ident,
}

impl Names {
    fn of(plan: &Plan) -> Self {
        let func = plan.func.sig.ident.clone();
        let base = func.to_string();
        let base = base.strip_prefix("r#").unwrap_or(&base);
        let span = func.span();
        Names {
            no_cache: format_ident!("{base}_no_cache", span = span),
            invalidate: format_ident!("{base}_invalidate", span = span),
            prime: format_ident!("{base}_prime", span = span),
            key: format_ident!("{base}_key", span = span),
            stats: format_ident!("{base}_stats", span = span),
            with_meta: format_ident!("{base}_with_meta", span = span),
            load: format_ident!("__cached_load_{base}", span = span),
            func,
        }
    }
}

/// The attributes every generated function shares with the original: `cfg`, `doc(hidden)` and
/// lint levels. `expect` becomes `allow` except where the body lives (`keep_expect`), since a
/// lint the body triggers would leave the expectation unfulfilled elsewhere.
pub(crate) fn shared_attrs(attrs: &[Attribute], keep_expect: bool) -> Vec<Attribute> {
    attrs
        .iter()
        .filter(|attr| {
            let path = attr.path();
            path.is_ident("cfg")
                || path.is_ident("allow")
                || path.is_ident("warn")
                || path.is_ident("deny")
                || path.is_ident("forbid")
                || path.is_ident("expect")
                || (path.is_ident("doc") && matches!(attr.meta, syn::Meta::List(_)))
        })
        .map(|attr| {
            if keep_expect {
                attr.clone()
            } else {
                expect_to_allow(attr)
            }
        })
        .collect()
}

/// `#[expect(...)]` as `#[allow(...)]`; other attributes unchanged.
pub(crate) fn expect_to_allow(attr: &Attribute) -> Attribute {
    let mut attr = attr.clone();
    if let syn::Meta::List(list) = &mut attr.meta {
        if list.path.is_ident("expect") {
            let span = list.path.segments[0].ident.span();
            list.path = Ident::new("allow", span).into();
        }
    }
    attr
}
