//! The key of a call, built without `format!`: literal text with `push_str`, each value through
//! the facade's `__private::key` helpers, which escape template values and write default-key
//! arguments by their `Serialize`. The expression is the body of `{fn}_key`, where every
//! argument is a reference (`id: &u64`, `name: &str`).
//!
//! ```text
//! #[cached(key = "user:{self.tenant}:{id}")]   =>   {
//!                                                       let mut b = Key::start("user:", 33);
//!                                                       b.push_display(&self.tenant, ":");
//!                                                       b.push_str(":");
//!                                                       b.push_display(&id, ":");
//!                                                       b.finish()
//!                                                   }
//! ```

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, LitStr, Member};

use crate::ast::{Param, Pass};
use crate::key::{Hole, Part, Template, VALUE_CAPACITY};
use crate::valid::{KeyPlan, Plan};

/// The key of a call, a `String`, with every argument in scope as a reference: statements and
/// a final expression, the body of a block.
pub(crate) fn key(plan: &Plan) -> TokenStream {
    match &plan.key {
        KeyPlan::Template(template) => template_key(plan, template),
        KeyPlan::Default => default_key(plan),
    }
}

/// A key as the expansion builds it: a start, then literal text and values in order, written
/// into a `__private::key::Key` with room for `extra` more bytes. Adjacent literal text is
/// merged, and text before the first value joins the start.
struct Builder {
    start: Start,
    /// Literal text before the first value.
    head: String,
    /// Whether a value was written (later text is pushed after it).
    started: bool,
    steps: Vec<TokenStream>,
    /// Literal text not yet written.
    text: String,
    extra: usize,
    span: Span,
}

/// What a key starts with, before its head text.
enum Start {
    /// Nothing: the key starts with the head text.
    Text,
    /// `module_path!()`, joined with the head text in one `concat!`.
    ModulePath,
    /// A `&str` expression; the head text is pushed after it.
    Expr(TokenStream),
}

impl Builder {
    fn new(start: Start, extra: usize, span: Span) -> Self {
        Builder {
            start,
            head: String::new(),
            started: false,
            steps: Vec::new(),
            text: String::new(),
            extra,
            span,
        }
    }

    fn text(&mut self, text: &str) {
        self.text.push_str(text);
    }

    fn value(&mut self, step: TokenStream) {
        self.flush();
        self.started = true;
        self.steps.push(step);
    }

    fn flush(&mut self) {
        let text = std::mem::take(&mut self.text);
        if !self.started {
            self.head.push_str(&text);
        } else if !text.is_empty() {
            self.steps.push(self.push_str(&text));
        }
    }

