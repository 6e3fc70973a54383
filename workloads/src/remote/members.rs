//! Database members faultline starts on SSH hosts (Jepsen's `db` setup/teardown), shared by
//! the remote etcd, Redis, PostgreSQL and demo-store clusters ("run" step, before the workload
//! and after it).
//!
//! [`Members`] owns one directory per run on every host,
//! `/var/lib/faultline/runs/KIND-RUN/HOST/` (the member's data, `start.sh`, `pid`, its log):
//! it checks for (and with `--install` installs) the Debian package the member needs, writes
//! and runs each member's start script (which starts it in the background and records its
//! pid), and at the end stops every member (SIGCONT then SIGKILL of its process tree), copies
//! each log into the run's store directory (`nodes/HOST/LOG`) and removes its directory. The
//! start script and pid file are also the node profile ([`Service`]) the fault primitives use
//! to kill, restart and pause a member.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::faults::{file_label, Service, STATE_DIR};
use super::{quote, Remote, SshError};

/// The members of one run on the hosts of `remote`.
pub struct Members {
    /// The connections.
    pub remote: Arc<Remote>,
    /// faultline's directory for the run on each host (`/var/lib/faultline/runs/KIND-RUN`).
    pub base: String,
    /// The log file's name in each member's directory (and in the store's `nodes/HOST/`).
    pub log_name: &'static str,
    /// The run's store directory.
    pub store: PathBuf,
}

/// The shell function `tree PID` printing a process and all its descendants.
pub const TREE_FN: &str =
    "tree() { echo \"$1\"; for c in $(pgrep -P \"$1\"); do tree \"$c\"; done; }\n";

impl Members {
    /// Members of `kind` (`etcd`, `redis`, `postgres`, `demo`) for the run stored at `store`.
    pub fn new(remote: Arc<Remote>, kind: &str, store: &Path, log_name: &'static str) -> Members {
        let run = store
            .file_name()
            .map(|n| file_label(&n.to_string_lossy()))
            .unwrap_or_else(|| "run".into());
        Members {
            remote,
            base: format!("{STATE_DIR}/runs/{kind}-{run}"),
            log_name,
            store: store.to_path_buf(),
        }
    }

    /// Connects to the hosts of `ssh` (as root: directly or through `sudo -n`) and makes the
    /// members of `kind` for the run stored at `store` ([`Members::new`]).
    pub async fn connect(
        ssh: &super::SshArgs,
        kind: &str,
        store: &Path,
        log_name: &'static str,
        progress: &Arc<crate::runner::Progress>,
    ) -> Result<Members, SshError> {
        let remote = Remote::connect(ssh, true, progress.clone()).await?;
        Ok(Members::new(remote, kind, store, log_name))
    }

    /// The members on the hosts `which` (indices), as their own set: to start some before the
    /// others (a primary before the replicas that copy it). Member `k` of the subset is member
    /// `which[k]` of `self`, with the same directory.
    pub fn subset(&self, which: &[usize]) -> Members {
        Members {
            remote: Arc::new(self.remote.subset(which)),
            base: self.base.clone(),
            log_name: self.log_name,
            store: self.store.clone(),
        }
    }

    /// Member `i`'s directory on its host.
    pub fn dir(&self, i: usize) -> String {
        format!(
            "{}/{}",
            self.base,
            file_label(&self.remote.hosts[i].spec.label)
        )
    }

    /// The node profile of the members: the pid file and the start script.
    pub fn service(&self) -> Service {
        Service {
            pid: Some(format!("cat {}/{{host}}/pid", self.base)),
            start: Some(format!("sh {}/{{host}}/start.sh", self.base)),
            peer_ports: Vec::new(),
        }
    }

