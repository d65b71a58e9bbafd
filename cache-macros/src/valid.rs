//! The rules that tie the options to the function, checked before anything is emitted. The
//! result is a [`Plan`]: everything `expand` needs, already known to be consistent, so emitting
//! cannot fail. Every violation is reported (combined), each at the tokens it is about.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::spanned::Spanned;
use syn::{Expr, GenericParam, Ident, Type};

use crate::ast::{self, Function, Pass, Return, ReturnKind};
use crate::attr::{Args, Duration, Opt};
use crate::key::Template;

/// A function and its options, validated.
pub(crate) struct Plan {
    pub(crate) func: Function,
    /// Path of the facade crate (`::tiered_cache` unless `crate = ...`).
    pub(crate) krate: TokenStream,
    pub(crate) key: KeyPlan,
    pub(crate) mode: Mode,
    /// The type the cache stores.
    pub(crate) value_ty: Type,
    /// The full return type.
    pub(crate) ret_ty: Type,
    pub(crate) ttl: Option<Duration>,
    pub(crate) stale: Stale,
    pub(crate) namespace: Option<Expr>,
    /// `codec = ...`: the `CodecKind` variant; `None` means the cache's configured codec.
    pub(crate) codec: Option<Ident>,
    /// `cache = ...`; `None` means the global cache.
    pub(crate) source: Option<Expr>,
    /// Companions are reached as `Self::name` (the function is in an `impl`).
    pub(crate) assoc: bool,
    /// `in_trait_impl`: one method, no companions (a trait impl has room for no other item).
    pub(crate) trait_impl: bool,
    pub(crate) type_params: Vec<Ident>,
    pub(crate) const_params: Vec<Ident>,
}

/// Where the key comes from.
pub(crate) enum KeyPlan {
    Template(Template),
    /// Function path, generic parameters and every argument's `Serialize`.
    Default,
}

/// How a return value maps onto the cache.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The whole return value is cached.
    Plain,
    /// `Result`: `Ok` is cached, `Err` is shared with every coalesced caller.
    Fallible,
    /// `Option`: `Some` is cached, `None` is shared with every coalesced caller.
    Optional,
}

/// The stale window.
pub(crate) enum Stale {
    /// The cache's configured window.
    Default,
    Window(Duration),
    /// `refresh = false`: fresh until the ttl, never refreshed in the background.
    Off,
}

