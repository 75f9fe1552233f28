//! Every accepted form of the attributes, in a crate that denies `unsafe_code` (which the attributes may lift for
//! their own static) and has no dependency but `rivus-core`.
#![deny(unsafe_code)]

use rivus_core::prelude::*;
use rivus_core::registry::{self, PluginKind};

/// Nameless: composable, not registered.
#[sync_pipe]
struct Inc;

impl SyncPipe for Inc {
    type In = u64;
    type Out = u64;
    fn process(&self, x: u64) -> Result<u64, PipeError> {
        Ok(x + 1)
    }
}

/// Nameless async pipe: gets `Composable` and `>>`.
#[async_pipe]
struct AsyncInc;

impl AsyncPipe for AsyncInc {
    type In = u64;
    type Out = u64;
    async fn process(&self, x: u64) -> Result<u64, PipeError> {
        Ok(x + 1)
    }
}

/// Both a sync and an async source, registered under one name per kind; `>>` follows the innermost attribute.
/// The struct derives `Deserialize` only: the attribute lists its options.
#[sync_source("numbers", description = "Numbers, synchronously.",)]
#[async_source("numbers")]
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Numbers {
    /// How many numbers are left.
    left_over: u64,
    /// Where to start.
    #[serde(default)]
    start: Option<u64>,
    #[serde(skip)]
    _given: u64,
}

impl SyncSource for Numbers {
    type Out = u64;
    fn next(&mut self) -> Option<Result<u64, PipeError>> {
        (self.left_over > 0).then(|| {
            self.left_over -= 1;
            Ok(self.left_over + self.start.unwrap_or(0))
        })
    }
}

impl AsyncSource for Numbers {
    type Out = u64;
    async fn next(&mut self) -> Option<Result<u64, PipeError>> {
        SyncSource::next(self)
    }
}

/// A generic struct whose parameters all have defaults registers its default form. It derives `Deserialize`
/// and `JsonSchema` without naming a crate: the attribute points them at `rivus_core`'s.
#[sync_pipe("scaled")]
#[derive(Deserialize, JsonSchema)]
struct Scaled<T = u64, const N: u64 = 3> {
    #[serde(skip)]
    _t: std::marker::PhantomData<T>,
}

impl<const N: u64> SyncPipe for Scaled<u64, N> {
    type In = u64;
    type Out = u64;
    fn process(&self, x: u64) -> Result<u64, PipeError> {
        Ok(x * N)
    }
}

/// No fields: no options, made by its literal.
#[sync_pipe("upper")]
struct Upper;

impl SyncPipe for Upper {
    type In = String;
    type Out = String;
    fn process(&self, s: String) -> Result<String, PipeError> {
        Ok(s.to_uppercase())
    }
}

/// Fields and `Default`, no `Deserialize`: no options, made with `Default`.
#[async_sink("tally")]
#[derive(Default)]
struct Tally {
    seen: u64,
}

impl AsyncSink for Tally {
    type In = u64;
    async fn write(&mut self, _: u64) -> Result<(), PipeError> {
        self.seen += 1;
        Ok(())
    }
}

/// Fields and a hand-written `Default`.
#[sync_sink("nowhere")]
struct Nowhere {
    dropped: Vec<String>,
}

impl Default for Nowhere {
    fn default() -> Self {
        Self {
            dropped: Vec::with_capacity(8),
        }
    }
}

impl SyncSink for Nowhere {
    type In = String;
    fn write(&mut self, s: String) -> Result<(), PipeError> {
        self.dropped.push(s);
        Ok(())
    }
}

/// Its own configuration type: not under a plugin attribute, so its derives name the crates they use.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "rivus_core::serde")]
#[schemars(crate = "rivus_core::schemars")]
struct PrefixConfig {
    /// The prefix.
    prefix: String,
}

/// Prefixes text.
#[async_pipe("prefix", config = PrefixConfig)]
struct Prefix(String);

impl From<PrefixConfig> for Prefix {
    fn from(c: PrefixConfig) -> Self {
        Self(c.prefix)
    }
}

impl AsyncPipe for Prefix {
    type In = String;
    type Out = String;
    async fn process(&self, s: String) -> Result<String, PipeError> {
        Ok(format!("{}{s}", self.0))
    }
}

fn option_names(kind: PluginKind, name: &str) -> Vec<(String, String, bool)> {
    let plugin = registry::find(kind, name).unwrap();
    (plugin.config_fields().into_iter())
        .map(|f| (f.name, f.ty, f.required))
        .collect()
}

fn main() {
    let p = Inc >> Inc >> Scaled::<u64, 3> { _t: std::marker::PhantomData };
    assert_eq!(p.process(1).unwrap(), 9);
    let _async_chain = AsyncInc >> Inc;
    let _upper_then = Upper >> pipe::map(|s: String| s.len());

    assert!(registry::find(PluginKind::SyncPipe, "inc").is_none());
    assert_eq!(registry::plugins().count(), 7);
    registry::validate().unwrap();

    let sync = registry::find(PluginKind::SyncSource, "numbers").unwrap();
    assert_eq!(sync.description(), "Numbers, synchronously.");
    let asynchronous = registry::find(PluginKind::AsyncSource, "numbers").unwrap();
    assert!(asynchronous.description().starts_with("Both a sync and an async source"));
    assert_eq!(
        option_names(PluginKind::SyncSource, "numbers"),
        [
            ("left-over".to_owned(), "integer".to_owned(), true),
            ("start".to_owned(), "integer".to_owned(), false)
        ]
    );
    let mut numbers: Numbers = sync.build(json!({ "left-over": 2 })).unwrap().downcast().unwrap();
    assert_eq!(SyncSource::next(&mut numbers).unwrap().unwrap(), 1);

    let scaled = registry::find(PluginKind::SyncPipe, "scaled").unwrap();
    assert!(scaled.type_name().ends_with("::Scaled"), "{}", scaled.type_name());

    let upper = registry::find(PluginKind::SyncPipe, "upper").unwrap();
    assert!(upper.config_fields().is_empty());
    let built: Upper = upper.build(Value::Null).unwrap().downcast().unwrap();
    assert_eq!(built.process("a".into()).unwrap(), "A");
    let err = upper.build(json!({ "loud": true })).unwrap_err();
    assert_eq!(err.to_string(), "sync pipe `upper`: unknown field `loud`, there are no fields");

    let tally = registry::find(PluginKind::AsyncSink, "tally").unwrap();
    assert!(tally.build(json!({})).unwrap().is::<Tally>());
    assert!(tally.build(json!({ "seen": 1 })).is_err());
    let nowhere = registry::find(PluginKind::SyncSink, "nowhere").unwrap();
    let nowhere: Nowhere = nowhere.build(Value::Null).unwrap().downcast().unwrap();
    assert_eq!(nowhere.dropped.capacity(), 8);

    assert_eq!(
        option_names(PluginKind::AsyncPipe, "prefix"),
        [("prefix".to_owned(), "string".to_owned(), true)]
    );
}
