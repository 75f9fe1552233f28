//! [`PostgresSink`]: records into a table with `COPY`, or upserted, with per-row outcomes.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::pin::Pin;

use bytes::Bytes;
use deadpool_postgres::Pool;
use futures::SinkExt;
use rivus_core::pipe::Rejected;
use rivus_core::value::Record;
use rivus_core::{AsyncSink, PipeError};
use tokio_postgres::error::SqlState;

use super::config::PostgresSinkConfig;
use super::connect::{db_message, get, pg_error, pool};
use super::copy_text::{ColumnKind, copy_line, push_field};
use super::{NAME, quote_ident};

/// The temporary table an upsert goes through (one per connection, dropped at commit).
const STAGE: &str = "rivus_upsert_stage";

/// How many bytes of rows wait before `write` sends them into the flush's `COPY`, started at the first of them:
/// the server parses and stores a flush's rows while the next ones are encoded, instead of after them all.
const STREAM_BYTES: usize = 16 * 1024;

/// Loads records into a PostgreSQL table: `COPY … FROM STDIN` (text format), or an upsert with `key`.
///
/// # Columns and types
///
/// Each of the table's columns (or of `columns`) is filled from the record field of the same name (or the one
/// `fields` names); a missing field is NULL, and fields that fill no column are not written. Values go as text
/// that the server parses by the column's type: strings and numbers as written (a numeric keeps every digit),
/// bools as `true`/`false`, arrays as array literals (`{1,NULL,"a b"}`) in array columns, objects and arrays
/// as JSON text elsewhere (and anything as JSON in `json`/`jsonb` columns), and an empty string as NULL in any
/// column that is not of a text type (an empty CSV field in a date or number column).
///
/// # Delivery
///
/// `write` encodes the record and keeps it; [`flush_each`](AsyncSink::flush_each) loads everything written
/// since the last flush at once, so an item counts as written only once its rows committed: one `COPY` in a
/// transaction, written once the server answers its `COMMIT`, while the server takes every row; when it refuses one, the flush starts again in **one
/// transaction** in which each load runs under a savepoint. Without `key`, that `COPY` starts as soon as 16 KiB
/// of rows wait, and `write` sends the rows into it as they come, so the server's work on them overlaps the
/// encoding of the next ones; it commits only at the flush (and a dropped or failed one commits nothing: the
/// flush then loads every row as below).
///
/// * A row the server refuses — a constraint (unique, check, not null, foreign key), a value the column's
///   type does not read — is refused alone: when the server's error names the row (`COPY people, line 3`,
///   as it does for bad values and for unique, check and not-null violations in plain `COPY`), that row is
///   taken out and the others are loaded again; otherwise (a foreign key, or any constraint under upsert) the
///   rows are split in halves, down to single rows. Each refused row goes to the stage's error policy with
///   the server's message (`duplicate key value violates unique constraint "people_pkey" (23505): Key
///   (id)=(3) already exists.`); every other row lands.
/// * A lost connection, a server restart, a serialization failure or a deadlock fails the flush with a
///   **transient** error, and the whole transaction is rolled back: the stage's retry policy
///   (`runtime = { retries = 5, retry_delay = "1s" }`) runs the flush again on a new connection, with every
///   row. Without retries the run stops and its items are not acknowledged.
/// * Any other error (a missing table, no permission) fails the flush as a whole.
///
/// # Upsert
///
/// With `key`, each load copies the rows into a temporary table and runs `INSERT INTO t SELECT DISTINCT ON
/// (key) … ORDER BY key, <order of arrival> DESC ON CONFLICT (key) DO UPDATE SET` every other column: the
/// last row of a key in a flush wins, and a key that exists is updated. `key` needs a unique index or
/// constraint on those columns.
///
/// # Cancel safety
///
/// A dropped flush drops its transaction, which the server rolls back; the next flush loads every row again.
#[rivus_core::async_sink("postgres", config = PostgresSinkConfig)]
pub struct PostgresSink {
    config: PostgresSinkConfig,
    pool: Pool,
    /// The table, resolved by `open`.
    table: Option<Table>,
    /// The rows written since the last flush, as COPY text, one line each.
    rows: Vec<u8>,
    /// Where each row ends in `rows`.
    ends: Vec<usize>,
    /// The flush's `COPY`, when `write` started it; see [Delivery](PostgresSink#delivery).
    stream: Stream,
    /// How many bytes of `rows` went into `stream`.
    sent: usize,
}

