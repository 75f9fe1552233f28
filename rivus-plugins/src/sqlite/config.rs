//! The configuration of [`SqliteSink`](super::SqliteSink) and [`SqliteSource`](super::SqliteSource).

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

const fn default_busy_timeout() -> Duration {
    Duration::from_secs(5)
}

const fn default_page_size() -> NonZeroUsize {
    match NonZeroUsize::new(1000) {
        Some(n) => n,
        None => NonZeroUsize::MIN,
    }
}

/// How hard a commit of the SQLite sink waits for the disk (SQLite's `PRAGMA synchronous`, in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Synchronous {
    /// A commit reaches the operating system, and the disk at each checkpoint (the default): a killed process
    /// loses nothing it committed; a power loss may lose the last commits. As the file sinks' `fsync = false`.
    #[default]
    Normal,
    /// Each commit waits for the disk (`fsync`): a power loss loses nothing committed either. Slower.
    Full,
}

/// Configuration of [`SqliteSink`](super::SqliteSink).
///
/// # Examples
///
/// ```
/// use rivus_plugins::sqlite::SqliteSinkConfig;
///
/// let cfg: SqliteSinkConfig = serde_json::from_str(r#"{
///     "path": "people.db",
///     "table": "people",
///     "columns": ["id", "name", "age"],
///     "create": true,
///     "key": ["id"]
/// }"#).unwrap();
/// assert!(cfg.create);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqliteSinkConfig {
    /// The database file (created, with its directories, when missing). It is switched to WAL mode.
    pub path: PathBuf,
    /// The table rows go to.
    pub table: String,
    /// The table's columns to fill. Default: every column of the table. A column whose field a record lacks
    /// gets NULL.
    #[serde(default)]
    pub columns: Vec<String>,
    /// Which record field fills a column, for columns whose field has another name: `{ column = "field" }`.
    /// Default: each column from the field of its own name.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// Upsert: the columns of a unique key. A row whose key exists updates the other columns
    /// (`INSERT … ON CONFLICT (key) DO UPDATE`). Default: none, plain `INSERT` (a duplicate key is a refused
    /// row).
    #[serde(default)]
    pub key: Vec<String>,
    /// Create the table when it does not exist, with `columns` (which must then be given) without declared
    /// types (each value keeps its own: integer, real, text) and `key` as its primary key. Default: false.
    #[serde(default)]
    pub create: bool,
    /// `normal` (a commit reaches the operating system; the default) or `full` (each commit waits for the
    /// disk).
    #[serde(default)]
    pub synchronous: Synchronous,
    /// How long to wait for a lock another connection holds. Default: 5 seconds.
    #[serde(default = "default_busy_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub busy_timeout: Duration,
}

impl SqliteSinkConfig {
    /// A configuration writing to `table` in the database at `path`, with the defaults.
    pub fn new(path: impl Into<PathBuf>, table: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            table: table.into(),
            columns: Vec::new(),
            fields: BTreeMap::new(),
            key: Vec::new(),
            create: false,
            synchronous: Synchronous::Normal,
            busy_timeout: default_busy_timeout(),
        }
    }
}

/// Configuration of [`SqliteSource`](super::SqliteSource).
///
/// # Examples
///
/// ```
/// use rivus_plugins::sqlite::SqliteSourceConfig;
///
/// let cfg: SqliteSourceConfig = serde_json::from_str(r#"{
///     "path": "people.db",
///     "query": "SELECT * FROM people WHERE age >= 18",
///     "cursor": "id"
/// }"#).unwrap();
/// assert_eq!(cfg.page_size.get(), 1000);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqliteSourceConfig {
    /// The database file (it must exist).
    pub path: PathBuf,
    /// A `SELECT` whose rows become records; read as a sub-query, in pages ordered by `cursor` and `key`.
    pub query: String,
    /// The column that orders the rows and only grows for new rows (`id`, `rowid AS id`, `updated_at`); it
    /// must be one of the query's columns. Rows whose cursor is NULL are not read.
    pub cursor: String,
    /// A column that tells apart rows with the same `cursor`. Without it, `cursor` must be unique.
    /// Default: none.
    #[serde(default)]
    pub key: Option<String>,
    /// The state file that keeps the cursor of the last acknowledged row. Default: none (every run reads
    /// from the start).
    #[serde(default)]
    pub state: Option<PathBuf>,
    /// Rows per query. Default: 1000.
    #[serde(default = "default_page_size")]
    pub page_size: NonZeroUsize,
    /// Once caught up, query again after this long; without it the source ends when caught up.
    /// Default: none.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub poll_interval: Option<Duration>,
    /// How long to wait for a lock another connection holds. Default: 5 seconds.
    #[serde(default = "default_busy_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub busy_timeout: Duration,
}

impl SqliteSourceConfig {
    /// A configuration reading `query` from the database at `path` by `cursor`, with the defaults.
    pub fn new(
        path: impl Into<PathBuf>,
        query: impl Into<String>,
        cursor: impl Into<String>,
    ) -> Self {
        Self {
            path: path.into(),
            query: query.into(),
            cursor: cursor.into(),
            key: None,
            state: None,
            page_size: default_page_size(),
            poll_interval: None,
            busy_timeout: default_busy_timeout(),
        }
    }
}
