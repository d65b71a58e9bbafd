//! Parses the arguments of `#[cached(...)]`. Every option keeps the span of its keyword (for
//! errors about the option) and of its value (for errors about the value). Unknown and repeated
//! options are errors; values are checked here only as far as they can be without the function.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::{Expr, ExprLit, ExprUnary, Ident, Lit, LitBool, LitInt, LitStr, Path, Token, UnOp};

use crate::hints::{elsewhere, suggestion};

mod kw {
    syn::custom_keyword!(key);
    syn::custom_keyword!(ttl);
    syn::custom_keyword!(namespace);
    syn::custom_keyword!(stale);
    syn::custom_keyword!(refresh);
    syn::custom_keyword!(cache);
    syn::custom_keyword!(cache_none);
    syn::custom_keyword!(cache_err);
    syn::custom_keyword!(in_impl);
    syn::custom_keyword!(in_trait_impl);
    syn::custom_keyword!(codec);
}

/// The names of all options, for error messages.
const OPTIONS: &str = "key, ttl, namespace, stale, refresh, cache, crate, cache_none, cache_err, \
                       in_impl, in_trait_impl, codec";

/// One option as written: the span of its keyword and its value.
pub(crate) struct Opt<T> {
    pub(crate) span: Span,
    pub(crate) value: T,
}

/// A `ttl` or `stale` value.
#[derive(Clone)]
pub(crate) enum Duration {
    /// An integer literal: whole seconds.
    Seconds(LitInt, u64),
    /// Any other expression; it must evaluate to a `core::time::Duration`.
    Expr(Box<Expr>),
}

/// The parsed `#[cached(...)]` arguments.
#[derive(Default)]
pub(crate) struct Args {
    pub(crate) key: Option<Opt<LitStr>>,
    pub(crate) ttl: Option<Opt<Duration>>,
    pub(crate) namespace: Option<Opt<Expr>>,
    pub(crate) stale: Option<Opt<Duration>>,
    pub(crate) refresh: Option<Opt<LitBool>>,
    pub(crate) cache: Option<Opt<Expr>>,
    pub(crate) krate: Option<Opt<Path>>,
    pub(crate) cache_none: Option<Opt<()>>,
    pub(crate) cache_err: Option<Opt<()>>,
    pub(crate) in_impl: Option<Opt<()>>,
    pub(crate) in_trait_impl: Option<Opt<()>>,
    /// `codec = "postcard"`: the `CodecKind` variant it names, spanned at the string.
    pub(crate) codec: Option<Opt<Ident>>,
}

impl Parse for Args {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut args = Args::default();
        while !input.is_empty() {
            args.parse_one(input)?;
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(args)
    }
}

impl Args {
    fn parse_one(&mut self, input: ParseStream) -> syn::Result<()> {
        let look = input.lookahead1();
        if look.peek(kw::key) {
            let span = input.parse::<kw::key>()?.span;
            set(&mut self.key, span, "key", value(input, span, parse_key)?)
        } else if look.peek(kw::ttl) {
            let span = input.parse::<kw::ttl>()?.span;
            let ttl = value(input, span, |input| parse_duration(input, "ttl", false))?;
            set(&mut self.ttl, span, "ttl", ttl)
        } else if look.peek(kw::namespace) {
            let span = input.parse::<kw::namespace>()?.span;
            let namespace = value(input, span, parse_namespace)?;
            set(&mut self.namespace, span, "namespace", namespace)
        } else if look.peek(kw::stale) {
            let span = input.parse::<kw::stale>()?.span;
            let stale = value(input, span, |input| parse_duration(input, "stale", true))?;
            set(&mut self.stale, span, "stale", stale)
        } else if look.peek(kw::refresh) {
            let span = input.parse::<kw::refresh>()?.span;
            set(
                &mut self.refresh,
                span,
                "refresh",
                value(input, span, parse_bool)?,
            )
        } else if look.peek(kw::cache_none) {
            let span = input.parse::<kw::cache_none>()?.span;
            set(
                &mut self.cache_none,
                span,
                "cache_none",
                flag(input, "cache_none")?,
            )
        } else if look.peek(kw::cache_err) {
            let span = input.parse::<kw::cache_err>()?.span;
            set(
                &mut self.cache_err,
                span,
                "cache_err",
                flag(input, "cache_err")?,
            )
        } else if look.peek(kw::in_impl) {
            let span = input.parse::<kw::in_impl>()?.span;
            set(&mut self.in_impl, span, "in_impl", flag(input, "in_impl")?)
        } else if look.peek(kw::in_trait_impl) {
            let span = input.parse::<kw::in_trait_impl>()?.span;
            flag(input, "in_trait_impl")?;
            set(&mut self.in_trait_impl, span, "in_trait_impl", ())
        } else if look.peek(kw::codec) {
            let span = input.parse::<kw::codec>()?.span;
            set(
                &mut self.codec,
                span,
                "codec",
                value(input, span, parse_codec)?,
            )
        } else if look.peek(kw::cache) {
            let span = input.parse::<kw::cache>()?.span;
            set(
                &mut self.cache,
                span,
                "cache",
                value(input, span, Expr::parse)?,
            )
        } else if look.peek(Token![crate]) {
            let span = input.parse::<Token![crate]>()?.span;
            let path = value(input, span, Path::parse_mod_style)?;
            set(&mut self.krate, span, "crate", path)
        } else if input.peek(Ident) {
            Err(unknown_option(input))
        } else {
            Err(look.error())
        }
    }
}

