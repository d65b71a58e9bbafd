//! What the macro emits when it cannot expand: the errors, and the function exactly as written,
//! so the user sees the macro's message rather than a cascade of errors about a missing function.

use proc_macro2::TokenStream;

pub(crate) fn expand(item: TokenStream, error: &syn::Error) -> TokenStream {
    let mut out = error.to_compile_error();
    out.extend(item);
    out
}
