//! [`SqliteSink`]: records into a table, in one transaction per flush, with per-row outcomes.

use std::borrow::Cow;

use rivus_core::pipe::Rejected;
use rivus_core::value::Record;
use rivus_core::{PipeError, SyncSink};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, ErrorCode, TransactionBehavior};

use super::config::{SqliteSinkConfig, Synchronous};
use super::{NAME, connect, quote_ident, sql_error, to_sql};

/// Inserts (or upserts) records into an SQLite table, in one transaction per flush.
///
/// Each of the table's columns (or of `columns`) is filled from the record field of the same name (or the one
/// `fields` names); a missing field is NULL. See the [type table](super#types).
///
/// # Delivery
///
/// `write` keeps the record's values; [`flush_each`](SyncSink::flush_each) inserts everything written since
/// the last flush in one `BEGIN IMMEDIATE … COMMIT` transaction, one prepared statement per row; the commit
/// reaches the operating system (`synchronous = "normal"`, the default) or the disk (`"full"`). A row that
/// violates a constraint (unique, check, not null, foreign key with `PRAGMA foreign_keys`) or a `STRICT`
/// table's types is refused alone (SQLite undoes only that statement) and goes to the stage's error policy
/// with SQLite's message (`UNIQUE constraint failed: people.id`); the other rows land. A database that stays
/// busy or locked past `busy_timeout` fails the flush with a transient error (the transaction is rolled
/// back; the stage's retries run it again); any other error fails it as a whole.
///
/// With `key`, rows are upserted (`INSERT … ON CONFLICT (key) DO UPDATE SET` every other column): rows apply
/// in order, so the last row of a key wins.
#[rivus_core::sync_sink("sqlite", config = SqliteSinkConfig)]
#[derive(Debug)]
pub struct SqliteSink {
    config: SqliteSinkConfig,
    conn: Option<Connection>,
    /// `INSERT …` with one parameter per column.
    insert: String,
    /// The field of each column.
    fields: Vec<String>,
    /// The rows written since the last flush.
    rows: Vec<Vec<SqlValue>>,
}

impl From<SqliteSinkConfig> for SqliteSink {
    fn from(config: SqliteSinkConfig) -> Self {
        Self {
            config,
            conn: None,
            insert: String::new(),
            fields: Vec::new(),
            rows: Vec::new(),
        }
    }
}

impl SqliteSink {
    /// The configuration.
    pub fn config(&self) -> &SqliteSinkConfig {
        &self.config
    }

    /// Creates the table if asked, and checks `columns`, `fields` and `key` against it.
    fn describe(&mut self, conn: &Connection) -> Result<(), PipeError> {
        let c = &self.config;
        let path = &c.path;
        let table = quote_ident(&c.table);
        if c.create {
            if c.columns.is_empty() {
                return Err(PipeError::permanent(
                    NAME,
                    "`create = true` needs `columns`",
                ));
            }
            let mut defs: Vec<String> = c.columns.iter().map(|n| quote_ident(n)).collect();
            if !c.key.is_empty() {
                let keys: Vec<String> = c.key.iter().map(|k| quote_ident(k)).collect();
                defs.push(format!("PRIMARY KEY ({})", keys.join(", ")));
            }
            conn.execute_batch(&format!(
                "CREATE TABLE IF NOT EXISTS {table} ({})",
                defs.join(", ")
            ))
            .map_err(|e| sql_error(path, &format!("cannot create table `{}`", c.table), &e))?;
        }
        let all: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info(?1)")
            .and_then(|mut s| s.query_map([&c.table], |r| r.get(0))?.collect())
            .map_err(|e| sql_error(path, &format!("table `{}`", c.table), &e))?;
        if all.is_empty() {
            return Err(PipeError::permanent(
                NAME,
                format!(
                    "{}: there is no table `{}` (create it, or set `create = true` and `columns`)",
                    path.display(),
                    c.table
                ),
            ));
        }
        let chosen: Vec<String> = if c.columns.is_empty() {
            all.clone()
        } else {
            c.columns.clone()
        };
        for (what, list) in [
            ("columns", c.columns.iter().collect::<Vec<_>>()),
            ("fields", c.fields.keys().collect()),
            ("key", c.key.iter().collect()),
        ] {
            let within = if what == "columns" { &all } else { &chosen };
            if let Some(col) = list.iter().find(|col| !within.contains(col)) {
                return Err(PipeError::permanent(
                    NAME,
                    format!(
                        "`{what}`: `{col}` is not a column of table `{}` here ({within:?})",
                        c.table
                    ),
                ));
            }
        }
        let list: Vec<String> = chosen.iter().map(|n| quote_ident(n)).collect();
        let params: Vec<String> = (1..=chosen.len()).map(|i| format!("?{i}")).collect();
        let mut insert = format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            list.join(", "),
            params.join(", ")
        );
        if !c.key.is_empty() {
            let keys: Vec<String> = c.key.iter().map(|k| quote_ident(k)).collect();
            let updates: Vec<String> = chosen
                .iter()
                .filter(|n| !c.key.contains(n))
                .map(|n| format!("{0} = excluded.{0}", quote_ident(n)))
                .collect();
            insert.push_str(&format!(" ON CONFLICT ({}) DO ", keys.join(", ")));
            if updates.is_empty() {
                insert.push_str("NOTHING");
            } else {
                insert.push_str(&format!("UPDATE SET {}", updates.join(", ")));
            }
        }
        self.fields = chosen
            .iter()
            .map(|n| c.fields.get(n).cloned().unwrap_or_else(|| n.clone()))
            .collect();
        self.insert = insert;
        Ok(())
    }
}

