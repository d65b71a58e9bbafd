//! The rules of `valid`, checked on token streams.
use quote::quote;

use super::{Mode, Stale};

fn plan(attr: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> super::Plan {
    match crate::plan(attr, item) {
        Ok(plan) => plan,
        Err(error) => panic!("expected a plan, got: {error}"),
    }
}

fn errors(attr: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> Vec<String> {
    match crate::plan(attr, item) {
        Ok(_) => panic!("expected errors"),
        Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn return_types_pick_the_mode_and_the_stored_type() {
    let cases = [
        (
            quote!(),
            quote!(
                async fn f(id: u64) -> Vec<u8> {
                    todo!()
                }
            ),
            Mode::Plain,
            "Vec < u8 >",
        ),
        (
            quote!(),
            quote!(
                async fn f(id: u64) -> Result<u8, E> {
                    todo!()
                }
            ),
            Mode::Fallible,
            "u8",
        ),
        (
            quote!(),
            quote!(
                async fn f(id: u64) -> io::Result<u8> {
                    todo!()
                }
            ),
            Mode::Fallible,
            "u8",
        ),
        (
            quote!(),
            quote!(
                async fn f(id: u64) -> Option<u8> {
                    todo!()
                }
            ),
            Mode::Optional,
            "Option < u8 >",
        ),
        (
            quote!(cache_none),
            quote!(
                async fn f(id: u64) -> Option<u8> {
                    todo!()
                }
            ),
            Mode::Plain,
            "Option < u8 >",
        ),
        (
            quote!(cache_err),
            quote!(
                async fn f(id: u64) -> Result<u8, E> {
                    todo!()
                }
            ),
            Mode::Plain,
            "Result < u8 , E >",
        ),
    ];
    for (attr, item, mode, stored) in cases {
        let plan = plan(attr, item);
        assert!(plan.mode == mode);
        let stored_ty = &plan.value_ty;
        assert_eq!(quote!(#stored_ty).to_string(), stored);
    }
}

#[test]
fn every_violation_is_reported_at_once() {
    let found = errors(
        quote!(key = "x:<id>:{nope}", cache_err),
        quote!(
            fn f(id: u64, __cached_x: u8) -> u64 {
                id
            }
        ),
    );
    let all = found.join("\n");
    assert!(all.contains("needs an `async fn`"), "{all}");
    assert!(all.contains("reserved"), "{all}");
    assert!(all.contains("write `{id}`"), "{all}");
    assert!(
        all.contains("`{nope}` names no argument; the arguments are: id, __cached_x"),
        "{all}"
    );
    assert!(
        all.contains("`cache_err` applies to functions returning `Result"),
        "{all}"
    );
    assert_eq!(found.len(), 5, "{all}");
}

#[test]
fn generic_parameters_must_be_in_an_explicit_key() {
    let item = quote!(
        async fn f<'a, T: Clone, const N: usize>(x: &'a str) -> Vec<T> {
            todo!()
        }
    );
    let found = errors(quote!(key = "k:{x}"), item.clone()).join("\n");
    assert!(
        found.contains("generic parameter `T` is not in the key"),
        "{found}"
    );
    assert!(
        found.contains("generic parameter `N` is not in the key"),
        "{found}"
    );
    let plan = plan(quote!(key = "k:{T}:{N}:{x}"), item.clone());
    assert_eq!(plan.type_params.len(), 1);
    assert_eq!(plan.const_params.len(), 1);
    // The default key covers them.
    let _ = self::plan(quote!(), item);
}

#[test]
fn receivers_and_arguments() {
    let found = errors(
        quote!(),
        quote!(
            async fn f(self, x: &mut u8) -> u8 {
                0
            }
        ),
    )
    .join("\n");
    assert!(found.contains("take `&self`"), "{found}");
    assert!(found.contains("cannot take `&mut` arguments"), "{found}");
    let found = errors(
        quote!(),
        quote!(
            async fn f((a, b): (u8, u8)) -> u8 {
                a
            }
        ),
    )
    .join("\n");
    assert!(found.contains("plain name"), "{found}");
    let plan = plan(
        quote!(key = "{self.id}"),
        quote!(
            async fn f(&self) -> u8 {
                0
            }
        ),
    );
    assert!(
        plan.assoc,
        "a method's companions are reached through `Self::`"
    );
    let plan = self::plan(
        quote!(),
        quote!(
            async fn f(id: u64) -> Option<Self> {
                None
            }
        ),
    );
    assert!(plan.assoc, "`Self` in the signature means an impl");
    let plan = self::plan(
        quote!(in_impl),
        quote!(
            async fn f(id: u64) -> u8 {
                0
            }
        ),
    );
    assert!(plan.assoc);
    assert!(
        !self::plan(
            quote!(),
            quote!(
                async fn f(id: u64) -> u8 {
                    0
                }
            )
        )
        .assoc
    );
}

#[test]
fn refresh_and_stale_rules() {
    let found = errors(
        quote!(refresh = false, stale = 5),
        quote!(
            async fn f() -> u8 {
                0
            }
        ),
    );
    assert!(found.join("\n").contains("nothing to do"));
    let found = errors(
        quote!(ttl = 10, stale = 10),
        quote!(
            async fn f() -> u8 {
                0
            }
        ),
    );
    assert!(found.join("\n").contains("must be shorter than the ttl"));
    let plan = plan(
        quote!(refresh = false),
        quote!(
            async fn f() -> u8 {
                0
            }
        ),
    );
    assert!(matches!(plan.stale, Stale::Off));
    let plan = self::plan(
        quote!(ttl = 10, stale = 2),
        quote!(
            async fn f() -> u8 {
                0
            }
        ),
    );
    assert!(matches!(plan.stale, Stale::Window(_)));
}

#[test]
fn returns_that_cannot_be_cached() {
    let found = errors(
        quote!(),
        quote!(
            async fn f() {}
        ),
    );
    assert!(found.join("\n").contains("returns `()`"));
    let found = errors(
        quote!(),
        quote!(
            async fn f() -> impl Clone {
                0
            }
        ),
    );
    assert!(found.join("\n").contains("named return type"));
}

#[test]
fn a_method_without_a_key_must_name_what_identifies_self() {
    let found = errors(
        quote!(ttl = 60),
        quote!(
            async fn by_default_key(&self, id: u64, label: &str) -> String {
                todo!()
            }
        ),
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("needs `key = \"...\"` naming what identifies `self`"),
        "{found:?}"
    );
    assert!(
        found[0].contains("`key = \"by_default_key:{self.tenant}:{id}:{label}\"`"),
        "the example uses the function's own arguments: {found:?}"
    );
    let _ = plan(
        quote!(key = "k:{self.id}:{id}"),
        quote!(
            async fn f(&self, id: u64) -> u8 {
                0
            }
        ),
    );
    // An associated function has no `self` to tell apart: the default key is enough.
    let _ = plan(
        quote!(),
        quote!(
            async fn find(id: u64) -> Option<Self> {
                None
            }
        ),
    );
}

#[test]
fn placeholders_with_nothing_between_them_are_refused() {
    let found = errors(
        quote!(key = "{tenant}{id}"),
        quote!(
            async fn f(tenant: &str, id: u64) -> u8 {
                0
            }
        ),
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("`{tenant}{id}`"), "{found:?}");
    assert!(
        found[0].contains("such as `:` (`{tenant}:{id}`)"),
        "{found:?}"
    );
}

#[test]
fn in_trait_impl_is_for_members_of_a_trait_impl() {
    let method = quote!(
        async fn find(&self, id: u64) -> u8 {
            0
        }
    );
    let found = plan(quote!(key = "f:{id}", in_trait_impl), method.clone());
    assert!(found.trait_impl && found.assoc);
    let found = errors(quote!(key = "f:{id}", in_trait_impl, in_impl), method);
    assert!(found[0].contains("drop `in_impl`"), "{found:?}");
    let found = errors(
        quote!(key = "f:{id}", in_trait_impl),
        quote!(
            pub(crate) async fn find(&self, id: u64) -> u8 {
                0
            }
        ),
    );
    assert!(found[0].contains("no visibility of its own"), "{found:?}");
}

#[test]
fn templates_of_the_same_shape_build_the_same_keys() {
    let shape = |attr| match plan(
        attr,
        quote!(
            async fn f(id: u64, product_id: u64) -> u8 {
                0
            }
        ),
    )
    .key
    {
        super::KeyPlan::Template(template) => template.shape(),
        super::KeyPlan::Default => String::new(),
    };
    assert_eq!(
        shape(quote!(key = "product:{id}:{product_id}")),
        "product:{}:{}"
    );
    assert_eq!(
        shape(quote!(key = "product:{product_id:08}:{id}")),
        "product:{}:{}"
    );
    assert_eq!(shape(quote!(key = "{{p}}:{id}:{product_id}")), "{p}:{}:{}");
}

#[test]
fn a_recursive_trait_method_is_refused_where_it_calls_itself() {
    let found = errors(
        quote!(key = "fib:{n}", in_trait_impl),
        quote!(
            async fn fib(&self, n: u64) -> u64 {
                if n < 2 {
                    return n;
                }
                Box::pin(self.fib(n - 1)).await + Box::pin(Self::fib(self, n - 2)).await
            }
        ),
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("recursive `in_trait_impl`"), "{found:?}");
    // Another method, or the same name on another value, is no recursion.
    let _ = plan(
        quote!(key = "fib:{n}", in_trait_impl),
        quote!(
            async fn fib(&self, n: u64) -> u64 {
                self.other.fib(n) + self.fibonacci(n)
            }
        ),
    );
}
