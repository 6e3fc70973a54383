//! `faultline serve`: lists the runs of a store directory with their verdicts, serves their
//! files, and refuses every path that would leave the store (`..` plain or percent-encoded,
//! empty segments, symlinks pointing outside); refuses huge requests fast with bounded memory
//! and keeps answering while hundreds of slowloris clients trickle headers. Traffic stays on
//! 127.0.0.1.

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
        "/%2e%2e%2fsecret.txt",
        "/%5c..%5csecret.txt",
        "/..\\secret.txt",
        "/%00",
        "/demo-register/%00/secret.txt",
        "/%2fetc%2fpasswd",
        "/etc/passwd",
        "/%25252e%25252e/secret.txt",
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

/// Sends raw bytes, then reads the response (at most 10 s); returns its status (0: none) and
/// how long it took.
fn raw(port: u16, request: &[u8]) -> (u16, Duration) {
    let started = std::time::Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    // The server may answer and close before taking everything: a failed write is fine.
    let _ = s.write_all(request);
    let mut response = Vec::new();
    let _ = s.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, started.elapsed())
}

/// The server's resident memory in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

#[test]
fn serve_refuses_huge_requests_fast_with_bounded_memory() {
    let (_root, store) = store();
    let server = start(&store);
    let pid = server.child.id();
    let giant_uri = format!(
        "GET /{} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let giant_header = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\n\r\n",
        "b".repeat(1 << 20)
    );
    let many_headers = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n{}\r\n",
        (0..500)
            .map(|i| format!("X-H{i}: v\r\n"))
            .collect::<String>()
    );
    let mut big_body =
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10000000000\r\n\r\n".to_vec();
    big_body.extend(vec![b'x'; 4 << 20]);
    let mut get_body =
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 50000000\r\n\r\n".to_vec();
    get_body.extend(vec![b'x'; 4 << 20]);
    let chunked =
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nffffff\r\nxx"
            .to_vec();
    for (what, request) in [
        ("a 1 MiB URI", giant_uri.into_bytes()),
        ("a 1 MiB header", giant_header.into_bytes()),
        ("500 headers", many_headers.into_bytes()),
        ("a 10 GB POST body", big_body),
        ("a 50 MB GET body", get_body),
        ("a chunked GET body", chunked),
    ] {
        let (status, took) = raw(server.port, &request);
        assert!(
            (400..500).contains(&status),
            "{what}: expected a 4xx, got {status}"
        );
        assert!(took < Duration::from_secs(3), "{what} took {took:?}");
    }
    // Ten giant requests in parallel do not make the server hold on to them.
    let threads: Vec<_> = (0..10)
        .map(|_| {
            let port = server.port;
            std::thread::spawn(move || {
                let big = format!(
                    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\n\r\n",
                    "c".repeat(4 << 20)
                );
                raw(port, big.as_bytes())
            })
        })
        .collect();
    for t in threads {
        let (status, _) = t.join().unwrap();
        assert!((400..500).contains(&status) || status == 0);
    }
    let rss = rss_kib(pid);
    assert!(
        rss < 64 * 1024,
        "the server holds {rss} KiB after huge requests"
    );
    let (status, _) = get(server.port, "/runs.json");
    assert_eq!(status, 200, "the server still answers");
}

#[test]
fn serve_answers_promptly_while_slowloris_clients_trickle_headers() {
    let (_root, store) = store();
    let server = start(&store);
    let port = server.port;
    // 300 clients each sending their request head one byte at a time, never finishing.
    let mut slow: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    let head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let trickle = {
        let stop = stop.clone();
        let mut conns: Vec<TcpStream> = slow.iter().map(|s| s.try_clone().unwrap()).collect();
        std::thread::spawn(move || {
            let mut i = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for c in conns.iter_mut() {
                    let _ = c.write_all(&[head.get(i).copied().unwrap_or(b'z')]);
                }
                i += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let (status, _) = get(port, "/runs.json");
        assert_eq!(status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "a normal request took {:?} among 300 slow clients",
            started.elapsed()
        );
    }
    // The header read timeout (5 s) closes the slow clients even though they keep sending.
    std::thread::sleep(Duration::from_secs(7));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    trickle.join().unwrap();
    let mut closed = 0;
    for s in slow.iter_mut() {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0u8; 256];
        match s.read(&mut buf) {
            Ok(_) => closed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => closed += 1,
            Err(_) => {}
        }
    }
    assert_eq!(
        closed,
        slow.len(),
        "slow clients left connected past the header timeout"
    );
}
