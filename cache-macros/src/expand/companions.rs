//! The functions generated next to the cached one: `{fn}_no_cache` (the original body),
//! `{fn}_key` (the key of some arguments), `{fn}_stats` (the function's counters),
//! `{fn}_invalidate`, `{fn}_prime`, and the hidden `__cached_load_{fn}` (the loader's boxed
//! future). Each keeps the original's generics, `where` clause and receiver (but `{fn}_stats`,
//! which has neither), so it is called with the same arguments.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, Signature};

use super::parts::{self, Args};
use super::read::{self, mode};
use super::{Names, docs, key, shared_attrs};
use crate::ast;
use crate::valid::{Mode, Plan};

/// The original function under another name: its body, its parameter patterns, its lints.
pub(crate) fn no_cache(plan: &Plan, names: &Names) -> TokenStream {
    let func = &plan.func;
    let attrs = shared_attrs(&func.attrs, true);
    let doc = docs::no_cache(plan, names);
    let vis = &func.vis;
    let mut sig = func.sig.clone();
    sig.ident = names.no_cache.clone();
    let block = &func.block;
    // #[cached] requires `async`, so a body without `.await` must not be blamed for it.
    quote! {
        #doc
        #(#attrs)*
        #[allow(clippy::unused_async)]
        #vis #sig #block
    }
}

/// `{fn}_key(args) -> String`: the key of a call, the arguments borrowed (`id: &u64`).
pub(crate) fn key(plan: &Plan, names: &Names) -> TokenStream {
    let func = &plan.func;
    let attrs = shared_attrs(&func.attrs, false);
    let doc = docs::key(plan, names);
    let vis = &func.vis;
    let mut sig = func.sig.clone();
    sig.ident = names.key.clone();
    sig.asyncness = None;
    sig.inputs = borrowed_inputs(&func.sig);
    sig.output = syn::parse_quote!(-> ::std::string::String);
    let key = key::key(plan);
    quote! {
        #doc
        #(#attrs)*
        #[allow(dead_code, unused_variables, clippy::used_underscore_binding)]
        #[must_use]
        #[inline]
        #vis #sig {
            #key
        }
    }
}

/// The inputs of `sig` with each by-value argument taken by reference (`id: &u64`) and no `mut`.
fn borrowed_inputs(sig: &Signature) -> syn::punctuated::Punctuated<FnArg, syn::Token![,]> {
    let mut inputs = ast::inputs_without_mut(sig);
    for input in &mut inputs {
        if let FnArg::Typed(typed) = input {
            if !matches!(ast::ungroup(&typed.ty), syn::Type::Reference(_)) {
                let ty = &typed.ty;
                let borrowed: syn::Type = syn::parse_quote!(&#ty);
                *typed.ty = borrowed;
            }
        }
    }
    inputs
}

/// `{fn}_stats() -> &'static FnStats`: the counters, a `static` of its own.
pub(crate) fn stats(plan: &Plan, names: &Names) -> TokenStream {
    let func = &plan.func;
    let krate = &plan.krate;
    let attrs = shared_attrs(&func.attrs, false);
    let doc = docs::stats(plan, names);
    let vis = &func.vis;
    let name = &names.stats;
    quote! {
        #doc
        #(#attrs)*
        #[allow(dead_code)]
        #[must_use]
        #vis fn #name() -> &'static #krate::FnStats {
            static __CACHED_STATS: #krate::FnStats = #krate::__private::fn_stats();
            &__CACHED_STATS
        }
    }
}

