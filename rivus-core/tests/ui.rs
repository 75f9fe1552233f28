//! Compile-fail tests: compositions that do not line up must not compile, with errors a user can read.
//! Regenerate the expected output with `TRYBUILD=overwrite cargo test -p rivus-core --test ui`.

#[test]
fn composition_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
