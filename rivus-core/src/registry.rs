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
//! * `config = SomeType`: the type that the plugin's configuration deserializes into. The plugin is made from it
//!   with `From<SomeType>` or `TryFrom<SomeType>` (whose error becomes [`RegistryError::Rejected`]);
//!   `SomeType` implements `Deserialize` and `JsonSchema`. Default: the struct itself, which then derives
//!   `Deserialize` and `JsonSchema`.
//!
//! The attribute also makes the type composable: a pipe gets `>>`, a source `source >> pipe`, a sink stands on
//! the right of `pipe >> sink` (see [`compose::io`](crate::compose::io)). Without a name (`#[sync_pipe]`,
//! `#[async_source]`, …) the attribute registers nothing and only does this. A struct may carry attributes of
//! several kinds (a source with a sync and an async form); `>>` then follows the innermost (last) attribute.
//!
//! Generic structs register only when every parameter has a default (`struct Csv<D = Comma>`); the default form
//! is registered. Mistakes (a name that is not a literal, a trait that is not implemented, an enum, a repeated
//! attribute, an unknown option) are compile errors at the attribute.
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
//! use rivus_core::serde::Deserialize;
//! use rivus_core::schemars::JsonSchema;
//!
//! /// Upper-cases text.
//! ///
//! /// This second paragraph is not part of the description.
//! #[sync_pipe("upper")]
//! #[derive(Deserialize, JsonSchema)]
//! #[serde(crate = "rivus_core::serde", deny_unknown_fields)]
//! #[schemars(crate = "rivus_core::schemars")]
//! struct Upper {}
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
//! let pipe: Upper = upper.build(serde_json::json!({})).unwrap().downcast().unwrap();
//! assert_eq!(pipe.process("abc".into()).unwrap(), "ABC");
//!
//! let err = registry::lookup(PluginKind::SyncPipe, "uper").unwrap_err();
//! assert!(err.to_string().contains("did you mean `upper`?"), "{err}");
//! registry::validate().unwrap();
//! ```

use std::any::{Any, TypeId};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

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

/// An item type that a plugin takes or gives: its Rust name and its [`TypeId`].
#[derive(Clone, Copy)]
pub struct ItemType {
    name: fn() -> &'static str,
    id: fn() -> TypeId,
}

impl ItemType {
    /// The item type `T`.
    pub const fn of<T: 'static>() -> Self {
        Self {
            name: std::any::type_name::<T>,
            id: TypeId::of::<T>,
        }
    }

    /// The type's name, as [`std::any::type_name`] gives it (for messages, not for comparisons).
    pub fn name(&self) -> &'static str {
        (self.name)()
    }

    /// The type's [`TypeId`].
    pub fn id(&self) -> TypeId {
        (self.id)()
    }

    /// `true` when this is the type `T`.
    pub fn is<T: 'static>(&self) -> bool {
        self.id() == TypeId::of::<T>()
    }
}

impl fmt::Debug for ItemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl PartialEq for ItemType {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}

impl Eq for ItemType {}

/// Builds a plugin from its configuration; see [`PluginDescriptor::build`].
type BuildFn = fn(serde_json::Value) -> Result<Box<dyn Any + Send>, BuildFailure>;

/// Turns a built plugin into its type-erased form; see [`PluginDescriptor::erase`].
type EraseFn = fn(Box<dyn Any + Send>) -> Result<Box<dyn Any + Send>, String>;

/// Why a generated constructor failed, before the descriptor adds the plugin's name.
#[doc(hidden)]
#[derive(Debug)]
pub enum BuildFailure {
    /// The configuration did not deserialize.
    Config {
        /// Where in the configuration, e.g. `columns[2].name`; empty for the table itself.
        field: String,
        /// The deserializer's message.
        message: String,
    },
    /// The configuration deserialized but the plugin's `TryFrom` rejected it.
    Rejected(BoxError),
}

/// One registered plugin: what the attribute knows about the struct it annotates.
///
/// Descriptors are constants in the binary; they are never built or changed at run time. Get them from
/// [`plugins`], [`of_kind`], [`find`] or [`lookup`].
pub struct PluginDescriptor {
    name: &'static str,
    kind: PluginKind,
    type_name: fn() -> &'static str,
    module_path: &'static str,
    file: &'static str,
    line: u32,
    description: &'static str,
    input: Option<ItemType>,
    output: Option<ItemType>,
    config_type_name: fn() -> &'static str,
    config_schema: fn() -> schemars::Schema,
    build: BuildFn,
    erase: EraseFn,
}

