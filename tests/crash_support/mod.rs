//! Helpers for the crash-safety and misbehaving-server tests (`crash.rs`, `misbehaving.rs`):
//! bounded child processes, signals, a small deterministic random source, and checks that
//! processes and listeners are gone (read from `/proc` and by connecting on loopback).

#![allow(dead_code)]

pub mod chaos;

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

#[allow(unused_imports)]
pub use crate::common::bounded::{run_bounded, wait_bounded};
/// The path of the built `faultline` binary.
pub use crate::common::faultline as faultline_path;

/// A command running the built `faultline`.
pub fn faultline() -> Command {
    Command::new(faultline_path())
}

/// Exit code and both outputs, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Sends `sig` to process `pid` (which this test started and has not reaped).
pub fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) with a pid we own and a valid signal number has no memory effects.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig})");
}

/// A linear congruential generator: random delays that are printed and reproducible.
pub struct Lcg {
    /// The seed it started from.
    pub seed: u64,
    state: u64,
}

impl Lcg {
    /// Seeded from the clock.
    pub fn from_clock() -> Lcg {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(7)
            % 1_000_000;
        Lcg { seed, state: seed }
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        self.state = self
            .state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.state >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The newest run directory under `store`, waiting for it (bounded).
pub fn wait_for_latest(store: &Path, limit: Duration) -> PathBuf {
    let start = Instant::now();
    loop {
        if let Ok(dir) = std::fs::canonicalize(store.join("latest")) {
            return dir;
        }
        assert!(start.elapsed() < limit, "no run started under {store:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until `path` contains `needle` (bounded).
pub fn wait_for_text(path: &Path, needle: &str, limit: Duration) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if std::fs::read_to_string(path).is_ok_and(|t| t.contains(needle)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{} never contained {needle:?}", path.display());
}

/// Whether process `pid` is alive and running a demo node (not a zombie, not a reused pid).
fn is_live_node(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|s| s.split_whitespace().next());
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    matches!(state, Some(s) if s != "Z")
        && String::from_utf8_lossy(&cmdline).contains("serve-demo-node")
}

/// Fails unless process `pid` is gone (or a zombie) within `limit`.
pub fn assert_gone(pid: u32, limit: Duration) {
    let start = Instant::now();
    while is_live_node(pid) {
        assert!(start.elapsed() < limit, "demo node pid {pid} survived");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Live processes (not zombies) whose command line contains `text`.
pub fn processes_mentioning(text: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(text) && pid != std::process::id() {
            found.push((pid, cmdline));
        }
    }
    found
}

/// Fails if, after `limit`, some process still mentions `text` on its command line (every
/// node of a run has its data directory under the run's store).
pub fn assert_no_process_mentions(text: &str, limit: Duration) {
    let start = Instant::now();
    loop {
        let left = processes_mentioning(text);
        if left.is_empty() {
            return;
        }
        assert!(start.elapsed() < limit, "processes survived: {left:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Fails if something of the killed run still accepts connections at `addr`.
///
/// Waits up to 5 s for the port to close. A port that still listens then is a failure when
/// its owner is unknown or mentions `run_dir` (the killed run's store); when its owner is an
/// unrelated process (tests run in parallel, and a freed ephemeral port may be handed to
/// another test's node at once) the port was reused, not leaked, and it is only logged.
pub fn assert_not_listening(addr: &str, run_dir: &str) {
    let a: SocketAddr = addr.parse().unwrap();
    let start = Instant::now();
    loop {
        if TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_err() {
            return;
        }
        if start.elapsed() > Duration::from_secs(5) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    match listener_owner(a.port()) {
        Some((pid, cmdline)) if !cmdline.contains(run_dir) => {
            eprintln!("{addr}: port reused by an unrelated process {pid}: {cmdline}");
        }
        owner => panic!("{addr} still listens (owner: {owner:?})"),
    }
}

/// The pid and command line of the process listening on TCP `port` (IPv4 or IPv6), if
/// /proc tells.
fn listener_owner(port: u16) -> Option<(u32, String)> {
    let inode = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .find_map(|table| {
            let text = std::fs::read_to_string(table).ok()?;
            text.lines().skip(1).find_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let local_port = fields.get(1)?.rsplit(':').next()?;
                let listening = *fields.get(3)? == "0A";
                (listening && u16::from_str_radix(local_port, 16).ok()? == port)
                    .then(|| fields.get(9).map(|s| s.to_string()))
                    .flatten()
            })
        })?;
    let target = format!("socket:[{inode}]");
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let owns = fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy() == target));
        if owns {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            return Some((pid, cmdline));
        }
    }
    None
}

/// Node pids from run.log's `demo store processes: n1 pid P peer A, …` line.
pub fn node_pids(log: &str) -> Vec<u32> {
    processes_line(log)
        .split(", ")
        .filter_map(|n| n.split(" pid ").nth(1)?.split(' ').next()?.parse().ok())
        .collect()
}

/// Node peer addresses from the same line.
pub fn node_peer_addrs(log: &str) -> Vec<String> {
    processes_line(log)
        .split(", ")
        .filter_map(|n| n.split(" peer ").nth(1).map(str::to_string))
        .collect()
}

/// Link-proxy addresses from the same line (after `link proxies:`).
pub fn proxy_addrs(log: &str) -> Vec<String> {
    log.lines()
        .find_map(|l| l.split("link proxies: ").nth(1))
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

fn processes_line(log: &str) -> &str {
    log.lines()
        .find_map(|l| l.split("demo store processes: ").nth(1))
        .and_then(|s| s.split("; link proxies").next())
        .unwrap_or("")
}

/// Node http addresses from run.log's `demo store up: n1=http://A …` line.
pub fn node_http_addrs(log: &str) -> Vec<String> {
    log.lines()
        .find_map(|l| l.split("demo store up: ").nth(1))
        .map(|s| {
            s.split_whitespace()
                .filter_map(|w| w.split("http://").nth(1).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
