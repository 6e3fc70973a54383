//! Shared by the real-database tests (`tests/db_*.rs`): run `faultline run` against a local
//! etcd, Redis or PostgreSQL that faultline starts on loopback, bounded in time, and read the
//! verdict. A test whose server binary is not installed says so and is skipped (run
//! `scripts/test`, which installs them).

#![allow(dead_code)] // each test file uses some of these helpers

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a bounded run returned.
pub struct DbRun {
    /// Exit code (0 valid, 1 invalid, 2 unknown).
    pub code: i32,
    /// stdout then stderr.
    pub text: String,
    /// The temporary store of [`run`] (kept if the test fails while the run is alive).
    pub store: Option<Store>,
}

/// A temporary `--store` directory that is removed when dropped, except while the test is
/// failing (unwinding from a panic): then it is kept, and its path printed, so that the
/// run's history, run.log and server logs can be inspected (a database anomaly that shows
/// once in many runs cannot be rerun).
pub struct Store {
    dir: Option<tempfile::TempDir>,
}

impl Store {
    /// A fresh temporary directory.
    pub fn new() -> Store {
        Store {
            dir: Some(tempfile::tempdir().expect("a temp dir")),
        }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        self.dir.as_ref().expect("present until dropped").path()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(dir) = self.dir.take() {
                eprintln!(
                    "the test failed: kept the run's store for inspection at {}",
                    dir.keep().display()
                );
            }
        }
    }
}

/// Whether `path` exists; prints a skip note otherwise. Under the test command
/// (`FAULTLINE_REQUIRE_DATABASES=1`, set by `scripts/test` after installing the servers) a
/// missing server fails the test instead of skipping it.
pub fn installed(path: &str) -> bool {
    let ok = Path::new(path).exists();
    if !ok {
        assert!(
            std::env::var_os("FAULTLINE_REQUIRE_DATABASES").is_none(),
            "{path} is not installed, but scripts/test should have installed it"
        );
        eprintln!("SKIPPED: {path} is not installed (scripts/test installs it)");
    }
    ok
}

/// Asserts that a run found the history not linearizable (exit 1): the stale read the test
/// provoked.
pub fn assert_stale_read(r: &DbRun) {
    assert_eq!(r.code, 1, "expected a stale read:\n{}", head(&r.text));
    assert!(r.text.contains("not linearizable"), "{}", head(&r.text));
}

/// Runs `faultline run ARGS --store <tmp>` and kills it (failing the test) after `limit`. The
/// temporary store lives as long as the returned run and is kept if the test fails meanwhile.
pub fn run(args: &[&str], limit: Duration) -> DbRun {
    let store = Store::new();
    let mut r = run_in(store.path(), args, limit);
    r.text = format!("(store: {})\n{}", store.path().display(), r.text);
    r.store = Some(store);
    r
}

/// Runs `faultline run ARGS --store STORE` and kills it (failing the test) after `limit`.
pub fn run_in(store: &Path, args: &[&str], limit: Duration) -> DbRun {
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("run")
        .args(args)
        .arg("--store")
        .arg(store)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("faultline starts");
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("faultline run {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut text = String::from_utf8_lossy(&out.join().unwrap()).into_owned();
    text.push_str(&String::from_utf8_lossy(&err.join().unwrap()));
    DbRun {
        code: status.code().unwrap_or(-1),
        text,
        store: None,
    }
}

/// The first lines of a run's output, for assertion messages.
pub fn head(text: &str) -> String {
    text.lines().take(60).collect::<Vec<_>>().join("\n")
}