/// The `COPY` that `write` feeds before the flush ends it.
#[derive(Default)]
enum Stream {
    /// None started since the last flush.
    #[default]
    Idle,
    /// Started; `rows[..sent]` went into it.
    Copying(Box<Copying>),
    /// Could not start, or a send failed or was dropped half way: the flush loads every row afresh.
    Failed,
}

/// A `COPY … FROM STDIN` in a transaction of its own, and the connection it runs on.
///
/// The transaction is explicit because the `COPY`'s own completion is not its commit: in the extended protocol
/// the server reports the rows copied, then commits the implicit transaction when it reads the `Sync` that
/// follows, so a connection lost between the two (measured: a terminated backend) lost rows the client had
/// seen copied. `COMMIT`'s answer is the commit.
struct Copying {
    copy: Pin<Box<tokio_postgres::CopyInSink<Bytes>>>,
    /// The connection, inside the transaction; `None` once it committed.
    client: Option<deadpool_postgres::Object>,
}

impl Copying {
    /// Begins a transaction on `client` and starts `copy` (`COPY … FROM STDIN`) in it.
    async fn begin(
        client: deadpool_postgres::Object,
        copy: &str,
    ) -> Result<Self, tokio_postgres::Error> {
        match Self::start(&client, copy).await {
            Ok(copy) => Ok(Self {
                copy: Box::pin(copy),
                client: Some(client),
            }),
            Err(e) => {
                // Perhaps inside the transaction: taken out of the pool, closed.
                drop(deadpool_postgres::Object::take(client));
                Err(e)
            }
        }
    }

    async fn start(
        client: &deadpool_postgres::Object,
        copy: &str,
    ) -> Result<tokio_postgres::CopyInSink<Bytes>, tokio_postgres::Error> {
        client.batch_execute("BEGIN").await?;
        client.copy_in(copy).await
    }

    /// Sends `rows` into the `COPY`.
    async fn send(&mut self, rows: Bytes) -> Result<(), tokio_postgres::Error> {
        self.copy.send(rows).await
    }

    /// Sends the last `rows`, ends the `COPY` and commits; the connection goes back to the pool.
    async fn commit(mut self, rows: Bytes) -> Result<(), tokio_postgres::Error> {
        self.copy.send(rows).await?;
        self.copy.as_mut().finish().await?;
        if let Some(client) = &self.client {
            client.batch_execute("COMMIT").await?;
        }
        // Committed: the connection may serve again.
        self.client = None;
        Ok(())
    }
}

impl Drop for Copying {
    /// A `COPY` dropped before its commit (a failure, a cancelled write) closes its connection, which rolls the
    /// transaction back, rather than hand the pool a connection inside a failed transaction.
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            drop(deadpool_postgres::Object::take(client));
        }
    }
}

/// The target table, as the server describes it.
#[derive(Debug)]
struct Table {
    /// The table's name as the server quotes it.
    name: String,
    columns: Vec<Column>,
    /// `COPY table (columns) FROM STDIN`, or into the stage with upsert.
    copy: String,
    /// With `key`: the statements that create the stage and move its rows to the table.
    upsert: Option<(String, String)>,
}

#[derive(Debug)]
struct Column {
    field: String,
    kind: ColumnKind,
}

impl std::fmt::Debug for PostgresSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSink")
            .field("config", &self.config)
            .field("table", &self.table)
            .field("rows", &self.ends.len())
            .finish_non_exhaustive()
    }
}

impl TryFrom<PostgresSinkConfig> for PostgresSink {
    type Error = PipeError;

    fn try_from(config: PostgresSinkConfig) -> Result<Self, PipeError> {
        let pool = pool(
            &config.url,
            config.tls,
            config.tls_ca_file.as_deref(),
            config.pool_size.get(),
            config.connect_timeout,
        )?;
        Ok(Self {
            config,
            pool,
            table: None,
            rows: Vec::new(),
            ends: Vec::new(),
            stream: Stream::Idle,
            sent: 0,
        })
    }
}

impl PostgresSink {
    /// The configuration.
    pub fn config(&self) -> &PostgresSinkConfig {
        &self.config
    }

