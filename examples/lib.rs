//! Runnable examples of Rivus; each is one README step or one concept of the Rivusio plugin page.
//!
//! Run one with `cargo run -p rivus-examples --example NAME`.
