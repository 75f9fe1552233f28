//! Acceptance (issue 14): plugins in every form the attributes accept, from a crate that depends on
//! `rivus-core` alone, are registered, describe their options, reject what they do not take with the option's
//! path, build into their type-erased form, and run: typed with `>>`, and by name from a pipeline file.

use std::path::Path;

use rivus_authors_tests::{Letters, Numbers, Plus, REMEMBERED, Shout, TALLIED};
use rivus_core::dynamic::BoxPlugin;
use rivus_core::prelude::*;
use rivus_core::registry::{OptionProblem, RegistryError};
use rivus_core::spec::{ConfigError, PipelineFile, SourceText};
use rivus_core::tokio;

/// `(name, type in words, required)` of each option, as `rivus describe` lists them.
fn options(kind: PluginKind, name: &str) -> Vec<(String, String, bool)> {
    let plugin = registry::find(kind, name).unwrap_or_else(|| panic!("{kind} `{name}`"));
    (plugin.config_fields().into_iter())
        .map(|f| (f.name, f.ty, f.required))
        .collect()
}

fn option_error(kind: PluginKind, name: &str, config: Value) -> rivus_core::registry::OptionError {
    let plugin = registry::find(kind, name).unwrap_or_else(|| panic!("{kind} `{name}`"));
    match plugin.build(config) {
        Err(RegistryError::Config { error, .. }) => error,
        other => panic!("{kind} `{name}`: {other:?}"),
    }
}

#[test]
fn every_form_is_registered_with_its_options() {
    registry::validate().unwrap();
    let found: Vec<(PluginKind, &str, &str)> = [
        (PluginKind::SyncSource, "numbers"),
        (PluginKind::AsyncSource, "letters"),
        (PluginKind::SyncPipe, "shout"),
        (PluginKind::AsyncPipe, "plus"),
        (PluginKind::SyncSink, "remember"),
        (PluginKind::AsyncSink, "tally"),
    ]
    .into_iter()
    .map(|(kind, name)| {
        let p = registry::find(kind, name).unwrap_or_else(|| panic!("{kind} `{name}`"));
        (p.kind(), p.name(), p.description())
    })
    .collect();
    assert_eq!(
        found[0].2,
        "Gives `count` records `{ <field>: 1 }`, `{ <field>: 2 }`, ..."
    );
    assert_eq!(found[2].2, "Upper-cases every string field.");

    // Deserialize only: the attribute lists the fields, after `rename_all`, without the skipped one.
    assert_eq!(
        options(PluginKind::SyncSource, "numbers"),
        [
            ("count".to_owned(), "integer".to_owned(), true),
            ("field-name".to_owned(), "string".to_owned(), false),
            ("first".to_owned(), "integer".to_owned(), false),
        ]
    );
    let numbers = registry::find(PluginKind::SyncSource, "numbers").unwrap();
    let fields = numbers.config_fields();
    assert_eq!(fields[0].description.as_deref(), Some("How many records."));
    // With `JsonSchema`, schemars' schema; `config = ...`, that type's.
    assert_eq!(
        options(PluginKind::AsyncSource, "letters"),
        [("text".to_owned(), "string".to_owned(), true)]
    );
    assert_eq!(
        options(PluginKind::AsyncPipe, "plus"),
        // In the struct's order (serde_json's `preserve_order` keeps the schema's order).
        [
            ("field".to_owned(), "string".to_owned(), true),
            ("amount".to_owned(), "integer".to_owned(), true),
        ]
    );
    // No options: an empty table.
    assert!(options(PluginKind::SyncPipe, "shout").is_empty());
    assert!(options(PluginKind::SyncSink, "remember").is_empty());
    assert!(options(PluginKind::AsyncSink, "tally").is_empty());
}

#[test]
fn options_that_do_not_fit_are_named_by_their_path() {
    // A plugin without options takes none.
    let e = option_error(PluginKind::SyncPipe, "shout", json!({ "loud": true }));
    assert_eq!(e.path.to_string(), "loud");
    assert_eq!(e.problem, OptionProblem::Unknown { expected: &[] });
    let e = option_error(PluginKind::SyncSink, "remember", json!({ "taken": [] }));
    assert_eq!(e.to_string(), "unknown field `taken`, there are no fields");

    let e = option_error(
        PluginKind::SyncSource,
        "numbers",
        json!({ "count": 1, "field_name": "x" }),
    );
    assert_eq!(e.path.to_string(), "field_name");
    assert_eq!(
        e.message(),
        "unknown field `field_name`, expected one of `count`, `field-name`, `first`"
    );
    let e = option_error(PluginKind::SyncSource, "numbers", json!({}));
    assert_eq!(
        (e.path.to_string(), e.problem),
        ("count".to_owned(), OptionProblem::Missing)
    );
    let e = option_error(PluginKind::AsyncSource, "letters", json!({ "text": 3 }));
    assert_eq!(
        e.to_string(),
        "field `text`: invalid type: integer `3`, expected a string"
    );

    let plus = registry::find(PluginKind::AsyncPipe, "plus").unwrap();
    let err = plus
        .build(json!({ "field": "n", "amount": 0 }))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "async pipe `plus`: invalid configuration: `amount` must not be zero"
    );
}