    /// Asks the server for the table's columns, and checks `columns`, `fields` and `key` against them.
    async fn describe(&self) -> Result<Table, PipeError> {
        let c = &self.config;
        let client = get(&self.pool, &c.url).await?;
        let fail = |doing: &str, e: &tokio_postgres::Error| pg_error(&c.url, doing, e);
        let doing = format!("table `{}`", c.table);
        let name: String = client
            .query_one("SELECT $1::text::regclass::text", &[&c.table])
            .await
            .map_err(|e| fail(&doing, &e))?
            .get(0);
        let found = client
            .query(
                "SELECT a.attname::text, t.typname::text, t.typcategory::text, \
                 (a.attgenerated::text <> '' OR a.attidentity::text = 'a') \
                 FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
                 WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped \
                 ORDER BY a.attnum",
                &[&c.table],
            )
            .await
            .map_err(|e| fail(&doing, &e))?;
        let all: Vec<(String, String, String, bool)> = found
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect();
        let names: Vec<&str> = all.iter().map(|(n, ..)| n.as_str()).collect();
        let chosen: Vec<&(String, String, String, bool)> = if c.columns.is_empty() {
            all.iter().filter(|(.., generated)| !generated).collect()
        } else {
            let mut chosen = Vec::new();
            for col in &c.columns {
                let found = all.iter().find(|(n, ..)| n == col).ok_or_else(|| {
                    PipeError::permanent(
                        NAME,
                        format!("`columns`: table {name} has no column `{col}` (it has {names:?})"),
                    )
                })?;
                chosen.push(found);
            }
            chosen
        };
        let chosen_names: Vec<&str> = chosen.iter().map(|(n, ..)| n.as_str()).collect();
        for (what, list) in [
            ("fields", c.fields.keys().collect::<Vec<_>>()),
            ("key", c.key.iter().collect()),
        ] {
            if let Some(col) = list
                .iter()
                .find(|col| !chosen_names.contains(&col.as_str()))
            {
                return Err(PipeError::permanent(
                    NAME,
                    format!(
                        "`{what}`: `{col}` is not among the columns written ({chosen_names:?})"
                    ),
                ));
            }
        }
        let columns = chosen
            .iter()
            .map(|(n, typ, category, _)| Column {
                field: c.fields.get(n).cloned().unwrap_or_else(|| n.clone()),
                kind: match (typ.as_str(), category.as_str()) {
                    ("json" | "jsonb", _) => ColumnKind::Json,
                    (_, "A") => ColumnKind::Array,
                    (_, "S") => ColumnKind::Text,
                    _ => ColumnKind::Scalar,
                },
            })
            .collect();
        let list = chosen_names
            .iter()
            .map(|n| quote_ident(n))
            .collect::<Vec<_>>()
            .join(", ");
        let (copy, upsert) = if c.key.is_empty() {
            (format!("COPY {name} ({list}) FROM STDIN"), None)
        } else {
            let keys = c
                .key
                .iter()
                .map(|k| quote_ident(k))
                .collect::<Vec<_>>()
                .join(", ");
            let updates: Vec<String> = chosen_names
                .iter()
                .filter(|n| !c.key.iter().any(|k| k == *n))
                .map(|n| format!("{0} = EXCLUDED.{0}", quote_ident(n)))
                .collect();
            let action = if updates.is_empty() {
                "NOTHING".to_owned()
            } else {
                format!("UPDATE SET {}", updates.join(", "))
            };
            let create = format!(
                "CREATE TEMP TABLE {STAGE} ON COMMIT DROP AS SELECT {list} FROM {name} WITH NO DATA; \
                 ALTER TABLE {STAGE} ADD COLUMN rivus_ord bigint GENERATED ALWAYS AS IDENTITY"
            );
            let merge = format!(
                "INSERT INTO {name} ({list}) SELECT DISTINCT ON ({keys}) {list} FROM {STAGE} \
                 ORDER BY {keys}, rivus_ord DESC ON CONFLICT ({keys}) DO {action}"
            );
            (
                format!("COPY {STAGE} ({list}) FROM STDIN"),
                Some((create, merge)),
            )
        };
        Ok(Table {
            name,
            columns,
            copy,
            upsert,
        })
    }

