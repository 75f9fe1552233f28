//! Acceptance: one plugin of each kind is found by kind and name, with the right description, type and module;
//! its configuration schema describes fields, types, defaults and docs; a plugin built from a TOML table by name
//! runs in a `>>` chain, and a bad field gives an error naming the plugin and the field.

use rivus_core::registry::{self, PluginKind, RegistryError};
// Links the crate that defines the plugins (its plugins are registered only if it is linked).
use rivus_registry_tests as _;

#[test]
fn finds_each_of_the_six_kinds() {
    let expected = [
        (
            PluginKind::AsyncSource,
            "count",
            "Counts from `start` up, `count` numbers.",
            "rivus_registry_tests::sources::Count",
            "rivus_registry_tests::sources",
        ),
        (
            PluginKind::SyncSource,
            "words",
            "Splits a text into words.",
            "rivus_registry_tests::sources::Words",
            "rivus_registry_tests::sources",
        ),
        (
            PluginKind::SyncSink,
            "memory",
            "Keeps every item in memory, shared with whoever holds a clone of `items`.",
            "rivus_registry_tests::sinks::Memory",
            "rivus_registry_tests::sinks",
        ),
        (
            PluginKind::AsyncSink,
            "sum",
            "Sums numbers, asynchronously.",
            "rivus_registry_tests::sinks::Sum",
            "rivus_registry_tests::sinks",
        ),
        (
            PluginKind::SyncPipe,
            "scale",
            "Multiplies numbers by a factor and adds an offset.",
            "rivus_registry_tests::pipes::Scale",
            "rivus_registry_tests::pipes",
        ),
        (
            PluginKind::AsyncPipe,
            "show",
            "Formats numbers as text, asynchronously.",
            "rivus_registry_tests::pipes::Show",
            "rivus_registry_tests::pipes",
        ),
    ];
    for (kind, name, description, type_name, module) in expected {
        let p = registry::find(kind, name).unwrap_or_else(|| panic!("{kind} `{name}` not found"));
        assert_eq!(p.name(), name);
        assert_eq!(p.kind(), kind);
        assert_eq!(p.description(), description, "{kind} `{name}`");
        assert_eq!(p.type_name(), type_name);
        assert_eq!(p.module_path(), module);
        assert_eq!(p.crate_name(), "rivus_registry_tests");
        assert!(p.location().0.ends_with("lib.rs"), "{:?}", p.location());
        assert_eq!(registry::lookup(kind, name).unwrap().type_name(), type_name);
        assert!(registry::of_kind(kind).any(|q| q.name() == name));
    }
    assert_eq!(registry::plugins().count(), 6);
    for kind in PluginKind::ALL {
        assert_eq!(registry::of_kind(kind).count(), 1, "{kind}");
    }
    registry::validate().unwrap();
}

#[test]
fn item_types_are_recorded() {
    let scale = registry::find(PluginKind::SyncPipe, "scale").unwrap();
    assert!(scale.input_type().unwrap().is::<u64>());
    assert!(scale.output_type().unwrap().is::<u64>());
    assert_eq!(
        scale.config_type_name(),
        "rivus_registry_tests::pipes::ScaleConfig"
    );
    let show = registry::find(PluginKind::AsyncPipe, "show").unwrap();
    assert!(show.output_type().unwrap().is::<String>());
    assert_eq!(show.output_type().unwrap().name(), "alloc::string::String");
    let count = registry::find(PluginKind::AsyncSource, "count").unwrap();
    assert!(count.input_type().is_none());
    assert!(count.output_type().unwrap().is::<u64>());
    let memory = registry::find(PluginKind::SyncSink, "memory").unwrap();
    assert!(memory.input_type().unwrap().is::<String>());
    assert!(memory.output_type().is_none());
    // Neighbours agree when the output of one is the input of the next.
    assert_eq!(count.output_type(), scale.input_type());
}

#[test]
fn unknown_names_suggest_the_nearest() {
    let err = registry::lookup(PluginKind::SyncPipe, "scael").unwrap_err();
    assert_eq!(
        err.to_string(),
        "no sync pipe is registered under the name `scael`; did you mean `scale`?"
    );
    let RegistryError::NotFound { suggestions, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(suggestions, &["scale"]);

    // The name exists, under another kind.
    let err = registry::lookup(PluginKind::AsyncSink, "memory").unwrap_err();
    assert_eq!(
        err.to_string(),
        "no async sink is registered under the name `memory` (a plugin of that name exists as: sync sink)"
    );

    // Nothing near: the message asks whether the crate is linked.
    let err = registry::lookup(PluginKind::SyncSource, "kafka").unwrap_err();
    assert!(
        err.to_string()
            .contains("is the crate that defines it linked?"),
        "{err}"
    );
    assert!(registry::find(PluginKind::SyncSource, "kafka").is_none());
}

#[test]
fn describe_lists_fields_types_defaults_and_docs() {
    let scale = registry::find(PluginKind::SyncPipe, "scale").unwrap();
    let fields = scale.config_fields();
    type Summary<'a> = (&'a str, &'a str, Option<String>, Option<&'a str>, bool);
    let summary: Vec<Summary<'_>> = fields
        .iter()
        .map(|f| {
            (
                f.name.as_str(),
                f.ty.as_str(),
                f.default.as_ref().map(|d| d.to_string()),
                f.description.as_deref(),
                f.required,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "factor",
                "integer",
                None,
                Some("What to multiply by; must not be zero."),
                true
            ),
            // In the config struct's order (serde_json's `preserve_order` keeps the schema's order).
            (
                "offset",
                "integer",
                Some("1".to_owned()),
                Some("What to add after multiplying."),
                false
            ),
            (
                "label",
                "string | null",
                Some("null".to_owned()),
                Some("A label for logs."),
                false
            ),
        ]
    );
    // The raw JSON schema is there too, for editors and `rivus describe --json`.
    let schema = scale.config_schema();
    let schema = schema.as_value();
    assert_eq!(schema["title"], "ScaleConfig");
    assert_eq!(schema["properties"]["factor"]["format"], "uint64");
    assert_eq!(schema["additionalProperties"], false);

    let count = registry::find(PluginKind::AsyncSource, "count").unwrap();
    let fields = count.config_fields();
    assert_eq!(fields[0].name, "start");
    assert_eq!(fields[0].default, Some(0.into()));
    assert_eq!(fields[0].description.as_deref(), Some("The first number."));
    assert_eq!(fields[1].name, "count");
    assert!(fields[1].required);
}
