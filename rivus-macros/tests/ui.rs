//! Compile-time checks of the plugin attributes: every mistake a user can make fails with a clear message at the
//! user's span (`tests/ui/*.rs`, with the expected output in `*.stderr`), and the correct forms compile
//! (`tests/pass/*.rs`).
//!
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test -p rivus-macros --test ui`, then read them.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/pass/*.rs");
}
