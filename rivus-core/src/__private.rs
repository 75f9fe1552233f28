//! What the plugin attributes expand to. Not a public API: names here change without notice.
//!
//! The attributes write `::rivus_core::__private::...` paths only, so that a user's `Cargo.toml` needs nothing
//! but `rivus-core`.

use std::any::Any;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;

pub use linkme;
pub use schemars;
pub use serde;

pub use crate::__impl_shr as impl_shr;
pub use crate::compose::{
    AsyncMode, AsyncSinkMode, AsyncSourceMode, Composable, SyncSinkMode, SyncSourceMode,
};
pub use crate::registry::{Meta, PLUGINS, PluginDescriptor};

use crate::error::BoxError;
use crate::pipe::{AsyncPipe, AsyncSink, AsyncSource, SyncPipe, SyncSink, SyncSource};
use crate::registry::{BuildFailure, ItemType, PluginKind, TypeParts};

/// How a plugin is made from its configuration type `C`: `From<C>` or `TryFrom<C>` (for `config = C`), or the
/// identity when the plugin is its own configuration.
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

/// A configuration type: deserialized from the plugin's table and described by its JSON schema.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a plugin configuration: it must implement `Deserialize` and `JsonSchema`",
    label = "the plugin's configuration type",
    note = "derive them: `#[derive(Deserialize, JsonSchema)]` (from `rivus_core::serde` and \
            `rivus_core::schemars`, or your own `serde`/`schemars` dependencies), or name another type with \
            `config = MyConfig`"
)]
pub trait Config: DeserializeOwned + JsonSchema + 'static {}

impl<C: DeserializeOwned + JsonSchema + 'static> Config for C {}

fn build<T, C>(value: serde_json::Value) -> Result<Box<dyn Any + Send>, BuildFailure>
where
    T: FromConfig<C> + Send + 'static,
    C: Config,
{
    let config: C = serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        BuildFailure::Config {
            field: if field == "." { String::new() } else { field },
            message: e.into_inner().to_string(),
        }
    })?;
    let plugin = T::from_config(config).map_err(BuildFailure::Rejected)?;
    Ok(Box::new(plugin))
}

fn config_schema<C: Config>() -> schemars::Schema {
    schemars::schema_for!(C)
}

/// The type-dependent parts of a descriptor.
const fn parts<T, C>(
    kind: PluginKind,
    items: (Option<ItemType>, Option<ItemType>),
    erase: fn(Box<dyn Any + Send>) -> Erased,
) -> TypeParts
where
    T: FromConfig<C> + Send + 'static,
    C: Config,
{
    TypeParts {
        kind,
        type_name: std::any::type_name::<T>,
        input: items.0,
        output: items.1,
        config_type_name: std::any::type_name::<C>,
        config_schema: config_schema::<C>,
        build: build::<T, C>,
        erase,
    }
}

/// Takes the plugin `T` out of `any` (as [`build`] made it).
fn unbox<T: 'static>(any: Box<dyn Any + Send>) -> Result<T, String> {
    any.downcast::<T>()
        .map(|b| *b)
        .map_err(|_| format!("the built plugin is not a `{}`", std::any::type_name::<T>()))
}

/// The type-erased forms of the six kinds (see [`crate::dynamic`]), boxed again as `Any` so that the item
/// types stay the plugin's own: a pipeline of `Record`s downcasts to, e.g., `BoxSyncPipe<Record, Record>`.
pub type Erased = Result<Box<dyn Any + Send>, String>;

/// A built plugin, type-erased.
pub type BoxAny = Box<dyn Any + Send>;

fn erase_sync_pipe<T>(any: Box<dyn Any + Send>) -> Erased
where
    T: SyncPipe + Send + Sync + 'static,
    T::In: 'static,
    T::Out: 'static,
{
    Ok(Box::new(crate::dynamic::BoxSyncPipe::new(unbox::<T>(any)?)))
}

fn erase_async_pipe<T>(any: Box<dyn Any + Send>) -> Erased
where
    T: AsyncPipe + 'static,
    T::In: 'static,
    T::Out: 'static,
{
    Ok(Box::new(crate::dynamic::BoxAsyncPipe::new(unbox::<T>(
        any,
    )?)))
}

fn erase_sync_source<T>(any: Box<dyn Any + Send>) -> Erased
where
    T: SyncSource + Send + 'static,
    T::Out: 'static,
{
    let source: crate::dynamic::BoxSyncSource<T::Out> = Box::new(unbox::<T>(any)?);
    Ok(Box::new(source))
}

fn erase_async_source<T>(any: Box<dyn Any + Send>) -> Erased
where
    T: AsyncSource + 'static,
    T::Out: 'static,
{
    Ok(Box::new(crate::dynamic::BoxAsyncSource::new(unbox::<T>(
        any,
    )?)))
}

fn erase_sync_sink<T>(any: Box<dyn Any + Send>) -> Erased
where
    T: SyncSink + Send + 'static,
    T::In: 'static,
{
    let sink: crate::dynamic::BoxSyncSink<T::In> = Box::new(unbox::<T>(any)?);
    Ok(Box::new(sink))
}

fn erase_async_sink<T>(any: Box<dyn Any + Send>) -> Erased
where
    T: AsyncSink + 'static,
    T::In: 'static,
{
    Ok(Box::new(crate::dynamic::BoxAsyncSink::new(unbox::<T>(
        any,
    )?)))
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
pub const fn async_source<T: IsAsyncSource + FromConfig<C>, C: Config>(
    meta: Meta,
) -> PluginDescriptor {
    PluginDescriptor::__new(
        meta,
        parts::<T, C>(T::KIND, T::ITEMS, erase_async_source::<T>),
    )
}

/// The descriptor of an `#[async_sink]` plugin.
pub const fn async_sink<T: IsAsyncSink + FromConfig<C>, C: Config>(meta: Meta) -> PluginDescriptor {
    PluginDescriptor::__new(
        meta,
        parts::<T, C>(T::KIND, T::ITEMS, erase_async_sink::<T>),
    )
}

/// The descriptor of a `#[sync_source]` plugin.
pub const fn sync_source<T: IsSyncSource + FromConfig<C>, C: Config>(
    meta: Meta,
) -> PluginDescriptor {
    PluginDescriptor::__new(
        meta,
        parts::<T, C>(T::KIND, T::ITEMS, erase_sync_source::<T>),
    )
}

/// The descriptor of a `#[sync_sink]` plugin.
pub const fn sync_sink<T: IsSyncSink + FromConfig<C>, C: Config>(meta: Meta) -> PluginDescriptor {
    PluginDescriptor::__new(meta, parts::<T, C>(T::KIND, T::ITEMS, erase_sync_sink::<T>))
}

/// The descriptor of an `#[async_pipe]` plugin.
pub const fn async_pipe<T: IsAsyncPipe + FromConfig<C>, C: Config>(meta: Meta) -> PluginDescriptor {
    PluginDescriptor::__new(
        meta,
        parts::<T, C>(T::KIND, T::ITEMS, erase_async_pipe::<T>),
    )
}

/// The descriptor of a `#[sync_pipe]` plugin.
///
/// A registered sync pipe must also be `Sync`: the runtime shares it between the calls of a stage.
pub const fn sync_pipe<T: IsSyncPipe + Sync + FromConfig<C>, C: Config>(
    meta: Meta,
) -> PluginDescriptor {
    PluginDescriptor::__new(meta, parts::<T, C>(T::KIND, T::ITEMS, erase_sync_pipe::<T>))
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
