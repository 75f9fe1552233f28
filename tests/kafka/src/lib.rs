//! Test set-up for the Kafka plugins: a Kafka-protocol broker on 127.0.0.1, topics, and the client that is not
//! ours (Python `confluent-kafka`).
//!
//! The broker is found or started as `docs/architecture.md` ("Tests") says; `scripts/test` installs what this
//! needs (tansu, confluent-kafka) on a fresh machine:
//! 1. `RIVUS_TEST_KAFKA` (a bootstrap address such as `127.0.0.1:9092`) when set;
//! 2. otherwise `tansu` (0.6, with `--features libsql`) from `$RIVUS_TOOLS_DIR/bin`, `~/.cache/rivus-tools/bin`
//!    or `PATH`, started in a temp dir on a free port with its sqlite storage engine and stopped on drop;
//! 3. otherwise the test fails, saying to run `scripts/test` (or what to install by hand).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

const INSTALL_TANSU: &str =
    "cargo install tansu --version 0.6.0 --locked --features libsql --root ~/.cache/rivus-tools";

/// A Kafka-protocol broker for one test: given by `RIVUS_TEST_KAFKA`, or a `tansu` process of our own.
#[derive(Debug)]
pub struct Broker {
    bootstrap: String,
    child: Option<Child>,
    dir: Option<PathBuf>,
}

/// The `tansu` binary: `$RIVUS_TOOLS_DIR/bin/tansu`, `~/.cache/rivus-tools/bin/tansu`, or `tansu` on `PATH`.
pub fn tansu_binary() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("RIVUS_TOOLS_DIR") {
        candidates.push(PathBuf::from(dir).join("bin/tansu"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(home).join(".cache/rivus-tools/bin/tansu"));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|p| p.join("tansu")));
    }
    candidates.into_iter().find(|p| p.is_file())
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    let l =
        TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:0: {e}"));
    l.local_addr()
        .unwrap_or_else(|e| panic!("no local address: {e}"))
        .port()
}

impl Broker {
    /// The broker of `RIVUS_TEST_KAFKA`, or a new `tansu` broker.
    ///
    /// # Panics
    ///
    /// When neither is available (saying what to install), or `tansu` does not start listening.
    pub fn start() -> Self {
        if let Ok(bootstrap) = std::env::var("RIVUS_TEST_KAFKA")
            && !bootstrap.is_empty()
        {
            return Self {
                bootstrap,
                child: None,
                dir: None,
            };
        }
        let Some(tansu) = tansu_binary() else {
            panic!(
                "no Kafka broker for the tests: run the tests with `./scripts/test`, which installs the `tansu` broker \
                 into ~/.cache/rivus-tools (or set RIVUS_TEST_KAFKA=host:port, or install tansu by hand with \
                 `{INSTALL_TANSU}`, or put `tansu` on PATH or in $RIVUS_TOOLS_DIR/bin)"
            );
        };
        Self::start_tansu(&tansu, free_port())
    }

