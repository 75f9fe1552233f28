//! The plugin registry: every struct annotated with a plugin attribute (`#[sync_sink("csv")]`, …) is listed here,
//! registered at link time.
//!
//! Each attribute adds one [`PluginDescriptor`] — plain data and `fn` pointers, built at compile time — to a
//! [`linkme`](https://docs.rs/linkme) distributed slice that lives in this crate. Reading the registry is reading
//! that slice: nothing runs before `main`, there is no start-up cost and no global state to initialise.
//!
//! * [`plugins`] lists every plugin, [`of_kind`] the plugins of one [`PluginKind`];
//! * [`find`] looks a plugin up by kind and name, [`lookup`] does the same and explains a miss, suggesting the
//!   nearest registered names;
//! * [`validate`] reports every (kind, name) that is registered more than once, with both Rust types and modules;
//! * [`PluginDescriptor::build`] (or [`build`]) turns a configuration value into the plugin itself.
//!
//! # The attributes
//!
//! `#[async_source("name")]`, `#[async_sink("name")]`, `#[sync_source("name")]`, `#[sync_sink("name")]`,
//! `#[async_pipe("name")]` and `#[sync_pipe("name")]` go on a struct that implements the matching trait
//! ([`AsyncSource`](crate::AsyncSource), …) and is `Send + 'static`. The name is a non-empty string literal of
//! `a-z`, `0-9`, `_` and `-`, unique per kind (the same name under two kinds is fine). Two optional settings follow
//! it:
//!
//! * `description = "..."`: the one-line description. Default: the first paragraph of the struct's doc comment.
//! * `config = SomeType`: the type that the plugin's table deserializes into. The plugin is made from it with
//!   `From<SomeType>` or `TryFrom<SomeType>` (whose error becomes [`RegistryError::Rejected`]); `SomeType`
//!   implements `Deserialize` and `JsonSchema`. `TryFrom` is where a plugin checks its options (ranges, options
//!   that need each other, non-empty paths), short of opening or connecting: it runs whenever the plugin is
//!   built, so `rivus validate` runs it. An error that is an [`OptionError`] (`OptionError::invalid("rate",
//!   "...")`) names the option, and becomes [`RegistryError::Config`] with that path, which a pipeline file
//!   locates at the option's line and column.
//!
//! ## Options: what a plugin's table holds
//!
//! Without `config =`, the attribute reads the struct as it is written, including the `#[derive]`s below the
//! attribute (put the plugin attribute first, so that it sees them):
//!
//! | the struct | its options | [`PluginDescriptor::config_schema`] |
//! |---|---|---|
//! | derives `Deserialize` and `JsonSchema` | its fields | from `schemars` |
//! | derives `Deserialize` only | its fields | written by the attribute from the fields: names (after serde's `rename` and `rename_all`), doc comments, JSON types of the common Rust types, which are required |
//! | has no fields (`struct Upper;`) | none: made with the struct literal | an empty object |
//! | has fields and no `Deserialize` | none: made with `Default::default()` | an empty object |
//!
//! A plugin without options is built from an empty table (or none); any option given is an error naming it. The
//! attribute points the derives at the `serde` and `schemars` that `rivus-core` re-exports (it adds
//! `#[serde(crate = ...)]` and `#[schemars(crate = ...)]` unless the struct has its own), so a plugin crate needs
//! neither as a dependency; the [prelude](crate::prelude) brings both derives.
//!
//! The attribute also makes the type composable: a pipe gets `>>`, a source `source >> pipe`, a sink stands on
//! the right of `pipe >> sink` (see [`compose::io`](crate::compose::io)). Without a name (`#[sync_pipe]`,
//! `#[async_source]`, …) the attribute registers nothing and only does this. A struct may carry attributes of
//! several kinds (a source with a sync and an async form); `>>` then follows the innermost (last) attribute.
//!
//! Generic structs register only when every parameter has a default (`struct Csv<D = Comma>`); the default form
//! is registered. Mistakes (a name that is not a literal, a trait that is not implemented, an enum, a repeated
//! attribute, an unknown option, `#[derive]`s with a `#[serde]` or `#[schemars]` helper above the attribute) are
//! compile errors at the user's tokens, all of them in one compile. The attribute goes above the derives: it
//! cannot see a `#[derive(Deserialize)]` written above it, and when no helper betrays one, the first error is
//! serde's own (`can't find crate for serde`, in a crate that does not depend on serde).
//!
//! # Building
//!
//! [`PluginDescriptor::build`] makes the plugin itself, to [`downcast`](BuiltPlugin::downcast) to its type;
//! [`PluginDescriptor::build_erased`] makes its type-erased form, a [`BoxPlugin`](crate::dynamic::BoxPlugin),
//! which is what pipelines built from files run. A configuration that does not fit gives an [`OptionError`]
//! with the path to the option at fault (`columns[2].name`, or the unknown or missing option itself).
//!
//! # Linking: a plugin crate must be linked to be listed
//!
//! The linker only keeps crates that the program uses. A crate that is only named in `Cargo.toml` is not linked,
//! and its plugins are not in the registry. An application that uses plugins by name alone (from a TOML file)
//! must name the crate in its code: call its `link()` function (`rivus_plugins::link();`) or write
//! `use rivus_plugins as _;` next to `main`.
//!
//! # Platform support
//!
//! The registry works where `linkme` distributed slices do: Linux, macOS and Windows (also FreeBSD, OpenBSD and
//! illumos). It does not work on `wasm32`, where the plugin attributes do not compile.
//!
//! # `unsafe_code` lints
//!
//! A slice element needs a `#[link_section]`, which the `unsafe_code` lint flags; the attributes allow the lint
//! on the one static they generate. A crate with `#![forbid(unsafe_code)]` cannot use them: `forbid` cannot be
//! lifted, and the compiler says so at the attribute ("allow(unsafe_code) incompatible with previous forbid").
//! Use `#![deny(unsafe_code)]` instead, which the attribute may lift for its own static.
//!
//! # Examples
//!
//! ```
//! use rivus_core::prelude::*;
//! use rivus_core::registry::{self, PluginKind};
//!
//! /// Upper-cases text.
//! ///
//! /// This second paragraph is not part of the description.
//! #[sync_pipe("upper")]
//! struct Upper;
//!
//! impl SyncPipe for Upper {
//!     type In = String;
//!     type Out = String;
//!     fn process(&self, s: String) -> Result<String, PipeError> {
//!         Ok(s.to_uppercase())
//!     }
//! }
//!
//! let upper = registry::find(PluginKind::SyncPipe, "upper").unwrap();
//! assert_eq!(upper.description(), "Upper-cases text.");
//! assert!(upper.type_name().ends_with("::Upper"));
//!
//! let pipe: Upper = upper.build(Value::Null).unwrap().downcast().unwrap();
//! assert_eq!(pipe.process("abc".into()).unwrap(), "ABC");
//!
//! let err = upper.build(json!({ "mode": "loud" })).unwrap_err();
//! assert_eq!(err.to_string(), "sync pipe `upper`: unknown field `mode`, there are no fields");
//!
//! let err = registry::lookup(PluginKind::SyncPipe, "uper").unwrap_err();
//! assert!(err.to_string().contains("did you mean `upper`?"), "{err}");
//! registry::validate().unwrap();
//! ```

