//! [`SqliteSource`]: a query read incrementally by a cursor column, resuming after the last acknowledged row.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use rivus_core::ack::Position;
use rivus_core::value::{FieldName, Record};
use rivus_core::{PipeError, SyncSource};
use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;
use serde_json::Value as Json;

use super::config::SqliteSourceConfig;
use super::{NAME, connect, from_sql, hex, quote_ident, sql_error};
use crate::checkpoint::{StateFile, fnv1a};

/// The cursor of a row: its `cursor` (and `key`) values.
type Cursor = Arc<[SqlValue]>;

/// Reads the rows of a query from an SQLite database, in pages ordered by a cursor column, and resumes after
/// the last acknowledged row.
///
/// Each page is `SELECT * FROM (<query>) q WHERE (cursor, key) > (last) ORDER BY cursor, key LIMIT
/// page_size`; a short page means caught up: the source ends, or with `poll_interval` queries again after
/// that long. Each row becomes a record with one field per column (see the [type table](super#types)).
/// Positions, commits and the state file work as the PostgreSQL source's: see
/// [`PostgresSource`](https://docs.rs/rivus-plugins) in `rivus_plugins::postgres` (feature `postgres`); after
/// a crash, at most the records in flight are read again.
#[rivus_core::sync_source("sqlite", config = SqliteSourceConfig)]
pub struct SqliteSource {
    config: SqliteSourceConfig,
    conn: Option<Connection>,
    /// The first page's query and the next pages'.
    first: String,
    next: String,
    /// The record's field names, and where the cursor columns are among them.
    names: Vec<FieldName>,
    cursor_at: Vec<usize>,
    signature: String,
    state: Option<StateFile>,
    after: Option<Cursor>,
    page: VecDeque<(Record, Cursor)>,
    last: Option<Cursor>,
    caught_up: bool,
    done: bool,
}

impl std::fmt::Debug for SqliteSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteSource")
            .field("config", &self.config)
            .field("page", &self.page.len())
            .finish_non_exhaustive()
    }
}

impl From<SqliteSourceConfig> for SqliteSource {
    fn from(config: SqliteSourceConfig) -> Self {
        let signature = format!(
            "{:016x}",
            fnv1a(
                format!(
                    "{}\n{}\n{}",
                    config.query,
                    config.cursor,
                    config.key.as_deref().unwrap_or("")
                )
                .as_bytes()
            )
        );
        Self {
            config,
            conn: None,
            first: String::new(),
            next: String::new(),
            names: Vec::new(),
            cursor_at: Vec::new(),
            signature,
            state: None,
            after: None,
            page: VecDeque::new(),
            last: None,
            caught_up: false,
            done: false,
        }
    }
}

/// A cursor value as the state file keeps it: tagged with its SQLite type.
fn cursor_to_json(value: &SqlValue) -> Json {
    match value {
        SqlValue::Null => Json::Null,
        SqlValue::Integer(i) => serde_json::json!({ "integer": i }),
        SqlValue::Real(f) => serde_json::json!({ "real": f }),
        SqlValue::Text(s) => serde_json::json!({ "text": s }),
        SqlValue::Blob(b) => serde_json::json!({ "blob": hex(b) }),
    }
}

fn cursor_from_json(value: &Json) -> Option<SqlValue> {
    let obj = value.as_object()?;
    let (tag, v) = obj.iter().next()?;
    match tag.as_str() {
        "integer" => v.as_i64().map(SqlValue::Integer),
        "real" => v.as_f64().map(SqlValue::Real),
        "text" => v.as_str().map(|s| SqlValue::Text(s.to_owned())),
        "blob" => {
            let digits = v.as_str()?.strip_prefix("\\x")?;
            let bytes: Option<Vec<u8>> = (0..digits.len())
                .step_by(2)
                .map(|i| {
                    digits
                        .get(i..i + 2)
                        .and_then(|d| u8::from_str_radix(d, 16).ok())
                })
                .collect();
            bytes.map(SqlValue::Blob)
        }
        _ => None,
    }
}

impl SqliteSource {
    /// The configuration.
    pub fn config(&self) -> &SqliteSourceConfig {
        &self.config
    }

    fn prepare(&mut self, conn: &Connection) -> Result<(), PipeError> {
        let c = &self.config;
        let probe = format!("SELECT * FROM ({}) AS q LIMIT 0", c.query);
        let stmt = conn
            .prepare(&probe)
            .map_err(|e| sql_error(&c.path, "the query", &e))?;
        let names: Vec<String> = stmt
            .column_names()
            .iter()
            .map(|n| (*n).to_owned())
            .collect();
        let mut cursor_cols = vec![c.cursor.clone()];
        cursor_cols.extend(c.key.clone());
        let mut at = Vec::new();
        for col in &cursor_cols {
            let i = names.iter().position(|n| n == col).ok_or_else(|| {
                PipeError::permanent(
                    NAME,
                    format!("the query has no column `{col}` for the cursor (it has {names:?})"),
                )
            })?;
            at.push(i);
        }
        let q_cols: Vec<String> = cursor_cols
            .iter()
            .map(|n| format!("q.{}", quote_ident(n)))
            .collect();
        let select = format!(
            "SELECT * FROM ({}) AS q WHERE {}",
            c.query,
            q_cols
                .iter()
                .map(|col| format!("{col} IS NOT NULL"))
                .collect::<Vec<_>>()
                .join(" AND ")
        );
        let order = format!("ORDER BY {} LIMIT {}", q_cols.join(", "), c.page_size.get());
        let params: Vec<String> = (1..=q_cols.len()).map(|i| format!("?{i}")).collect();
        self.first = format!("{select} {order}");
        self.next = format!(
            "{select} AND ({}) > ({}) {order}",
            q_cols.join(", "),
            params.join(", ")
        );
        self.names = names.iter().map(|n| FieldName::from(n.as_str())).collect();
        self.cursor_at = at;
        Ok(())
    }

