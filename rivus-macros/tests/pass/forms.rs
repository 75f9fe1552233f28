//! Every accepted form of the attributes, in a crate that denies `unsafe_code` (which the attributes may lift for
//! their own static).
#![deny(unsafe_code)]

use rivus_core::prelude::*;
use rivus_core::registry::{self, PluginKind};
use rivus_core::schemars::JsonSchema;
use rivus_core::serde::Deserialize;

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
#[sync_source("numbers", description = "Numbers, synchronously.",)]
#[async_source("numbers")]
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "rivus_core::serde")]
#[schemars(crate = "rivus_core::schemars")]
struct Numbers {
    left: u64,
}

impl SyncSource for Numbers {
    type Out = u64;
    fn next(&mut self) -> Option<Result<u64, PipeError>> {
        (self.left > 0).then(|| {
            self.left -= 1;
            Ok(self.left)
        })
    }
}

impl AsyncSource for Numbers {
    type Out = u64;
    async fn next(&mut self) -> Option<Result<u64, PipeError>> {
        SyncSource::next(self)
    }
}

/// A generic struct whose parameters all have defaults registers its default form.
#[sync_pipe("scaled")]
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "rivus_core::serde")]
#[schemars(crate = "rivus_core::schemars")]
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

fn main() {
    let p = Inc >> Inc >> Scaled::<u64, 3> { _t: std::marker::PhantomData };
    assert_eq!(p.process(1).unwrap(), 9);
    let _async_chain = AsyncInc >> Inc;

    assert!(registry::find(PluginKind::SyncPipe, "inc").is_none());
    assert_eq!(registry::plugins().count(), 3);
    let sync = registry::find(PluginKind::SyncSource, "numbers").unwrap();
    assert_eq!(sync.description(), "Numbers, synchronously.");
    let asynchronous = registry::find(PluginKind::AsyncSource, "numbers").unwrap();
    assert_eq!(
        asynchronous.description(),
        "Both a sync and an async source, registered under one name per kind; `>>` follows the innermost \
         attribute."
    );
    let scaled = registry::find(PluginKind::SyncPipe, "scaled").unwrap();
    assert!(scaled.type_name().ends_with("::Scaled"), "{}", scaled.type_name());
    registry::validate().unwrap();

    // The innermost attribute (async_source) decides `>>`: the source is async.
    let _async_source = Numbers { left: 2 } >> Inc;
}