/// The parts of a [`PluginDescriptor`] that the attribute writes out as literals.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    /// The plugin's name.
    pub name: &'static str,
    /// Its description.
    pub description: &'static str,
    /// `module_path!()` at the struct.
    pub module_path: &'static str,
    /// `file!()` at the attribute.
    pub file: &'static str,
    /// `line!()` at the attribute.
    pub line: u32,
}

/// The parts of a [`PluginDescriptor`] that depend on the plugin's type, filled in by `__private`.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct TypeParts {
    pub(crate) kind: PluginKind,
    pub(crate) type_name: fn() -> &'static str,
    pub(crate) input: Option<ItemType>,
    pub(crate) output: Option<ItemType>,
    pub(crate) config_type_name: fn() -> &'static str,
    pub(crate) config_schema: fn() -> schemars::Schema,
    pub(crate) build: BuildFn,
    pub(crate) erase: EraseFn,
}

impl PluginDescriptor {
    /// Assembles a descriptor; only the attributes call this, through `__private`.
    #[doc(hidden)]
    pub const fn __new(meta: Meta, parts: TypeParts) -> Self {
        Self {
            name: meta.name,
            kind: parts.kind,
            type_name: parts.type_name,
            module_path: meta.module_path,
            file: meta.file,
            line: meta.line,
            description: meta.description,
            input: parts.input,
            output: parts.output,
            config_type_name: parts.config_type_name,
            config_schema: parts.config_schema,
            build: parts.build,
            erase: parts.erase,
        }
    }

    /// The plugin's name, unique within its kind: `"csv"`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The plugin's kind.
    pub fn kind(&self) -> PluginKind {
        self.kind
    }

    /// The full Rust name of the annotated struct: `"rivus_plugins::csv::CsvSink"`.
    pub fn type_name(&self) -> &'static str {
        (self.type_name)()
    }

    /// The module that defines the struct: `"rivus_plugins::csv"`.
    pub fn module_path(&self) -> &'static str {
        self.module_path
    }

    /// The Rust name of the crate that defines the struct (the first segment of its module path).
    pub fn crate_name(&self) -> &'static str {
        self.module_path
            .split("::")
            .next()
            .unwrap_or(self.module_path)
    }

    /// The source file and line of the attribute.
    pub fn location(&self) -> (&'static str, u32) {
        (self.file, self.line)
    }

    /// The one-paragraph description: the attribute's `description = "..."`, else the first paragraph of the
    /// struct's doc comment, else empty.
    pub fn description(&self) -> &'static str {
        self.description
    }

    /// The items the plugin takes (sinks and pipes); `None` for sources.
    pub fn input_type(&self) -> Option<ItemType> {
        self.input
    }

    /// The items the plugin gives (sources and pipes); `None` for sinks.
    pub fn output_type(&self) -> Option<ItemType> {
        self.output
    }

    /// The Rust name of the configuration type (the struct itself, or the attribute's `config = ...`).
    pub fn config_type_name(&self) -> &'static str {
        (self.config_type_name)()
    }

    /// The JSON schema of the plugin's configuration (from `schemars`): fields, types, defaults, doc comments.
    ///
    /// [`config_fields`](Self::config_fields) gives the same facts as a list.
    pub fn config_schema(&self) -> schemars::Schema {
        (self.config_schema)()
    }

    /// The top-level fields of the configuration, in the schema's order, for listings such as
    /// `rivus describe`.
    pub fn config_fields(&self) -> Vec<ConfigField> {
        ConfigField::from_schema(&self.config_schema())
    }

    /// Builds the plugin from its configuration (the plugin's table of a TOML file, as a JSON value).
    ///
    /// The value is deserialized into the configuration type, which is turned into the plugin with `TryFrom`.
    /// Use [`build_from`](Self::build_from) to pass a `toml::Table` or any other serializable value. `null`
    /// (`Value::default()`) stands for "no configuration" and is read as an empty table.
    ///
    /// # Errors
    ///
    /// [`RegistryError::Config`] names the plugin and the field that did not deserialize;
    /// [`RegistryError::Rejected`] carries the error of the plugin's `TryFrom`.
    pub fn build(&'static self, config: serde_json::Value) -> Result<BuiltPlugin, RegistryError> {
        let config = match config {
            serde_json::Value::Null => serde_json::Value::Object(serde_json::Map::new()),
            other => other,
        };
        match (self.build)(config) {
            Ok(plugin) => Ok(BuiltPlugin {
                descriptor: self,
                plugin,
            }),
            Err(BuildFailure::Config { field, message }) => Err(RegistryError::Config {
                kind: self.kind,
                plugin: self.name,
                field,
                message,
            }),
            Err(BuildFailure::Rejected(source)) => Err(RegistryError::Rejected {
                kind: self.kind,
                plugin: self.name,
                source,
            }),
        }
    }

    /// Builds the plugin from any serializable configuration, e.g. a `toml::Table`.
    ///
    /// The value goes through [`serde_json::Value`] first. TOML dates and times arrive there as tables, so a
    /// configuration field that holds one should be a string.
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build); a value that cannot be represented as JSON gives [`RegistryError::Config`].
    pub fn build_from<S: Serialize + ?Sized>(
        &'static self,
        config: &S,
    ) -> Result<BuiltPlugin, RegistryError> {
        let value = serde_json::to_value(config).map_err(|e| RegistryError::Config {
            kind: self.kind,
            plugin: self.name,
            field: String::new(),
            message: e.to_string(),
        })?;
        self.build(value)
    }

    /// The plugin `built` in its type-erased form, for pipelines assembled at run time: a
    /// [`BoxSyncPipe<In, Out>`](crate::dynamic::BoxSyncPipe) for a sync pipe, a
    /// [`BoxAsyncSource<Out>`](crate::dynamic::BoxAsyncSource) for an async source, and so on for the six kinds,
    /// each boxed as `Any` so that the caller downcasts to the item types it expects.
    ///
    /// # Errors
    ///
    /// A message when `built` was not made by this descriptor.
    pub fn erase(&self, built: BuiltPlugin) -> Result<Box<dyn Any + Send>, String> {
        (self.erase)(built.into_any())
    }
}

