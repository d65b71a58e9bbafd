//! `in_trait_impl`: a cached method of a trait impl, which has room for no item but the
//! method, so everything happens inside it and there are no companions.
//!
//! ```text
//! #[cached(key = "user:{id}", in_trait_impl)]
//! async fn find(&self, id: u64) -> User { BODY }
//! ```
//! becomes
//! ```text
//! async fn find(&self, id: u64) -> User {
//!     static __CACHED_STATS: FnStats = ..;                  // counted, unreadable from outside
//!     let __cached_body = |__cached_self: Self, __cached_arg_id: u64| async move {
//!         let __cached_self = &__cached_self;
//!         let id = __cached_arg_id;
//!         let __cached_ret: User = BODY';                     // `self` is `__cached_self`
//!         __cached_ret
//!     };
//!     <the read of `{fn}_with_meta`, with the key inline, a loader that calls `__cached_body` on
//!      owned copies, and `__cached_body` on fresh copies when the cache refuses the call>
//! }
//! ```
//! The body moves into a closure that takes owned copies, as a background refresh needs, and
//! `self` inside it is renamed (`rewrite`), since a closure cannot take `self`.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;

use super::parts;
use super::read::{self, Inputs};
use super::{Names, docs, expect_to_allow, key, rewrite};
use crate::ast::{self, Pass};
use crate::valid::{Mode, Plan};

pub(crate) fn method(plan: &Plan, names: &Names) -> TokenStream {
    let func = &plan.func;
    let krate = &plan.krate;
    let attrs = func.attrs.iter().map(expect_to_allow);
    let doc = docs::trait_method(plan, names);
    let mut sig = func.sig.clone();
    sig.inputs = ast::inputs_without_mut(&func.sig);
    let body = body(plan);
    let copies = parts::owned_copies(plan);
    let run = run_body(plan);
    // The body's future is the loader's, but for a value to wrap as `Ok`.
    let load = match plan.mode {
        Mode::Fallible => run.clone(),
        _ => {
            let loaded = read::loaded(plan, &quote!(__cached_run));
            quote!({
                let __cached_run = #run;
                async move { #loaded }
            })
        }
    };
    let read = read::read(
        plan,
        Inputs {
            key: inline_key(plan),
            stats: quote!(&__CACHED_STATS),
            loader: quote!({
                #copies
                move || {
                    #krate::__private::loading(&__CACHED_STATS);
                    #load
                }
            }),
            uncached: quote!({
                #copies
                #run
            }),
        },
    );
    quote! {
        #(#attrs)*
        #doc
        #[allow(clippy::used_underscore_binding)]
        #sig {
            static __CACHED_STATS: #krate::FnStats = #krate::__private::fn_stats();
            #body
            let (__cached_ret, _) = { #read };
            __cached_ret
        }
    }
}

/// `let __cached_body = |owned copies| async move { rebind the arguments; BODY' };`
fn body(plan: &Plan) -> TokenStream {
    let func = &plan.func;
    let params = parts::owned_params(plan);
    let this = func
        .receiver
        .as_ref()
        .map(|_| quote!(let __cached_self = &__cached_self;));
    let rebinds = func.params.iter().map(|param| {
        let ident = &param.ident;
        let mutability = &param.mutability;
        let owned = parts::owned_name(ident);
        match &param.pass {
            Pass::Borrowed(elem) => quote_spanned!(elem.span()=>
                let #mutability #ident: &#elem = ::core::borrow::Borrow::borrow(&#owned);
            ),
            _ => quote!(let #mutability #ident = #owned;),
        }
    });
    let ret_ty = &plan.ret_ty;
    let block = rewrite::self_to_local(func.block.to_token_stream());
    quote! {
        let __cached_body = |#params| async move {
            #this
            #(#rebinds)*
            let __cached_ret: #ret_ty = #block;
            __cached_ret
        };
    }
}

/// `__cached_body(__cached_self, __cached_arg_id, ..)`: the body on the owned copies.
fn run_body(plan: &Plan) -> TokenStream {
    let receiver = plan.func.receiver.as_ref().map(|_| quote!(__cached_self,));
    let params = plan
        .func
        .params
        .iter()
        .map(|param| parts::owned_name(&param.ident));
    quote!(__cached_body(#receiver #(#params),*))
}

/// The key, with every by-value argument borrowed first (the key expression takes references).
fn inline_key(plan: &Plan) -> TokenStream {
    let borrows = plan
        .func
        .params
        .iter()
        .filter(|param| !matches!(param.pass, Pass::Borrowed(_)))
        .map(|param| {
            let ident = &param.ident;
            quote!(let #ident = &#ident;)
        });
    let key = key::key(plan);
    quote!({
        #(#borrows)*
        #key
    })
}
