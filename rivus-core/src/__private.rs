//! What the plugin attributes expand to. Not a public API: names here change without notice.
//!
//! The attributes write `::rivus_core::__private::...` paths only, so that a user's `Cargo.toml` needs nothing
//! but `rivus-core`.
//!
//! A descriptor is made by one of six `const fn`s (one per kind), from the plugin type `T` and its
//! [`OptionParts`]: how `T` is made from its table. The attribute picks those from the struct as written:
//! [`deserialized`] (`config = C`, or a struct that derives `Deserialize` and `JsonSchema`), [`listed`] (a struct
//! that derives `Deserialize` only; the attribute lists its fields), [`literal`] (no fields) or [`defaulted`]
//! (fields, no `Deserialize`). Each states its requirements as bounds of its own, so that a missing one is
//! reported in the words of its `on_unimplemented` message, at the attribute.

use std::any::Any;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;

pub use linkme;
pub use schemars;
pub use serde;

pub use crate::__plugin_shr as plugin_shr;
pub use crate::compose::{
    AsyncMode, AsyncSinkMode, AsyncSourceMode, Composable, SyncSinkMode, SyncSourceMode,
};
pub use crate::registry::{Meta, OptionParts, PLUGINS, PluginDescriptor};

use crate::compose::{Composed, Join, ModeOf};
use crate::dynamic::{
    BoxAsyncPipe, BoxAsyncSink, BoxAsyncSource, BoxSyncPipe, BoxSyncSink, BoxSyncSource,
};
use crate::error::BoxError;
use crate::pipe::{AsyncPipe, AsyncSink, AsyncSource, SyncPipe, SyncSink, SyncSource};
use crate::registry::{BuildFailure, ItemType, OptionError, PluginKind, TypeParts, from_value};

/// `>>` with a plugin on its left: `impl<R: RightOf<Plugin>> Shr<R> for Plugin`.
///
/// The library's own types use `compose`'s `__impl_shr`, whose impl is bounded by `Self: Composable`. For a
/// plugin that bound names no generic parameter, so the compiler checks it where the impl is written: a struct
/// under the wrong attribute (`#[sync_pipe]` on an `AsyncPipe`) got "not a pipe" at the impl before the
/// registration's own error. Here every bound is on the right-hand side, checked where `>>` is used.
#[doc(hidden)]
#[macro_export]
macro_rules! __plugin_shr {
    ($ty:ty) => {
        impl<__Rhs: $crate::__private::RightOf<$ty>> ::core::ops::Shr<__Rhs> for $ty {
            type Output = <__Rhs as $crate::__private::RightOf<$ty>>::Output;
            #[inline]
            fn shr(self, rhs: __Rhs) -> Self::Output {
                <__Rhs as $crate::__private::RightOf<$ty>>::join(self, rhs)
            }
        }
    };
}

/// What can stand on the right of `L >> _`: anything composable that joins with `L`.
pub trait RightOf<L>: Sized {
    /// `L >> Self`.
    type Output;
    /// Joins `left` and `right`.
    fn join(left: L, right: Self) -> Self::Output;
}

impl<L: Composable, R: Composable> RightOf<L> for R
where
    (ModeOf<L>, ModeOf<R>): Join<L, R>,
{
    type Output = Composed<L, R>;
    #[inline]
    fn join(left: L, right: R) -> Composed<L, R> {
        <(ModeOf<L>, ModeOf<R>) as Join<L, R>>::join(left, right)
    }
}

/// How a plugin is made from its configuration type `C` (`config = C`): `From<C>` or `TryFrom<C>`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be built from its configuration type `{C}`",
    label = "`config = {C}` needs `impl From<{C}> for {Self}` (or `TryFrom`)",
    note = "the plugin is built by deserializing a `{C}` and converting it with `TryFrom<{C}>`; implement \
            `From<{C}>` (or `TryFrom<{C}>` whose error converts into a boxed error) for `{Self}`"
)]
pub trait FromConfig<C>: Sized {
    /// Converts the configuration into the plugin.
    fn from_config(config: C) -> Result<Self, BoxError>;
}

