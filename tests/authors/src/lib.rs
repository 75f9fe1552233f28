//! Plugins written the way the README tells a plugin author to write them, with `rivus-core` as the only
//! dependency: one of each kind, covering every form of options the attributes accept.
//!
//! | plugin | kind | options |
//! |---|---|---|
//! | `numbers` | sync source | derives `Deserialize` only: the attribute lists the fields |
//! | `letters` | async source | derives `Deserialize` and `JsonSchema` (no `crate = ...` written) |
//! | `shout` | sync pipe | no fields: no options |
//! | `plus` | async pipe | `config = PlusConfig`, a separate type |
//! | `remember` | sync sink | fields, no `Deserialize`: no options, made with `Default` |
//! | `tally` | async sink | no fields: no options |

use std::sync::Mutex;

use rivus_core::prelude::*;

/// What the `remember` sinks wrote, in order (a sink built by name from a file has no other way out).
pub static REMEMBERED: Mutex<Vec<Record>> = Mutex::new(Vec::new());

/// What the `tally` sinks counted.
pub static TALLIED: Mutex<u64> = Mutex::new(0);

/// Gives `count` records `{ <field>: 1 }`, `{ <field>: 2 }`, ...
///
/// Only this paragraph is the description.
#[sync_source("numbers")]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Numbers {
    /// How many records.
    pub count: u64,
    /// The field that holds the number.
    #[serde(default = "n")]
    pub field_name: String,
    /// Start here instead of 1.
    pub first: Option<u64>,
    #[serde(skip)]
    given: u64,
}

fn n() -> String {
    "n".to_owned()
}

impl SyncSource for Numbers {
    type Out = Record;
    fn next(&mut self) -> Option<Result<Record, PipeError>> {
        (self.given < self.count).then(|| {
            self.given += 1;
            let n = self.first.unwrap_or(1) + self.given - 1;
            Ok(Record::new().with(self.field_name.as_str(), n))
        })
    }
}

/// Gives one record `{ "letter": ... }` per character of `text`.
#[async_source("letters")]
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Letters {
    /// The text to spell.
    pub text: String,
    #[serde(skip)]
    at: usize,
}

impl AsyncSource for Letters {
    type Out = Record;
    async fn next(&mut self) -> Option<Result<Record, PipeError>> {
        let letter = self.text.chars().nth(self.at)?;
        self.at += 1;
        Some(Ok(Record::new().with("letter", letter.to_string())))
    }
}

/// Upper-cases every string field.
#[sync_pipe("shout")]
pub struct Shout;

impl SyncPipe for Shout {
    type In = Record;
    type Out = Record;
    fn process(&self, mut record: Record) -> Result<Record, PipeError> {
        for (_, value) in record.iter_mut() {
            if let Value::String(s) = value {
                *s = s.to_uppercase();
            }
        }
        Ok(record)
    }
}

/// The options of `plus`: a type of its own, which no plugin attribute annotates, so its derives name their
/// crates.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(crate = "rivus_core::serde", deny_unknown_fields)]
#[schemars(crate = "rivus_core::schemars")]
pub struct PlusConfig {
    /// The numeric field to add to.
    pub field: String,
    /// What to add; not zero.
    pub amount: i64,
}

/// Adds `amount` to a numeric field, asynchronously.
#[async_pipe("plus", config = PlusConfig)]
pub struct Plus {
    field: String,
    amount: i64,
}

impl TryFrom<PlusConfig> for Plus {
    type Error = String;
    fn try_from(c: PlusConfig) -> Result<Self, String> {
        if c.amount == 0 {
            return Err("`amount` must not be zero".to_owned());
        }
        Ok(Self {
            field: c.field,
            amount: c.amount,
        })
    }
}

impl AsyncPipe for Plus {
    type In = Record;
    type Out = Record;
    async fn process(&self, mut record: Record) -> Result<Record, PipeError> {
        let n = record.get(&self.field).and_then(Value::as_i64);
        let n = n.ok_or_else(|| PipeError::msg(format!("`{}` is not a number", self.field)))?;
        record.insert(self.field.as_str(), n + self.amount);
        Ok(record)
    }
}

/// Keeps what it takes, and hands it to [`REMEMBERED`] on close.
#[sync_sink("remember")]
#[derive(Debug, Default)]
pub struct Remember {
    taken: Vec<Record>,
}

impl SyncSink for Remember {
    type In = Record;
    fn write(&mut self, record: Record) -> Result<(), PipeError> {
        self.taken.push(record);
        Ok(())
    }
    fn close(&mut self) -> Result<(), PipeError> {
        let mut remembered = REMEMBERED.lock().unwrap_or_else(|e| e.into_inner());
        remembered.append(&mut self.taken);
        Ok(())
    }
}

/// Counts what it takes into [`TALLIED`].
#[async_sink("tally")]
pub struct Tally {}

impl AsyncSink for Tally {
    type In = Record;
    async fn write(&mut self, _: Record) -> Result<(), PipeError> {
        *TALLIED.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        Ok(())
    }
}

/// The README's examples, compiled as doctests of this crate: `rivus-core` is its only dependency, so they
/// compile with what the README says a program needs.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