#[test]
fn each_builds_into_its_erased_form() {
    for (kind, name, config) in [
        (PluginKind::SyncSource, "numbers", json!({ "count": 2 })),
        (PluginKind::AsyncSource, "letters", json!({ "text": "ab" })),
        (PluginKind::SyncPipe, "shout", Value::Null),
        (
            PluginKind::AsyncPipe,
            "plus",
            json!({ "field": "n", "amount": 1 }),
        ),
        (PluginKind::SyncSink, "remember", json!({})),
        (PluginKind::AsyncSink, "tally", Value::Null),
    ] {
        let plugin = registry::find(kind, name).unwrap();
        let erased: BoxPlugin<Record> = plugin.build_erased(config).unwrap();
        assert_eq!(erased.kind(), kind, "{name}");
    }
    let shout = registry::find(PluginKind::SyncPipe, "shout").unwrap();
    let BoxPlugin::SyncPipe(pipe) = shout.build_erased::<Record>(Value::Null).unwrap() else {
        panic!("a sync pipe")
    };
    let out = pipe
        .process(Record::new().with("a", "x").with("b", 1))
        .unwrap();
    assert_eq!(out.to_json(), json!({ "a": "X", "b": 1 }));
    let err = shout.build_erased::<String>(Value::Null).unwrap_err();
    assert!(matches!(err, RegistryError::ItemType { .. }), "{err}");
}

#[tokio::test(crate = "rivus_core::tokio")]
async fn typed_plugins_run_with_shr() {
    let numbers: Numbers = (registry::find(PluginKind::SyncSource, "numbers").unwrap())
        .build(json!({ "count": 3, "first": 5 }))
        .unwrap()
        .downcast()
        .unwrap();
    let plus: Plus = (registry::find(PluginKind::AsyncPipe, "plus").unwrap())
        .build(json!({ "field": "n", "amount": 10 }))
        .unwrap()
        .downcast()
        .unwrap();
    let out = sink::collect();
    let report = (numbers >> plus >> Shout >> out.clone())
        .run()
        .await
        .unwrap();
    let got: Vec<Value> = out.items().iter().map(Record::to_json).collect();
    assert_eq!(
        got,
        [json!({ "n": 15 }), json!({ "n": 16 }), json!({ "n": 17 })]
    );
    assert_eq!(report.items_written(), 3);

    let letters: Letters = (registry::find(PluginKind::AsyncSource, "letters").unwrap())
        .build(json!({ "text": "hi" }))
        .unwrap()
        .downcast()
        .unwrap();
    let out = sink::collect();
    (letters >> Shout >> out.clone()).run().await.unwrap();
    let got: Vec<Value> = out.items().iter().map(Record::to_json).collect();
    assert_eq!(got, [json!({ "letter": "H" }), json!({ "letter": "I" })]);
}

const PIPELINE: &str = r#"
[pipeline]
name = "authors"

[source]
plugin = "numbers"
count = 4
field-name = "x"

[[transforms]]
plugin = "plus"
field = "x"
amount = 100

[[sinks]]
plugin = "remember"

[[sinks]]
plugin = "tally"
"#;

fn parse(text: &str) -> Result<PipelineFile, ConfigError> {
    PipelineFile::parse(
        Path::new("authors.toml"),
        SourceText::new("authors.toml", text),
        &|_| None,
    )
}

#[tokio::test(crate = "rivus_core::tokio")]
async fn a_pipeline_file_runs_them_by_name() {
    let built = parse(PIPELINE).unwrap().build().unwrap();
    let report = built.into_pipeline().run().await.unwrap();
    // Four records, each written by both sinks.
    assert_eq!((report.items_read(), report.items_written()), (4, 8));
    let remembered: Vec<Value> = (REMEMBERED.lock().unwrap().iter())
        .map(Record::to_json)
        .collect();
    let expected: Vec<Value> = (101..=104).map(|x| json!({ "x": x })).collect();
    assert_eq!(remembered, expected);
    assert_eq!(*TALLIED.lock().unwrap(), 4);
}

#[test]
fn a_pipeline_file_locates_the_option_at_fault() {
    let err = |text: String| parse(&text).unwrap().build().err().unwrap();

    let e = err(PIPELINE.replace("field-name", "field_name"));
    assert_eq!(
        (e.line, e.column, e.path.as_str()),
        (8, 1, "source.field_name")
    );
    assert!(
        e.message
            .starts_with("plugin `numbers`: unknown field `field_name`"),
        "{e}"
    );

    let e = err(PIPELINE.replace("count = 4\n", ""));
    assert_eq!(e.path, "source.count");
    assert_eq!(e.message, "plugin `numbers`: missing field `count`");

    let e = err(PIPELINE.replace("amount = 100", "amount = \"lots\""));
    assert_eq!((e.line, e.path.as_str()), (13, "transforms[0].amount"));

    let e = err(PIPELINE.replace("plugin = \"remember\"", "plugin = \"remember\"\nkeep = 3"));
    assert_eq!((e.line, e.path.as_str()), (17, "sinks[0].keep"));
    assert_eq!(
        e.message,
        "plugin `remember`: unknown field `keep`, there are no fields"
    );
}
