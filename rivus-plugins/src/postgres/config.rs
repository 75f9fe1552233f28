//! The configuration of [`PostgresSink`](super::PostgresSink) and [`PostgresSource`](super::PostgresSource).
//!
//! Both take a `url` that may hold a password (`postgres://app:${PG_PASSWORD}@db/orders`): their `Debug`
//! output and every error show it without the password and the query string.

use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::redacted_url;

/// A non-zero constant.
const fn non_zero(n: usize) -> NonZeroUsize {
    match NonZeroUsize::new(n) {
        Some(n) => n,
        None => NonZeroUsize::MIN,
    }
}

const fn default_pool_size() -> NonZeroUsize {
    non_zero(2)
}

const fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}

const fn default_flush_rows() -> NonZeroUsize {
    non_zero(10_000)
}

const fn default_page_size() -> NonZeroUsize {
    non_zero(1000)
}

/// Whether connections use TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// Plain TCP (the default). An `sslmode` in the URL is overridden by this setting.
    #[default]
    Disable,
    /// TLS when the server offers it, plain TCP otherwise.
    Prefer,
    /// TLS, or no connection. The server's certificate is checked against `tls_ca_file`, or the system's
    /// roots.
    Require,
}

/// Configuration of [`PostgresSink`](super::PostgresSink): which table, which columns, and how rows land.
///
/// # Examples
///
/// ```
/// use rivus_plugins::postgres::PostgresSinkConfig;
///
/// let cfg: PostgresSinkConfig = serde_json::from_str(r#"{
///     "url": "postgres://app:s3cret@127.0.0.1:5432/shop",
///     "table": "people",
///     "key": ["id"],
///     "fields": { "full_name": "name" }
/// }"#).unwrap();
/// assert_eq!(cfg.key, ["id"]);
/// assert!(!format!("{cfg:?}").contains("s3cret"));
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostgresSinkConfig {
    /// The server, as a URL (`postgres://user:password@host:port/database`) or a `key=value` string. The
    /// password is never printed.
    pub url: String,
    /// The table rows go to, as SQL names it (`people`, `shop.people`, `"Mixed Case"`).
    pub table: String,
    /// The table's columns to fill, in any order. Default: every column of the table except generated ones.
    /// A column whose field a record lacks (or holds `null`) gets NULL, not its default: leave such columns
    /// out (a `serial` id the records do not carry, for example).
    #[serde(default)]
    pub columns: Vec<String>,
    /// Which record field fills a column, for columns whose field has another name: `{ column = "field" }`.
    /// Default: each column from the field of its own name.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// Upsert: the columns of a unique key (`["id"]`). A row whose key exists updates the other columns
    /// (`INSERT … ON CONFLICT (key) DO UPDATE`); of several rows with the same key in one flush, the last one
    /// wins. Default: none, plain `COPY` (a duplicate key is a refused row).
    #[serde(default)]
    pub key: Vec<String>,
    /// TLS: `disable` (the default), `prefer` or `require`.
    #[serde(default)]
    pub tls: TlsMode,
    /// PEM file of the certificate authorities to trust with TLS. Default: the system's roots.
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// The most connections the sink keeps open. Default: 2.
    #[serde(default = "default_pool_size")]
    pub pool_size: NonZeroUsize,
    /// How long connecting may take, e.g. `"10s"`. Default: 10 seconds.
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub connect_timeout: Duration,
    /// Rows per load (one `COPY` and one commit) while rows keep coming. A load costs round trips and a commit
    /// whatever its size (about 2 ms here), so loads of a few rows are slow; a quiet stream's rows are loaded
    /// once no new row came for 10 ms. Rows count as written, and a source's position as committable, only
    /// once their load committed. Default: 10,000.
    #[serde(default = "default_flush_rows")]
    pub flush_rows: NonZeroUsize,
}