mod built;
mod de;
mod descriptor;
mod options;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use built::{BuiltPlugin, DowncastError};
pub(crate) use descriptor::RUST_TYPE;
#[doc(hidden)]
pub use descriptor::{BuildFailure, Meta, OptionParts, TypeParts};
pub use descriptor::{ConfigField, ItemType, PluginDescriptor};
pub(crate) use options::from_value;
pub use options::{OptionError, OptionProblem};

use crate::error::BoxError;

#[doc(hidden)]
#[allow(unsafe_code)] // SAFETY: linkme's slice declaration needs `#[link_section]`; it is linkme's own, audited use.
#[linkme::distributed_slice]
pub static PLUGINS: [PluginDescriptor];

/// The six kinds of plugin, one per attribute.
///
/// `Display` gives the words used in messages (`sync sink`); serde and [`FromStr`] use the attribute's name
/// (`sync_sink`).
///
/// ```
/// use rivus_core::registry::PluginKind;
///
/// assert_eq!(PluginKind::SyncSink.to_string(), "sync sink");
/// assert_eq!("async_source".parse::<PluginKind>().unwrap(), PluginKind::AsyncSource);
/// assert_eq!(PluginKind::ALL.len(), 6);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginKind {
    /// `#[async_source]`: an [`AsyncSource`](crate::AsyncSource).
    AsyncSource,
    /// `#[async_sink]`: an [`AsyncSink`](crate::AsyncSink).
    AsyncSink,
    /// `#[sync_source]`: a [`SyncSource`](crate::SyncSource).
    SyncSource,
    /// `#[sync_sink]`: a [`SyncSink`](crate::SyncSink).
    SyncSink,
    /// `#[async_pipe]`: an [`AsyncPipe`](crate::AsyncPipe).
    AsyncPipe,
    /// `#[sync_pipe]`: a [`SyncPipe`](crate::SyncPipe).
    SyncPipe,
}

