//! `--nemesis lose-unfsynced` end to end on the demo store, local Redis, etcd and PostgreSQL:
//! faultline's FUSE filesystem under every node's data directory forgets what was not fsynced
//! when the nodes are killed. With `--fsync never` (Redis: `--redis-appendfsync no`)
//! acknowledged writes are lost (invalid, the read that lost them named); with `--fsync always`
//! (`always`), and etcd and PostgreSQL with their default durability, none are (valid). Mounts are gone after the run, after Ctrl-C, and after a
//! SIGKILL of faultline once `faultline heal` ran. Targets that cannot do it refuse (254).
//!
//! Needs /dev/fuse and root or fusermount3 (Debian fuse3); these tests run one at a time.

mod common;

use common::bounded::{run_bounded, wait_bounded};

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Runs that mount FUSE filesystems, one at a time (2 cores, and the heal test must not see
/// another test's mounts die).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn faultline() -> Command {
    Command::new(common::faultline())
}

fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn latest(store: &Path) -> PathBuf {
    std::fs::canonicalize(store.join("latest")).expect("a store/latest link")
}

fn history(store: &Path) -> Vec<Value> {
    std::fs::read_to_string(latest(store).join("history.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The mount points of faultline FUSE mounts under `dir` (from /proc/self/mountinfo).
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    text.lines()
        .filter(|l| l.contains("faultline-lazyfs"))
        .filter_map(|l| l.split(' ').nth(4).map(PathBuf::from))
        .filter(|p| p.starts_with(dir))
        .collect()
}

fn run_args(fsync: &str) -> Vec<String> {
    [
        "run",
        "--target",
        "demo",
        "--mode",
        "sync",
        "--workload",
        "register",
        "--nemesis",
        "lose-unfsynced",
        "--fsync",
        fsync,
        "--seed",
        "1",
        "--nemesis-interval",
        "2",
        "--nemesis-hold",
        "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Lost bytes recorded in the `lost` of every lose-unfsynced completion, over all nodes.
fn lost_log_bytes(ops: &[Value]) -> u64 {
    ops.iter()
        .filter(|o| o["process"] == "nemesis" && o["f"] == "lose-unfsynced")
        .filter_map(|o| o["value"]["lost"].as_object())
        .flat_map(|nodes| nodes.values())
        .filter_map(|files| files["log.bin"].as_u64())
        .sum()
}

#[test]
fn fsync_never_under_kill_and_lose_unfsynced_loses_acknowledged_writes_named_in_the_verdict() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let store = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = run_bounded(
        faultline()
            .args(run_args("never"))
            .args(["--time-limit", "8", "--store"])
            .arg(store.path()),
        Duration::from_secs(90),
    );
    eprintln!("fsync never: {:?}", started.elapsed());
    let text = describe(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("not linearizable"), "{text}");
    // The lost write shows as a read of the initial value after it was acknowledged.
    assert!(
        text.contains("read → null"),
        "the read that lost a write: {text}"
    );
    assert!(text.contains("lose-unfsynced ×"), "faults line: {text}");
    let ops = history(store.path());
    assert!(
        lost_log_bytes(&ops) > 0,
        "a lose-unfsynced records the unsynced log bytes it dropped"
    );
    // Every acknowledged write before the first loss is gone: some key read null after it had
    // an ok write before the loss.
    let first_loss = ops
        .iter()
        .find(|o| o["process"] == "nemesis" && o["f"] == "lose-unfsynced")
        .and_then(|o| o["time"].as_i64())
        .expect("a lose-unfsynced op");
    let null_read_after = ops.iter().any(|o| {
        o["type"] == "ok"
            && o["f"] == "read"
            && o["value"].is_null()
            && o["time"].as_i64().unwrap_or(0) > first_loss
    });
    assert!(null_read_after, "a read of null after the loss");
    assert!(
        mounts_under(store.path()).is_empty(),
        "mounts left after the run"
    );
}

#[test]
fn fsync_always_under_kill_and_lose_unfsynced_keeps_every_acknowledged_write() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let store = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = run_bounded(
        faultline()
            .args(run_args("always"))
            .args(["--time-limit", "8", "--store"])
            .arg(store.path()),
        Duration::from_secs(90),
    );
    eprintln!("fsync always: {:?}", started.elapsed());
    let text = describe(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("lose-unfsynced ×"), "faults line: {text}");
    let ops = history(store.path());
    let losses = ops
        .iter()
        .filter(|o| o["process"] == "nemesis" && o["f"] == "lose-unfsynced")
        .filter(|o| o["value"]["lost"].is_object())
        .count();
    assert!(
        losses >= 2,
        "at least two kills + losses happened: {losses}"
    );
    assert!(
        mounts_under(store.path()).is_empty(),
        "mounts left after the run"
    );
}

#[test]
fn lose_unfsynced_combined_with_partition_and_kill_on_fsync_always_stays_valid() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let store = tempfile::tempdir().unwrap();
    let out = run_bounded(
        faultline()
            .args([
                "run", "--target", "demo", "--fsync", "always", "--seed", "4",
            ])
            .args(["--nemesis", "partition,kill,lose-unfsynced"])
            .args([
                "--nemesis-interval",
                "1",
                "--nemesis-hold",
                "1",
                "--time-limit",
                "8",
            ])
            .arg("--store")
            .arg(store.path()),
        Duration::from_secs(90),
    );
    let text = describe(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("lose-unfsynced ×"), "{text}");
    assert!(text.contains("partition ×"), "{text}");
    // A lane never loses the data of a node another lane holds down: kills and losses of the
    // same node never overlap.
    let ops = history(store.path());
    let mut down: std::collections::BTreeSet<String> = Default::default();
    for o in ops
        .iter()
        .filter(|o| o["process"] == "nemesis" && o["type"] == "info")
    {
        let nodes: Vec<String> = match o["f"].as_str() {
            Some("kill") | Some("restart") => vec![o["value"].as_str().unwrap_or("").into()],
            Some("lose-unfsynced") | Some("restart-unfsynced") => o["value"]["nodes"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
            _ => continue,
        };
        // Each op is recorded twice (invocation, completion): count starts on the first.
        let starts = matches!(o["f"].as_str(), Some("kill") | Some("lose-unfsynced"));
        if starts && o["value"].get("lost").is_none() && o["f"] == "lose-unfsynced" {
            for n in &nodes {
                assert!(!down.contains(n), "{n} lost its data while killed: {o}");
            }
        }
        for n in nodes {
            if starts {
                down.insert(n);
            } else {
                down.remove(&n);
            }
        }
    }
    assert!(mounts_under(store.path()).is_empty());
}

/// Runs local Redis (a primary, 2 replicas) with the append-only file fsynced as `policy`
/// under kill + lose-unfsynced.
fn run_redis(store: &Path, policy: &str) -> Output {
    run_bounded(
        faultline()
            .args(["run", "--target", "redis", "--workload", "register"])
            .args(["--nemesis", "lose-unfsynced", "--redis-appendfsync", policy])
            .args([
                "--seed",
                "1",
                "--nemesis-interval",
                "2",
                "--nemesis-hold",
                "1",
            ])
            .args(["--time-limit", "8", "--store"])
            .arg(store),
        Duration::from_secs(90),
    )
}

#[test]
fn redis_appendfsync_no_under_kill_and_lose_unfsynced_loses_acknowledged_writes() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let store = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = run_redis(store.path(), "no");
    eprintln!("redis appendfsync no: {:?}", started.elapsed());
    let text = describe(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("not linearizable"), "{text}");
    assert!(
        text.contains("read → null"),
        "the read that lost a write: {text}"
    );
    assert!(
        mounts_under(store.path()).is_empty(),
        "mounts left after the run"
    );
}

#[test]
fn redis_appendfsync_always_under_kill_and_lose_unfsynced_keeps_every_acknowledged_write() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let store = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = run_redis(store.path(), "always");
    eprintln!("redis appendfsync always: {:?}", started.elapsed());
    let text = describe(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("lose-unfsynced ×"), "faults line: {text}");
    assert!(
        mounts_under(store.path()).is_empty(),
        "mounts left after the run"
    );
}