    fn fetch(&self) -> Result<Vec<(Record, Cursor)>, PipeError> {
        let path = &self.config.path;
        let Some(conn) = &self.conn else {
            return Err(PipeError::permanent(NAME, "the source was not opened"));
        };
        let fail = |e: rusqlite::Error| sql_error(path, "the query", &e);
        let (sql, params): (&str, Vec<SqlValue>) = match &self.after {
            None => (&self.first, Vec::new()),
            Some(after) => (&self.next, after.to_vec()),
        };
        let mut stmt = conn.prepare_cached(sql).map_err(fail)?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params))
            .map_err(fail)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(fail)? {
            let mut values = Vec::with_capacity(self.names.len());
            for i in 0..self.names.len() {
                values.push(row.get::<_, SqlValue>(i).map_err(fail)?);
            }
            let cursor: Cursor = self.cursor_at.iter().map(|&i| values[i].clone()).collect();
            let mut record = Record::with_capacity(values.len());
            for (name, value) in self.names.iter().zip(values) {
                record.push(name.clone(), from_sql(value));
            }
            out.push((record, cursor));
        }
        Ok(out)
    }
}

impl SyncSource for SqliteSource {
    type Out = Record;

    fn name(&self) -> Cow<'static, str> {
        NAME.into()
    }

    /// Opens the database (in WAL mode), checks the query and its cursor columns, and reads the state file.
    fn open(&mut self) -> Result<(), PipeError> {
        let conn = connect(&self.config.path, false, self.config.busy_timeout)?;
        self.prepare(&conn)?;
        self.conn = Some(conn);
        if let Some(path) = self.config.state.clone() {
            let (state, saved) = StateFile::open(NAME, &path)?;
            if let Some(saved) = saved {
                if saved.get("query").and_then(Json::as_str) != Some(self.signature.as_str()) {
                    return Err(PipeError::permanent(
                        NAME,
                        format!(
                            "state file {}: it was written for another query or cursor; remove it to read from \
                             the start",
                            path.display()
                        ),
                    ));
                }
                let cursor: Option<Vec<SqlValue>> = saved
                    .get("cursor")
                    .and_then(Json::as_array)
                    .and_then(|c| c.iter().map(cursor_from_json).collect());
                match cursor {
                    Some(cursor) if cursor.len() == self.cursor_at.len() => {
                        self.after = Some(cursor.into())
                    }
                    _ => {
                        return Err(PipeError::permanent(
                            NAME,
                            format!(
                                "state file {}: no cursor in it; remove it to read from the start",
                                path.display()
                            ),
                        ));
                    }
                }
            }
            self.state = Some(state);
        }
        Ok(())
    }

    fn next(&mut self) -> Option<Result<Record, PipeError>> {
        loop {
            if let Some((record, cursor)) = self.page.pop_front() {
                self.last = Some(cursor);
                return Some(Ok(record));
            }
            if self.done {
                return None;
            }
            if self.caught_up {
                let Some(interval) = self.config.poll_interval else {
                    self.done = true;
                    return None;
                };
                std::thread::sleep(interval);
            }
            let started = Instant::now();
            match self.fetch() {
                Ok(rows) => {
                    self.caught_up = rows.len() < self.config.page_size.get();
                    if let Some((_, cursor)) = rows.last() {
                        self.after = Some(Arc::clone(cursor));
                    }
                    tracing::trace!(rows = rows.len(), took = ?started.elapsed(), "sqlite source: page");
                    self.page.extend(rows);
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }

    fn position(&self) -> Option<Position> {
        self.last.as_ref().map(|c| Position::new(Arc::clone(c)))
    }

    /// Writes the cursor of the last acknowledged row to the state file (without one, nothing).
    fn commit(&mut self, upto: Position) -> Result<(), PipeError> {
        let (Some(state), Some(cursor)) = (&mut self.state, upto.get::<Cursor>()) else {
            return Ok(());
        };
        let cursor: Vec<Json> = cursor.iter().map(cursor_to_json).collect();
        state.save(&serde_json::json!({ "query": self.signature, "cursor": cursor }))
    }

    fn close(&mut self) -> Result<(), PipeError> {
        self.conn = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_values_survive_the_state_file() {
        for v in [
            SqlValue::Integer(-3),
            SqlValue::Real(2.5),
            SqlValue::Text("a\"b".into()),
            SqlValue::Blob(vec![0, 7, 255]),
        ] {
            assert_eq!(cursor_from_json(&cursor_to_json(&v)), Some(v));
        }
    }
}
