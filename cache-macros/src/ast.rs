//! A typed view of the annotated function: its receiver, its named parameters and how each is
//! passed, and the shape of its return type. Building the view fails only for parameters that
//! are not plain names; every other rule lives in `valid`.

use proc_macro2::Span;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{
    Attribute, Block, FnArg, GenericArgument, Ident, ItemFn, Pat, PathArguments, Receiver,
    ReceiverKind, ReturnType, Signature, Type, Visibility,
};

/// The annotated function.
pub(crate) struct Function {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    pub(crate) block: Box<Block>,
    pub(crate) receiver: Option<Receiver>,
    pub(crate) params: Vec<Param>,
    pub(crate) ret: Return,
}

/// A named parameter.
pub(crate) struct Param {
    pub(crate) ident: Ident,
    /// `mut id: u64`: the body may change its copy.
    pub(crate) mutability: Option<syn::Token![mut]>,
    pub(crate) ty: Type,
    pub(crate) pass: Pass,
}

/// How a parameter is passed, which decides how the background refresh gets its own copy.
pub(crate) enum Pass {
    /// By value: the refresh gets a `Clone`.
    Owned,
    /// `&T`: the refresh gets an owned copy (`String` for `&str`) and lends it back as `&T`.
    Borrowed(Box<Type>),
    /// `&mut T`: refused.
    BorrowedMut,
    /// `impl Trait`: an anonymous type parameter, refused.
    ImplTrait,
}

/// The return type and what the cache stores of it.
pub(crate) enum Return {
    /// `-> ()` (with its span) or nothing: refused.
    Unit(Option<Span>),
    /// `-> impl Trait`: refused.
    Opaque(Box<Type>),
    Value {
        ty: Box<Type>,
        kind: ReturnKind,
    },
}

/// What a returned value means to the cache.
pub(crate) enum ReturnKind {
    /// Any `T`: cached as is.
    Plain,
    /// `Result<T, E>` (or an alias such as `io::Result<T>`, where `E` is not written):
    /// `Ok` values are cached.
    Result {
        value: Box<Type>,
        error: Option<Box<Type>>,
    },
    /// `Option<T>`: `Some` values are cached (the whole `Option` is the stored type).
    Option,
}

impl Function {
    pub(crate) fn from_item(item: ItemFn) -> syn::Result<Self> {
        let ItemFn {
            attrs,
            vis,
            sig,
            block,
            ..
        } = item;
        let mut receiver = None;
        let mut params = Vec::new();
        for input in &sig.inputs {
            match input {
                FnArg::Receiver(r) => receiver = Some(r.clone()),
                FnArg::Typed(typed) => params.push(Param::new(&typed.pat, &typed.ty)?),
            }
        }
        let ret = Return::new(&sig.output);
        Ok(Function {
            attrs,
            vis,
            sig,
            block,
            receiver,
            params,
            ret,
        })
    }

    /// Whether the function is an associated function (its companions are reached as `Self::`).
    pub(crate) fn mentions_self(&self) -> bool {
        self.receiver.is_some() || tokens_mention_self(&self.sig)
    }
}

impl Param {
    fn new(pat: &Pat, ty: &Type) -> syn::Result<Self> {
        let (ident, mutability) = match pat {
            Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => {
                (pat.ident.clone(), pat.mutability)
            }
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    "#[cached] needs every argument to be a plain name (`id: u64`) so the key \
                     and the background refresh can refer to it; destructure inside the body",
                ));
            }
        };
        let pass = match ungroup(ty) {
            Type::Reference(reference) if reference.mutability.is_some() => Pass::BorrowedMut,
            Type::Reference(reference) => Pass::Borrowed(reference.elem.clone()),
            Type::ImplTrait(_) => Pass::ImplTrait,
            _ => Pass::Owned,
        };
        Ok(Param {
            ident,
            mutability,
            ty: ty.clone(),
            pass,
        })
    }
}

