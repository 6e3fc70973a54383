//! `faultline serve`: lists the runs of a store directory with their verdicts, serves their
//! files, and refuses every path that would leave the store (`..` plain or percent-encoded,
//! empty segments, symlinks pointing outside). Traffic stays on 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The server process, killed when the test ends.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(store: &std::path::Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["serve", "--port", "0", "--store"])
        .arg(store)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    Server { child, port }
}

/// Sends `GET path` exactly as written (no client-side normalisation); returns status and body.
fn get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    s.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A store with one invalid run (written by `check --out`, plus its history) and a secret
/// file next to the store.
fn store() -> (tempfile::TempDir, std::path::PathBuf) {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("secret.txt"), "do not serve").unwrap();
    let store = root.path().join("store");
    let run = store.join("demo-register").join("20260101T000000");
    std::fs::create_dir_all(&run).unwrap();
    let history = run.join("history.jsonl");
    std::fs::copy(
        format!(
            "{}/fixtures/register-stale-read.jsonl",
            env!("CARGO_MANIFEST_DIR")
        ),
        &history,
    )
    .unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["check", "--model", "register", "--out"])
        .arg(&run)
        .arg(&history)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1));
    std::os::unix::fs::symlink(root.path(), store.join("escape")).unwrap();
    std::os::unix::fs::symlink(root.path().join("secret.txt"), run.join("secret-link")).unwrap();
    (root, store)
}

#[test]
fn serve_lists_runs_with_their_verdicts_and_serves_their_files() {
    let (_root, store) = store();
    let server = start(&store);
    let (status, body) = get(server.port, "/");
    assert_eq!(status, 200);
    assert!(body.contains("demo-register/20260101T000000"), "{body}");
    assert!(body.contains("class=\"invalid\""), "{body}");
    let (status, body) = get(server.port, "/runs.json");
    assert_eq!(status, 200);
    let runs: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(runs["runs"][0]["valid"], false);
    let (status, body) = get(server.port, "/demo-register/20260101T000000/report.html");
    assert_eq!(status, 200);
    assert!(body.contains("<script id=\"data\""));
    let (status, _) = get(server.port, "/demo-register/20260101T000000/latency.svg");
    assert_eq!(status, 200);
    let (status, _) = get(server.port, "/demo-register/20260101T000000/nothing-here");
    assert_eq!(status, 404);
}

#[test]
fn serve_refuses_paths_that_leave_the_store() {
    let (_root, store) = store();
    let server = start(&store);
    for path in [
        "/../secret.txt",
        "/demo-register/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/.%2e/secret.txt",
        "/demo-register/..%2f..%2fsecret.txt",
        "/demo-register/..%2F..%2Fsecret.txt",
        "/%252e%252e/secret.txt",
        "/..%5csecret.txt",
        "//secret.txt",
        "/%2fsecret.txt",
        "/./secret.txt",
        "/escape/secret.txt",
        "/demo-register/20260101T000000/secret-link",
    ] {
        let (status, body) = get(server.port, path);
        assert!(
            status == 400 || status == 403 || status == 404,
            "{path} gave {status}: {body}"
        );
        assert!(
            !body.contains("do not serve"),
            "{path} leaked the file outside the store"
        );
    }
}

#[test]
fn serve_without_a_store_directory_is_bad_usage() {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["serve", "--port", "0", "--store"])
        .arg(dir.path().join("missing"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(254));
}
