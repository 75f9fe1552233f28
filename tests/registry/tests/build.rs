//! Acceptance: plugins built from TOML tables by name run in `>>` chains; a bad field names plugin and field.

use rivus_core::prelude::*;
use rivus_core::registry::{self, OptionProblem, PluginKind, RegistryError};
use rivus_registry_tests::pipes::{Scale, Show};
use rivus_registry_tests::sinks::{Memory, Sum};
use rivus_registry_tests::sources::{Count, Words};

/// The plugin's table from a pipeline file: `plugin = "..."` picks it, the other keys configure it.
fn build(kind: PluginKind, table: &str) -> Result<registry::BuiltPlugin, RegistryError> {
    let mut table: toml::Table = toml::from_str(table).unwrap_or_else(|e| panic!("{e}"));
    let Some(toml::Value::String(name)) = table.remove("plugin") else {
        panic!("the table has no `plugin = \"...\"`")
    };
    registry::lookup(kind, &name)?.build_from(&table)
}

const PIPELINE: &str = r#"
[source]
plugin = "words"
text = "3 1 4"

[[transforms]]
plugin = "scale"
factor = 10
"#;

#[test]
fn sync_plugins_from_toml_run_in_a_chain() {
    let file: toml::Table = toml::from_str(PIPELINE).unwrap();
    let source_table = toml::to_string(&file["source"]).unwrap();
    let transform_table = toml::to_string(&file["transforms"].as_array().unwrap()[0]).unwrap();

    let words: Words = build(PluginKind::SyncSource, &source_table)
        .unwrap()
        .downcast()
        .unwrap();
    let scale: Scale = build(PluginKind::SyncPipe, &transform_table)
        .unwrap()
        .downcast()
        .unwrap();
    let memory: Memory = build(PluginKind::SyncSink, r#"plugin = "memory""#)
        .unwrap()
        .downcast()
        .unwrap();
    let items = memory.items.clone();

    // source >> pipes is a source; pipes >> sink is a sink.
    let mut source = words >> pipe::map(|w: String| w.parse::<u64>().unwrap_or(0));
    let mut sink = scale >> pipe::map(|x: u64| x.to_string()) >> memory;
    sink.open().unwrap();
    while let Some(item) = source.next() {
        sink.write(item.unwrap()).unwrap();
    }
    sink.flush().unwrap();
    sink.close().unwrap();
    // factor 10, offset defaulted to 1.
    assert_eq!(*items.lock().unwrap(), ["31", "11", "41"]);
    assert_eq!(sink.name(), "Scale >> map >> Memory");
}

#[tokio::test]
async fn async_plugins_from_toml_run_in_a_chain() {
    let count: Count = build(
        PluginKind::AsyncSource,
        "plugin = \"count\"\nstart = 1\ncount = 3",
    )
    .unwrap()
    .downcast()
    .unwrap();
    let scale: Scale = build(
        PluginKind::SyncPipe,
        "plugin = \"scale\"\nfactor = 2\noffset = 0",
    )
    .unwrap()
    .downcast()
    .unwrap();
    let show: Show = build(PluginKind::AsyncPipe, "plugin = \"show\"\nprefix = \"#\"")
        .unwrap()
        .downcast()
        .unwrap();
    let sum: Sum = build(PluginKind::AsyncSink, "plugin = \"sum\"")
        .unwrap()
        .downcast()
        .unwrap();
    let total = sum.total.clone();

    // async source >> sync pipe >> async pipe, and sync pipe >> async sink.
    let mut texts = count >> scale >> show;
    let mut out = Vec::new();
    while let Some(item) = texts.next().await {
        out.push(item.unwrap());
    }
    assert_eq!(out, ["#2", "#4", "#6"]);

    let again: Scale = build(PluginKind::SyncPipe, "plugin = \"scale\"\nfactor = 5")
        .unwrap()
        .downcast()
        .unwrap();
    let mut sink = again >> sum;
    for x in [1, 2] {
        sink.write(x).await.unwrap();
    }
    sink.flush().await.unwrap();
    assert_eq!(*total.lock().unwrap(), 6 + 11);
}

#[test]
fn a_bad_field_names_plugin_and_field() {
    let err = build(PluginKind::SyncPipe, "plugin = \"scale\"\nfactor = \"ten\"").unwrap_err();
    assert_eq!(
        err.to_string(),
        "sync pipe `scale`: field `factor`: invalid type: string \"ten\", expected u64"
    );
    let RegistryError::Config { plugin, error, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        (*plugin, error.path.to_string().as_str()),
        ("scale", "factor")
    );
    assert!(matches!(error.problem, OptionProblem::Invalid(_)));

    // An unknown or a missing option is named by its path, not only by the message.
    let err = build(PluginKind::SyncPipe, "plugin = \"scale\"\nfactr = 3").unwrap_err();
    assert!(
        err.to_string().starts_with("sync pipe `scale`: ")
            && err.to_string().contains("unknown field `factr`"),
        "{err}"
    );
    let RegistryError::Config { error, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(error.path.to_string(), "factr");
    assert!(
        matches!(error.problem, OptionProblem::Unknown { expected } if expected.contains(&"factor"))
    );

    let err = build(PluginKind::SyncPipe, "plugin = \"scale\"").unwrap_err();
    assert_eq!(err.to_string(), "sync pipe `scale`: missing field `factor`");
    let RegistryError::Config { error, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        (error.path.to_string(), &error.problem),
        ("factor".to_owned(), &OptionProblem::Missing)
    );

    let err = build(PluginKind::AsyncSource, "plugin = \"count\"\ncount = -1").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("async source `count`: field `count`: "),
        "{err}"
    );
}

#[test]
fn try_from_errors_name_the_plugin() {
    let err = build(PluginKind::SyncPipe, "plugin = \"scale\"\nfactor = 0").unwrap_err();
    assert_eq!(
        err.to_string(),
        "sync pipe `scale`: invalid configuration: `factor` must not be zero"
    );
    assert!(matches!(
        err,
        RegistryError::Rejected {
            plugin: "scale",
            ..
        }
    ));
}

#[test]
fn downcast_to_the_wrong_type_gives_the_plugin_back() {
    let built = build(PluginKind::SyncPipe, "plugin = \"scale\"\nfactor = 1").unwrap();
    assert!(built.is::<Scale>());
    assert_eq!(built.descriptor().name(), "scale");
    let err = built.downcast::<Show>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "sync pipe `scale` is a `rivus_registry_tests::pipes::Scale`, not a `rivus_registry_tests::pipes::Show`"
    );
    let scale: Scale = err.into_inner().downcast().unwrap();
    assert_eq!(scale.process(2).unwrap(), 3);
}