/// Collects every violation instead of stopping at the first.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, span: Span, message: impl std::fmt::Display) {
        self.add(syn::Error::new(span, message));
    }

    fn add(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

pub(crate) fn check(args: Args, func: Function) -> syn::Result<Plan> {
    let mut errors = Errors::default();
    check_signature(&func, &mut errors);
    check_params(&func, &mut errors);
    let (type_params, const_params) = generic_params(&func);
    let key = match &args.key {
        Some(Opt { value, .. }) => match Template::parse(value) {
            Ok(template) => {
                check_template(&template, &func, &type_params, &const_params, &mut errors);
                KeyPlan::Template(template)
            }
            Err(error) => {
                errors.add(error);
                KeyPlan::Default
            }
        },
        None => {
            check_default_key(&func, &mut errors);
            KeyPlan::Default
        }
    };
    let shape = return_shape(&args, &func, &mut errors);
    let stale = stale_setting(&args, &mut errors);
    check_trait_impl(&args, &func, &mut errors);
    errors.finish()?;
    // `return_shape` reports an error whenever it gives no shape, so `finish` returned above.
    let (mode, value_ty, ret_ty) =
        shape.ok_or_else(|| syn::Error::new(Span::call_site(), "#[cached]: no return type"))?;
    let krate = match args.krate {
        Some(Opt { value, .. }) => quote!(#value),
        None => quote!(::tiered_cache),
    };
    let trait_impl = args.in_trait_impl.is_some();
    Ok(Plan {
        assoc: trait_impl || args.in_impl.is_some() || func.mentions_self(),
        trait_impl,
        func,
        krate,
        key,
        mode,
        value_ty,
        ret_ty,
        ttl: args.ttl.map(|opt| opt.value),
        stale,
        namespace: args.namespace.map(|opt| opt.value),
        codec: args.codec.map(|opt| opt.value),
        source: args.cache.map(|opt| opt.value),
        type_params,
        const_params,
    })
}

/// `in_trait_impl` says the function is a member of a trait impl: no visibility of its own, and
/// `in_impl` has nothing to add.
fn check_trait_impl(args: &Args, func: &Function, errors: &mut Errors) {
    if args.in_trait_impl.is_none() {
        return;
    }
    if let Some(in_impl) = &args.in_impl {
        errors.push(
            in_impl.span,
            "`in_trait_impl` already says the function is in an impl; drop `in_impl`",
        );
    }
    if !matches!(func.vis, syn::Visibility::Inherited) {
        errors.push(
            func.vis.span(),
            "`in_trait_impl` is for a member of a trait impl, which has no visibility of its \
             own; drop it, or drop `in_trait_impl` for a method of an inherent impl",
        );
    }
    let name = &func.sig.ident;
    let body = quote::ToTokens::to_token_stream(&func.block);
    if let Some(call) = ast::calls_itself(body, name) {
        errors.push(
            call,
            format!(
                "a recursive `in_trait_impl` method cannot be cached: its loader must be `Send`, \
                 which depends on this method's own future type while the compiler infers it, \
                 and a trait impl has no room for the function that breaks the cycle. Move the \
                 body into a #[cached] method of an inherent impl that recurses into itself \
                 (`Box::pin(self.{name}_cached(n - 1)).await`), and call that from `{name}`"
            ),
        );
    }
}

fn check_signature(func: &Function, errors: &mut Errors) {
    let sig = &func.sig;
    if sig.asyncness.is_none() {
        errors.push(
            sig.fn_token.span,
            "#[cached] needs an `async fn`: a cached call may wait for Redis or for another \
             caller's load; write `async fn`",
        );
    }
    if let Some(constness) = &sig.constness {
        errors.push(constness.span, "#[cached] cannot cache a `const fn`");
    }
    if let syn::Safety::Unsafe(unsafety) = &sig.safety {
        errors.push(unsafety.span, "#[cached] does not support `unsafe fn`");
    }
    if let Some(abi) = &sig.abi {
        errors.push(abi.span(), "#[cached] does not support `extern` functions");
    }
    let refused = func
        .receiver
        .as_ref()
        .filter(|receiver| !ast::receiver_is_shared_ref(receiver));
    if let Some(receiver) = refused {
        let message = if matches!(receiver.kind, syn::ReceiverKind::Reference(..)) {
            "a #[cached] method cannot take `&mut self`: a cached call may not run the body at \
             all, and a background refresh runs it later on a clone of `self`; take `&self`"
        } else {
            "#[cached] methods take `&self` (a background refresh runs the body on a clone of \
             `self`, so `Self: Clone`); keep shared state behind `Arc`"
        };
        errors.push(receiver.span(), message);
    }
}

fn check_params(func: &Function, errors: &mut Errors) {
    for param in &func.params {
        if param.ident.to_string().starts_with("__cached_") {
            errors.push(
                param.ident.span(),
                "names starting with `__cached_` are reserved for #[cached]'s own variables",
            );
        }
        match param.pass {
            Pass::BorrowedMut => errors.push(
                param.ty.span(),
                "#[cached] functions cannot take `&mut` arguments: a cached call may not run \
                 the body, and a background refresh runs it later on a copy",
            ),
            Pass::ImplTrait => errors.push(
                param.ty.span(),
                "#[cached] cannot key an `impl Trait` argument (an anonymous type parameter): \
                 use a named type parameter `T` and put `{T}` in the key",
            ),
            Pass::Owned | Pass::Borrowed(_) => {}
        }
    }
}

/// A default key names the function and its arguments, not `self`, so a method must say what
/// identifies `self` (two instances, one per tenant, would otherwise share entries).
fn check_default_key(func: &Function, errors: &mut Errors) {
    let Some(receiver) = func
        .receiver
        .as_ref()
        .filter(|receiver| ast::receiver_is_shared_ref(receiver))
    else {
        return;
    };
    let mut example = format!("{}:{{self.tenant}}", func.sig.ident);
    for param in &func.params {
        example.push_str(&format!(":{{{}}}", param.ident));
    }
    errors.push(
        receiver.self_token.span,
        format!(
            "a #[cached] method needs `key = \"...\"` naming what identifies `self` (for \
             example `key = \"{example}\"` with the field that tells instances apart, or \
             `{{self}}` when `Self: Display`): the default key cannot tell two `Self` values apart"
        ),
    );
}

fn generic_params(func: &Function) -> (Vec<Ident>, Vec<Ident>) {
    let mut types = Vec::new();
    let mut consts = Vec::new();
    for param in &func.sig.generics.params {
        match param {
            GenericParam::Type(ty) => types.push(ty.ident.clone()),
            GenericParam::Const(c) => consts.push(c.ident.clone()),
            GenericParam::Lifetime(_) => {}
        }
    }
    (types, consts)
}

fn check_template(
    template: &Template,
    func: &Function,
    type_params: &[Ident],
    const_params: &[Ident],
    errors: &mut Errors,
) {
    let span = template.lit.span();
    let args: Vec<String> = func.params.iter().map(|p| p.ident.to_string()).collect();
    let is_arg = |name: &str| args.iter().any(|a| a == name);
    let is_type = |name: &str| type_params.iter().any(|t| t == name);
    let is_const = |name: &str| const_params.iter().any(|c| c == name);
    for name in template.angle_names() {
        if is_arg(&name) || (name == "self" && func.receiver.is_some()) {
            errors.push(
                span,
                format!(
                    "#[cached(key)] writes `<{name}>`, which is literal text; placeholders use \
                     braces: write `{{{name}}}`"
                ),
            );
        }
    }
    for hole in template.holes() {
        let root = hole.root.as_str();
        if root == "self" {
            if func.receiver.is_none() {
                errors.push(
                    span,
                    "#[cached(key)] uses `{self}`, but this function has no `self`",
                );
            }
        } else if is_type(root) {
            if !hole.fields.is_empty() {
                errors.push(
                    span,
                    format!("#[cached(key)] `{{{root}}}` is a type parameter; it has no fields"),
                );
            }
        } else if !is_arg(root) && !is_const(root) {
            errors.push(
                span,
                unknown_placeholder(root, func, type_params, const_params),
            );
        }
    }
    for param in type_params.iter().chain(const_params) {
        if !template.holes().any(|hole| param == &hole.root) {
            errors.push(
                param.span(),
                format!(
                    "generic parameter `{param}` is not in the key: calls with different \
                     `{param}` would share one cache entry; add `{{{param}}}` to the key (a type \
                     renders as `std::any::type_name`)"
                ),
            );
        }
    }
}

fn unknown_placeholder(
    root: &str,
    func: &Function,
    type_params: &[Ident],
    const_params: &[Ident],
) -> String {
    let mut names: Vec<String> = Vec::new();
    if func.receiver.is_some() {
        names.push("self".into());
    }
    names.extend(func.params.iter().map(|p| p.ident.to_string()));
    names.extend(type_params.iter().chain(const_params).map(Ident::to_string));
    let known = if names.is_empty() {
        "the function has no arguments".to_owned()
    } else {
        format!("the arguments are: {}", names.join(", "))
    };
    format!("#[cached(key)] placeholder `{{{root}}}` names no argument; {known}")
}

/// The mode, the stored type and the return type, or `None` after reporting why not.
fn return_shape(args: &Args, func: &Function, errors: &mut Errors) -> Option<(Mode, Type, Type)> {
    let (ty, kind) = match &func.ret {
        Return::Unit(span) => {
            errors.push(
                span.unwrap_or_else(|| func.sig.paren_token.span.close()),
                "a #[cached] function must return the value to cache; this one returns `()`",
            );
            return None;
        }
        Return::Opaque(ty) => {
            errors.push(
                ty.span(),
                "#[cached] needs a named return type: an `impl Trait` value cannot be stored \
                 and read back",
            );
            return None;
        }
        Return::Value { ty, kind } => (ty, kind),
    };
    let is_option = matches!(kind, ReturnKind::Option);
    let is_result = matches!(kind, ReturnKind::Result { .. });
    if let Some(flag) = args.cache_none.as_ref().filter(|_| !is_option) {
        errors.push(
            flag.span,
            "`cache_none` applies to functions returning `Option<T>`",
        );
    }
    if let Some(flag) = args.cache_err.as_ref().filter(|_| !is_result) {
        errors.push(
            flag.span,
            "`cache_err` applies to functions returning `Result<T, E>`",
        );
    }
    let whole = (**ty).clone();
    Some(match kind {
        ReturnKind::Result { value, .. } if args.cache_err.is_none() => {
            (Mode::Fallible, (**value).clone(), whole)
        }
        // The whole `Option` is stored: a `None` is an answer (it removes the entry), so the
        // engine must see it as a value, not as a loader failure that fail-safe may cover.
        ReturnKind::Option if args.cache_none.is_none() => (Mode::Optional, whole.clone(), whole),
        _ => (Mode::Plain, whole.clone(), whole),
    })
}

fn stale_setting(args: &Args, errors: &mut Errors) -> Stale {
    if args.refresh.as_ref().is_some_and(|r| !r.value.value) {
        if let (Some(_), Some(refresh)) = (&args.stale, &args.refresh) {
            errors.push(
                refresh.span,
                "`refresh = false` serves an entry until its ttl and never refreshes it, so a \
                 `stale` window has nothing to do; keep one of them",
            );
        }
        return Stale::Off;
    }
    let Some(stale) = &args.stale else {
        return Stale::Default;
    };
    let ttl = args.ttl.as_ref().map(|ttl| &ttl.value);
    if let (Duration::Seconds(_, window), Some(Duration::Seconds(_, ttl))) = (&stale.value, ttl) {
        if window >= ttl {
            errors.push(
                stale.span,
                format!(
                    "#[cached(stale)] ({window} s) must be shorter than the ttl ({ttl} s): an \
                     entry is fresh for ttl - stale, then served stale while one refresh runs"
                ),
            );
        }
    }
    Stale::Window(stale.value.clone())
}

#[cfg(test)]
mod tests;
