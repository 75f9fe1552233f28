//! Reference plugins for Rivus.
//!
//! The plugins arrive with their issues (files, Kafka, databases, HTTP); this crate already fixes where they live
//! so that applications can depend on it.
