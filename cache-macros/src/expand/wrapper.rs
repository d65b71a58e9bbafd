//! The cached function: the original signature, a body that reads through the cache.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::parts::{self, Args};
use super::{Names, docs, expect_to_allow, key};
use crate::ast::{self, Pass, Return, ReturnKind};
use crate::valid::{Mode, Plan};

pub(crate) fn wrapper(plan: &Plan, names: &Names) -> TokenStream {
    let func = &plan.func;
    let attrs = func.attrs.iter().map(expect_to_allow);
    let doc = docs::wrapper(plan, names);
    let vis = &func.vis;
    let mut sig = func.sig.clone();
    sig.inputs = ast::inputs_without_mut(&func.sig);
    let handle = parts::cache_handle(plan);
    let key = key::key(plan);
    let loader = loader(plan, names);
    let read = read(plan);
    let mode = mode(plan);
    let fallback = parts::call_body(plan, names, &Args::Original);
    quote! {
        #(#attrs)*
        #doc
        #[allow(clippy::used_underscore_binding)]
        #vis #sig {
            #handle
            #key
            #loader
            #read
            match #mode::answer(__cached_read) {
                ::core::option::Option::Some(__cached_ret) => __cached_ret,
                ::core::option::Option::None => #fallback.await,
            }
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

/// The loader: owned copies of `self` and the arguments, moved into a `'static` closure that
/// runs the original body. Each copy is checked where the argument is written, so a type that
/// cannot be copied is reported at its argument.
fn loader(plan: &Plan, names: &Names) -> TokenStream {
    let krate = &plan.krate;
    let receiver = plan.func.receiver.as_ref().map(|receiver| {
        let owned = quote_spanned!(receiver.self_token.span=>
            <Self as #krate::__private::OwnedReceiver>::owned(self)
        );
        quote!(let __cached_self = #owned;)
    });
    let copies = plan.func.params.iter().map(|param| {
        let ident = &param.ident;
        let owned = parts::owned_name(ident);
        let copy = match &param.pass {
            Pass::Borrowed(elem) => quote_spanned!(elem.span()=>
                <#elem as #krate::__private::BorrowedArg>::owned(#ident)
            ),
            _ => {
                let ty = &param.ty;
                quote_spanned!(ty.span()=> <#ty as #krate::__private::OwnedArg>::owned(&#ident))
            }
        };
        quote!(let #owned = #copy;)
    });
    let call = parts::call_body(plan, names, &Args::Owned);
    let body = match plan.mode {
        Mode::Fallible => quote!(#call.await),
        _ => {
            let mode = mode(plan);
            quote!(#mode::loaded(#call.await))
        }
    };
    quote! {
        let __cached_loader = {
            #receiver
            #(#copies)*
            move || async move { #body }
        };
    }
}

/// `let __cached_read = load(cache.get::<T>(&key).namespace(..).refresh_with(loader)...).await;`
/// with `load` spanned at the return type, so a value type the cache cannot store is reported
/// there.
fn read(plan: &Plan) -> TokenStream {
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
        #krate::__private::load::<#value_ty, _, _, #error_ty>
    );
    let namespace = parts::namespace(plan);
    let lifetime = parts::lifetime(plan);
    // `None` is an answer: returned, not cached, and it removes the entry.
    let none = (plan.mode == Mode::Optional).then(|| quote!(.cache_none(false)));
    // A function's return type has no room for a timeout: callers wait for the one running
    // body (with a fallback value, `hard_timeout` still answers with it).
    quote! {
        let __cached_read = #load(
            __cached_cache
                .get::<#value_ty>(&__cached_key)
                #namespace
                .refresh_with(__cached_loader)
                #lifetime
                #none
                .wait_for_loader(),
        )
        .await;
    }
}