    /// Starts `tansu` on `port` in a new temp dir.
    fn start_tansu(tansu: &Path, port: u16) -> Self {
        let dir = std::env::temp_dir().join(format!("rivus-tansu-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        Self::start_in(tansu, port, dir)
    }

    fn start_in(tansu: &Path, port: u16, dir: PathBuf) -> Self {
        let url = format!("tcp://127.0.0.1:{port}");
        let log = std::fs::File::create(dir.join("tansu.log"))
            .unwrap_or_else(|e| panic!("cannot create the tansu log: {e}"));
        let err = log
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot clone the tansu log: {e}"));
        let child = Command::new(tansu)
            .current_dir(&dir)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .env_remove("LISTENER_URL")
            .env_remove("ADVERTISED_LISTENER_URL")
            .env_remove("STORAGE_ENGINE")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", tansu.display()));
        let mut broker = Self {
            bootstrap: format!("127.0.0.1:{port}"),
            child: Some(child),
            dir: Some(dir),
        };
        broker.wait_listening();
        broker
    }

    fn wait_listening(&mut self) {
        let addr: SocketAddr = self
            .bootstrap
            .parse()
            .unwrap_or_else(|e| panic!("bad address {}: {e}", self.bootstrap));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("tansu exited with {status}; log: {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "tansu does not listen on {} after 20 s; log: {}",
                self.bootstrap,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The broker's log (empty for a broker we did not start).
    pub fn log(&self) -> String {
        self.dir
            .as_ref()
            .and_then(|d| std::fs::read_to_string(d.join("tansu.log")).ok())
            .unwrap_or_default()
    }

    /// The bootstrap address, `127.0.0.1:PORT`.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// `true` when this broker is a process of ours (it can be stopped and restarted).
    pub fn is_ours(&self) -> bool {
        self.child.is_some()
    }

    /// Kills our broker process (its data stays in the temp dir).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts our broker again on the same port and data.
    ///
    /// # Panics
    ///
    /// For a broker we did not start, or when `tansu` does not come back.
    pub fn restart(&mut self) {
        self.stop();
        let (Some(dir), Some(tansu)) = (self.dir.clone(), tansu_binary()) else {
            panic!("cannot restart a broker that this test did not start");
        };
        let port = self
            .bootstrap
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {}", self.bootstrap));
        let again = Self::start_in(&tansu, port, dir);
        self.child = again.child_taken();
    }

    fn child_taken(mut self) -> Option<Child> {
        self.dir = None;
        self.child.take()
    }

    /// Creates `topic` with `partitions` partitions (the broker does not create topics on use).
    ///
    /// # Panics
    ///
    /// When the broker refuses.
    pub async fn create_topic(&self, topic: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()
            .unwrap_or_else(|e| panic!("cannot create an admin client: {e}"));
        let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        let results = admin
            .create_topics([&new], &opts)
            .await
            .unwrap_or_else(|e| panic!("cannot create topic {topic}: {e}"));
        for r in results {
            if let Err((t, e)) = r {
                panic!("cannot create topic {t}: {e}");
            }
        }
    }

    /// The committed offsets of `group` for partitions `0..partitions` of `topic` (`None`: nothing committed).
    /// Uses OffsetFetch (describing groups is not supported by tansu).
    ///
    /// # Panics
    ///
    /// When the broker does not answer.
    pub fn committed(&self, group: &str, topic: &str, partitions: i32) -> Vec<Option<i64>> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .unwrap_or_else(|e| panic!("cannot create a consumer: {e}"));
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(topic, p);
        }
        let got = consumer
            .committed_offsets(tpl, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("cannot fetch committed offsets: {e}"));
        (0..partitions)
            .map(|p| match got.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => Some(o),
                _ => None,
            })
            .collect()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A name no other test of this run uses: `prefix-PID-N-NANOS`.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The Python client script, `tests/kafka/scripts/kafka_client.py`.
pub fn client_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/kafka_client.py")
}

/// Runs the Python client script (`confluent-kafka`) with `args` and returns its standard output.
///
/// # Panics
///
/// When `python3` or its `confluent_kafka` module is missing (saying `pip install confluent-kafka`), or the
/// script fails.
pub fn python(args: &[&str]) -> String {
    let probe = Command::new("python3")
        .args(["-c", "import confluent_kafka"])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run python3 ({e}): run the tests with `./scripts/test`, which installs Python 3 and \
                 confluent-kafka (or install them by hand)"
            )
        });
    assert!(
        probe.status.success(),
        "the Python client is missing: run the tests with `./scripts/test`, which installs confluent-kafka into \
         ~/.cache/rivus-tools/python, or `pip install confluent-kafka` ({})",
        String::from_utf8_lossy(&probe.stderr)
    );
    let out = Command::new("python3")
        .arg(client_script())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the client script: {e}"));
    assert!(
        out.status.success(),
        "kafka_client.py {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The records of a JSON lines file (none when it does not exist yet).
///
/// # Panics
///
/// On a line that is not JSON.
pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}
