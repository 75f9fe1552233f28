//! Acceptance: two crates registering the same (kind, name) make `registry::validate()` fail with both types and
//! both modules named; the same name under two kinds is allowed.

use rivus_core::registry::{self, PluginKind, RegistryError};
// Link the two crates (and the six plugins of this crate's library).
use rivus_dup_a as _;
use rivus_dup_b as _;
use rivus_registry_tests as _;

#[test]
fn validate_names_both_types_and_modules() {
    let err = registry::validate().unwrap_err();
    let RegistryError::Duplicates(dups) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(dups.len(), 1, "{err}");
    let dup = &dups[0];
    assert_eq!((dup.kind, dup.name), (PluginKind::SyncSink, "console"));
    let who: Vec<(&str, &str)> = dup
        .plugins
        .iter()
        .map(|p| (p.type_name(), p.module_path()))
        .collect();
    assert_eq!(
        who,
        [
            ("rivus_dup_a::sinks::Console", "rivus_dup_a::sinks"),
            ("rivus_dup_b::out::Terminal", "rivus_dup_b::out")
        ]
    );
    let text = err.to_string();
    for needle in [
        "1 plugin name is registered more than once",
        "sync sink `console` is registered 2 times:",
        "`rivus_dup_a::sinks::Console` in module `rivus_dup_a::sinks` (",
        "`rivus_dup_b::out::Terminal` in module `rivus_dup_b::out` (",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn the_same_name_under_another_kind_is_allowed() {
    let source = registry::find(PluginKind::SyncSource, "console").unwrap();
    assert_eq!(source.type_name(), "rivus_dup_a::sources::Console");
    // Only the sink is reported above; the source of the same name is not a duplicate.
    assert_eq!(
        registry::of_kind(PluginKind::SyncSink)
            .filter(|p| p.name() == "console")
            .count(),
        2
    );
    assert_eq!(
        registry::of_kind(PluginKind::SyncSource)
            .filter(|p| p.name() == "console")
            .count(),
        1
    );
}
