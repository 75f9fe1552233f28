//! PostgreSQL (feature `postgres`): [`PostgresSink`], which loads records into a table with `COPY` (or
//! upserts them), and [`PostgresSource`], which reads a query incrementally by a cursor column and resumes
//! after the last acknowledged row.
//!
//! # The sink
//!
//! Each flush loads the records written since the last one in one transaction, with `COPY … FROM STDIN` in
//! text format: the server parses each value by its column's type, so a CSV's text lands in integer, date,
//! numeric or array columns as PostgreSQL itself reads them. With `key`, rows go through a temporary table
//! and `INSERT … ON CONFLICT (key) DO UPDATE`. A row the server refuses (a constraint, a bad value) goes to the
//! stage's error policy with the server's message, and the other rows land: see [`PostgresSink`].
//!
//! # The source
//!
//! Reads `query` in pages ordered by `(cursor, key)`, turns each row into a record with
//! PostgreSQL's own `row_to_json` (typed fields: see [`PostgresSource`]), and keeps the cursor of the last
//! acknowledged row in a state file.
//!
//! ```no_run
//! use rivus_core::prelude::*;
//! use rivus_plugins::postgres::{PostgresSink, PostgresSinkConfig, PostgresSource, PostgresSourceConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // Copy new orders from one database to another, resuming after the last copied one.
//! let mut from = PostgresSourceConfig::new("postgres://127.0.0.1/shop", "SELECT * FROM orders", "id");
//! from.state = Some("orders.cursor".into());
//! let mut to = PostgresSinkConfig::new("postgres://127.0.0.1/reports", "orders");
//! to.key = vec!["id".into()];
//! Pipeline::from_source(PostgresSource::try_from(from)?)
//!     .sink(PostgresSink::try_from(to)?)
//!     .run()
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Connections and secrets
//!
//! Connections come from a [deadpool-postgres](https://docs.rs/deadpool-postgres) pool (`pool_size`). TLS is
//! off unless `tls` says otherwise; with TLS the server's certificate is checked by rustls (the `ring`
//! provider) against `tls_ca_file` or the system's roots. The `url`'s password is never printed: errors and
//! `Debug` output show `postgres://user@host:port/database`.

mod config;
mod connect;
mod copy_text;
mod sink;
mod source;

pub use config::{PostgresSinkConfig, PostgresSourceConfig, TlsMode};
pub use sink::PostgresSink;
pub use source::PostgresSource;

pub(crate) use connect::redacted_url;

/// The plugin name of the source and the sink.
const NAME: &str = "postgres";

/// `name` as a quoted SQL identifier: `"name"`, with inner quotes doubled.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("id"), "\"id\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
