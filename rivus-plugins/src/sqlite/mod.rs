//! SQLite (feature `sqlite`, on by default; SQLite itself is built in): [`SqliteSink`], which inserts or
//! upserts records in batched transactions, and [`SqliteSource`], which reads a query incrementally by a
//! cursor column and resumes after the last acknowledged row.
//!
//! Both open the database in WAL mode (readers do not block the writer) with a `busy_timeout`, and run as
//! synchronous plugins on the runtime's blocking threads.
//!
//! # Types
//!
//! | record field | stored as | read back as |
//! |---|---|---|
//! | integer (fits in 64 bits) | INTEGER | number |
//! | other number | REAL (a number too large for 64 bits and with no fraction: TEXT, exact) | number |
//! | bool | INTEGER 1 / 0 | number |
//! | string | TEXT | string |
//! | array, object | TEXT (JSON) | string |
//! | null, missing | NULL | null |
//! | — | BLOB | string, `\x` and hex digits |
//!
//! A column's declared type may convert a value on the way in (SQLite's type affinity: `"42"` in an INTEGER
//! column is stored as 42).
//!
//! ```no_run
//! use rivus_core::prelude::*;
//! use rivus_plugins::sqlite::{SqliteSink, SqliteSinkConfig, SqliteSource, SqliteSourceConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut from = SqliteSourceConfig::new("shop.db", "SELECT * FROM orders", "id");
//! from.state = Some("orders.cursor".into());
//! let mut to = SqliteSinkConfig::new("copy.db", "orders");
//! to.key = vec!["id".into()];
//! Pipeline::from_source(SqliteSource::from(from))
//!     .sink(SqliteSink::from(to))
//!     .run()
//!     .await?;
//! # Ok(())
//! # }
//! ```

mod config;
mod sink;
mod source;

use std::fmt::Write as _;

use rivus_core::PipeError;
use rivus_core::value::Value;
use rusqlite::types::Value as SqlValue;

pub use config::{SqliteSinkConfig, SqliteSourceConfig, Synchronous};
pub use sink::SqliteSink;
pub use source::SqliteSource;

/// The plugin name of the source and the sink.
const NAME: &str = "sqlite";

/// `name` as a quoted SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A record field as an SQLite value; see the [type table](self#types).
fn to_sql(value: Option<&Value>) -> SqlValue {
    match value {
        None | Some(Value::Null) => SqlValue::Null,
        Some(Value::Bool(b)) => SqlValue::Integer(i64::from(*b)),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                SqlValue::Integer(i)
            } else {
                let text = n.to_string();
                let integral = !text.contains(['.', 'e', 'E']);
                match n.as_f64() {
                    Some(f) if !integral => SqlValue::Real(f),
                    _ => SqlValue::Text(text),
                }
            }
        }
        Some(Value::String(s)) => SqlValue::Text(s.to_string()),
        Some(v @ (Value::Array(_) | Value::Object(_))) => SqlValue::Text(v.to_string()),
    }
}

/// An SQLite value as a record field; see the [type table](self#types).
fn from_sql(value: SqlValue) -> Value {
    match value {
        SqlValue::Null => Value::Null,
        SqlValue::Integer(i) => Value::from(i),
        SqlValue::Real(f) => Value::from(f),
        SqlValue::Text(s) => Value::from(s),
        SqlValue::Blob(bytes) => Value::from(hex(&bytes)),
    }
}

/// `\x` and the bytes' hex digits (as PostgreSQL writes a bytea).
fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(2 + 2 * bytes.len());
    out.push_str("\\x");
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// An SQLite error as a pipe error about `doing`: transient when the database is busy or locked.
fn sql_error(path: &std::path::Path, doing: &str, e: &rusqlite::Error) -> PipeError {
    let message = format!("{}: {doing}: {e}", path.display());
    let busy = matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    );
    if busy {
        PipeError::transient(NAME, message)
    } else {
        PipeError::permanent(NAME, message)
    }
}

/// Opens the database at `path` in WAL mode with a busy timeout; with `create`, creates it (and the
/// directories it is in) when missing.
fn connect(
    path: &std::path::Path,
    create: bool,
    busy_timeout: std::time::Duration,
) -> Result<rusqlite::Connection, PipeError> {
    use rusqlite::OpenFlags;
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
        crate::fs::create_parents(NAME, path)?;
    }
    let conn = rusqlite::Connection::open_with_flags(path, flags)
        .map_err(|e| sql_error(path, "cannot open", &e))?;
    conn.busy_timeout(busy_timeout)
        .and_then(|()| conn.pragma_update(None, "journal_mode", "WAL"))
        .map_err(|e| sql_error(path, "cannot set WAL mode", &e))?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rivus_core::json;

    #[test]
    fn values_map_both_ways() {
        assert_eq!(to_sql(None), SqlValue::Null);
        assert_eq!(to_sql(Some(&json!(true))), SqlValue::Integer(1));
        assert_eq!(to_sql(Some(&json!(-7))), SqlValue::Integer(-7));
        assert_eq!(to_sql(Some(&json!(2.5))), SqlValue::Real(2.5));
        let big: Value = serde_json::from_str("123456789012345678901234567890").unwrap();
        assert_eq!(
            to_sql(Some(&big)),
            SqlValue::Text("123456789012345678901234567890".into())
        );
        assert_eq!(
            to_sql(Some(&json!({"a": 1}))),
            SqlValue::Text(r#"{"a":1}"#.into())
        );
        assert_eq!(from_sql(SqlValue::Blob(vec![0, 255])), json!("\\x00ff"));
        assert_eq!(from_sql(SqlValue::Real(1.5)), json!(1.5));
        assert_eq!(from_sql(SqlValue::Integer(3)), json!(3));
    }
}
