//! Pieces every generated function uses: the cache handle, the per-call options, and calls of
//! the original body (`{fn}_no_cache`). The key is in `key`.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::Ident;
use syn::spanned::Spanned;

use super::Names;
use crate::attr::Duration;
use crate::valid::{Plan, Stale};

/// `let __cached_cache = ...;`: the global cache, or the `cache = ...` source.
pub(crate) fn cache_handle(plan: &Plan) -> TokenStream {
    let krate = &plan.krate;
    match &plan.source {
        None => quote! {
            let __cached_cache = #krate::__private::global().await;
        },
        Some(source) => {
            // Spanned at the expression, so a value that is not a cache is reported there.
            let handle =
                quote_spanned!(source.span()=> #krate::__private::CacheSource::handle(&(#source)));
            quote! {
                let __cached_cache = #handle;
            }
        }
    }
}

/// `.namespace(..)` when the options name one.
pub(crate) fn namespace(plan: &Plan) -> TokenStream {
    let namespace = plan.namespace.as_ref().map(|ns| quote!(.namespace(#ns)));
    quote!(#namespace)
}

/// `.ttl(..)` and `.stale(..)` as the options say.
pub(crate) fn lifetime(plan: &Plan) -> TokenStream {
    let ttl = plan.ttl.as_ref().map(|ttl| {
        let ttl = duration(ttl);
        quote!(.ttl(#ttl))
    });
    let stale = match &plan.stale {
        Stale::Default => None,
        Stale::Window(window) => {
            let window = duration(window);
            Some(quote!(.stale(#window)))
        }
        Stale::Off => Some(quote!(.stale(::core::time::Duration::ZERO))),
    };
    quote!(#ttl #stale)
}

fn duration(value: &Duration) -> TokenStream {
    match value {
        Duration::Seconds(lit, seconds) => {
            let seconds = syn::LitInt::new(&seconds.to_string(), lit.span());
            quote!(::core::time::Duration::from_secs(#seconds))
        }
        Duration::Expr(expr) => expr.to_token_stream(),
    }
}

/// What a call of the original body passes for one argument.
pub(crate) enum Args {
    /// The caller's own arguments (`self`, `id`).
    Original,
    /// The loader's owned copies (`&__cached_self`, `__cached_arg_id`, `Borrow::borrow(..)`).
    Owned,
}

/// `{fn}_no_cache(<args>)`, as `Self::` when the function is associated, with the function's
/// type and const parameters spelled out.
pub(crate) fn call_body(plan: &Plan, names: &Names, args: &Args) -> TokenStream {
    let no_cache = &names.no_cache;
    let path = if plan.assoc {
        quote!(Self::#no_cache)
    } else {
        quote!(#no_cache)
    };
    let generics: Vec<&Ident> = plan.type_params.iter().chain(&plan.const_params).collect();
    let turbofish = (!generics.is_empty()).then(|| quote!(::<#(#generics),*>));
    let receiver = plan.func.receiver.as_ref().map(|_| match args {
        Args::Original => quote!(self,),
        Args::Owned => quote!(&__cached_self,),
    });
    let params = plan.func.params.iter().map(|param| {
        let ident = &param.ident;
        match args {
            Args::Original => quote!(#ident),
            Args::Owned => {
                let owned = owned_name(ident);
                match param.pass {
                    crate::ast::Pass::Borrowed(_) => {
                        quote!(::core::borrow::Borrow::borrow(&#owned))
                    }
                    _ => quote!(#owned),
                }
            }
        }
    });
    quote!(#path #turbofish (#receiver #(#params),*))
}

/// The loader's owned copy of an argument.
pub(crate) fn owned_name(ident: &Ident) -> Ident {
    let base = ident.to_string();
    let base = base.strip_prefix("r#").unwrap_or(&base);
    Ident::new(&format!("__cached_arg_{base}"), Span::call_site())
}
