//! Reference plugins for Rivus.
//!
//! The plugins arrive with their issues (files, Kafka, databases, HTTP); for now the crate holds
//! [`Passthrough`](passthrough::Passthrough), which is enough to wire a pipeline and to check that the crate is
//! linked.
//!
//! # Linking: call [`link()`] in applications that use plugins by name only
//!
//! Each plugin registers itself in `rivus_core::registry` at link time, through a static that the linker keeps
//! only when this crate is part of the program. A crate that is only listed in `Cargo.toml` is *not* linked:
//! Rust links a dependency only when the code names it. An application that uses these plugins through a
//! TOML pipeline file, and never names a type of this crate, must therefore say so once:
//!
//! ```
//! // In `main`, before the registry is read:
//! rivus_plugins::link(); // or, at the top of the file: `use rivus_plugins as _;`
//!
//! let names: Vec<&str> = rivus_core::registry::plugins().map(|p| p.name()).collect();
//! assert!(names.contains(&"passthrough"));
//! ```
//!
//! The same holds for any crate of plugins: name it in code (`use my_plugins as _;`), or give it a `link()` of its
//! own. Keep each plugin's attribute in the plugin's own module, as the attributes do by default.
//!
//! # Platform support
//!
//! The registry relies on linker sections (`linkme`): it works on Linux, macOS and Windows (also FreeBSD,
//! OpenBSD and illumos), in debug and release builds. It does not work on `wasm32`.

pub mod passthrough;

/// Makes sure that this crate, and with it every plugin it defines, is linked into the program.
///
/// Calling it does nothing at run time; naming the crate is what matters. `use rivus_plugins as _;` has the same
/// effect. See the crate documentation.
#[inline]
pub fn link() {}
