//! The functions generated next to the cached one: `{fn}_no_cache` (the original body),
//! `{fn}_invalidate` (drops the entry for some arguments) and `{fn}_prime` (runs the body and
//! stores its value). Each keeps the original's generics, `where` clause, receiver and
//! parameters, so it is called with the same arguments.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::parts::{self, Args};
use super::wrapper::mode;
use super::{Names, docs, key, shared_attrs};
use crate::ast;
use crate::valid::Plan;

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
    let key = key::key(plan);
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
            #key
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
    let key = key::key(plan);
    let call = parts::call_body(plan, names, &Args::Original);
    let mode = mode(plan);
    let namespace = parts::namespace(plan);
    let lifetime = parts::lifetime(plan);
    let value_ty = &plan.value_ty;
    let primed = quote_spanned!(plan.ret_ty.span()=> #krate::__private::primed::<#value_ty>);
    // A `None` from an `Option` function removes the entry, as a cached call would.
    let removed = (plan.mode == crate::valid::Mode::Optional).then(|| {
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
            #key
            let __cached_ret = #call.await;
            if let ::core::option::Option::Some(__cached_value) = #mode::stored(&__cached_ret) {
                #primed(
                    __cached_cache
                        .set(&__cached_key, __cached_value)
                        #namespace
                        #lifetime,
                )
                .await;
            } #removed
            __cached_ret
        }
    }
}