impl PluginKind {
    /// Every kind, in declaration order.
    pub const ALL: [PluginKind; 6] = [
        Self::AsyncSource,
        Self::AsyncSink,
        Self::SyncSource,
        Self::SyncSink,
        Self::AsyncPipe,
        Self::SyncPipe,
    ];

    /// The attribute's name, which is also the serde form: `"sync_sink"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AsyncSource => "async_source",
            Self::AsyncSink => "async_sink",
            Self::SyncSource => "sync_source",
            Self::SyncSink => "sync_sink",
            Self::AsyncPipe => "async_pipe",
            Self::SyncPipe => "sync_pipe",
        }
    }

    /// The words used in messages: `"sync sink"`.
    pub const fn words(self) -> &'static str {
        match self {
            Self::AsyncSource => "async source",
            Self::AsyncSink => "async sink",
            Self::SyncSource => "sync source",
            Self::SyncSink => "sync sink",
            Self::AsyncPipe => "async pipe",
            Self::SyncPipe => "sync pipe",
        }
    }

    /// `true` for the three async kinds.
    pub const fn is_async(self) -> bool {
        matches!(self, Self::AsyncSource | Self::AsyncSink | Self::AsyncPipe)
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so that `{:<12}` lines up tables.
        f.pad(self.words())
    }
}

/// The error of parsing a [`PluginKind`] from a string that names no kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a plugin kind; expected one of async_source, async_sink, sync_source, sync_sink, async_pipe, \
     sync_pipe"
)]
pub struct ParseKindError(String);

impl FromStr for PluginKind {
    type Err = ParseKindError;

    fn from_str(s: &str) -> Result<Self, ParseKindError> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| ParseKindError(s.to_owned()))
    }
}

/// Two or more plugins registered under one (kind, name); see [`validate`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Duplicate {
    /// The kind they share.
    pub kind: PluginKind,
    /// The name they share.
    pub name: &'static str,
    /// Every plugin registered under it (two or more), ordered by type name.
    pub plugins: Vec<&'static PluginDescriptor>,
}

impl fmt::Display for Duplicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} `{}` is registered {} times:",
            self.kind,
            self.name,
            self.plugins.len()
        )?;
        for p in &self.plugins {
            let (file, line) = p.location();
            write!(
                f,
                "\n    `{}` in module `{}` ({file}:{line})",
                p.type_name(),
                p.module_path()
            )?;
        }
        Ok(())
    }
}

/// What can go wrong when looking plugins up, checking the registry or building a plugin.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// No plugin of this kind has this name.
    #[error("{}", not_found_message(kind.words(), .name, .suggestions, .other_kinds))]
    NotFound {
        /// The kind looked up.
        kind: PluginKind,
        /// The name looked up.
        name: String,
        /// The registered names of this kind nearest to it, nearest first (at most three).
        suggestions: Vec<&'static str>,
        /// The kinds under which the name *is* registered.
        other_kinds: Vec<PluginKind>,
    },
    /// Names registered more than once (kind and name); every one is listed.
    #[error("{}", duplicates(.0))]
    Duplicates(Vec<Duplicate>),
    /// A plugin's configuration did not deserialize.
    #[error("{kind} `{plugin}`: {error}")]
    Config {
        /// The plugin's kind.
        kind: PluginKind,
        /// The plugin's name.
        plugin: &'static str,
        /// The option at fault and what is wrong with it.
        error: OptionError,
    },
    /// The configuration deserialized, but the plugin's `TryFrom` rejected it.
    #[error("{kind} `{plugin}`: invalid configuration: {source}")]
    Rejected {
        /// The plugin's kind.
        kind: PluginKind,
        /// The plugin's name.
        plugin: &'static str,
        /// The plugin's own error.
        source: BoxError,
    },
    /// [`PluginDescriptor::build_erased`] was asked for items of a type the plugin does not take or give.
    #[error("{kind} `{plugin}` {}, not `{wanted}`", items_in_words(*.input, *.output))]
    ItemType {
        /// The plugin's kind.
        kind: PluginKind,
        /// The plugin's name.
        plugin: &'static str,
        /// The item type asked for.
        wanted: &'static str,
        /// What the plugin takes (sinks and pipes).
        input: Option<ItemType>,
        /// What the plugin gives (sources and pipes).
        output: Option<ItemType>,
    },
}