/// Stores an option, refusing a second occurrence: the one helper every option goes through.
fn set<T>(slot: &mut Option<Opt<T>>, span: Span, name: &str, value: T) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(
            span,
            format!("#[cached] option `{name}` is given twice; keep one"),
        ));
    }
    *slot = Some(Opt { span, value });
    Ok(())
}

/// Parses `= <value>` after an option keyword.
fn value<T>(
    input: ParseStream,
    option: Span,
    parse: impl FnOnce(ParseStream) -> syn::Result<T>,
) -> syn::Result<T> {
    if !input.peek(Token![=]) {
        return Err(syn::Error::new(
            option,
            "this #[cached] option takes a value: write `option = value`",
        ));
    }
    input.parse::<Token![=]>()?;
    parse(input)
}

/// A flag takes no value.
fn flag(input: ParseStream, name: &str) -> syn::Result<()> {
    if input.peek(Token![=]) {
        let eq = input.parse::<Token![=]>()?;
        return Err(syn::Error::new(
            eq.span,
            format!("`{name}` is a flag: write `{name}` without a value, or leave it out"),
        ));
    }
    Ok(())
}

fn unknown_option(input: ParseStream) -> syn::Error {
    let name = input
        .parse::<Ident>()
        .map(|ident| (ident.to_string(), ident.span()));
    match name {
        Ok((name, span)) => {
            if let Some(instead) = elsewhere(&name) {
                return syn::Error::new(
                    span,
                    format!("#[cached] has no option `{name}`: {instead}"),
                );
            }
            let hint = suggestion(&name)
                .map(|known| format!(" (did you mean `{known}`?)"))
                .unwrap_or_default();
            syn::Error::new(
                span,
                format!("unknown #[cached] option `{name}`{hint}; the options are: {OPTIONS}"),
            )
        }
        Err(error) => error,
    }
}

fn parse_key(input: ParseStream) -> syn::Result<LitStr> {
    let expr: Expr = input.parse()?;
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Ok(lit),
        other => Err(syn::Error::new_spanned(
            other,
            "#[cached(key)] expects a string literal template, e.g. `key = \"product:{id}\"`",
        )),
    }
}

/// The codec names the engine's config accepts (any case; `messagepack` for `msgpack`), checked
/// here so a misspelling fails to compile at the string rather than at startup.
fn parse_codec(input: ParseStream) -> syn::Result<Ident> {
    let expr: Expr = input.parse()?;
    let Expr::Lit(ExprLit {
        lit: Lit::Str(name),
        ..
    }) = &expr
    else {
        return Err(syn::Error::new_spanned(
            expr,
            "#[cached(codec)] expects a string: \"bincode\", \"msgpack\", \"postcard\" or \"json\"",
        ));
    };
    let variant = match name.value().trim().to_ascii_lowercase().as_str() {
        "bincode" => "Bincode",
        "msgpack" | "messagepack" => "MessagePack",
        "postcard" => "Postcard",
        "json" => "Json",
        other => {
            return Err(syn::Error::new(
                name.span(),
                format!(
                    "#[cached(codec)] `{other}` is not a codec (known: bincode, msgpack, \
                     postcard, json)"
                ),
            ));
        }
    };
    Ok(Ident::new(variant, name.span()))
}

fn parse_bool(input: ParseStream) -> syn::Result<LitBool> {
    let expr: Expr = input.parse()?;
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(lit),
            ..
        }) => Ok(lit),
        other => Err(syn::Error::new_spanned(
            other,
            "#[cached(refresh)] expects `true` or `false`",
        )),
    }
}

fn parse_namespace(input: ParseStream) -> syn::Result<Expr> {
    let expr: Expr = input.parse()?;
    if let Expr::Lit(ExprLit { lit, .. }) = &expr {
        match lit {
            Lit::Str(name) => check_namespace(name)?,
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    "#[cached(namespace)] expects a string, e.g. `namespace = \"products\"`",
                ));
            }
        }
    }
    Ok(expr)
}

/// The engine's namespace rule, checked at compile time for literals.
fn check_namespace(name: &LitStr) -> syn::Result<()> {
    let value = name.value();
    let problem = if value.is_empty() {
        "must not be empty"
    } else if value.len() > 64 {
        "must be at most 64 bytes"
    } else if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        "may contain only A-Z, a-z, 0-9, '_', '-' and '.'"
    } else {
        return Ok(());
    };
    Err(syn::Error::new(
        name.span(),
        format!("#[cached(namespace)] `{value}` {problem}"),
    ))
}