    /// Sends the rows not sent yet into the flush's `COPY`, starting it first (not with upsert, whose loads
    /// run in a transaction). Never fails: a `COPY` that cannot start or take the rows is dropped (the server
    /// rolls it back) and the flush loads every row afresh, with its own errors.
    ///
    /// # Cancel safety
    ///
    /// Dropped half way, it leaves the stream failed (and so the flush loading every row): nothing is lost.
    async fn stream(&mut self) {
        let Some(table) = self.table.as_ref().filter(|t| t.upsert.is_none()) else {
            return;
        };
        let mut copying = match std::mem::replace(&mut self.stream, Stream::Failed) {
            Stream::Failed => return,
            Stream::Copying(copying) => copying,
            Stream::Idle => {
                let Ok(client) = get(&self.pool, &self.config.url).await else {
                    return;
                };
                match Copying::begin(client, &table.copy).await {
                    Ok(copying) => Box::new(copying),
                    Err(_) => return,
                }
            }
        };
        let chunk = Bytes::copy_from_slice(&self.rows[self.sent..]);
        if copying.send(chunk).await.is_ok() {
            self.sent = self.rows.len();
            self.stream = Stream::Copying(copying);
        }
    }

    /// The COPY text of the rows `piece` (indices since the last flush).
    fn body(&self, piece: &[usize]) -> Bytes {
        let mut body = Vec::new();
        for &i in piece {
            let start = if i == 0 { 0 } else { self.ends[i - 1] };
            body.extend_from_slice(&self.rows[start..self.ends[i]]);
        }
        Bytes::from(body)
    }

    /// Loads the rows `piece` in the transaction `tx` (under a savepoint the caller made).
    async fn load(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        table: &Table,
        piece: &[usize],
    ) -> Result<(), tokio_postgres::Error> {
        if table.upsert.is_some() {
            tx.batch_execute(&format!("TRUNCATE {STAGE}")).await?;
        }
        send_copy(tx.copy_in(&table.copy).await?, self.body(piece)).await?;
        if let Some((_, merge)) = &table.upsert {
            tx.batch_execute(merge).await?;
        }
        Ok(())
    }
}

/// Sends `body` through a started `COPY … FROM STDIN` and ends it.
async fn send_copy(
    copy: tokio_postgres::CopyInSink<Bytes>,
    body: Bytes,
) -> Result<(), tokio_postgres::Error> {
    futures::pin_mut!(copy);
    copy.send(body).await?;
    copy.finish().await.map(|_| ())
}

/// Whether the server refused rows, rather than the statement: a bad value (class 22), a constraint (class
/// 23), or an exception raised by a trigger.
fn refuses_rows(e: &tokio_postgres::Error) -> bool {
    e.as_db_error().is_some_and(|db| {
        let code = db.code().code();
        code.starts_with("22") || code.starts_with("23") || *db.code() == SqlState::RAISE_EXCEPTION
    })
}

impl AsyncSink for PostgresSink {
    type In = Record;