/// "takes `u64` and gives `String`".
fn items_in_words(input: Option<ItemType>, output: Option<ItemType>) -> String {
    let takes = input.map(|t| format!("takes `{}`", t.name()));
    let gives = output.map(|t| format!("gives `{}`", t.name()));
    match (takes, gives) {
        (Some(t), Some(g)) => format!("{t} and {g}"),
        (Some(one), None) | (None, Some(one)) => one,
        (None, None) => "has no items".to_owned(),
    }
}

/// "no sync sink is registered under the name `cvs`; did you mean `csv`? (...)": `what` names the kind, or a role
/// that stands for two kinds (`source`).
pub(crate) fn not_found_message(
    what: &str,
    name: &str,
    suggestions: &[&str],
    other_kinds: &[PluginKind],
) -> String {
    format!(
        "no {what} is registered under the name `{name}`{}",
        suggest(suggestions, other_kinds)
    )
}

fn suggest(suggestions: &[&str], other_kinds: &[PluginKind]) -> String {
    let mut s = String::new();
    match suggestions {
        [] => {}
        [one] => s.push_str(&format!("; did you mean `{one}`?")),
        many => {
            let names: Vec<String> = many.iter().map(|n| format!("`{n}`")).collect();
            s.push_str(&format!("; did you mean one of {}?", names.join(", ")));
        }
    }
    if !other_kinds.is_empty() {
        let kinds: Vec<&str> = other_kinds.iter().map(|k| k.words()).collect();
        s.push_str(&format!(
            " (a plugin of that name exists as: {})",
            kinds.join(", ")
        ));
    }
    if suggestions.is_empty() && other_kinds.is_empty() {
        s.push_str(
            "; is the crate that defines it linked? (call its `link()` or `use the_crate as _;`)",
        );
    }
    s
}

fn duplicates(dups: &[Duplicate]) -> String {
    let mut s = format!(
        "{} plugin name{} registered more than once (names must be unique per kind):",
        dups.len(),
        if dups.len() == 1 { " is" } else { "s are" }
    );
    for d in dups {
        s.push_str(&format!("\n  {d}"));
    }
    s
}

/// Every registered plugin, in no particular order.
pub fn plugins() -> impl Iterator<Item = &'static PluginDescriptor> + Clone {
    PLUGINS.iter()
}

/// The registered plugins of one kind.
pub fn of_kind(kind: PluginKind) -> impl Iterator<Item = &'static PluginDescriptor> + Clone {
    plugins().filter(move |p| p.kind() == kind)
}

/// The plugin of this kind and name, if one is registered.
///
/// When [`validate`] would report the name as a duplicate, this returns one of them.
///
/// ```
/// use rivus_core::registry::{self, PluginKind};
///
/// assert!(registry::find(PluginKind::SyncSink, "no-such-sink").is_none());
/// ```
pub fn find(kind: PluginKind, name: &str) -> Option<&'static PluginDescriptor> {
    plugins().find(|p| p.kind() == kind && p.name() == name)
}

/// Like [`find`], with an error that says what is registered instead.
///
/// # Errors
///
/// [`RegistryError::NotFound`], with the nearest registered names of the kind and the other kinds that use the
/// name.
pub fn lookup(kind: PluginKind, name: &str) -> Result<&'static PluginDescriptor, RegistryError> {
    if let Some(p) = find(kind, name) {
        return Ok(p);
    }
    let suggestions = nearest(name, of_kind(kind));
    let mut other_kinds: Vec<PluginKind> = plugins()
        .filter(|p| p.name() == name)
        .map(|p| p.kind())
        .collect();
    other_kinds.sort_unstable();
    other_kinds.dedup();
    Err(RegistryError::NotFound {
        kind,
        name: name.to_owned(),
        suggestions,
        other_kinds,
    })
}