impl<T, C> FromConfig<C> for T
where
    T: TryFrom<C>,
    <T as TryFrom<C>>::Error: Into<BoxError>,
{
    fn from_config(config: C) -> Result<Self, BoxError> {
        T::try_from(config).map_err(Into::into)
    }
}

/// A configuration type named with `config = C`: deserialized from the plugin's table and described by its JSON
/// schema.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a plugin configuration: it must implement `Deserialize` and `JsonSchema`",
    label = "the plugin's configuration type",
    note = "derive them: `#[derive(Deserialize, JsonSchema)]` from `rivus_core::prelude`; a type that no plugin \
            attribute annotates also needs `#[serde(crate = \"rivus_core::serde\")]` and \
            `#[schemars(crate = \"rivus_core::schemars\")]`, unless its crate depends on `serde` and `schemars`"
)]
pub trait Config: DeserializeOwned + JsonSchema + 'static {}

impl<C: DeserializeOwned + JsonSchema + 'static> Config for C {}

/// A built plugin, boxed for the descriptor.
type Built = Result<Box<dyn Any + Send>, BuildFailure>;

/// A built plugin in its kind's box; `None` when the plugin was not of the descriptor's type.
type Erased = Option<Box<dyn Any + Send>>;

fn build_deserialized<T: FromConfig<C> + Send + 'static, C: Config>(
    config: serde_json::Value,
) -> Built {
    let config: C = from_value(config).map_err(BuildFailure::Options)?;
    // A plugin's own check of its options (in `TryFrom`) names the option with an `OptionError`.
    let plugin = T::from_config(config).map_err(|e| match e.downcast::<OptionError>() {
        Ok(option) => BuildFailure::Options(*option),
        Err(other) => BuildFailure::Rejected(other),
    })?;
    Ok(Box::new(plugin))
}

fn config_schema<C: Config>() -> schemars::Schema {
    schemars::schema_for!(C)
}

/// `T` is made from a `C` with [`FromConfig`]; the schema is `C`'s own (`config = C`, or `C = T` for a struct
/// that derives `Deserialize` and `JsonSchema`).
pub const fn deserialized<T: FromConfig<C> + Send + 'static, C: Config>() -> OptionParts {
    OptionParts {
        config_type_name: std::any::type_name::<C>,
        config_schema: config_schema::<C>,
        build: build_deserialized::<T, C>,
    }
}

/// One field of a struct that derives `Deserialize` but not `JsonSchema`, as the attribute reads it.
#[derive(Debug, Clone, Copy)]
pub struct FieldDoc {
    /// The name in the table (after serde's `rename` and `rename_all`).
    pub name: &'static str,
    /// The Rust type as written.
    pub rust_type: &'static str,
    /// The JSON type, for the types the attribute knows.
    pub json_type: Option<&'static str>,
    /// The JSON type of an array's items, when known.
    pub items: Option<&'static str>,
    /// `false` for an `Option` and for a field with a serde default.
    pub required: bool,
    /// The doc comment.
    pub description: &'static str,
}

/// The fields of a struct that derives `Deserialize` but not `JsonSchema`; the attribute implements it.
pub trait ListedFields {
    /// The fields the table may hold.
    const FIELDS: &'static [FieldDoc];
}

fn build_listed<T: DeserializeOwned + Send + 'static>(config: serde_json::Value) -> Built {
    let plugin: T = from_value(config).map_err(BuildFailure::Options)?;
    Ok(Box::new(plugin))
}

/// The schema of the fields that the attribute listed.
fn listed_schema<T: ListedFields>() -> schemars::Schema {
    let mut properties = serde_json::Map::new();
    let mut required = Vec::new();
    for field in T::FIELDS {
        let mut property = serde_json::Map::new();
        if !field.description.is_empty() {
            property.insert("description".into(), field.description.into());
        }
        match field.json_type {
            Some(json_type) => {
                property.insert("type".into(), json_type.into());
                if let Some(items) = field.items {
                    property.insert("items".into(), serde_json::json!({ "type": items }));
                }
            }
            None => {
                property.insert(crate::registry::RUST_TYPE.into(), field.rust_type.into());
            }
        }
        properties.insert(field.name.into(), property.into());
        if field.required {
            required.push(serde_json::Value::from(field.name));
        }
    }
    let name = std::any::type_name::<T>();
    let mut schema = serde_json::Map::new();
    schema.insert(
        "title".into(),
        name.rsplit("::").next().unwrap_or(name).into(),
    );
    schema.insert("type".into(), "object".into());
    schema.insert("properties".into(), properties.into());
    schema.insert("required".into(), required.into());
    schemars::Schema::from(schema)
}

