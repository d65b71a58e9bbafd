//! Renames `self` in a method body that moves into a closure (`in_trait_impl`): a closure
//! cannot take `self`, so it takes `__cached_self` and the body refers to that.
//!
//! The rename works on tokens, so it reaches into macro calls (`format!("{}", self.name)`)
//! too. It leaves alone what is not the method's `self`: a path that starts with `self::`, and
//! the bodies of items declared inside the body (`fn`, `impl`, `trait`, `mod`,
//! `macro_rules!`), whose `self` is their own.

use proc_macro2::{Delimiter, Group, Ident, Spacing, TokenStream, TokenTree};

/// The local that stands for `self` inside the closure.
const LOCAL: &str = "__cached_self";

pub(crate) fn self_to_local(tokens: TokenStream) -> TokenStream {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    let mut out = Vec::with_capacity(trees.len());
    let mut i = 0;
    while i < trees.len() {
        if let Some(end) = item_end(&trees, i) {
            // An item of its own: copied as written.
            out.extend(trees[i..end].iter().cloned());
            i = end;
            continue;
        }
        out.push(match &trees[i] {
            TokenTree::Ident(ident) if ident == "self" && !starts_path(&trees, i + 1) => {
                TokenTree::Ident(Ident::new(LOCAL, ident.span()))
            }
            TokenTree::Group(group) => {
                let mut renamed = Group::new(group.delimiter(), self_to_local(group.stream()));
                renamed.set_span(group.span());
                TokenTree::Group(renamed)
            }
            other => other.clone(),
        });
        i += 1;
    }
    out.into_iter().collect()
}

/// Whether `::` follows at `at`.
fn starts_path(trees: &[TokenTree], at: usize) -> bool {
    matches!(
        (trees.get(at), trees.get(at + 1)),
        (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
            if a.as_char() == ':' && a.spacing() == Spacing::Joint && b.as_char() == ':'
    )
}

/// When an item declaration starts at `at`, the index after its body (the first `{ .. }` group,
/// or a `;` for a declaration without one).
fn item_end(trees: &[TokenTree], at: usize) -> Option<usize> {
    let TokenTree::Ident(ident) = &trees[at] else {
        return None;
    };
    let keyword = ident.to_string();
    let starts_item = match keyword.as_str() {
        // `fn(u32) -> u32` is a type, not an item.
        "fn" => matches!(trees.get(at + 1), Some(TokenTree::Ident(_))),
        "impl" | "trait" | "mod" => true,
        "macro_rules" => {
            matches!(trees.get(at + 1), Some(TokenTree::Punct(p)) if p.as_char() == '!')
        }
        _ => false,
    };
    if !starts_item {
        return None;
    }
    trees[at + 1..]
        .iter()
        .position(|tree| match tree {
            TokenTree::Group(group) => group.delimiter() == Delimiter::Brace,
            TokenTree::Punct(punct) => punct.as_char() == ';',
            _ => false,
        })
        .map(|offset| at + 1 + offset + 1)
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::self_to_local;

    fn renamed(tokens: TokenStream) -> String {
        self_to_local(tokens).to_string()
    }

    use proc_macro2::TokenStream;

    #[test]
    fn the_methods_self_is_renamed_everywhere_it_is_the_receiver() {
        assert_eq!(
            renamed(quote!({
                self.run();
                format!("{}", self.name)
            })),
            quote!({
                __cached_self.run();
                format!("{}", __cached_self.name)
            })
            .to_string()
        );
        assert_eq!(
            renamed(quote!(Self::helper(self, |x| x + self.n))),
            quote!(Self::helper(__cached_self, |x| x + __cached_self.n)).to_string()
        );
    }

    #[test]
    fn paths_and_nested_items_keep_their_self() {
        assert_eq!(
            renamed(quote!({ self::util::f(self.x) })),
            quote!({ self::util::f(__cached_self.x) }).to_string()
        );
        let nested = quote!({
            struct Inner;
            impl Inner {
                fn get(&self) -> u8 {
                    self.0
                }
            }
            fn free(x: u8) -> u8 {
                x
            }
            let f: fn(u8) -> u8 = free;
            f(self.n)
        });
        let out = renamed(nested);
        assert!(out.contains("fn get (& self) -> u8 { self . 0 }"), "{out}");
        assert!(out.contains("f (__cached_self . n)"), "{out}");
    }
}
