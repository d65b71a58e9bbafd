//! Compile errors of `#[cached]`: each case under `tests/ui/` has the `.stderr` the compiler
//! must print (regenerate with `TRYBUILD=overwrite cargo test --test macro_ui` and review).

#[test]
fn misuse_is_reported_where_it_is_written() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
