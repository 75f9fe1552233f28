//! Procedural attributes for Rivus plugins.
//!
//! Use them through `rivus_core` (`use rivus_core::prelude::*;`), which re-exports them; depending on this crate
//! directly is not supported. The generated code names only `::rivus_core::__private` paths.
//!
//! Each attribute takes the plugin's name, a non-empty string of `a-z`, `0-9`, `_` and `-`, and two optional
//! settings:
//!
//! * `description = "..."` — the one-line description; default: the first paragraph of the struct's doc comment;
//! * `config = SomeType` — the type deserialized from configuration; the plugin is made from it with
//!   `From<SomeType>` or `TryFrom<SomeType>`.
//!
//! Without `config =`, the attribute reads the struct as written, `#[derive]`s below it included: a struct that
//! derives `Deserialize` takes its fields as options (with `JsonSchema`, the schema is schemars'; without, the
//! attribute lists the fields itself), a struct without fields takes none and is made by its literal, and a
//! struct with fields but no `Deserialize` takes none and is made with `Default`. `rivus_core::registry`
//! documents the forms.
//!
//! Without a name (`#[sync_pipe]`, `#[async_source]`, …) an attribute registers nothing: it only gives the type
//! `>>` (and, for async pipes, sources and sinks, `Composable`).
//!
//! The crate is laid out as `thiserror`'s `impl` crate: the entry points here; `attr` parses the attribute's
//! arguments (with `syn::parse::Parse`) and reads the struct's other attributes; `ast` is the struct as the
//! attribute sees it; `valid` finds every mistake, each at the user's tokens, collected in a `ctxt::Ctxt` as
//! serde's derive does; `expand` writes the code: the struct, then one `const _: () = { ... };` block with the
//! registration (a static in `rivus_core`'s distributed slice, `#[allow(unsafe_code)]` on it, as `linkme` puts it
//! in a link section), the `Composable` impl and the `>>` impl.

mod ast;
mod attr;
mod ctxt;
mod expand;
mod fields;
mod kind;
mod valid;

use proc_macro::TokenStream;

use crate::kind::Kind;

/// Registers an `AsyncSource` under a name: `#[async_source("kafka")]`.
///
/// Options: `description = "..."` (default: the doc comment's first paragraph) and `config = SomeType` (default:
/// the struct itself, read as `rivus_core::registry` describes). `#[async_source]` without a name makes the type
/// composable (`source >> pipe`) and registers nothing.
#[proc_macro_attribute]
pub fn async_source(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::plugin(Kind::AsyncSource, args.into(), item.into()).into()
}

/// Registers an `AsyncSink` under a name: `#[async_sink("http")]`.
///
/// Options: `description = "..."` and `config = SomeType`, see `rivus_core::registry`; `#[async_sink]` without a
/// name makes the type composable (`pipe >> sink`) and registers nothing.
#[proc_macro_attribute]
pub fn async_sink(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::plugin(Kind::AsyncSink, args.into(), item.into()).into()
}

/// Registers a `SyncSource` under a name: `#[sync_source("csv")]`.
///
/// Options: `description = "..."` and `config = SomeType`, see `rivus_core::registry`; `#[sync_source]` without a
/// name makes the type composable (`source >> pipe`) and registers nothing.
#[proc_macro_attribute]
pub fn sync_source(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::plugin(Kind::SyncSource, args.into(), item.into()).into()
}

/// Registers a `SyncSink` under a name: `#[sync_sink("csv")]`.
///
/// Options: `description = "..."` and `config = SomeType`, see `rivus_core::registry`; `#[sync_sink]` without a
/// name makes the type composable (`pipe >> sink`) and registers nothing.
#[proc_macro_attribute]
pub fn sync_sink(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::plugin(Kind::SyncSink, args.into(), item.into()).into()
}

/// Registers an `AsyncPipe` under a name: `#[async_pipe("enrich")]`, and gives the type `>>`.
///
/// Options: `description = "..."` and `config = SomeType`, see `rivus_core::registry`. `#[async_pipe]` without a
/// name only makes the type composable (`Composable` and `>>`) and registers nothing.
#[proc_macro_attribute]
pub fn async_pipe(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::plugin(Kind::AsyncPipe, args.into(), item.into()).into()
}

/// Registers a `SyncPipe` under a name: `#[sync_pipe("rename")]`, and gives the type `>>`.
///
/// Options: `description = "..."` and `config = SomeType`, see `rivus_core::registry`. `#[sync_pipe]` without a
/// name only gives the type `>>` and registers nothing.
#[proc_macro_attribute]
pub fn sync_pipe(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::plugin(Kind::SyncPipe, args.into(), item.into()).into()
}
