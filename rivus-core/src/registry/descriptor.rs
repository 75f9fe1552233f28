//! [`PluginDescriptor`]: what an attribute knows about the struct it annotates, and how it builds it.

use std::any::{Any, TypeId};
use std::fmt;

use serde::Serialize;

use super::{BuiltPlugin, OptionError, PluginKind, RegistryError};
use crate::dynamic::BoxPlugin;
use crate::error::BoxError;

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

/// Builds the plugin from its configuration, boxed as `Any`.
type BuildFn = fn(serde_json::Value) -> Result<Box<dyn Any + Send>, BuildFailure>;

/// Puts a plugin that `BuildFn` built into its kind's `dynamic` box, with the plugin's own item types, boxed as
/// `Any` for [`BoxPlugin::from_any`]; `None` when it is not the descriptor's plugin type.
type EraseFn = fn(Box<dyn Any + Send>) -> Option<Box<dyn Any + Send>>;

/// Why a generated constructor failed, before the descriptor adds the plugin's name.
#[doc(hidden)]
#[derive(Debug)]
pub enum BuildFailure {
    /// The configuration did not deserialize.
    Options(OptionError),
    /// The configuration deserialized but the plugin's `TryFrom` rejected it.
    Rejected(BoxError),
}

/// One registered plugin: what the attribute knows about the struct it annotates.
///
/// Descriptors are constants in the binary; they are never built or changed at run time. Get them from
/// [`plugins`](super::plugins), [`of_kind`](super::of_kind), [`find`](super::find) or [`lookup`](super::lookup).
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

/// The parts of a [`PluginDescriptor`] that depend on the plugin's type and kind, filled in by `__private`.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct TypeParts {
    pub(crate) kind: PluginKind,
    pub(crate) type_name: fn() -> &'static str,
    pub(crate) input: Option<ItemType>,
    pub(crate) output: Option<ItemType>,
    pub(crate) erase: EraseFn,
}

/// The parts of a [`PluginDescriptor`] that say how the plugin is made from its table, filled in by `__private`.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct OptionParts {
    pub(crate) config_type_name: fn() -> &'static str,
    pub(crate) config_schema: fn() -> schemars::Schema,
    pub(crate) build: BuildFn,
}

impl PluginDescriptor {
    /// Assembles a descriptor; only the attributes call this, through `__private`.
    #[doc(hidden)]
    pub const fn __new(meta: Meta, parts: TypeParts, options: OptionParts) -> Self {
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
            config_type_name: options.config_type_name,
            config_schema: options.config_schema,
            build: options.build,
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

    /// Builds the plugin from its configuration (the plugin's table of a TOML file, as a JSON value), to
    /// [`downcast`](BuiltPlugin::downcast) to the plugin's type.
    ///
    /// The value is deserialized into the configuration type, which is turned into the plugin with `TryFrom`
    /// (see the [module's table](super#options-what-a-plugins-table-holds) for plugins without options). Use
    /// [`build_from`](Self::build_from) to pass a `toml::Table` or any other serializable value. `null`
    /// (`Value::Null`) stands for "no configuration" and is read as an empty table. A record's
    /// [`Value`](crate::value::Value) (what the prelude's `json!` writes) and a `serde_json::Value` are both
    /// taken.
    ///
    /// # Errors
    ///
    /// [`RegistryError::Config`] names the plugin and the option at fault; [`RegistryError::Rejected`] carries
    /// the error of the plugin's `TryFrom`.
    pub fn build(
        &'static self,
        config: impl Into<serde_json::Value>,
    ) -> Result<BuiltPlugin, RegistryError> {
        let plugin = (self.build)(empty_if_null(config.into())).map_err(|f| self.failed(f))?;
        Ok(BuiltPlugin::new(self, plugin))
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
        let value = serde_json::to_value(config)
            .map_err(|e| self.failed(BuildFailure::Options(OptionError::whole(e.to_string()))))?;
        self.build(value)
    }

    /// Builds the plugin into its type-erased form for a pipeline whose items are `T`: the
    /// [`BoxPlugin`] variant of its kind (a [`BoxSyncPipe<T, T>`](crate::dynamic::BoxSyncPipe) for a sync pipe,
    /// a [`BoxAsyncSource<T>`](crate::dynamic::BoxAsyncSource) for an async source, …). This is what pipelines
    /// built from files run, with `T` = [`Record`](crate::value::Record).
    ///
    /// # Errors
    ///
    /// [`RegistryError::ItemType`] when the plugin does not take and give `T` (checked before anything is built);
    /// otherwise as [`build`](Self::build).
    ///
    /// # Examples
    ///
    /// ```
    /// use rivus_core::prelude::*;
    /// use rivus_core::dynamic::BoxPlugin;
    ///
    /// /// Doubles numbers.
    /// #[sync_pipe("double")]
    /// struct Double;
    ///
    /// impl SyncPipe for Double {
    ///     type In = u64;
    ///     type Out = u64;
    ///     fn process(&self, x: u64) -> Result<u64, PipeError> {
    ///         Ok(x * 2)
    ///     }
    /// }
    ///
    /// let double = registry::lookup(PluginKind::SyncPipe, "double").unwrap();
    /// let BoxPlugin::SyncPipe(pipe) = double.build_erased::<u64>(Value::Null).unwrap() else { unreachable!() };
    /// assert_eq!(pipe.process(21).unwrap(), 42);
    ///
    /// let err = double.build_erased::<Record>(Value::Null).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "sync pipe `double` takes `u64` and gives `u64`, not `rivus_core::value::Record`"
    /// );
    /// ```
    pub fn build_erased<T: 'static>(
        &self,
        config: impl Into<serde_json::Value>,
    ) -> Result<BoxPlugin<T>, RegistryError> {
        let fits = |t: Option<ItemType>| t.is_none_or(|t| t.is::<T>());
        let wrong_items = || RegistryError::ItemType {
            kind: self.kind,
            plugin: self.name,
            wanted: std::any::type_name::<T>(),
            input: self.input,
            output: self.output,
        };
        if !fits(self.input) || !fits(self.output) {
            return Err(wrong_items());
        }
        let built = (self.build)(empty_if_null(config.into())).map_err(|f| self.failed(f))?;
        // The item types were checked above, so the box is the kind's box of `T`.
        (self.erase)(built)
            .and_then(|boxed| BoxPlugin::from_any(self.kind, boxed))
            .ok_or_else(wrong_items)
    }

    fn failed(&self, failure: BuildFailure) -> RegistryError {
        match failure {
            BuildFailure::Options(error) => RegistryError::Config {
                kind: self.kind,
                plugin: self.name,
                error,
            },
            BuildFailure::Rejected(source) => RegistryError::Rejected {
                kind: self.kind,
                plugin: self.name,
                source,
            },
        }
    }
}

/// `null` is "no configuration": an empty table.
fn empty_if_null(config: serde_json::Value) -> serde_json::Value {
    match config {
        serde_json::Value::Null => serde_json::Value::Object(serde_json::Map::new()),
        other => other,
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
    /// The fields of a configuration schema (an object's properties), as `rivus describe` shows them.
    pub fn from_schema(schema: &schemars::Schema) -> Vec<Self> {
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

/// The key under which a schema that the attribute writes (for a struct that derives `Deserialize` only) gives
/// the Rust type of a field it has no JSON type for.
pub(crate) const RUST_TYPE: &str = "x-rust-type";

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
            } else if let Some(rust) = schema.get(RUST_TYPE).and_then(|t| t.as_str()) {
                // A schema written by the attribute for a type it has no JSON name for.
                rust.to_owned()
            } else {
                "any".to_owned()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
