//! The cached function (the original signature, answering through `{fn}_with_meta`) and
//! `{fn}_with_meta` (the read, answering the value and how it was served).

use proc_macro2::TokenStream;
use quote::quote;

use super::parts::{self, Args};
use super::read::{self, Inputs};
use super::{Names, docs, expect_to_allow, shared_attrs};
use crate::ast;
use crate::valid::Plan;

pub(crate) fn wrapper(plan: &Plan, names: &Names) -> TokenStream {
    let func = &plan.func;
    let attrs = func.attrs.iter().map(expect_to_allow);
    let doc = docs::wrapper(plan, names);
    let vis = &func.vis;
    let mut sig = func.sig.clone();
    sig.inputs = ast::inputs_without_mut(&func.sig);
    let with_meta = parts::call(plan, &names.with_meta, &Args::Original);
    quote! {
        #(#attrs)*
        #doc
        #[allow(clippy::used_underscore_binding)]
        #vis #sig {
            #with_meta.await.0
        }
    }
}

/// `{fn}_with_meta(args) -> (Ret, CallMeta)`: the read of a cached call.
pub(crate) fn with_meta(plan: &Plan, names: &Names) -> TokenStream {
    let func = &plan.func;
    let krate = &plan.krate;
    let attrs = shared_attrs(&func.attrs, false);
    let doc = docs::with_meta(plan, names);
    let vis = &func.vis;
    let ret_ty = &plan.ret_ty;
    let mut sig = func.sig.clone();
    sig.ident = names.with_meta.clone();
    sig.inputs = ast::inputs_without_mut(&func.sig);
    sig.output = syn::parse_quote!(-> (#ret_ty, #krate::CallMeta));
    let copies = parts::owned_copies(plan);
    let load = parts::call(plan, &names.load, &Args::Owned);
    let read = read::read(
        plan,
        Inputs {
            key: parts::call(plan, &names.key, &Args::Borrowed),
            stats: parts::stats(plan, &names.stats),
            loader: quote!({
                #copies
                move || #load
            }),
            uncached: parts::call(plan, &names.no_cache, &Args::Original),
        },
    );
    quote! {
        #doc
        #(#attrs)*
        #[allow(dead_code, clippy::used_underscore_binding)]
        #vis #sig {
            #read
        }
    }
}