/// Whether `path` exists; prints a skip note otherwise. Under the test command
/// (`FAULTLINE_REQUIRE_DATABASES=1`, set by `scripts/test` after installing the servers) a
/// missing server fails the test instead of skipping it.
fn installed(path: &str) -> bool {
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

/// What the lose-unfsynced completions of a history dropped: (losses, total bytes, the
/// `lost` values as text).
fn losses(ops: &[Value]) -> (usize, u64, String) {
    let lost: Vec<&Value> = ops
        .iter()
        .filter(|o| o["process"] == "nemesis" && o["f"] == "lose-unfsynced")
        .filter_map(|o| o["value"].get("lost"))
        .collect();
    let bytes = lost
        .iter()
        .filter_map(|l| l.as_object())
        .flat_map(|nodes| nodes.values())
        .filter_map(|files| files.as_object())
        .flat_map(|files| files.values())
        .filter_map(Value::as_u64)
        .sum();
    let text = lost.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    (lost.len(), bytes, text.join("\n"))
}

/// Asserts what a database run with its default durability under kill + lose-unfsynced must
/// show: valid, at least one kill + loss that dropped bytes and a restart after it, and no
/// mount left.
fn assert_kept_every_acknowledged_write(store: &Path, out: &Output) {
    let text = describe(out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("lose-unfsynced ×"), "faults line: {text}");
    let ops = history(store);
    let (count, bytes, lost) = losses(&ops);
    eprintln!("{count} losses, {bytes} unsynced bytes dropped:\n{lost}");
    assert!(count >= 1, "no kill + lose-unfsynced happened: {text}");
    assert!(
        bytes > 0,
        "no loss dropped a byte, so the run proves nothing: {lost}\n{text}"
    );
    let restarted = ops
        .iter()
        .any(|o| o["process"] == "nemesis" && o["f"] == "restart-unfsynced");
    assert!(restarted, "the killed nodes were restarted: {text}");
    // Acknowledged writes after the restart: the database served on the synced state.
    let first_restart = ops
        .iter()
        .filter(|o| o["process"] == "nemesis" && o["f"] == "restart-unfsynced")
        .filter_map(|o| o["time"].as_i64())
        .next();
    let ok_after = ops.iter().any(|o| {
        o["type"] == "ok" && o["process"] != "nemesis" && o["time"].as_i64() > first_restart
    });
    assert!(ok_after, "no operation succeeded after a restart: {text}");
    assert!(mounts_under(store).is_empty(), "mounts left after the run");
}

/// Runs `--target TARGET --workload register` under lose-unfsynced alone.
fn run_database(store: &Path, target: &str) -> Output {
    run_bounded(
        faultline()
            .args(["run", "--target", target, "--workload", "register"])
            .args(["--nemesis", "lose-unfsynced"])
            .args([
                "--seed",
                "1",
                "--nemesis-interval",
                "3",
                "--nemesis-hold",
                "1",
            ])
            .args(["--time-limit", "12", "--store"])
            .arg(store),
        Duration::from_secs(150),
    )
}

#[test]
fn etcd_with_its_default_durability_under_kill_and_lose_unfsynced_keeps_every_acknowledged_write() {
    if !installed("/usr/bin/etcd") {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let store = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = run_database(store.path(), "etcd");
    eprintln!("etcd: {:?}", started.elapsed());
    assert_kept_every_acknowledged_write(store.path(), &out);
}

#[test]
fn postgres_with_fsync_and_synchronous_commit_on_under_kill_and_lose_unfsynced_keeps_every_acknowledged_write(
) {
    if !installed("/usr/lib/postgresql/15/bin/postgres") {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let store = tempfile::tempdir().unwrap();
    // Searchable by the postgres user, so the data directory (and its mount) stay in the store.
    std::fs::set_permissions(store.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let started = Instant::now();
    let out = run_database(store.path(), "postgres");
    eprintln!("postgres: {:?}", started.elapsed());
    assert_kept_every_acknowledged_write(store.path(), &out);
}

/// Starts a long lose-unfsynced run and waits until its 3 mounts exist.
fn start_long_run(store: &Path) -> std::process::Child {
    let child = faultline()
        .args(run_args("never"))
        .args(["--time-limit", "60", "--store"])
        .arg(store)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while mounts_under(store).len() < 3 {
        assert!(
            Instant::now() < deadline,
            "the run mounted no FUSE filesystems"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let a loss or two happen.
    std::thread::sleep(Duration::from_secs(3));
    child
}

#[test]
fn sigkill_of_faultline_leaves_its_fuse_mounts_and_heal_detaches_them() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let store = tempfile::tempdir().unwrap();
    let mut child = start_long_run(store.path());
    // SAFETY: kill(2) on our own child, not yet reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
    let _ = child.wait();
    let left = mounts_under(store.path());
    assert_eq!(
        left.len(),
        3,
        "a SIGKILLed faultline leaves its mounts: {left:?}"
    );
    let out = run_bounded(faultline().arg("heal"), Duration::from_secs(30));
    let text = describe(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("dead faultline FUSE mount detached"),
        "{text}"
    );
    assert!(
        mounts_under(store.path()).is_empty(),
        "heal left mounts: {:?}",
        mounts_under(store.path())
    );
    // The synced state stays in the backing directories.
    assert!(latest(store.path()).join("n1.disk").is_dir());
}

#[test]
fn ctrl_c_during_a_lose_unfsynced_run_unmounts_every_fuse_mount() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let store = tempfile::tempdir().unwrap();
    let child = start_long_run(store.path());
    // SAFETY: kill(2) on our own child, not yet reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let out = wait_bounded(child, Duration::from_secs(40));
    assert!(
        mounts_under(store.path()).is_empty(),
        "Ctrl-C left mounts: {:?}\n{}",
        mounts_under(store.path()),
        describe(&out)
    );
}

#[test]
fn lose_unfsynced_on_a_target_that_cannot_is_refused_before_the_run_naming_both() {
    // Redis without --redis-appendfsync keeps nothing on disk: refused too.
    // PostgreSQL with replicas: only the single local server has the mount; etcd on SSH
    // hosts: faultline mounts nothing there (refused before connecting).
    let cases: [(&str, &[&str]); 4] = [
        ("redis", &[]),
        ("postgres", &["--replicas", "1"]),
        ("etcd", &["--ssh-nodes", "192.0.2.1,192.0.2.2,192.0.2.3"]),
        ("local", &[]),
    ];
    for (target, extra) in cases {
        let store = tempfile::tempdir().unwrap();
        let out = run_bounded(
            faultline()
                .args(["run", "--target", target, "--nemesis", "lose-unfsynced"])
                .args(extra)
                .arg("--store")
                .arg(store.path()),
            Duration::from_secs(30),
        );
        let text = describe(&out);
        assert_eq!(out.status.code(), Some(254), "{target}: {text}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("--target {target}")) && err.contains("lose-unfsynced"),
            "{target}: {text}"
        );
        assert!(
            std::fs::read_dir(store.path()).unwrap().next().is_none(),
            "{target}: nothing ran"
        );
    }
}

#[test]
fn lazyfs_keeps_what_was_fsynced_and_forgets_the_rest_after_a_loss() {
    use std::io::Write;
    use workloads::nemesis::lazyfs::LazyMount;
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (mnt, backing) = (dir.path().join("m"), dir.path().join("m.disk"));
    let mount = LazyMount::mount(&mnt, &backing).unwrap();
    assert_eq!(mounts_under(dir.path()), vec![mnt.clone()]);

    // a: synced "hello", then an unsynced append.
    let mut a = std::fs::File::create(mnt.join("a")).unwrap();
    a.write_all(b"hello").unwrap();
    a.sync_data().unwrap();
    a.write_all(b" world").unwrap();
    assert_eq!(std::fs::read(mnt.join("a")).unwrap(), b"hello world");
    // b: created and written, never synced.
    std::fs::write(mnt.join("b"), b"never synced").unwrap();
    // c: synced under a temporary name, renamed, then truncated without a sync.
    let mut c = std::fs::File::create(mnt.join("c.tmp")).unwrap();
    c.write_all(b"kept").unwrap();
    c.sync_all().unwrap();
    std::fs::rename(mnt.join("c.tmp"), mnt.join("c")).unwrap();
    c.set_len(1).unwrap();
    assert_eq!(std::fs::read(mnt.join("c")).unwrap(), b"k");
    drop((a, c));

    let lost = mount.lose_unfsynced();
    let files: Vec<&str> = lost.0.keys().map(String::as_str).collect();
    assert_eq!(files, ["a", "b", "c"], "{lost:?}");
    assert_eq!(std::fs::read(mnt.join("a")).unwrap(), b"hello");
    assert_eq!(
        std::fs::read(mnt.join("b")).unwrap(),
        b"",
        "created, never synced: empty"
    );
    assert_eq!(std::fs::read(mnt.join("c")).unwrap(), b"kept");
    assert_eq!(std::fs::read(backing.join("c")).unwrap(), b"kept");
    assert!(!mnt.join("c.tmp").exists());
    assert_eq!(mount.lose_unfsynced().0.len(), 0, "nothing left to lose");

    drop(mount);
    assert!(
        mounts_under(dir.path()).is_empty(),
        "dropping the mount unmounts it"
    );
}
