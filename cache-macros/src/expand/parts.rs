//! Pieces every generated function uses: the cache handle, the per-call options, and calls of
//! the generated functions with the arguments each takes. The key is in `key`.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::Ident;
use syn::spanned::Spanned;

use crate::ast::Pass;
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

/// How a write stores the value: `.ttl(..)`, `.stale(..)` and `.codec(..)` as the options say.
pub(crate) fn storage(plan: &Plan) -> TokenStream {
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
    let krate = &plan.krate;
    let codec = plan
        .codec
        .as_ref()
        .map(|variant| quote!(.codec(#krate::CodecKind::#variant)));
    quote!(#ttl #stale #codec)
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

/// What a call of a generated function passes for `self` and each argument.
pub(crate) enum Args {
    /// The caller's own arguments, moved (`self`, `id`).
    Original,
    /// The caller's arguments, borrowed, for `{fn}_key` (`self`, `&id`; `name` is a reference
    /// already).
    Borrowed,
    /// The loader's owned copies, moved (`__cached_self`, `__cached_arg_id`).
    Owned,
    /// The loader's owned copies, lent to the body (`&__cached_self`, `__cached_arg_id`,
    /// `Borrow::borrow(&__cached_arg_name)`).
    Lent,
}

/// `name`, or `Self::name` when the function is associated.
pub(crate) fn path(plan: &Plan, name: &Ident) -> TokenStream {
    if plan.assoc {
        quote!(Self::#name)
    } else {
        quote!(#name)
    }
}

/// `name(<args>)` (see [`path`]), with the function's type and const parameters spelled out.
pub(crate) fn call(plan: &Plan, name: &Ident, args: &Args) -> TokenStream {
    let path = path(plan, name);
    let generics: Vec<&Ident> = plan.type_params.iter().chain(&plan.const_params).collect();
    let turbofish = (!generics.is_empty()).then(|| quote!(::<#(#generics),*>));
    let receiver = plan.func.receiver.as_ref().map(|_| match args {
        Args::Original | Args::Borrowed => quote!(self,),
        Args::Owned => quote!(__cached_self,),
        Args::Lent => quote!(&__cached_self,),
    });
    let params = plan.func.params.iter().map(|param| {
        let ident = &param.ident;
        let borrowed = matches!(param.pass, Pass::Borrowed(_));
        match args {
            Args::Original => quote!(#ident),
            Args::Borrowed if borrowed => quote!(#ident),
            Args::Borrowed => quote!(&#ident),
            Args::Owned => owned_name(ident).into_token_stream(),
            Args::Lent => {
                let owned = owned_name(ident);
                if borrowed {
                    quote!(::core::borrow::Borrow::borrow(&#owned))
                } else {
                    quote!(#owned)
                }
            }
        }
    });
    quote!(#path #turbofish (#receiver #(#params),*))
}

/// `{fn}_stats()`: the function's counters (not generic: one set per function).
pub(crate) fn stats(plan: &Plan, name: &Ident) -> TokenStream {
    let path = path(plan, name);
    quote!(#path())
}

/// The loader's owned copy of an argument.
pub(crate) fn owned_name(ident: &Ident) -> Ident {
    let base = ident.to_string();
    let base = base.strip_prefix("r#").unwrap_or(&base);
    Ident::new(&format!("__cached_arg_{base}"), Span::call_site())
}

/// `let __cached_self = ...; let __cached_arg_id = ...;`: owned copies of `self` and every
/// argument, for a loader that runs after the caller returned. Each copy is checked where the
/// argument is written, so a type that cannot be copied is reported at its argument.
pub(crate) fn owned_copies(plan: &Plan) -> TokenStream {
    let krate = &plan.krate;
    let receiver = plan.func.receiver.as_ref().map(|receiver| {
        let owned = quote_spanned!(receiver.self_token.span=>
            <Self as #krate::__private::OwnedReceiver>::owned(self)
        );
        quote!(let __cached_self = #owned;)
    });
    let copies = plan.func.params.iter().map(|param| {
        let ident = &param.ident;
        let owned = owned_name(ident);
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
    quote!(#receiver #(#copies)*)
}

/// The type of the loader's owned copy of each argument (`Self` first for a method).
pub(crate) fn owned_params(plan: &Plan) -> TokenStream {
    let krate = &plan.krate;
    let receiver = plan
        .func
        .receiver
        .as_ref()
        .map(|_| quote!(__cached_self: Self,));
    let params = plan.func.params.iter().map(|param| {
        let owned = owned_name(&param.ident);
        match &param.pass {
            Pass::Borrowed(elem) => quote_spanned!(elem.span()=>
                #owned: <#elem as #krate::__private::BorrowedArg>::Owned
            ),
            _ => {
                let ty = &param.ty;
                quote!(#owned: #ty)
            }
        }
    });
    quote!(#receiver #(#params),*)
}