/// The registered names nearest to `name` (at most three, nearest first) among `plugins`: those within a third
/// of the name's length in edit distance, or that contain it. What [`lookup`] suggests; also for callers that
/// look a name up across kinds.
///
/// ```
/// use rivus_core::registry;
///
/// assert!(registry::nearest("no-such-plugin-name", registry::plugins()).is_empty());
/// ```
pub fn nearest(
    name: &str,
    plugins: impl Iterator<Item = &'static PluginDescriptor>,
) -> Vec<&'static str> {
    let mut scored: Vec<(usize, &'static str)> = plugins
        .map(|p| (edit_distance(name, p.name()), p.name()))
        .filter(|&(d, n)| d <= (name.len().max(n.len()) / 3).max(1) || n.contains(name))
        .collect();
    scored.sort_unstable();
    scored.dedup_by_key(|s| s.1);
    scored.into_iter().take(3).map(|s| s.1).collect()
}

/// Looks the plugin up and builds it from its configuration; see [`PluginDescriptor::build`].
///
/// # Errors
///
/// As [`lookup`] and [`PluginDescriptor::build`].
pub fn build(
    kind: PluginKind,
    name: &str,
    config: impl Into<serde_json::Value>,
) -> Result<BuiltPlugin, RegistryError> {
    lookup(kind, name)?.build(config)
}

/// Checks that no (kind, name) is registered twice. The same name under two kinds is fine.
///
/// Call it at start-up; `rivus validate` does.
///
/// # Errors
///
/// [`RegistryError::Duplicates`] lists every duplicated (kind, name) with the Rust type and module of each
/// plugin that claims it.
pub fn validate() -> Result<(), RegistryError> {
    let mut by_key: BTreeMap<(PluginKind, &'static str), Vec<&'static PluginDescriptor>> =
        BTreeMap::new();
    for p in plugins() {
        by_key.entry((p.kind(), p.name())).or_default().push(p);
    }
    let dups: Vec<Duplicate> = by_key
        .into_iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|((kind, name), mut plugins)| {
            plugins.sort_by_key(|p| (p.type_name(), p.module_path()));
            Duplicate {
                kind,
                name,
                plugins,
            }
        })
        .collect();
    if dups.is_empty() {
        Ok(())
    } else {
        Err(RegistryError::Duplicates(dups))
    }
}

/// The edit distance between two names, in characters: insertions, deletions, substitutions and swaps of two
/// neighbours each count one (optimal string alignment).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j]: distance between a[..i] and b[..j]; three rows suffice.
    let width = b.len() + 1;
    let mut before: Vec<usize> = vec![0; width];
    let mut prev: Vec<usize> = (0..width).collect();
    let mut cur: Vec<usize> = vec![0; width];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..width {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("csv", "csv"), 0);
        assert_eq!(edit_distance("csv", "cvs"), 1);
        assert_eq!(edit_distance("kafka", "kafak"), 1);
        assert_eq!(edit_distance("scael", "scale"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("rename", "renames"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn kinds_round_trip() {
        for k in PluginKind::ALL {
            assert_eq!(k.as_str().parse::<PluginKind>().unwrap(), k);
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
            assert_eq!(serde_json::from_str::<PluginKind>(&json).unwrap(), k);
            assert_eq!(k.to_string(), k.as_str().replace('_', " "));
        }
        assert!("sink".parse::<PluginKind>().is_err());
    }

    #[test]
    fn not_found_messages() {
        let e = RegistryError::NotFound {
            kind: PluginKind::SyncSink,
            name: "cvs".into(),
            suggestions: vec!["csv", "cvs2"],
            other_kinds: vec![PluginKind::AsyncSink],
        };
        assert_eq!(
            e.to_string(),
            "no sync sink is registered under the name `cvs`; did you mean one of `csv`, `cvs2`? (a plugin of \
             that name exists as: async sink)"
        );
    }
}