/// `ttl = 300`, `ttl = Duration::from_millis(1500)`, or a misuse with a precise message.
fn parse_duration(input: ParseStream, name: &str, zero_ok: bool) -> syn::Result<Duration> {
    let expr: Expr = input.parse()?;
    let usage = format!(
        "#[cached({name})] expects whole seconds (`{name} = 300`) or a `Duration` expression \
         (`{name} = Duration::from_millis(1500)`)"
    );
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) => seconds(int, name, zero_ok, &usage),
        Expr::Lit(ExprLit { lit, .. }) => {
            let found = match lit {
                Lit::Str(_) => "a string",
                Lit::Float(_) => "a fractional number (use `Duration::from_millis`)",
                Lit::Bool(_) => "a boolean",
                _ => "a literal of another kind",
            };
            Err(syn::Error::new(
                lit.span(),
                format!("{usage}; found {found}"),
            ))
        }
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_), ..
        }) => Err(syn::Error::new_spanned(
            expr,
            format!("#[cached({name})] must not be negative"),
        )),
        other => Ok(Duration::Expr(Box::new(other))),
    }
}

fn seconds(int: LitInt, name: &str, zero_ok: bool, usage: &str) -> syn::Result<Duration> {
    let suffix = int.suffix();
    if !suffix.is_empty() && !is_integer_type(suffix) {
        return Err(syn::Error::new(
            int.span(),
            format!("{usage}; `{suffix}` is not a unit this option knows (the number is seconds)"),
        ));
    }
    let value = int.base10_parse::<u64>().map_err(|_| {
        syn::Error::new(
            int.span(),
            format!("#[cached({name})] is too large for whole seconds in a u64"),
        )
    })?;
    if value == 0 && !zero_ok {
        return Err(syn::Error::new(
            int.span(),
            format!("#[cached({name})] must be at least 1 second; use a `Duration` for less"),
        ));
    }
    Ok(Duration::Seconds(int, value))
}

fn is_integer_type(suffix: &str) -> bool {
    matches!(
        suffix,
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" | "i8" | "i16" | "i32" | "i64" | "i128"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(tokens: proc_macro2::TokenStream) -> syn::Result<Args> {
        syn::parse2(tokens)
    }

    fn error(tokens: proc_macro2::TokenStream) -> String {
        match parse(tokens) {
            Ok(_) => panic!("expected an error"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn every_option_parses() {
        let args = parse(quote::quote!(
            key = "p:{id}",
            ttl = 300,
            namespace = "products",
            stale = 30,
            refresh = false,
            cache = CACHE,
            crate = ::my::tiered_cache,
            cache_none,
            cache_err,
            in_impl,
            in_trait_impl,
        ))
        .expect("parses");
        assert_eq!(args.key.map(|k| k.value.value()).as_deref(), Some("p:{id}"));
        assert!(matches!(
            args.ttl.map(|t| t.value),
            Some(Duration::Seconds(_, 300))
        ));
        assert!(matches!(
            args.stale.map(|t| t.value),
            Some(Duration::Seconds(_, 30))
        ));
        assert!(args.refresh.is_some_and(|r| !r.value.value));
        assert!(args.cache.is_some() && args.krate.is_some());
        assert!(args.cache_none.is_some() && args.cache_err.is_some() && args.in_impl.is_some());
        assert!(args.in_trait_impl.is_some());
    }

    #[test]
    fn a_duration_expression_is_kept() {
        let args = parse(quote::quote!(ttl = Duration::from_millis(1500))).expect("parses");
        assert!(matches!(args.ttl.map(|t| t.value), Some(Duration::Expr(_))));
    }

    #[test]
    fn misuse_is_named() {
        assert!(error(quote::quote!(ttl = "300")).contains("found a string"));
        assert!(error(quote::quote!(ttl = 1.5)).contains("fractional"));
        assert!(error(quote::quote!(ttl = 0)).contains("at least 1 second"));
        assert!(error(quote::quote!(ttl = -5)).contains("must not be negative"));
        assert!(error(quote::quote!(ttl = 5m)).contains("`m` is not a unit"));
        assert!(error(quote::quote!(ttl = 1, ttl = 2)).contains("`ttl` is given twice"));
        assert!(error(quote::quote!(tll = 1)).contains("did you mean `ttl`"));
        assert!(error(quote::quote!(namespace = "a b")).contains("may contain only"));
        assert!(error(quote::quote!(cache_none = true)).contains("is a flag"));
        assert!(error(quote::quote!(key)).contains("takes a value"));
        assert!(error(quote::quote!(key = 5)).contains("string literal template"));
        assert!(parse(quote::quote!(stale = 0)).is_ok());
        assert!(error(quote::quote!(max_size = 100)).contains("l1_max_size"));
        assert!(error(quote::quote!(with_cached_flag = true)).contains("_with_meta"));
        assert!(error(quote::quote!(sync_writes = "by_key")).contains("share one run"));
    }
}