/// `T` deserializes itself; the schema is made from the fields that the attribute listed.
pub const fn listed<T: DeserializeOwned + ListedFields + Send + 'static>() -> OptionParts {
    OptionParts {
        config_type_name: std::any::type_name::<T>,
        config_schema: listed_schema::<T>,
        build: build_listed::<T>,
    }
}

/// A table without options: anything in it is an unknown option.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NoOptions {}

fn no_options(config: serde_json::Value) -> Result<(), BuildFailure> {
    from_value::<NoOptions>(config)
        .map(drop)
        .map_err(BuildFailure::Options)
}

fn no_options_schema() -> schemars::Schema {
    schemars::json_schema!({ "type": "object", "properties": {}, "additionalProperties": false })
}

/// A struct without fields, made by its literal; the attribute implements it.
pub trait Fieldless {
    /// The struct's literal.
    fn literal() -> Self;
}

fn build_literal<T: Fieldless + Send + 'static>(config: serde_json::Value) -> Built {
    no_options(config)?;
    Ok(Box::new(T::literal()))
}

/// `T` has no fields and no options.
pub const fn literal<T: Fieldless + Send + 'static>() -> OptionParts {
    OptionParts {
        config_type_name: std::any::type_name::<()>,
        config_schema: no_options_schema,
        build: build_literal::<T>,
    }
}

/// A plugin with fields and no options, made with `Default`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has fields but does not derive `Deserialize`, so it takes no options and is built with \
               `Default`, which it does not implement",
    label = "`{Self}` needs `Default`, or `#[derive(Deserialize)]` below this attribute",
    note = "to take options, derive `Deserialize` (and `JsonSchema`) below the plugin attribute, where it sees \
            them, or name a configuration type with `config = MyConfig`; to take none, derive or implement `Default`"
)]
pub trait ByDefault: Default {}

impl<T: Default> ByDefault for T {}

fn build_defaulted<T: ByDefault + Send + 'static>(config: serde_json::Value) -> Built {
    no_options(config)?;
    Ok(Box::new(T::default()))
}

/// `T` has fields but no options: it is made with `Default`.
pub const fn defaulted<T: ByDefault + Send + 'static>() -> OptionParts {
    OptionParts {
        config_type_name: std::any::type_name::<()>,
        config_schema: no_options_schema,
        build: build_defaulted::<T>,
    }
}

/// The descriptor's parts that depend on the plugin's type and kind.
const fn parts<T: 'static>(
    kind: PluginKind,
    items: (Option<ItemType>, Option<ItemType>),
    erase: fn(Box<dyn Any + Send>) -> Erased,
) -> TypeParts {
    TypeParts {
        kind,
        type_name: std::any::type_name::<T>,
        input: items.0,
        output: items.1,
        erase,
    }
}

// The plugin, built by its `OptionParts`, into its kind's box with the plugin's own item types;
// `BoxPlugin::from_any` takes the box out. `None` when `built` is not a `T`.

fn erase_async_source<T: IsAsyncSource>(built: Box<dyn Any + Send>) -> Erased {
    let plugin = *built.downcast::<T>().ok()?;
    Some(Box::new(BoxAsyncSource::new(plugin)))
}

fn erase_async_sink<T: IsAsyncSink>(built: Box<dyn Any + Send>) -> Erased {
    let plugin = *built.downcast::<T>().ok()?;
    Some(Box::new(BoxAsyncSink::new(plugin)))
}

fn erase_sync_source<T: IsSyncSource>(built: Box<dyn Any + Send>) -> Erased {
    let source: BoxSyncSource<T::Out> = built.downcast::<T>().ok()?;
    Some(Box::new(source))
}