    fn push_str(&self, text: &str) -> TokenStream {
        let text = LitStr::new(text, self.span);
        quote!(__cached_builder.push_str(#text);)
    }

    fn finish(mut self, krate: &TokenStream) -> TokenStream {
        self.flush();
        let head = LitStr::new(&self.head, self.span);
        let start = match self.start {
            Start::Text => quote!(#head),
            Start::ModulePath => quote!(::core::concat!(::core::module_path!(), #head)),
            Start::Expr(ref expr) => {
                let expr = expr.clone();
                if !self.head.is_empty() {
                    self.steps.insert(0, self.push_str(&self.head));
                }
                expr
            }
        };
        let extra = proc_macro2::Literal::usize_unsuffixed(self.extra);
        let steps = &self.steps;
        quote! {
            let mut __cached_builder = #krate::__private::key::Key::start(#start, #extra);
            #(#steps)*
            __cached_builder.finish()
        }
    }
}

/// The template's text as written, each value escaped (`%` and the template's separators), type
/// and const parameters as they are. Spanned at the key, so a value that is not `Display` is
/// reported there.
fn template_key(plan: &Plan, template: &Template) -> TokenStream {
    let span = template.lit.span();
    if let [Part::Text(text)] = template.parts.as_slice() {
        let text = LitStr::new(text, span);
        return quote!(::std::string::String::from(#text));
    }
    let separators = LitStr::new(&template.separators(), span);
    let mut key = Builder::new(Start::Text, template.extra_capacity(), span);
    for part in &template.parts {
        match part {
            Part::Text(text) => key.text(text),
            Part::Hole(hole) => key.value(hole_push(plan, hole, &separators, span)),
        }
    }
    key.finish(&plan.krate)
}

/// The push of one placeholder: an argument (and its fields) or `self`, escaped; a type
/// parameter's name or a const parameter, unescaped.
fn hole_push(plan: &Plan, hole: &Hole, separators: &LitStr, span: Span) -> TokenStream {
    let format = match hole.spec.as_str() {
        "" => LitStr::new("{}", span),
        spec => LitStr::new(&format!("{{:{spec}}}"), span),
    };
    let root = name(&hole.root, span);
    if plan.type_params.iter().any(|t| t == &hole.root) {
        let type_name = quote_spanned!(span=> ::core::any::type_name::<#root>());
        return if hole.spec.is_empty() {
            quote_spanned!(span=> __cached_builder.push_str(#type_name);)
        } else {
            quote_spanned!(span=>
                __cached_builder.push_unescaped(::core::format_args!(#format, #type_name));
            )
        };
    }
    if plan.const_params.iter().any(|c| c == &hole.root) {
        return quote_spanned!(span=>
            __cached_builder.push_unescaped(::core::format_args!(#format, #root));
        );
    }
    let root = if hole.root == "self" {
        quote_spanned!(span=> self)
    } else {
        root.into_token_stream()
    };
    let fields = hole.fields.iter().map(|field| member(field, span));
    let value = quote_spanned!(span=> #root #(.#fields)*);
    if !hole.spec.is_empty() {
        // `format_args!` borrows its arguments itself.
        return quote_spanned!(span=>
            __cached_builder.push_fmt(::core::format_args!(#format, #value), #separators);
        );
    }
    // `self` and the arguments are references already (`{fn}_key` borrows its arguments); a
    // field is borrowed.
    let value = if hole.fields.is_empty() {
        value
    } else {
        quote_spanned!(span=> &#value)
    };
    quote_spanned!(span=> __cached_builder.push_display(#value, #separators);)
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

/// `<path>::<name>[::<T>,..](<arg>,<arg>)`: the function's module path (or `Self`'s type name
/// for associated functions), the generic parameters, and every argument written by its
/// `Serialize` (`__private::key::KeyArg`, spanned at the argument's type, so a type without
/// `Serialize` is reported there).
fn default_key(plan: &Plan) -> TokenStream {
    let krate = &plan.krate;
    let func = plan.func.sig.ident.to_string();
    let name = format!("::{}", func.strip_prefix("r#").unwrap_or(&func));
    let has_generics = !plan.type_params.is_empty() || !plan.const_params.is_empty();
    if !has_generics && plan.func.params.is_empty() && !plan.assoc {
        let text = format!("{name}()");
        return quote!(::std::string::String::from(
            ::core::concat!(::core::module_path!(), #text)
        ));
    }
    let values = plan.type_params.len() + plan.const_params.len() + plan.func.params.len();
    let extra = name.len() + 4 + values * (VALUE_CAPACITY + 1);
    let start = if plan.assoc {
        Start::Expr(quote!(::core::any::type_name::<Self>()))
    } else {
        Start::ModulePath
    };
    let mut key = Builder::new(start, extra, Span::call_site());
    key.text(&name);
    if has_generics {
        let types = plan
            .type_params
            .iter()
            .map(|ty| quote!(__cached_builder.push_str(::core::any::type_name::<#ty>());));
        let consts = plan
            .const_params
            .iter()
            .map(|c| quote!(__cached_builder.push_unescaped(::core::format_args!("{}", #c));));
        key.text("::<");
        for (i, step) in types.chain(consts).enumerate() {
            if i > 0 {
                key.text(",");
            }
            key.value(step);
        }
        key.text(">");
    }
    key.text("(");
    for (i, param) in plan.func.params.iter().enumerate() {
        if i > 0 {
            key.text(",");
        }
        key.value(key_arg(krate, param));
    }
    key.text(")");
    key.finish(krate)
}

/// `<T as KeyArg>::write_key(arg, &mut key)`, with `T` the argument's type (the referent for
/// `&T`), spanned at it; `arg` is a reference either way.
fn key_arg(krate: &TokenStream, param: &Param) -> TokenStream {
    let ident = &param.ident;
    let ty = match &param.pass {
        Pass::Borrowed(elem) => &**elem,
        _ => &param.ty,
    };
    quote_spanned!(ty.span()=>
        <#ty as #krate::__private::key::KeyArg>::write_key(#ident, &mut __cached_builder);
    )
}
