//! The six plugin shapes of the Rivusio plugin page, as Rivus attributes: one struct per kind, registered by name
//! at link time, listed from the registry, and composed with `>>`.
//!
//! Run with `cargo run -p rivus-examples --example plugin_shapes`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rivus_core::prelude::*;
use rivus_core::schemars::JsonSchema;
use rivus_core::serde::Deserialize;

/// Yields the numbers `0..count`.
#[sync_source("numbers")]
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(crate = "rivus_core::serde", deny_unknown_fields)]
#[schemars(crate = "rivus_core::schemars")]
struct Numbers {
    /// How many numbers to yield.
    count: u64,
    #[serde(skip)]
    next: u64,
}

impl SyncSource for Numbers {
    type Out = u64;
    fn next(&mut self) -> Option<Result<u64, PipeError>> {
        (self.next < self.count).then(|| {
            self.next += 1;
            Ok(self.next - 1)
        })
    }
}

/// Yields the numbers `0..count`, asynchronously.
#[async_source("numbers")]
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(crate = "rivus_core::serde", deny_unknown_fields)]
#[schemars(crate = "rivus_core::schemars")]
struct AsyncNumbers {
    /// How many numbers to yield.
    count: u64,
}

impl AsyncSource for AsyncNumbers {
    type Out = u64;
    async fn next(&mut self) -> Option<Result<u64, PipeError>> {
        tokio::task::yield_now().await;
        (self.count > 0).then(|| {
            self.count -= 1;
            Ok(self.count)
        })
    }
}

/// Squares numbers.
#[sync_pipe("square")]
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(crate = "rivus_core::serde", deny_unknown_fields)]
#[schemars(crate = "rivus_core::schemars")]
struct Square {}

impl SyncPipe for Square {
    type In = u64;
    type Out = u64;
    fn process(&self, x: u64) -> Result<u64, PipeError> {
        Ok(x * x)
    }
}

/// Formats numbers, asynchronously (a real one would call a service).
#[async_pipe("format")]
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(crate = "rivus_core::serde", deny_unknown_fields)]
#[schemars(crate = "rivus_core::schemars")]
struct Format {
    /// Put before each number.
    #[serde(default)]
    prefix: String,
}

impl AsyncPipe for Format {
    type In = u64;
    type Out = String;
    async fn process(&self, x: u64) -> Result<String, PipeError> {
        Ok(format!("{}{x}", self.prefix))
    }
}

/// Prints lines to standard output.
#[sync_sink("stdout")]
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(crate = "rivus_core::serde", deny_unknown_fields)]
#[schemars(crate = "rivus_core::schemars")]
struct Stdout {}

impl SyncSink for Stdout {
    type In = String;
    fn write(&mut self, line: String) -> Result<(), PipeError> {
        println!("{line}");
        Ok(())
    }
}

/// Collects lines in memory, asynchronously.
#[async_sink("memory")]
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(crate = "rivus_core::serde", deny_unknown_fields)]
#[schemars(crate = "rivus_core::schemars")]
struct Memory {
    #[serde(skip)]
    lines: Arc<Mutex<Vec<String>>>,
}

impl AsyncSink for Memory {
    type In = String;
    async fn write(&mut self, line: String) -> Result<(), PipeError> {
        self.lines
            .lock()
            .map_err(|_| PipeError::msg("poisoned"))?
            .push(line);
        Ok(())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    registry::validate()?;
    let mut plugins: Vec<_> = registry::plugins().collect();
    plugins.sort_by_key(|p| (p.kind(), p.name()));
    for p in &plugins {
        println!("{:<13} {:<8} {}", p.kind(), p.name(), p.description());
    }

    // Typed, by hand: a sync source with its pipes, and a pipe in front of a sink.
    let mut source = Numbers { count: 4, next: 0 } >> Square {};
    let mut sink = pipe::map(|x: u64| format!("square: {x}")) >> Stdout {};
    while let Some(item) = source.next() {
        sink.write(item?)?;
    }
    sink.flush()?;

    // By name, from configuration: an async source, a sync and an async pipe.
    let table = BTreeMap::from([("count", 3)]); // what a TOML file's `[source]` table holds
    let numbers: AsyncNumbers = registry::lookup(PluginKind::AsyncSource, "numbers")?
        .build_from(&table)?
        .downcast()?;
    let memory = Memory::default();
    let lines = Arc::clone(&memory.lines);
    let mut texts = numbers >> Square {} >> Format { prefix: "#".into() };
    let mut sink = pipe::map(|s: String| s.to_uppercase()) >> memory;
    while let Some(item) = texts.next().await {
        sink.write(item?).await?;
    }
    sink.flush().await?;
    println!("collected: {:?}", lines.lock().map_err(|_| "poisoned")?);
    Ok(())
}