fn erase_sync_sink<T: IsSyncSink>(built: Box<dyn Any + Send>) -> Erased {
    let sink: BoxSyncSink<T::In> = built.downcast::<T>().ok()?;
    Some(Box::new(sink))
}

fn erase_async_pipe<T: IsAsyncPipe>(built: Box<dyn Any + Send>) -> Erased {
    let plugin = *built.downcast::<T>().ok()?;
    Some(Box::new(BoxAsyncPipe::new(plugin)))
}

fn erase_sync_pipe<T: IsSyncPipe + Sync>(
    built: Box<dyn Any + Send>,
) -> Option<Box<dyn Any + Send>> {
    let plugin = *built.downcast::<T>().ok()?;
    Some(Box::new(BoxSyncPipe::new(plugin)))
}

macro_rules! kinds {
    ($(
        $check:ident, $marked:ident, $trait:ident, $kind:ident, $attr:literal,
        $msg:literal, $label:literal, $marked_msg:literal,
        [$($bound:tt)*], $input:expr, $output:expr;
    )*) => {$(
        #[doc = concat!("A type registered with `#[", $attr, "]`: implements [`", stringify!($trait), "`].")]
        #[diagnostic::on_unimplemented(
            message = $msg,
            label = $label,
            note = "a plugin attribute must match the trait the struct implements: `#[sync_pipe]` for `SyncPipe`, \
                    `#[async_pipe]` for `AsyncPipe`, `#[sync_source]` for `SyncSource`, and so on; a registered \
                    plugin must also be `Send + 'static`"
        )]
        pub trait $check: $trait + Send + 'static {
            /// The kind.
            const KIND: PluginKind = PluginKind::$kind;
            /// What the plugin takes and gives.
            const ITEMS: (Option<ItemType>, Option<ItemType>);
        }

        impl<T> $check for T
        where
            T: $trait + Send + 'static,
            $($bound)*
        {
            const ITEMS: (Option<ItemType>, Option<ItemType>) = ($input, $output);
        }

        #[doc = concat!("A type marked with `#[", $attr, "]` and no name: implements [`", stringify!($trait), "`].")]
        #[diagnostic::on_unimplemented(
            message = $marked_msg,
            label = $label
        )]
        pub trait $marked: $trait {}

        impl<T: $trait + ?Sized> $marked for T {}

    )*};
}

