//! [`PostgresSource`]: a query read incrementally by a cursor column, resuming after the last acknowledged
//! row.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use deadpool_postgres::Pool;
use rivus_core::ack::Position;
use rivus_core::value::{Fields, Record};
use rivus_core::{AsyncSource, PipeError};
use tokio::time::Instant;
use tokio_postgres::types::ToSql;

use super::config::PostgresSourceConfig;
use super::connect::{get, pg_error, pool};
use super::{NAME, quote_ident};
use crate::checkpoint::{StateFile, fnv1a};

/// The cursor of a row: the text of its `cursor` column (and of its `key` column).
type Cursor = Arc<[String]>;

/// How often a failed query is tried before the source gives up, and the first wait between tries (doubled
/// each time).
const TRIES: u32 = 5;
const FIRST_WAIT: Duration = Duration::from_millis(500);

/// Reads the rows of a query, in pages ordered by a cursor column, and resumes after the last acknowledged
/// row.
///
/// # Reading
///
/// Each page is `SELECT row_to_json(q) FROM (<query>) q WHERE (cursor, key) > (last) ORDER BY cursor, key
/// LIMIT page_size`, where `last` is the cursor of the last row read: rows with the same cursor are told apart
/// by `key`, so none is skipped or read twice. A page shorter than `page_size` means the source caught up:
/// it ends, or with `poll_interval` queries again after that long. Rows inserted later with a cursor below
/// the last one read (a sequence value taken by a transaction that committed late) are not seen: use a
/// cursor that grows at commit, or a `poll_interval` query that leaves recent rows out.
///
/// # Types
///
/// Rows become records through PostgreSQL's `row_to_json`, one field per column in the query's order:
/// integers and floats are numbers (NaN and infinities strings), `numeric` a number with all its digits
/// (exact: records keep numbers as written), text a string, bool a bool, `date`, `time` and `timestamp(tz)`
/// ISO 8601 strings (`2024-05-01T12:00:00+00:00`), `json` and `jsonb` their JSON value, `bytea` a `\x…` hex
/// string, `uuid` a string, arrays JSON arrays, NULL null.
///
/// # Commits
///
/// The [position](AsyncSource::position) of a record is its cursor. When the runtime acknowledges a
/// position, the source writes it to `state` (a state file of two slots written in turn, so a crash in the
/// middle of a write keeps the previous one); the next run starts after it. After a crash the rows read
/// after the last commit are read again: at most the pipeline's in-flight records. The state file also
/// holds the query and cursor columns it was written for, and a run with others refuses it.
///
/// # Errors
///
/// A query that fails for a transient reason (a lost connection) is tried again up to 5 times, waiting 0.5 s,
/// then 1 s, 2 s…; then, or at once for any other error (a syntax error, a missing column), the source
/// returns the error and ends.
///
/// # Cancel safety
///
/// A page is taken into the source's buffer only once its query returned, and a wait for the next poll
/// keeps its deadline: a dropped `next` loses nothing and does not wait longer.
#[rivus_core::async_source("postgres", config = PostgresSourceConfig)]
pub struct PostgresSource {
    config: PostgresSourceConfig,
    pool: Pool,
    /// The first page's query and the next pages' (after a cursor), made by `open`.
    queries: Option<(String, String)>,
    /// What the state file is for (a hash of the query and the cursor columns): checked when it is opened
    /// again.
    signature: String,
    state: Option<StateFile>,
    /// The cursor of the last row read (not the last one acknowledged).
    after: Option<Cursor>,
    page: VecDeque<(Record, Cursor)>,
    /// The cursor of the record `next` returned last.
    last: Option<Cursor>,
    /// The last page was short: no row is left for now.
    caught_up: bool,
    /// With `poll_interval`: when the next query may run.
    wake_at: Option<Instant>,
    done: bool,
}

impl std::fmt::Debug for PostgresSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSource")
            .field("config", &self.config)
            .field("page", &self.page.len())
            .finish_non_exhaustive()
    }
}

impl TryFrom<PostgresSourceConfig> for PostgresSource {
    type Error = PipeError;

    fn try_from(config: PostgresSourceConfig) -> Result<Self, PipeError> {
        let pool = pool(
            &config.url,
            config.tls,
            config.tls_ca_file.as_deref(),
            config.pool_size.get(),
            config.connect_timeout,
        )?;
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
        Ok(Self {
            config,
            pool,
            queries: None,
            signature,
            state: None,
            after: None,
            page: VecDeque::new(),
            last: None,
            caught_up: false,
            wake_at: None,
            done: false,
        })
    }
}

impl PostgresSource {
    /// The configuration.
    pub fn config(&self) -> &PostgresSourceConfig {
        &self.config
    }

    /// The cursor columns, quoted.
    fn cursor_columns(&self) -> Vec<String> {
        let mut cols = vec![quote_ident(&self.config.cursor)];
        cols.extend(self.config.key.as_deref().map(quote_ident));
        cols
    }

