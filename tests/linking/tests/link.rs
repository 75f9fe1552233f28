//! The linking rule of the registry, checked on real binaries built by cargo (in the profile of the test run:
//! `cargo test` checks debug, `cargo test --release` release).

use std::process::Command;

fn plugins_of(binary: &str) -> String {
    let out = Command::new(binary)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {binary}: {e}"));
    assert!(out.status.success(), "{binary}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn link_call_registers_the_plugins() {
    let listed = plugins_of(env!("CARGO_BIN_EXE_linked"));
    assert!(
        listed.lines().any(|l| l == "sync_pipe passthrough"),
        "{listed}"
    );
}

#[test]
fn use_as_underscore_registers_the_plugins() {
    let listed = plugins_of(env!("CARGO_BIN_EXE_use_as"));
    assert!(
        listed.lines().any(|l| l == "sync_pipe passthrough"),
        "{listed}"
    );
}

#[test]
fn a_crate_only_named_in_cargo_toml_is_not_linked() {
    let listed = plugins_of(env!("CARGO_BIN_EXE_unlinked"));
    assert!(
        !listed.contains("passthrough"),
        "the linker kept a crate the program never names; the documented rule is wrong here: {listed}"
    );
}