/// Whether SQLite refused the row rather than the statement: a constraint, a STRICT table's type, a value
/// too big.
fn refuses_row(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::ConstraintViolation | ErrorCode::TypeMismatch | ErrorCode::TooBig)
    )
}

impl SyncSink for SqliteSink {
    type In = Record;

    fn name(&self) -> Cow<'static, str> {
        NAME.into()
    }

    /// Opens (or creates) the database in WAL mode, creates the table if asked, and checks the columns.
    fn open(&mut self) -> Result<(), PipeError> {
        let conn = connect(&self.config.path, true, self.config.busy_timeout)?;
        let synchronous = match self.config.synchronous {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        };
        conn.pragma_update(None, "synchronous", synchronous)
            .map_err(|e| sql_error(&self.config.path, "cannot set `synchronous`", &e))?;
        self.describe(&conn)?;
        self.conn = Some(conn);
        Ok(())
    }

    /// Keeps the record's values for the next flush.
    ///
    /// # Errors
    ///
    /// None for a record (SQLite judges it at the flush).
    fn write(&mut self, record: Record) -> Result<(), PipeError> {
        let row = self.fields.iter().map(|f| to_sql(record.get(f))).collect();
        self.rows.push(row);
        Ok(())
    }

    /// As [`flush_each`](Self::flush_each), and fails when a row was refused.
    ///
    /// # Errors
    ///
    /// As `flush_each`, and a permanent error naming the first refused row.
    fn flush(&mut self) -> Result<(), PipeError> {
        let refused = self.flush_each()?;
        let count = refused.len();
        match refused.into_iter().next() {
            None => Ok(()),
            Some(first) if count == 1 => Err(first.error),
            Some(first) => Err(PipeError::permanent(
                NAME,
                format!("{count} rows refused; the first: {}", first.error.message()),
            )),
        }
    }

    /// Inserts the rows written since the last flush in one transaction; returns those SQLite refused. See
    /// [Delivery](SqliteSink#delivery).
    ///
    /// # Errors
    ///
    /// Transient when the database stayed busy or locked; permanent for any other error that is not about
    /// one row. Nothing is committed then.
    fn flush_each(&mut self) -> Result<Vec<Rejected>, PipeError> {
        if self.rows.is_empty() {
            return Ok(Vec::new());
        }
        let path = &self.config.path;
        let Some(conn) = &mut self.conn else {
            return Err(PipeError::permanent(NAME, "the sink was not opened"));
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sql_error(path, "cannot begin", &e))?;
        let mut refused = Vec::new();
        {
            let mut stmt = tx
                .prepare_cached(&self.insert)
                .map_err(|e| sql_error(path, "cannot prepare the insert", &e))?;
            for (i, row) in self.rows.iter().enumerate() {
                match stmt.execute(rusqlite::params_from_iter(row)) {
                    Ok(_) => {}
                    Err(e) if refuses_row(&e) => {
                        let table = &self.config.table;
                        refused.push(Rejected::new(
                            i,
                            PipeError::permanent(NAME, format!("{table}: {e}")),
                        ));
                    }
                    Err(e) => return Err(sql_error(path, "cannot insert", &e)),
                }
            }
        }
        tx.commit()
            .map_err(|e| sql_error(path, "cannot commit", &e))?;
        self.rows.clear();
        Ok(refused)
    }

    fn close(&mut self) -> Result<(), PipeError> {
        if let Some(conn) = self.conn.take() {
            conn.close()
                .map_err(|(_, e)| sql_error(&self.config.path, "cannot close", &e))?;
        }
        Ok(())
    }
}