    /// Makes sure `program` (a command name or an absolute path) exists on every host. Hosts
    /// are checked first, in parallel; without `install` a missing one is an error naming the
    /// host and the package; with it, `package` is installed with apt-get on the hosts that
    /// lack it, one host at a time (hosts that share a dpkg database, as the test's network
    /// namespaces do, would otherwise fight over its lock), each waiting up to 120 s for a
    /// dpkg lock held by someone else and retrying twice.
    pub async fn ensure_program(
        &self,
        program: &str,
        package: &str,
        install: bool,
    ) -> Result<(), SshError> {
        let check = format!(
            "if command -v {p} >/dev/null 2>&1 || [ -x {p} ]; then echo present; fi",
            p = quote(program)
        );
        let found = self
            .remote
            .run_all(&format!("find {program}"), |_| check.clone())
            .await;
        let mut missing = Vec::new();
        for (i, r) in found.into_iter().enumerate() {
            if r?.stdout.trim() != "present" {
                missing.push(i);
            }
        }
        for i in missing {
            let host = self.remote.hosts[i].spec.label.clone();
            if !install {
                return Err(SshError::Missing {
                    host,
                    program: program.to_string(),
                    hint: format!("apt-get install {package}, or pass --install"),
                });
            }
            // Check again: a host sharing the dpkg database with one installed just now has
            // it already.
            let script = format!(
                "{check}\n[ -n \"$(\n{check}\n)\" ] && exit 0\n\
                 command -v apt-get >/dev/null 2>&1 || {{ echo 'no apt-get on this host' >&2; \
                 exit 1; }}\nmkdir -p {STATE_DIR}\nlog={STATE_DIR}/install.log\nn=0\n\
                 while :; do\n  DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
                 -o DPkg::Lock::Timeout=120 {pkg} >> $log 2>&1 && exit 0\n  \
                 n=$((n+1)); [ $n -ge 3 ] && {{ tail -n 5 $log >&2; exit 1; }}\n  sleep 2\ndone",
                pkg = quote(package)
            );
            self.remote
                .run_for(
                    i,
                    &format!("install {package}"),
                    &script,
                    Duration::from_secs(600),
                )
                .await?;
        }
        Ok(())
    }

    /// Writes member `i`'s start script `start(i)` (it must start the member in the
    /// background and write its pid to `$dir/pid`; `$dir` is set to the member's directory)
    /// and runs it, on every host in parallel. `prepare(i)` runs before, once, in the member's
    /// new directory (`initdb`, a base backup, …).
    pub async fn launch(
        &self,
        what: &str,
        prepare: impl Fn(usize) -> String,
        start: impl Fn(usize) -> String,
    ) -> Result<(), SshError> {
        let script = |i: usize| {
            let dir = self.dir(i);
            let start = format!("dir={dir}\ncd $dir || exit 1\n{}", start(i));
            format!(
                "mkdir -p {dir} || exit 1\ncd {dir} || exit 1\ndir={dir}\n{}\n\
                 printf '%s' {} > {dir}/start.sh || exit 1\nsh {dir}/start.sh",
                prepare(i),
                quote(&start)
            )
        };
        for r in self.remote.run_all(what, script).await {
            r?;
        }
        Ok(())
    }

    /// The last lines of member `i`'s log (for error messages).
    pub async fn tail(&self, i: usize) -> String {
        self.remote
            .run(
                i,
                "log tail",
                &format!("tail -n 8 {}/{}", self.dir(i), self.log_name),
            )
            .await
            .map(|o| o.stdout)
            .unwrap_or_default()
    }

    /// Where each member's log is copied to in the store directory.
    pub fn log_paths(&self) -> Vec<PathBuf> {
        self.remote
            .hosts
            .iter()
            .map(|h| {
                self.store
                    .join("nodes")
                    .join(file_label(&h.spec.label))
                    .join(self.log_name)
            })
            .collect()
    }

    /// Stops the members (SIGCONT, then SIGKILL of each tree), copies their logs into the
    /// store directory, removes faultline's directory on each host, closes the connections.
    pub async fn shutdown(&self) {
        let remote = &self.remote;
        let stop = |i: usize| {
            let dir = self.dir(i);
            format!(
                "{TREE_FN}if [ -f {dir}/pid ]; then p=$(cat {dir}/pid); \
                 [ -n \"$p\" ] && pids=$(tree $p) && kill -CONT $pids 2>/dev/null; \
                 [ -n \"$p\" ] && kill -KILL $pids 2>/dev/null; {}; fi\n\
                 cat {dir}/{} 2>/dev/null; true",
                crate::nemesis::clock::REMOVE_SHM_SH.trim_end(),
                self.log_name
            )
        };
        let logs = remote.run_all("stop the members", stop).await;
        for (path, r) in self.log_paths().iter().zip(logs) {
            if let Ok(o) = r {
                if let Some(parent) = path.parent() {
                    let _ = std::fs::create_dir_all(parent);
                }
                let _ = std::fs::write(path, o.stdout);
            }
        }
        let base = self.base.clone();
        let _ = remote
            .run_all("remove the members' directory", |i| {
                format!("rm -rf {}; rmdir {base} 2>/dev/null; true", self.dir(i))
            })
            .await;
        remote.close().await;
    }
}