kinds! {
    IsAsyncSource, MarkedAsyncSource, AsyncSource, AsyncSource, "async_source",
        "`{Self}` is registered as an async source but does not implement `AsyncSource`",
        "`#[async_source]` needs `impl AsyncSource for {Self}`",
        "`{Self}` is marked `#[async_source]` but does not implement `AsyncSource`",
        [T::Out: 'static], None, Some(ItemType::of::<T::Out>());
    IsAsyncSink, MarkedAsyncSink, AsyncSink, AsyncSink, "async_sink",
        "`{Self}` is registered as an async sink but does not implement `AsyncSink`",
        "`#[async_sink]` needs `impl AsyncSink for {Self}`",
        "`{Self}` is marked `#[async_sink]` but does not implement `AsyncSink`",
        [T::In: 'static], Some(ItemType::of::<T::In>()), None;
    IsSyncSource, MarkedSyncSource, SyncSource, SyncSource, "sync_source",
        "`{Self}` is registered as a sync source but does not implement `SyncSource`",
        "`#[sync_source]` needs `impl SyncSource for {Self}`",
        "`{Self}` is marked `#[sync_source]` but does not implement `SyncSource`",
        [T::Out: 'static], None, Some(ItemType::of::<T::Out>());
    IsSyncSink, MarkedSyncSink, SyncSink, SyncSink, "sync_sink",
        "`{Self}` is registered as a sync sink but does not implement `SyncSink`",
        "`#[sync_sink]` needs `impl SyncSink for {Self}`",
        "`{Self}` is marked `#[sync_sink]` but does not implement `SyncSink`",
        [T::In: 'static], Some(ItemType::of::<T::In>()), None;
    IsAsyncPipe, MarkedAsyncPipe, AsyncPipe, AsyncPipe, "async_pipe",
        "`{Self}` is registered as an async pipe but does not implement `AsyncPipe`",
        "`#[async_pipe]` needs `impl AsyncPipe for {Self}`",
        "`{Self}` is marked `#[async_pipe]` but does not implement `AsyncPipe`",
        [T::In: 'static, T::Out: 'static], Some(ItemType::of::<T::In>()), Some(ItemType::of::<T::Out>());
    IsSyncPipe, MarkedSyncPipe, SyncPipe, SyncPipe, "sync_pipe",
        "`{Self}` is registered as a sync pipe but does not implement `SyncPipe`",
        "`#[sync_pipe]` needs `impl SyncPipe for {Self}`",
        "`{Self}` is marked `#[sync_pipe]` but does not implement `SyncPipe`",
        [T::In: 'static, T::Out: 'static], Some(ItemType::of::<T::In>()), Some(ItemType::of::<T::Out>());
}

// The constructors are written out, not generated, so that "required by a bound in" notes show one short line.

/// The descriptor of an `#[async_source]` plugin.
pub const fn async_source<T: IsAsyncSource>(meta: Meta, options: OptionParts) -> PluginDescriptor {
    let parts = parts::<T>(T::KIND, T::ITEMS, erase_async_source::<T>);
    PluginDescriptor::__new(meta, parts, options)
}

/// The descriptor of an `#[async_sink]` plugin.
pub const fn async_sink<T: IsAsyncSink>(meta: Meta, options: OptionParts) -> PluginDescriptor {
    let parts = parts::<T>(T::KIND, T::ITEMS, erase_async_sink::<T>);
    PluginDescriptor::__new(meta, parts, options)
}

/// The descriptor of a `#[sync_source]` plugin.
pub const fn sync_source<T: IsSyncSource>(meta: Meta, options: OptionParts) -> PluginDescriptor {
    let parts = parts::<T>(T::KIND, T::ITEMS, erase_sync_source::<T>);
    PluginDescriptor::__new(meta, parts, options)
}

/// The descriptor of a `#[sync_sink]` plugin.
pub const fn sync_sink<T: IsSyncSink>(meta: Meta, options: OptionParts) -> PluginDescriptor {
    let parts = parts::<T>(T::KIND, T::ITEMS, erase_sync_sink::<T>);
    PluginDescriptor::__new(meta, parts, options)
}

/// The descriptor of an `#[async_pipe]` plugin.
pub const fn async_pipe<T: IsAsyncPipe>(meta: Meta, options: OptionParts) -> PluginDescriptor {
    let parts = parts::<T>(T::KIND, T::ITEMS, erase_async_pipe::<T>);
    PluginDescriptor::__new(meta, parts, options)
}

/// The descriptor of a `#[sync_pipe]` plugin.
///
/// A registered sync pipe must also be `Sync`: the runtime shares it between the calls of a stage.
pub const fn sync_pipe<T: IsSyncPipe + Sync>(meta: Meta, options: OptionParts) -> PluginDescriptor {
    let parts = parts::<T>(T::KIND, T::ITEMS, erase_sync_pipe::<T>);
    PluginDescriptor::__new(meta, parts, options)
}

/// Checks a nameless `#[async_source]`.
pub const fn marked_async_source<T: MarkedAsyncSource + ?Sized>() {}

/// Checks a nameless `#[async_sink]`.
pub const fn marked_async_sink<T: MarkedAsyncSink + ?Sized>() {}

/// Checks a nameless `#[sync_source]`.
pub const fn marked_sync_source<T: MarkedSyncSource + ?Sized>() {}

/// Checks a nameless `#[sync_sink]`.
pub const fn marked_sync_sink<T: MarkedSyncSink + ?Sized>() {}

/// Checks a nameless `#[async_pipe]`.
pub const fn marked_async_pipe<T: MarkedAsyncPipe + ?Sized>() {}

/// Checks a nameless `#[sync_pipe]`.
pub const fn marked_sync_pipe<T: MarkedSyncPipe + ?Sized>() {}