impl fmt::Debug for PluginDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginDescriptor")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("type_name", &self.type_name())
            .field("module_path", &self.module_path)
            .field("description", &self.description)
            .field("input", &self.input)
            .field("output", &self.output)
            .field("config_type_name", &self.config_type_name())
            .finish_non_exhaustive()
    }
}

/// One field of a plugin's configuration, as [`PluginDescriptor::config_fields`] lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ConfigField {
    /// The field's name in the configuration.
    pub name: String,
    /// Its type as the schema says it: `"string"`, `"integer"`, `"string | null"`, `"array of string"`, or the
    /// name of a nested definition.
    pub ty: String,
    /// Its default, if it has one.
    pub default: Option<serde_json::Value>,
    /// Its doc comment.
    pub description: Option<String>,
    /// `true` when the configuration must give it.
    pub required: bool,
}

impl ConfigField {
    fn from_schema(schema: &schemars::Schema) -> Vec<Self> {
        let Some(obj) = schema.as_object() else {
            return Vec::new();
        };
        let required: Vec<&str> = obj
            .get("required")
            .and_then(|r| r.as_array())
            .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        let Some(props) = obj.get("properties").and_then(|p| p.as_object()) else {
            return Vec::new();
        };
        props
            .iter()
            .map(|(name, prop)| Self {
                name: name.clone(),
                ty: type_words(prop),
                default: prop.get("default").cloned(),
                description: prop
                    .get("description")
                    .and_then(|d| d.as_str())
                    .map(str::to_owned),
                required: required.contains(&name.as_str()),
            })
            .collect()
    }
}

/// The type of a schema in words.
fn type_words(schema: &serde_json::Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(|r| r.as_str()) {
        return r.rsplit('/').next().unwrap_or(r).to_owned();
    }
    let one = |t: &serde_json::Value| -> String {
        match t.as_str() {
            Some("array") => match schema.get("items") {
                Some(items) => format!("array of {}", type_words(items)),
                None => "array".to_owned(),
            },
            Some(t) => t.to_owned(),
            None => "any".to_owned(),
        }
    };
    match schema.get("type") {
        Some(serde_json::Value::Array(types)) => {
            types.iter().map(one).collect::<Vec<_>>().join(" | ")
        }
        Some(t) => one(t),
        None => {
            for key in ["anyOf", "oneOf"] {
                if let Some(options) = schema.get(key).and_then(|o| o.as_array()) {
                    return options
                        .iter()
                        .map(type_words)
                        .collect::<Vec<_>>()
                        .join(" | ");
                }
            }
            if schema.get("enum").is_some() {
                "enum".to_owned()
            } else {
                "any".to_owned()
            }
        }
    }
}