/// `__cached_load_{fn}(owned copies) -> BoxedLoad<..>`: what the loader runs, the body's future
/// boxed with `Send` in its type (see `__private::BoxedLoad`: this keeps a recursive function
/// compiling). Counts a load.
pub(crate) fn load(plan: &Plan, names: &Names) -> TokenStream {
    let func = &plan.func;
    let krate = &plan.krate;
    let attrs = shared_attrs(&func.attrs, false)
        .into_iter()
        .filter(|attr| !attr.path().is_ident("doc"));
    let name = &names.load;
    let generics = &func.sig.generics;
    let where_clause = &generics.where_clause;
    let params = parts::owned_params(plan);
    let output = read::loader_output(plan);
    let stats = parts::stats(plan, &names.stats);
    let body = read::loaded(plan, &parts::call(plan, &names.no_cache, &Args::Lent));
    // Spanned at the return type: a body whose future is not `Send` is reported there.
    let boxed = quote_spanned!(plan.ret_ty.span()=> #krate::__private::boxed);
    quote! {
        #[doc(hidden)]
        #(#attrs)*
        #[allow(clippy::used_underscore_binding)]
        fn #name #generics (#params) -> #krate::__private::BoxedLoad<#output> #where_clause {
            #krate::__private::loading(#stats);
            #boxed(async move { #body })
        }
    }
}

/// `{fn}_invalidate(args) -> Result<(), CacheError>`.
pub(crate) fn invalidate(plan: &Plan, names: &Names) -> TokenStream {
    let func = &plan.func;
    let krate = &plan.krate;
    let attrs = shared_attrs(&func.attrs, false);
    let doc = docs::invalidate(plan, names);
    let vis = &func.vis;
    let mut sig = func.sig.clone();
    sig.ident = names.invalidate.clone();
    sig.inputs = ast::inputs_without_mut(&func.sig);
    sig.output = syn::parse_quote!(-> ::core::result::Result<(), #krate::CacheError>);
    let handle = parts::cache_handle(plan);
    let key = parts::call(plan, &names.key, &Args::Borrowed);
    let namespace = parts::namespace(plan);
    quote! {
        #doc
        #(#attrs)*
        #[allow(
            dead_code,
            unused_variables,
            clippy::needless_pass_by_value,
            clippy::used_underscore_binding
        )]
        #vis #sig {
            #handle
            let __cached_key = #key;
            __cached_cache.invalidate(&__cached_key) #namespace .await
        }
    }
}

/// `{fn}_prime(args) -> Ret`: runs the body, stores what a cached call would store.
pub(crate) fn prime(plan: &Plan, names: &Names) -> TokenStream {
    let func = &plan.func;
    let krate = &plan.krate;
    let attrs = shared_attrs(&func.attrs, false);
    let doc = docs::prime(plan, names);
    let vis = &func.vis;
    let mut sig = func.sig.clone();
    sig.ident = names.prime.clone();
    sig.inputs = ast::inputs_without_mut(&func.sig);
    let handle = parts::cache_handle(plan);
    // The key is taken before the body runs, which consumes the arguments.
    let key = parts::call(plan, &names.key, &Args::Borrowed);
    let call = parts::call(plan, &names.no_cache, &Args::Original);
    let mode = mode(plan);
    let namespace = parts::namespace(plan);
    let storage = parts::storage(plan);
    let value_ty = &plan.value_ty;
    let primed =
        quote_spanned!(plan.ret_ty.span()=> <#value_ty as #krate::__private::Stored>::primed);
    // A `None` from an `Option` function removes the entry, as a cached call would.
    let removed = (plan.mode == Mode::Optional).then(|| {
        quote! {
            else {
                #krate::__private::removed(__cached_cache.invalidate(&__cached_key) #namespace).await;
            }
        }
    });
    quote! {
        #doc
        #(#attrs)*
        #[allow(dead_code, clippy::used_underscore_binding)]
        #vis #sig {
            #handle
            let __cached_key = #key;
            let __cached_ret = #call.await;
            if let ::core::option::Option::Some(__cached_value) = #mode::stored(&__cached_ret) {
                #primed(
                    __cached_cache
                        .set(&__cached_key, __cached_value)
                        #namespace
                        #storage,
                )
                .await;
            } #removed
            __cached_ret
        }
    }
}