    fn name(&self) -> Cow<'static, str> {
        NAME.into()
    }

    /// [`flush_rows`](PostgresSinkConfig::flush_rows): a load is a transaction, which costs round trips and a
    /// commit whatever its size.
    fn flush_batch(&self) -> Option<NonZeroUsize> {
        Some(self.config.flush_rows)
    }

    /// Connects, and checks the table and the configured columns.
    async fn open(&mut self) -> Result<(), PipeError> {
        self.table = Some(self.describe().await?);
        Ok(())
    }

    /// Encodes `record` as a row of the next flush's COPY; see [Columns and types](PostgresSink#columns-and-types).
    ///
    /// # Errors
    ///
    /// None for a record (the server judges its values at the flush); a permanent error when the sink was not
    /// opened.
    async fn write(&mut self, record: Record) -> Result<(), PipeError> {
        if self.rows.len() - self.sent >= STREAM_BYTES {
            // Before this record is encoded: a write dropped during the send (a timeout) and tried again must
            // not add its row twice.
            self.stream().await;
        }
        let Some(table) = &self.table else {
            return Err(PipeError::permanent(NAME, "the sink was not opened"));
        };
        for (i, col) in table.columns.iter().enumerate() {
            if i > 0 {
                self.rows.push(b'\t');
            }
            push_field(&mut self.rows, record.get(&col.field), col.kind);
        }
        self.rows.push(b'\n');
        self.ends.push(self.rows.len());
        Ok(())
    }

    /// Loads what was written, and fails when a row was refused; see [`flush_each`](Self::flush_each).
    ///
    /// # Errors
    ///
    /// As `flush_each`, and a permanent error naming the first refused row.
    async fn flush(&mut self) -> Result<(), PipeError> {
        let refused = self.flush_each().await?;
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

    /// Loads the rows written since the last flush in one transaction, and returns those the server refused;
    /// see [Delivery](PostgresSink#delivery).
    ///
    /// # Errors
    ///
    /// Transient when the connection failed (nothing was committed; a retry loads every row again);
    /// permanent for an error that is not about rows.
    async fn flush_each(&mut self) -> Result<Vec<Rejected>, PipeError> {
        if self.ends.is_empty() {
            return Ok(Vec::new());
        }
        let Some(table) = &self.table else {
            return Err(PipeError::permanent(NAME, "the sink was not opened"));
        };
        let url = &self.config.url;
        let fail = |doing: &str, e: &tokio_postgres::Error| pg_error(url, doing, e);
        // The fast path, without upsert: one COPY in a transaction, committed when the server answers COMMIT
        // (see `Copying`). Only when the server refuses a row does the flush take the careful path below, in a
        // transaction with savepoints. The stream `write` started, if any, comes first: its connection is out
        // of the pool, and another `get` could wait forever on a pool of one.
        let stream = std::mem::take(&mut self.stream);
        if table.upsert.is_none() {
            let copied = match stream {
                Stream::Copying(copying) => {
                    let rest = Bytes::copy_from_slice(&self.rows[self.sent..]);
                    copying.commit(rest).await
                }
                Stream::Idle | Stream::Failed => {
                    let client = get(&self.pool, url).await?;
                    match Copying::begin(client, &table.copy).await {
                        Ok(copying) => copying.commit(Bytes::copy_from_slice(&self.rows)).await,
                        Err(e) => Err(e),
                    }
                }
            };
            match copied {
                Ok(()) => {
                    self.rows.clear();
                    self.ends.clear();
                    self.sent = 0;
                    return Ok(Vec::new());
                }
                Err(e) if refuses_rows(&e) => {}
                Err(e) => return Err(fail(&format!("cannot load into {}", table.name), &e)),
            }
        }
        let mut client = get(&self.pool, url).await?;
        let mut tx = client
            .transaction()
            .await
            .map_err(|e| fail("cannot begin", &e))?;
        if let Some((create, _)) = &table.upsert {
            tx.batch_execute(create).await.map_err(|e| {
                fail(
                    &format!("{}: cannot make the upsert's stage", table.name),
                    &e,
                )
            })?;
        }
        let mut pending: VecDeque<Vec<usize>> = VecDeque::from([(0..self.ends.len()).collect()]);
        let mut refused = Vec::new();
        while let Some(piece) = pending.pop_front() {
            let savepoint = tx
                .savepoint("rivus_load")
                .await
                .map_err(|e| fail("cannot make a savepoint", &e))?;
            let loaded = self.load(&savepoint, table, &piece).await;
            match loaded {
                Ok(()) => savepoint
                    .commit()
                    .await
                    .map_err(|e| fail("cannot release a savepoint", &e))?,
                Err(e) if refuses_rows(&e) => {
                    savepoint
                        .rollback()
                        .await
                        .map_err(|e| fail("cannot roll back to a savepoint", &e))?;
                    let named = e
                        .as_db_error()
                        .and_then(|db| db.where_())
                        .and_then(copy_line)
                        .filter(|line| (1..=piece.len()).contains(line));
                    let why = || {
                        let message = e
                            .as_db_error()
                            .map(db_message)
                            .unwrap_or_else(|| e.to_string());
                        PipeError::permanent(NAME, format!("{}: {message}", table.name))
                    };
                    if let Some(line) = named {
                        refused.push(Rejected::new(piece[line - 1], why()));
                        let rest: Vec<usize> = piece
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| *i != line - 1)
                            .map(|(_, &r)| r)
                            .collect();
                        if !rest.is_empty() {
                            pending.push_front(rest);
                        }
                    } else if piece.len() == 1 {
                        refused.push(Rejected::new(piece[0], why()));
                    } else {
                        let (a, b) = piece.split_at(piece.len() / 2);
                        pending.push_front(b.to_vec());
                        pending.push_front(a.to_vec());
                    }
                }
                Err(e) => return Err(fail(&format!("cannot load into {}", table.name), &e)),
            }
        }
        tx.commit().await.map_err(|e| fail("cannot commit", &e))?;
        self.rows.clear();
        self.ends.clear();
        self.sent = 0;
        refused.sort_by_key(|r| r.index);
        Ok(refused)
    }
}
