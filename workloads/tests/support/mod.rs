//! Shared by the cluster and nemesis tests: a fake node program (`fake_node.py`, run by
//! python3) and per-test scratch directories.

#![allow(dead_code)]

use std::path::PathBuf;

use workloads::target::demo::cluster::ClusterSpec;

/// The fake node's source, written into each test's directory.
const FAKE_NODE: &str = include_str!("fake_node.py");

/// A scratch directory under the system temp dir, removed on drop.
pub struct TestDir(pub PathBuf);

impl TestDir {
    /// A fresh, empty directory named after the test.
    pub fn new(test: &str) -> TestDir {
        let dir = std::env::temp_dir().join(format!("faultline-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TestDir(dir)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A spec for `nodes` fake nodes in `dir`, with extra fake-node arguments (e.g.
/// `["--mode", "sync"]` to report node 1 as leader, `["--fail-node", "2"]`).
pub fn fake_spec(dir: &TestDir, nodes: usize, extra: &[&str]) -> ClusterSpec {
    let script = dir.0.join("fake_node.py");
    std::fs::write(&script, FAKE_NODE).unwrap();
    let mut args = vec![script.display().to_string()];
    args.extend(extra.iter().map(|a| a.to_string()));
    ClusterSpec {
        nodes,
        program: PathBuf::from("python3"),
        args,
        dir: dir.0.join("cluster"),
        clock: None,
        lazyfs: false,
    }
}

/// Whether a process with this id exists and is not a zombie (`kill(pid, 0)`, then the state
/// in `/proc/<pid>/stat`, since an orphan's zombie lingers until its new parent reaps it).
pub fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    if unsafe { libc::kill(pid as libc::pid_t, 0) } != 0 {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
            .unwrap_or(true),
        Err(_) => false,
    }
}