impl Return {
    fn new(output: &ReturnType) -> Self {
        let ty = match output {
            ReturnType::Default => return Return::Unit(None),
            ReturnType::Type(_, ty) => ty,
        };
        match ungroup(ty) {
            Type::Tuple(tuple) if tuple.elems.is_empty() => Return::Unit(Some(ty.span())),
            Type::ImplTrait(_) => Return::Opaque(ty.clone()),
            inner => Return::Value {
                ty: ty.clone(),
                kind: ReturnKind::of(inner),
            },
        }
    }
}

impl ReturnKind {
    fn of(ty: &Type) -> Self {
        let Type::Path(path) = ty else {
            return ReturnKind::Plain;
        };
        if path.qself.is_some() {
            return ReturnKind::Plain;
        }
        let Some(last) = path.path.segments.last() else {
            return ReturnKind::Plain;
        };
        let PathArguments::AngleBracketed(args) = &last.arguments else {
            return ReturnKind::Plain;
        };
        let Some(GenericArgument::Type(value)) = args.args.first() else {
            return ReturnKind::Plain;
        };
        let value = Box::new(value.clone());
        if last.ident == "Result" {
            let error = match args.args.iter().nth(1) {
                Some(GenericArgument::Type(error)) => Some(Box::new(error.clone())),
                _ => None,
            };
            ReturnKind::Result { value, error }
        } else if last.ident == "Option" && args.args.len() == 1 {
            ReturnKind::Option
        } else {
            ReturnKind::Plain
        }
    }
}

/// Looks through the invisible groups `macro_rules!` wraps around types.
pub(crate) fn ungroup(mut ty: &Type) -> &Type {
    while let Type::Group(group) = ty {
        ty = &group.elem;
    }
    ty
}

/// Whether `Self` occurs anywhere in the signature (then the function lives in an `impl`).
fn tokens_mention_self(sig: &Signature) -> bool {
    fn scan(tokens: proc_macro2::TokenStream) -> bool {
        tokens.into_iter().any(|tree| match tree {
            proc_macro2::TokenTree::Ident(ident) => ident == "Self",
            proc_macro2::TokenTree::Group(group) => scan(group.stream()),
            _ => false,
        })
    }
    scan(quote::ToTokens::to_token_stream(sig))
}

/// The receiver's kind as the rules see it.
pub(crate) fn receiver_is_shared_ref(receiver: &Receiver) -> bool {
    matches!(receiver.kind, ReceiverKind::Reference(_, _, None))
}

/// The inputs of `sig` without `mut` on parameter names (the wrapper and the key-only
/// companions never mutate them; `mut` is not part of a function's type).
pub(crate) fn inputs_without_mut(sig: &Signature) -> Punctuated<FnArg, syn::Token![,]> {
    let mut inputs = sig.inputs.clone();
    for input in &mut inputs {
        if let FnArg::Typed(typed) = input {
            if let Pat::Ident(pat) = &mut *typed.pat {
                pat.mutability = None;
            }
        }
    }
    inputs
}

/// Where `tokens` call the method `name` on `self` or `Self` (`self.name(`, `Self::name(`):
/// a recursive call.
pub(crate) fn calls_itself(tokens: proc_macro2::TokenStream, name: &Ident) -> Option<Span> {
    use proc_macro2::{Delimiter, TokenTree};
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    for (i, tree) in trees.iter().enumerate() {
        if let TokenTree::Group(group) = tree {
            if let Some(span) = calls_itself(group.stream(), name) {
                return Some(span);
            }
        }
        let TokenTree::Ident(receiver) = tree else {
            continue;
        };
        let rest = &trees[i + 1..];
        let (method, args) = match rest {
            [
                TokenTree::Punct(dot),
                TokenTree::Ident(method),
                TokenTree::Group(args),
                ..,
            ] if receiver == "self" && dot.as_char() == '.' => (method, args),
            [
                TokenTree::Punct(a),
                TokenTree::Punct(b),
                TokenTree::Ident(method),
                TokenTree::Group(args),
                ..,
            ] if receiver == "Self" && a.as_char() == ':' && b.as_char() == ':' => (method, args),
            _ => continue,
        };
        if method == name && args.delimiter() == Delimiter::Parenthesis {
            return Some(method.span());
        }
    }
    None
}
