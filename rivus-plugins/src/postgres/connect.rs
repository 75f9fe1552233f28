//! Connections: the pool, TLS, the URL as errors show it, and which errors are worth a retry.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use rivus_core::PipeError;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::error::{DbError, SqlState};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::NAME;
use super::config::TlsMode;

/// The connection string as errors may show it: `postgres://user@host:port/database`, never the password or
/// other options.
pub(crate) fn redacted_url(url: &str) -> String {
    let Ok(cfg) = url.parse::<tokio_postgres::Config>() else {
        return "<a connection string that does not parse>".to_owned();
    };
    let mut out = String::from("postgres://");
    if let Some(user) = cfg.get_user() {
        out.push_str(user);
        out.push('@');
    }
    let hosts: Vec<String> = cfg
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let host = match h {
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => path.display().to_string(),
            };
            match cfg.get_ports().get(i).or(cfg.get_ports().first()) {
                Some(port) => format!("{host}:{port}"),
                None => host,
            }
        })
        .collect();
    out.push_str(&hosts.join(","));
    out.push('/');
    out.push_str(cfg.get_dbname().unwrap_or(""));
    out
}

/// A pool of connections to the server at `url`.
///
/// # Errors
///
/// A permanent error when the URL does not parse, the CA file cannot be read, or the pool cannot be built.
pub(crate) fn pool(
    url: &str,
    tls: TlsMode,
    ca_file: Option<&Path>,
    size: usize,
    connect_timeout: Duration,
) -> Result<Pool, PipeError> {
    let shown = redacted_url(url);
    let mut cfg: tokio_postgres::Config = url
        .parse()
        .map_err(|e| PipeError::permanent(NAME, format!("`url` does not parse: {e}")))?;
    cfg.connect_timeout(connect_timeout);
    cfg.ssl_mode(match tls {
        TlsMode::Disable => SslMode::Disable,
        TlsMode::Prefer => SslMode::Prefer,
        TlsMode::Require => SslMode::Require,
    });
    if cfg.get_application_name().is_none() {
        cfg.application_name("rivus");
    }
    let connector = MakeRustlsConnect::new(client_config(tls, ca_file)?);
    let manager = Manager::from_config(
        cfg,
        connector,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .create_timeout(Some(connect_timeout))
        .wait_timeout(Some(connect_timeout.saturating_mul(3)))
        .build()
        .map_err(|e| PipeError::permanent(NAME, format!("{shown}: cannot make a pool: {e}")))
}

/// The rustls configuration: the `ring` provider, and the roots of `ca_file` or of the system (none are
/// loaded without TLS).
fn client_config(tls: TlsMode, ca_file: Option<&Path>) -> Result<rustls::ClientConfig, PipeError> {
    let mut roots = rustls::RootCertStore::empty();
    if tls != TlsMode::Disable {
        let certs: Vec<CertificateDer<'static>> = match ca_file {
            Some(path) => CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<_, _>>())
                .map_err(|e| {
                    PipeError::permanent(
                        NAME,
                        format!("`tls_ca_file` {}: cannot read: {e}", path.display()),
                    )
                })?,
            None => rustls_native_certs::load_native_certs().certs,
        };
        let (_, ignored) = roots.add_parsable_certificates(certs);
        if roots.is_empty() {
            return Err(PipeError::permanent(
                NAME,
                format!(
                    "TLS needs certificate authorities, and none could be loaded ({ignored} ignored): set \
                     `tls_ca_file`, or install the system's (Debian: ca-certificates)"
                ),
            ));
        }
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
        .map_err(|e| PipeError::permanent(NAME, format!("TLS: {e}")))
}

/// Whether an error may go away by itself: a lost or refused connection, a server shutting down, too many
/// connections, a serialization failure or deadlock.
pub(crate) fn is_transient(e: &tokio_postgres::Error) -> bool {
    match e.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P")
                || *db.code() == SqlState::T_R_SERIALIZATION_FAILURE
                || *db.code() == SqlState::T_R_DEADLOCK_DETECTED
                || *db.code() == SqlState::LOCK_NOT_AVAILABLE
        }
        None => {
            e.is_closed() || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
        }
    }
}

/// The server's message, with its detail and hint: what a refused row's dead letter says.
pub(crate) fn db_message(db: &DbError) -> String {
    let mut out = format!("{} ({})", db.message(), db.code().code());
    if let Some(detail) = db.detail() {
        out.push_str(": ");
        out.push_str(detail);
    }
    if let Some(hint) = db.hint() {
        out.push_str("; hint: ");
        out.push_str(hint);
    }
    out
}

/// `e` as a pipe error: transient or permanent (see [`is_transient`]), saying what was being done, on which
/// server.
pub(crate) fn pg_error(url: &str, doing: &str, e: &tokio_postgres::Error) -> PipeError {
    let why = match e.as_db_error() {
        Some(db) => db_message(db),
        None => match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    };
    let message = format!("{}: {doing}: {why}", redacted_url(url));
    if is_transient(e) {
        PipeError::transient(NAME, message)
    } else {
        PipeError::permanent(NAME, message)
    }
}

/// A connection from the pool.
///
/// # Errors
///
/// Transient when the server cannot be reached (the stage's retries try again), permanent when it refuses us
/// (a wrong password, an unknown database).
pub(crate) async fn get(pool: &Pool, url: &str) -> Result<deadpool_postgres::Object, PipeError> {
    pool.get().await.map_err(|e| match e {
        PoolError::Backend(e) => pg_error(url, "cannot connect", &e),
        other => PipeError::transient(
            NAME,
            format!("{}: cannot connect: {other}", redacted_url(url)),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(
            redacted_url("postgres://app:s3cret@db.example:6432/shop?sslmode=require"),
            "postgres://app@db.example:6432/shop"
        );
        assert_eq!(
            redacted_url("host=127.0.0.1 port=5433 user=u password=s3cret dbname=d"),
            "postgres://u@127.0.0.1:5433/d"
        );
        assert!(!redacted_url("postgres://u:s3cret@[bad").contains("s3cret"));
    }

    #[test]
    fn a_bad_url_is_an_error_without_the_password() {
        let err = pool(
            "postgres://u:s3cret@h:notaport/d",
            TlsMode::Disable,
            None,
            1,
            Duration::from_secs(1),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("does not parse"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
    }
}
