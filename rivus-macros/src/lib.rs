//! Procedural attributes for Rivus plugins.
//!
//! Use them through `rivus_core` (`use rivus_core::prelude::*;`), which re-exports them; depending on this crate
//! directly is not supported.
