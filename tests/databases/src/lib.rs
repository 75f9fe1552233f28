//! Test set-up for the database plugins: a real PostgreSQL on 127.0.0.1, a fresh database per test, `psql`,
//! and the `rivus` binary.
//!
//! The server is found or started as DESIGN.md ("Test infrastructure") says:
//! 1. `RIVUS_TEST_PG_URL` (e.g. `postgres://postgres@127.0.0.1:5432/postgres`) when set: each test makes its
//!    own database there;
//! 2. otherwise a throw-away cluster: `initdb` in a temp dir, `postgres` on a free port of 127.0.0.1, stopped
//!    and removed when the test ends. The binaries come from `PATH` or the newest `/usr/lib/postgresql/*/bin`
//!    (Debian's `postgresql` package). As root, they run as the `postgres` user (or `nobody`), since the
//!    server refuses to run as root;
//! 3. otherwise the test fails, saying what to install.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// What to install when no server can be had.
pub const INSTALL: &str = "install PostgreSQL's server and client (Debian: `apt-get install postgresql \
                           postgresql-client`), or set RIVUS_TEST_PG_URL to a server's URL";

/// A PostgreSQL server for one test, and a database of its own on it.
#[derive(Debug)]
pub struct Postgres {
    /// The URL of the test's database.
    url: String,
    /// The cluster this test started (stopped on drop).
    cluster: Option<Cluster>,
}

#[derive(Debug)]
struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    dir: PathBuf,
    user: Option<String>,
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port on 127.0.0.1: {e}"))
}

/// A temp dir of its own for a test.
pub fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "rivus-db-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The directory of PostgreSQL's server binaries: where `initdb` is on `PATH`, or the newest
/// `/usr/lib/postgresql/*/bin`.
pub fn server_binaries() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|p| p.join("initdb"))
            .find(|p| p.is_file())
    });
    let from_path = on_path
        .and_then(|p| std::fs::canonicalize(p).ok())
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .filter(|dir| dir.join("postgres").is_file() && dir.join("pg_ctl").is_file());
    from_path.or_else(|| {
        let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let version = e.file_name().to_str()?.parse().ok()?;
                let bin = e.path().join("bin");
                bin.join("initdb").is_file().then_some((version, bin))
            })
            .collect();
        dirs.sort();
        dirs.pop().map(|(_, bin)| bin)
    })
}

/// Whether this process runs as root (the server refuses to).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Postgres {
    /// A fresh database on the server of `RIVUS_TEST_PG_URL`, or on a throw-away cluster.
    ///
    /// # Panics
    ///
    /// When no server can be had (saying what to install), or it does not start.
    pub fn start(name: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let db = format!(
            "rivus_{name}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        if let Ok(base) = std::env::var("RIVUS_TEST_PG_URL")
            && !base.is_empty()
        {
            psql(&base, &format!("CREATE DATABASE {db}"));
            let url = replace_database(&base, &db);
            return Self { url, cluster: None };
        }
        let Some(bin) = server_binaries() else {
            panic!("no PostgreSQL server for the tests: {INSTALL}");
        };
        let dir = temp_dir("pg");
        let data = dir.join("data");
        let user = is_root().then(|| {
            let user = if Command::new("id")
                .arg("postgres")
                .output()
                .is_ok_and(|o| o.status.success())
            {
                "postgres"
            } else {
                "nobody"
            };
            let status = Command::new("chown")
                .args(["-R", user])
                .arg(&dir)
                .status()
                .unwrap();
            assert!(status.success(), "cannot chown {} to {user}", dir.display());
            user.to_owned()
        });
        let cluster = Cluster {
            bin,
            data: data.clone(),
            dir: dir.clone(),
            user,
        };
        let out = cluster.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        );
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off -c max_connections=50",
            dir.display()
        );
        let log = dir.join("server.log");
        let out = cluster.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let base = format!("postgres://postgres@127.0.0.1:{port}/postgres");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !Command::new("psql")
            .args([&base, "-Atc", "SELECT 1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            assert!(
                Instant::now() < deadline,
                "the server did not answer: {INSTALL}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        psql(&base, &format!("CREATE DATABASE {db}"));
        Self {
            url: replace_database(&base, &db),
            cluster: Some(cluster),
        }
    }

    /// The URL of the test's database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs `sql` with `psql` in the test's database; returns its output (unaligned, tuples only).
    pub fn psql(&self, sql: &str) -> String {
        psql(&self.url, sql)
    }
}

impl Cluster {
    fn run(&self, tool: &str, args: &[&str]) -> Output {
        let exe = self.bin.join(tool);
        let mut cmd = match &self.user {
            Some(user) => {
                // In /usr/sbin, which a root shell has on PATH and a bare environment may not.
                let runuser = ["/usr/sbin/runuser", "/sbin/runuser"]
                    .into_iter()
                    .find(|p| Path::new(p).is_file())
                    .unwrap_or("runuser");
                let mut c = Command::new(runuser);
                c.args(["-u", user, "--"]).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        cmd.args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {tool}: {e}; {INSTALL}"))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(c) = &self.cluster {
            let _ = c.run(
                "pg_ctl",
                &[
                    "-D",
                    c.data.to_str().unwrap_or(""),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
            );
            let _ = std::fs::remove_dir_all(&c.dir);
        }
    }
}

/// `url` with its database replaced by `db`.
fn replace_database(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let base = match base[after_scheme..].find('/') {
        Some(slash) => &base[..after_scheme + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// Runs `sql` with `psql` against `url`; returns its output (unaligned, tuples only).
///
/// # Panics
///
/// When `psql` is missing or the statement fails.
pub fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-Atc", sql])
        .output()
        .unwrap_or_else(|e| panic!("cannot run psql: {e}; {INSTALL}"));
    assert!(
        out.status.success(),
        "psql failed on {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
}

/// The `rivus` binary of this build (`target/<profile>/rivus`), which `cargo test --workspace` builds before any
/// test runs.
///
/// # Panics
///
/// When it is missing or was built without the database plugins.
pub fn rivus_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join(format!("rivus{}", std::env::consts::EXE_SUFFIX)))
        .unwrap();
    let has_postgres = Command::new(&bin)
        .args(["describe", "postgres", "--kind", "async-source"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        has_postgres,
        "{} is missing or was built without PostgreSQL: run `cargo build -p rivus-cli` (its default features have \
         `postgres` and `sqlite`) before these tests, or `cargo test --workspace`",
        bin.display()
    );
    bin
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn databases_are_replaced_in_urls() {
        assert_eq!(
            replace_database("postgres://u@h:1/postgres", "x"),
            "postgres://u@h:1/x"
        );
        assert_eq!(
            replace_database("postgres://u@h:1", "x"),
            "postgres://u@h:1/x"
        );
        assert_eq!(
            replace_database("postgres://u@h/d?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
    }
}
