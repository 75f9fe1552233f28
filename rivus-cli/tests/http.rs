//! The HTTP plugins through `rivus`: listed and described with every option; the example webhook -> JSON lines
//! pipeline driven by `curl`; and the example CSV -> `http` sink pipeline posting to that webhook, where secrets
//! from `${ENV}` never show.

#![cfg(feature = "http")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn rivus() -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("rivus"));
    // The example files name paths from the workspace's root.
    cmd.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    cmd
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `curl` with `args`: the status code and the body.
fn curl(args: &[&str], body: Option<&str>) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-o", "-", "-w", "\n%{http_code}"])
        .args(args);
    if body.is_some() {
        cmd.args(["--data-binary", "@-"]).stdin(Stdio::piped());
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the HTTP CLI tests need `curl` (Debian: apt-get install curl)");
    if let Some(body) = body {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(body.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// Waits until something answers HTTP on `port` (a guard against a hung start, not a timing assertion).
fn wait_for_http(port: u16, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = format!("http://127.0.0.1:{port}/");
    while curl(&["-X", "GET", &url], None).0 == 0 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("rivus ended before it listened: {status}");
        }
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait(mut child: Child) -> Output {
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("rivus did not end: {:?}", child.wait_with_output().unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ids(path: &Path) -> Vec<u64> {
    let mut ids: Vec<u64> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    ids.sort_unstable();
    ids
}

/// Starts `examples/pipelines/webhook_to_jsonl.toml` on `port`, writing under `out_dir`, with its token set.
fn start_webhook(port: u16, out_dir: &Path) -> Child {
    let mut child = rivus()
        .args(["run", "examples/pipelines/webhook_to_jsonl.toml"])
        .env("HOOK_ADDRESS", format!("127.0.0.1:{port}"))
        .env("HOOK_TOKEN", "s3cret-hook")
        .env("RIVUS_OUT", out_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_http(port, &mut child);
    child
}

/// The numbers of the summary's ledger line `read N = written N + filtered N + ...`, by name.
fn ledger(output: &str) -> std::collections::HashMap<String, u64> {
    let line = output
        .lines()
        .find(|l| l.trim_start().starts_with("read "))
        .unwrap_or_else(|| panic!("no ledger line in:\n{output}"));
    line.split(['=', '+'])
        .filter_map(|part| {
            let (name, n) = part.trim().rsplit_once(' ')?;
            Some((name.to_owned(), n.parse().ok()?))
        })
        .collect()
}

#[test]
fn list_and_describe_show_the_http_plugins_with_every_option() {
    let listed = rivus().arg("list").output().unwrap();
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(
        listed.lines().any(|l| l.starts_with("async_sink    http ")),
        "{listed}"
    );
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("async_source  webhook ")),
        "{listed}"
    );
    for (name, options) in [
        (
            "http",
            &[
                "url",
                "method",
                "format",
                "batch_size",
                "batch_bytes",
                "headers",
                "timeout",
                "connect_timeout",
                "max_in_flight",
                "max_retry_after",
                "split_on",
            ][..],
        ),
        (
            "webhook",
            &[
                "address",
                "path",
                "token",
                "max_body_bytes",
                "max_queued",
                "retry_after_secs",
                "respond",
            ][..],
        ),
    ] {
        let out = rivus().args(["describe", name, "--json"]).output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let fields = json[0]["fields"].as_array().unwrap();
        let mut names: Vec<&str> = fields.iter().map(|f| f["name"].as_str().unwrap()).collect();
        names.sort_unstable();
        let mut expected = options.to_vec();
        expected.sort_unstable();
        assert_eq!(names, expected, "{name}");
        for f in fields {
            let doc = f["description"].as_str().unwrap_or("");
            assert!(doc.len() > 20, "{name}.{}: {doc:?}", f["name"]);
        }
    }
}

#[test]
fn a_webhook_to_json_lines_driven_by_curl() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let port = free_port();
    let child = start_webhook(port, dir.path());
    let url = format!("http://127.0.0.1:{port}/events");
    let auth = "Authorization: Bearer s3cret-hook";

    let lines = "{\"id\":1,\"kind\":\"order\"}\n{\"id\":2,\"kind\":\"order\"}\n{\"id\":3}\n";
    assert_eq!(
        curl(
            &["-H", auth, "-H", "Content-Type: application/x-ndjson", &url],
            Some(lines)
        ),
        (200, r#"{"records":3}"#.to_owned())
    );
    assert_eq!(
        curl(
            &["-X", "PUT", "-H", auth, &url],
            Some(r#"[{"id":4},{"id":5}]"#)
        ),
        (200, r#"{"records":2}"#.to_owned())
    );
    // Answered 200 means written: the file holds them now, before the run ends.
    assert_eq!(ids(&out), [1, 2, 3, 4, 5]);
    // Refused: a wrong token, a malformed body; neither takes anything.
    let (status, body) = curl(
        &["-H", "Authorization: Bearer nope", &url],
        Some("{\"id\":6}"),
    );
    assert_eq!(status, 401, "{body}");
    let (status, body) = curl(&["-H", auth, &url], Some("{\"id\":7}\n{\"id\":"));
    assert_eq!(status, 400);
    assert!(body.contains("line 2"), "{body}");

    sigterm(&child);
    let done = wait(child);
    let all = text(&done);
    // A webhook has no end: a signal stops it (interrupted, drained).
    assert_eq!(done.status.code(), Some(130), "{all}");
    assert_eq!(ledger(&all)["written"], 5, "{all}");
    assert!(!all.contains("s3cret-hook"), "{all}");
    assert_eq!(ids(&out), [1, 2, 3, 4, 5]);
}

/// Runs `examples/pipelines/orders_to_http.toml` against the webhook on `port`, with `token`.
fn send_orders(port: u16, token: &str, out_dir: &Path) -> Output {
    rivus()
        .args(["run", "examples/pipelines/orders_to_http.toml"])
        .env("API_URL", format!("http://127.0.0.1:{port}/events"))
        .env("API_TOKEN", token)
        .env("RIVUS_OUT", out_dir)
        .output()
        .unwrap()
}

#[test]
fn the_example_http_sink_posts_to_the_example_webhook_and_keeps_its_token_secret() {
    let dir = tempfile::tempdir().unwrap();
    let hook_dir = dir.path().join("hook");
    let received = hook_dir.join("events.jsonl");
    let port = free_port();
    let hook = start_webhook(port, &hook_dir);

    let sent = send_orders(port, "s3cret-hook", dir.path());
    let all = text(&sent);
    assert!(sent.status.success(), "{all}");
    let counts = ledger(&all);
    // Every paid order is in the webhook's file, once; the malformed CSV rows are in the dead-letter file.
    let orders: Vec<u64> = std::fs::read_to_string(&received)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["order_id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    let unique: std::collections::HashSet<_> = orders.iter().collect();
    assert!(counts["written"] > 1000, "{all}");
    assert_eq!(orders.len() as u64, counts["written"], "{all}");
    assert_eq!(unique.len(), orders.len());
    assert!(counts["dead-lettered"] > 0, "{all}");

    // The wrong token: every order refused (401) and dead-lettered with the status; the token never shows.
    let wrong = send_orders(port, "s3cret-wrong", &dir.path().join("wrong"));
    let all = text(&wrong);
    assert!(wrong.status.success(), "{all}");
    let refused = ledger(&all);
    assert_eq!(refused["written"], 0, "{all}");
    assert_eq!(
        refused["dead-lettered"],
        counts["written"] + counts["dead-lettered"],
        "{all}"
    );
    assert!(!all.contains("s3cret"), "{all}");
    let letters =
        std::fs::read_to_string(dir.path().join("wrong/orders-to-api.rejected.jsonl")).unwrap();
    assert!(letters.contains("HTTP 401 Unauthorized"), "{letters}");
    assert!(!letters.contains("s3cret"), "{letters}");
    // Nothing more arrived.
    assert_eq!(
        std::fs::read_to_string(&received).unwrap().lines().count(),
        orders.len()
    );

    sigterm(&hook);
    let done = wait(hook);
    assert!(!text(&done).contains("s3cret"), "{}", text(&done));
}

#[test]
fn the_example_files_are_valid() {
    for (file, var) in [
        ("examples/pipelines/webhook_to_jsonl.toml", "HOOK_TOKEN"),
        ("examples/pipelines/orders_to_http.toml", "API_TOKEN"),
    ] {
        let out = rivus()
            .args(["validate", file])
            .env(var, "x")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }
}
