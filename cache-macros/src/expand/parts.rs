//! Pieces every generated function uses: the cache handle, the key, the per-call options, and
//! calls of the original body (`{fn}_no_cache`).

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, LitStr, Member};

use super::Names;
use crate::attr::Duration;
use crate::key::{Hole, Part, Template};
use crate::valid::{KeyPlan, Plan, Stale};

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

/// `let __cached_key = ...;`.
pub(crate) fn key(plan: &Plan) -> TokenStream {
    let key = match &plan.key {
        KeyPlan::Template(template) => template_key(plan, template),
        KeyPlan::Default => default_key(plan),
    };
    quote! {
        let __cached_key = #key;
    }
}

fn template_key(plan: &Plan, template: &Template) -> TokenStream {
    let span = template.lit.span();
    let mut format = String::new();
    let mut args = Vec::new();
    for part in &template.parts {
        match part {
            Part::Text(text) => format.push_str(&text.replace('{', "{{").replace('}', "}}")),
            Part::Hole(hole) => {
                format.push('{');
                if !hole.spec.is_empty() {
                    format.push(':');
                    format.push_str(&hole.spec);
                }
                format.push('}');
                args.push(hole_expr(plan, hole, span));
            }
        }
    }
    let format = LitStr::new(&format, span);
    if args.is_empty() {
        quote!(::std::string::String::from(#format))
    } else {
        quote_spanned!(span=> ::std::format!(#format, #(#args),*))
    }
}

/// The expression a placeholder reads: an argument (and its fields), `self`, a type parameter's
/// name, or a const parameter.
fn hole_expr(plan: &Plan, hole: &Hole, span: Span) -> TokenStream {
    let root = if hole.root == "self" {
        quote_spanned!(span=> self)
    } else if plan.type_params.iter().any(|t| t == &hole.root) {
        let ty = name(&hole.root, span);
        return quote_spanned!(span=> ::core::any::type_name::<#ty>());
    } else {
        name(&hole.root, span).into_token_stream()
    };
    let fields = hole.fields.iter().map(|field| member(field, span));
    quote_spanned!(span=> #root #(.#fields)*)
}

fn name(text: &str, span: Span) -> Ident {
    match text.strip_prefix("r#") {
        Some(raw) => Ident::new_raw(raw, span),
        None => Ident::new(text, span),
    }
}

fn member(field: &str, span: Span) -> Member {
    match field.parse::<u32>() {
        Ok(index) => Member::Unnamed(syn::Index { index, span }),
        Err(_) => Member::Named(name(field, span)),
    }
}

/// `<path>::<name><::<generics>>(<args Debug>)`: the function's module path (or `Self`'s type
/// name for associated functions), the type parameters' names, and every argument's `Debug`.
fn default_key(plan: &Plan) -> TokenStream {
    let func = plan.func.sig.ident.to_string();
    let mut format = format!("::{func}");
    let mut args: Vec<TokenStream> = Vec::new();
    let generics: Vec<TokenStream> = plan
        .type_params
        .iter()
        .map(|ty| quote!(::core::any::type_name::<#ty>()))
        .chain(plan.const_params.iter().map(|c| quote!(#c)))
        .collect();
    if !generics.is_empty() {
        let holes = vec!["{}"; generics.len()].join(", ");
        format.push_str(&format!("::<{holes}>"));
    }
    args.extend(generics);
    let holes = vec!["{:?}"; plan.func.params.len()].join(", ");
    format.push_str(&format!("({holes})"));
    args.extend(plan.func.params.iter().map(|p| p.ident.to_token_stream()));
    if plan.assoc {
        let format = LitStr::new(&format!("{{}}{format}"), Span::call_site());
        quote!(::std::format!(#format, ::core::any::type_name::<Self>() #(, #args)*))
    } else if args.is_empty() {
        quote!(::std::string::String::from(
            ::core::concat!(::core::module_path!(), #format)
        ))
    } else {
        quote!(::std::format!(::core::concat!(::core::module_path!(), #format) #(, #args)*))
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