impl PostgresSinkConfig {
    /// A configuration writing to `table` at `url`, with the defaults.
    pub fn new(url: impl Into<String>, table: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            table: table.into(),
            columns: Vec::new(),
            fields: BTreeMap::new(),
            key: Vec::new(),
            tls: TlsMode::Disable,
            tls_ca_file: None,
            pool_size: default_pool_size(),
            connect_timeout: default_connect_timeout(),
            flush_rows: default_flush_rows(),
        }
    }
}

impl fmt::Debug for PostgresSinkConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresSinkConfig")
            .field("url", &redacted_url(&self.url))
            .field("table", &self.table)
            .field("columns", &self.columns)
            .field("fields", &self.fields)
            .field("key", &self.key)
            .field("tls", &self.tls)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("flush_rows", &self.flush_rows)
            .finish()
    }
}

/// Configuration of [`PostgresSource`](super::PostgresSource): the query, its cursor, and where the cursor is
/// kept.
///
/// # Examples
///
/// ```
/// use rivus_plugins::postgres::PostgresSourceConfig;
///
/// let cfg: PostgresSourceConfig = serde_json::from_str(r#"{
///     "url": "postgres://app:s3cret@127.0.0.1/shop",
///     "query": "SELECT * FROM orders",
///     "cursor": "updated_at",
///     "key": "id",
///     "state": "state/orders.cursor",
///     "poll_interval": "5s"
/// }"#).unwrap();
/// assert_eq!(cfg.page_size.get(), 1000);
/// assert!(!format!("{cfg:?}").contains("s3cret"));
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostgresSourceConfig {
    /// The server, as a URL or a `key=value` string. The password is never printed.
    pub url: String,
    /// A `SELECT` whose rows become records, one field per column (e.g. `SELECT * FROM orders WHERE
    /// region = 'eu'`). It is read as a sub-query, in pages ordered by `cursor` and `key`.
    pub query: String,
    /// The column that orders the rows and only grows for new rows (`id`, `updated_at`). Rows whose cursor is
    /// NULL are not read.
    pub cursor: String,
    /// A column that tells apart rows with the same `cursor` (a primary key): pages are ordered by
    /// `(cursor, key)`, so ties are neither skipped nor read twice. Without it, `cursor` must be unique.
    /// Default: none.
    #[serde(default)]
    pub key: Option<String>,
    /// The state file that keeps the cursor of the last acknowledged row: a restart resumes after it.
    /// Default: none (every run reads from the start).
    #[serde(default)]
    pub state: Option<PathBuf>,
    /// Rows per query. Default: 1000.
    #[serde(default = "default_page_size")]
    pub page_size: NonZeroUsize,
    /// Once caught up, query again after this long (`"5s"`); without it the source ends when caught up.
    /// Default: none.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub poll_interval: Option<Duration>,
    /// TLS: `disable` (the default), `prefer` or `require`.
    #[serde(default)]
    pub tls: TlsMode,
    /// PEM file of the certificate authorities to trust with TLS. Default: the system's roots.
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// The most connections the source keeps open. Default: 2.
    #[serde(default = "default_pool_size")]
    pub pool_size: NonZeroUsize,
    /// How long connecting may take. Default: 10 seconds.
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub connect_timeout: Duration,
}

impl PostgresSourceConfig {
    /// A configuration reading `query` at `url` by `cursor`, with the defaults.
    pub fn new(
        url: impl Into<String>,
        query: impl Into<String>,
        cursor: impl Into<String>,
    ) -> Self {
        Self {
            url: url.into(),
            query: query.into(),
            cursor: cursor.into(),
            key: None,
            state: None,
            page_size: default_page_size(),
            poll_interval: None,
            tls: TlsMode::Disable,
            tls_ca_file: None,
            pool_size: default_pool_size(),
            connect_timeout: default_connect_timeout(),
        }
    }
}

impl fmt::Debug for PostgresSourceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresSourceConfig")
            .field("url", &redacted_url(&self.url))
            .field("query", &self.query)
            .field("cursor", &self.cursor)
            .field("key", &self.key)
            .field("state", &self.state)
            .field("page_size", &self.page_size)
            .field("poll_interval", &self.poll_interval)
            .field("tls", &self.tls)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}