    /// Builds the page queries, with the cursor columns' types from the server.
    async fn prepare(&self) -> Result<(String, String), PipeError> {
        let c = &self.config;
        let client = get(&self.pool, &c.url).await?;
        let cols = self.cursor_columns();
        let q_cols: Vec<String> = cols.iter().map(|col| format!("q.{col}")).collect();
        let probe = format!("SELECT {} FROM ({}) AS q", q_cols.join(", "), c.query);
        let stmt = client
            .prepare(&probe)
            .await
            .map_err(|e| pg_error(&c.url, "the query or its cursor columns", &e))?;
        let select = format!(
            "SELECT row_to_json(q)::text, {} FROM ({}) AS q WHERE {}",
            q_cols
                .iter()
                .map(|col| format!("{col}::text"))
                .collect::<Vec<_>>()
                .join(", "),
            c.query,
            q_cols
                .iter()
                .map(|col| format!("{col} IS NOT NULL"))
                .collect::<Vec<_>>()
                .join(" AND "),
        );
        let order = format!("ORDER BY {} LIMIT {}", q_cols.join(", "), c.page_size.get());
        let bound: Vec<String> = stmt
            .columns()
            .iter()
            .enumerate()
            .map(|(i, col)| {
                let typ = col.type_();
                format!(
                    "${}::text::{}.{}",
                    i + 1,
                    quote_ident(typ.schema()),
                    quote_ident(typ.name())
                )
            })
            .collect();
        let first = format!("{select} {order}");
        let next = format!(
            "{select} AND ({}) > ({}) {order}",
            q_cols.join(", "),
            bound.join(", ")
        );
        Ok((first, next))
    }

    /// Queries the next page (after `after`), trying transient failures again.
    async fn fetch(&self) -> Result<Vec<(Record, Cursor)>, PipeError> {
        let Some((first, next)) = &self.queries else {
            return Err(PipeError::permanent(NAME, "the source was not opened"));
        };
        let mut wait = FIRST_WAIT;
        let mut tries = 0;
        loop {
            tries += 1;
            match self.fetch_once(first, next).await {
                Err(e) if e.is_transient() && tries < TRIES => {
                    tracing::warn!(error = %e, "postgres source: query failed, trying again in {wait:?}");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                other => return other,
            }
        }
    }

    async fn fetch_once(
        &self,
        first: &str,
        next: &str,
    ) -> Result<Vec<(Record, Cursor)>, PipeError> {
        let url = &self.config.url;
        let client = get(&self.pool, url).await?;
        let rows = match &self.after {
            None => client.query(first, &[]).await,
            Some(after) => {
                let params: Vec<&(dyn ToSql + Sync)> =
                    after.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
                client.query(next, &params).await
            }
        }
        .map_err(|e| pg_error(url, "the query", &e))?;
        let width = self.cursor_columns().len();
        rows.iter()
            .map(|row| {
                let json: &str = row.try_get(0).map_err(|e| pg_error(url, "a row", &e))?;
                let fields: Fields = serde_json::from_str(json).map_err(|e| {
                    PipeError::permanent(
                        NAME,
                        format!("row_to_json gave what is not a JSON object: {e}"),
                    )
                })?;
                let cursor = (1..=width)
                    .map(|i| row.try_get::<_, String>(i))
                    .collect::<Result<Cursor, _>>()
                    .map_err(|e| pg_error(url, "a row's cursor", &e))?;
                Ok((Record::from_fields(fields), cursor))
            })
            .collect()
    }
}

impl AsyncSource for PostgresSource {
    type Out = Record;

    fn name(&self) -> Cow<'static, str> {
        NAME.into()
    }

    /// Connects, checks the query and its cursor columns, and reads the state file.
    async fn open(&mut self) -> Result<(), PipeError> {
        self.queries = Some(self.prepare().await?);
        if let Some(path) = self.config.state.clone() {
            let (state, saved) = StateFile::open(NAME, &path)?;
            if let Some(saved) = saved {
                let for_query = saved.get("query").and_then(|q| q.as_str());
                if for_query != Some(self.signature.as_str()) {
                    return Err(PipeError::permanent(
                        NAME,
                        format!(
                            "state file {}: it was written for another query or cursor ({:?}); remove it to read \
                             from the start",
                            path.display(),
                            for_query.unwrap_or("")
                        ),
                    ));
                }
                let cursor: Option<Vec<String>> = saved
                    .get("cursor")
                    .and_then(|c| serde_json::from_value(c.clone()).ok());
                match cursor {
                    Some(cursor) if cursor.len() == self.cursor_columns().len() => {
                        self.after = Some(cursor.into());
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

    async fn next(&mut self) -> Option<Result<Record, PipeError>> {
        loop {
            if let Poll::Ready(next) = self.try_next() {
                return next;
            }
            if self.done {
                return None;
            }
            if self.caught_up {
                let Some(interval) = self.config.poll_interval else {
                    self.done = true;
                    return None;
                };
                let at = *self
                    .wake_at
                    .get_or_insert_with(|| Instant::now() + interval);
                tokio::time::sleep_until(at).await;
                self.wake_at = None;
            }
            match self.fetch().await {
                Ok(rows) => {
                    // No await from here on: the page is taken whole.
                    self.caught_up = rows.len() < self.config.page_size.get();
                    if let Some((_, cursor)) = rows.last() {
                        self.after = Some(Arc::clone(cursor));
                    }
                    self.page.extend(rows);
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }

    /// The next row of the page already fetched, at once; `Pending` when the page is used up (the next one is
    /// fetched by `next`).
    fn try_next(&mut self) -> Poll<Option<Result<Record, PipeError>>> {
        match self.page.pop_front() {
            Some((record, cursor)) => {
                self.last = Some(cursor);
                Poll::Ready(Some(Ok(record)))
            }
            None => Poll::Pending,
        }
    }

    fn position(&self) -> Option<Position> {
        self.last.as_ref().map(|c| Position::new(Arc::clone(c)))
    }

    /// Writes the cursor of the last acknowledged row to the state file (without one, nothing).
    async fn commit(&mut self, upto: Position) -> Result<(), PipeError> {
        let (Some(state), Some(cursor)) = (&mut self.state, upto.get::<Cursor>()) else {
            return Ok(());
        };
        state.save(&serde_json::json!({ "query": self.signature, "cursor": &*cursor }))
    }
}