/// A plugin built from configuration, with its type erased; [`downcast`](Self::downcast) it to the plugin's
/// type.
///
/// Config-built pipelines hand it to the runtime, which knows how to drive each [`PluginKind`].
pub struct BuiltPlugin {
    descriptor: &'static PluginDescriptor,
    plugin: Box<dyn Any + Send>,
}

impl BuiltPlugin {
    /// The descriptor of the plugin that was built.
    pub fn descriptor(&self) -> &'static PluginDescriptor {
        self.descriptor
    }

    /// `true` when the plugin is a `T`.
    pub fn is<T: Any>(&self) -> bool {
        self.plugin.is::<T>()
    }

    /// The plugin, if it is a `T`.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        self.plugin.downcast_ref()
    }

    /// The plugin, if it is a `T`.
    pub fn downcast_mut<T: Any>(&mut self) -> Option<&mut T> {
        self.plugin.downcast_mut()
    }

    /// The plugin as a `T`.
    ///
    /// # Errors
    ///
    /// When the plugin is not a `T`, a [`DowncastError`] that names both types and gives the plugin back.
    pub fn downcast<T: Any>(self) -> Result<T, DowncastError> {
        match self.plugin.downcast::<T>() {
            Ok(plugin) => Ok(*plugin),
            Err(plugin) => Err(DowncastError {
                plugin: Self {
                    descriptor: self.descriptor,
                    plugin,
                },
                wanted: std::any::type_name::<T>(),
            }),
        }
    }

    /// The plugin as a boxed [`Any`].
    pub fn into_any(self) -> Box<dyn Any + Send> {
        self.plugin
    }
}

impl fmt::Debug for BuiltPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuiltPlugin")
            .field("kind", &self.descriptor.kind)
            .field("name", &self.descriptor.name)
            .field("type_name", &self.descriptor.type_name())
            .finish_non_exhaustive()
    }
}

/// [`BuiltPlugin::downcast`] asked for a type the plugin is not.
#[derive(Debug, thiserror::Error)]
#[error(
    "{} `{}` is a `{}`, not a `{wanted}`",
    plugin.descriptor.kind,
    plugin.descriptor.name,
    plugin.descriptor.type_name()
)]
pub struct DowncastError {
    plugin: BuiltPlugin,
    wanted: &'static str,
}

impl DowncastError {
    /// The plugin, unchanged.
    pub fn into_inner(self) -> BuiltPlugin {
        self.plugin
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
    #[error("{}{}", not_found(*.kind, .name), suggest(.suggestions, .other_kinds))]
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
    #[error("{kind} `{plugin}`: {}{message}", at_field(.field))]
    Config {
        /// The plugin's kind.
        kind: PluginKind,
        /// The plugin's name.
        plugin: &'static str,
        /// The path to the field at fault (`columns[2].name`), empty when the table itself is at fault (a
        /// missing or unknown field, which the message names).
        field: String,
        /// What is wrong.
        message: String,
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
}

fn not_found(kind: PluginKind, name: &str) -> String {
    format!("no {kind} is registered under the name `{name}`")
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

fn at_field(field: &str) -> String {
    if field.is_empty() {
        String::new()
    } else {
        format!("field `{field}`: ")
    }
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
    plugins().filter(move |p| p.kind == kind)
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
    plugins().find(|p| p.kind == kind && p.name == name)
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
        .filter(|p| p.name == name)
        .map(|p| p.kind)
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
        .map(|p| (edit_distance(name, p.name), p.name))
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
    config: serde_json::Value,
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
        by_key.entry((p.kind, p.name)).or_default().push(p);
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
    fn field_types_in_words() {
        let schema = serde_json::json!({
            "type": "object",
            "required": ["a"],
            "properties": {
                "a": {"type": "string", "description": "A."},
                "b": {"type": ["integer", "null"], "default": 3},
                "c": {"type": "array", "items": {"type": "string"}},
                "d": {"$ref": "#/$defs/Mode"}
            }
        });
        let schema = schemars::Schema::try_from(schema).unwrap();
        let fields = ConfigField::from_schema(&schema);
        let words: Vec<(&str, &str, bool)> = fields
            .iter()
            .map(|f| (f.name.as_str(), f.ty.as_str(), f.required))
            .collect();
        assert_eq!(
            words,
            [
                ("a", "string", true),
                ("b", "integer | null", false),
                ("c", "array of string", false),
                ("d", "Mode", false)
            ]
        );
        assert_eq!(fields[1].default, Some(serde_json::json!(3)));
        assert_eq!(fields[0].description.as_deref(), Some("A."));
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
