//! The read a cached call makes, as statements ending in a `(Ret, CallMeta)` expression: the
//! cache, the key, the function's counters (and, once, the registration of its key shape), the
//! loader, the engine's read, and the answer, or the body run uncached when the cache refuses
//! the call. `{fn}_with_meta` is this read; an `in_trait_impl` method runs it inline.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::LitStr;
use syn::spanned::Spanned;

use super::parts;
use crate::ast::{Return, ReturnKind};
use crate::valid::{KeyPlan, Mode, Plan};

/// What the read is built from, which differs between `{fn}_with_meta` and an inline method.
pub(crate) struct Inputs {
    /// The key, a `String`.
    pub(crate) key: TokenStream,
    /// The function's counters, a `&'static FnStats`.
    pub(crate) stats: TokenStream,
    /// The loader, a closure that owns what it needs.
    pub(crate) loader: TokenStream,
    /// The body run uncached: its future, not awaited (the read awaits it on the heap).
    pub(crate) uncached: TokenStream,
}

pub(crate) fn read(plan: &Plan, inputs: Inputs) -> TokenStream {
    let krate = &plan.krate;
    let Inputs {
        key,
        stats,
        loader,
        uncached,
    } = inputs;
    let handle = parts::cache_handle(plan);
    let (namespace, registration) = register(plan);
    let load = load(plan, &namespace);
    let mode = mode(plan);
    quote! {
        #handle
        let __cached_key = #key;
        let __cached_stats = #stats;
        #registration
        let __cached_loader = #loader;
        #load
        match #mode::answer(__cached_read, __cached_stats) {
            ::core::option::Option::Some(__cached_answer) => __cached_answer,
            ::core::option::Option::None => (
                #krate::__private::out_of_line(#uncached).await,
                #krate::__private::refused(__cached_stats),
            ),
        }
    }
}

/// `__private::plain`, `__private::fallible` or `__private::optional`.
pub(crate) fn mode(plan: &Plan) -> TokenStream {
    let krate = &plan.krate;
    match plan.mode {
        Mode::Plain => quote!(#krate::__private::plain),
        Mode::Fallible => quote!(#krate::__private::fallible),
        Mode::Optional => quote!(#krate::__private::optional),
    }
}

/// The `.namespace(..)` of the read, and the registration of a template key's shape on the
/// function's first call (a default key names the function: no other function builds it).
fn register(plan: &Plan) -> (TokenStream, TokenStream) {
    let krate = &plan.krate;
    let KeyPlan::Template(template) = &plan.key else {
        return (parts::namespace(plan), TokenStream::new());
    };
    let (bind, namespace) = match &plan.namespace {
        Some(syn::Expr::Lit(lit)) => (TokenStream::new(), quote!(#lit)),
        // An expression is evaluated once, for the read and the registration.
        Some(expr) => (
            quote!(let __cached_namespace: &str = #expr;),
            quote!(__cached_namespace),
        ),
        None => (TokenStream::new(), quote!("default")),
    };
    let read_namespace = match &plan.namespace {
        Some(_) => quote!(.namespace(#namespace)),
        None => TokenStream::new(),
    };
    let shape = LitStr::new(&template.shape(), template.lit.span());
    let owner = if plan.assoc {
        quote!(::core::any::type_name::<Self>())
    } else {
        quote!(::core::module_path!())
    };
    let func = plan.func.sig.ident.to_string();
    let name = func.strip_prefix("r#").unwrap_or(&func);
    let value_ty = &plan.value_ty;
    let registration = quote! {
        #bind
        #krate::__private::register(
            __cached_stats,
            &__cached_cache,
            #namespace,
            #shape,
            || #krate::__private::Function {
                owner: #owner,
                name: #name,
                value_type: ::core::any::type_name::<#value_ty>(),
            },
        );
    };
    (read_namespace, registration)
}

/// `let __cached_read = load(cache.get::<T>(&key).namespace(..).refresh_with(loader)...,
/// errors).await;` with `load` spanned at the return type, so a value type the cache cannot
/// store is reported there.
fn load(plan: &Plan, namespace: &TokenStream) -> TokenStream {
    let krate = &plan.krate;
    let value_ty = &plan.value_ty;
    let error_ty = match &plan.func.ret {
        Return::Value {
            kind: ReturnKind::Result {
                error: Some(error), ..
            },
            ..
        } if plan.mode == Mode::Fallible => quote!(#error),
        _ => quote!(_),
    };
    // The stored and error types are given explicitly, so the compiler reports a type the
    // cache cannot handle at the return type, where the user wrote it.
    let load = quote_spanned!(plan.ret_ty.span()=>
        <#value_ty as #krate::__private::Stored>::load::<_, _, #error_ty>
    );
    let storage = parts::storage(plan);
    // `None` is an answer: returned, not cached, and it removes the entry.
    let none = (plan.mode == Mode::Optional).then(|| quote!(.cache_none(false)));
    let errors = errors(plan);
    // A function's return type has no room for a timeout: callers wait for the one running
    // body (with a fallback value, `hard_timeout` still answers with it).
    quote! {
        let __cached_read = #load(
            __cached_cache
                .get::<#value_ty>(&__cached_key)
                #namespace
                .refresh_with(__cached_loader)
                #storage
                #none
                .wait_for_loader(),
            #errors,
        )
        .await;
    }
}

/// How a loader's error reaches the callers of one load: shared when the error type is
/// `Clone`, kept by the caller that ran the body otherwise (`__private::errors`, chosen by
/// method resolution on the return type).
fn errors(plan: &Plan) -> TokenStream {
    let krate = &plan.krate;
    if plan.mode != Mode::Fallible {
        return quote!(#krate::__private::errors::none());
    }
    let ret_ty = &plan.ret_ty;
    quote! {{
        use #krate::__private::errors::{ByClone as _, Unshared as _};
        (&&#krate::__private::errors::Tag::<#ret_ty>::NEW).errors()
    }}
}

/// What the loader's future yields: the body's `Result`, or the value as `Ok`.
pub(crate) fn loader_output(plan: &Plan) -> TokenStream {
    let ret_ty = &plan.ret_ty;
    match plan.mode {
        Mode::Fallible => quote!(#ret_ty),
        _ => quote!(::core::result::Result<#ret_ty, ::core::convert::Infallible>),
    }
}

/// `body.await` as the loader's output.
pub(crate) fn loaded(plan: &Plan, body: &TokenStream) -> TokenStream {
    match plan.mode {
        Mode::Fallible => quote!(#body.await),
        _ => {
            let mode = mode(plan);
            quote!(#mode::loaded(#body.await))
        }
    }
}
