//! A lab of SSH hosts for the remote tests (`tests/remote_*.rs`): network namespaces this test
//! creates, named `fl-test-PID-…`: a control namespace holding a bridge (`10.77.S.1/24`) where
//! faultline runs, and N host namespaces (`10.77.S.1I`), each linked to the bridge by a veth
//! pair and running its own `sshd -D` with a generated host key, the test's client key
//! authorized, a temporary known_hosts. The machine's own namespace and firewall are never
//! touched: every interface and every iptables rule lives inside the test's namespaces.
//! [`Lab`]'s `Drop` kills every process in them and deletes them, also when a test fails;
//! [`Lab::new`] first removes namespaces left by test processes that no longer exist.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

/// Whether the lab can be built (root, `ip`, `sshd`). Under `FAULTLINE_REQUIRE_DATABASES=1`
/// (the test command) a missing requirement fails the test instead of skipping it.
pub fn available() -> bool {
    let root = unsafe { libc::geteuid() } == 0;
    let tools = ["/usr/sbin/sshd", "/usr/bin/ssh-keygen", "/usr/bin/ssh"]
        .iter()
        .all(|p| Path::new(p).exists());
    let iptables = which("iptables");
    let ok = root && tools && iptables && which("ip");
    if !ok {
        let why = format!(
            "the SSH lab needs root (network namespaces) and sshd, ssh, ssh-keygen, ip, \
             iptables (root: {root}, openssh: {tools}, iptables: {iptables})"
        );
        assert!(
            std::env::var_os("FAULTLINE_REQUIRE_DATABASES").is_none(),
            "{why}; scripts/test installs openssh-server and iptables and runs as root"
        );
        eprintln!("SKIPPED: {why}");
    }
    ok
}

/// Whether etcd is installed (as [`available`], required under `FAULTLINE_REQUIRE_DATABASES`).
pub fn which_etcd() -> bool {
    let ok = Path::new("/usr/bin/etcd").exists();
    if !ok {
        assert!(
            std::env::var_os("FAULTLINE_REQUIRE_DATABASES").is_none(),
            "/usr/bin/etcd is not installed, but scripts/test should have installed it"
        );
        eprintln!("SKIPPED: /usr/bin/etcd is not installed (scripts/test installs it)");
    }
    ok
}

fn which(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Runs a command, panicking with its output if it fails.
pub fn sh(cmd: &str) -> String {
    let o = Command::new("sh").arg("-c").arg(cmd).output().expect("sh");
    assert!(
        o.status.success(),
        "`{cmd}` failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Runs a command, returning its output whatever its status.
pub fn sh_any(cmd: &str) -> Output {
    Command::new("sh").arg("-c").arg(cmd).output().expect("sh")
}

/// The prefix of every namespace of this test process.
fn prefix() -> String {
    format!("fl-test-{}", std::process::id())
}

/// Deletes namespaces `fl-test-PID-…` whose test process is gone (a crashed earlier run).
fn remove_stale() {
    let list = sh_any("ip netns list");
    for line in String::from_utf8_lossy(&list.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix("fl-test-") else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if !pid.is_empty() && !Path::new(&format!("/proc/{pid}")).exists() {
            destroy(name);
        }
    }
}

fn destroy(ns: &str) {
    let _ = sh_any(&format!(
        "for p in $(ip netns pids {ns}); do kill -CONT $p; kill -KILL $p; done; \
         sleep 0.1; ip netns del {ns}"
    ));
}

/// A lab: a control namespace and `n` SSH hosts.
pub struct Lab {
    /// `10.77.S.0/24`'s S (distinct per test, so that tests running at once never share the
    /// files named after a host's address).
    pub subnet: u8,
    /// Number of hosts.
    pub n: usize,
    /// Keys, configs, known_hosts.
    pub dir: tempfile::TempDir,
    names: Vec<String>,
    sshd: Vec<Child>,
    /// Shared (or, for [`Lab::new_alone`], exclusive) hold on [`LAB_FILES`] while the lab lives.
    _files: LabFiles,
}

/// The lab's hosts share this machine's file system, so `faultline heal` (and the heal at the
/// start and end of every run) on any lab resets every `/var/lib/faultline/runs/*/*/faketime`
/// — also the files another test planted. Labs hold this lock shared; a test whose assertions
/// are about such shared files holds it alone ([`Lab::new_alone`]).
static LAB_FILES: RwLock<()> = RwLock::new(());

enum LabFiles {
    Shared(#[allow(dead_code)] RwLockReadGuard<'static, ()>),
    Alone(#[allow(dead_code)] RwLockWriteGuard<'static, ()>),
}

impl Lab {
    /// Builds the lab: namespaces, bridge, veths, sshd on each host (waits until each
    /// answers).
    pub fn new(subnet: u8, n: usize) -> Lab {
        let files = LabFiles::Shared(LAB_FILES.read().unwrap_or_else(|e| e.into_inner()));
        Lab::build(subnet, n, files)
    }

    /// [`Lab::new`], with no other lab of this test binary alive meanwhile (waits for the
    /// others to end): for tests about files every lab's heal touches.
    pub fn new_alone(subnet: u8, n: usize) -> Lab {
        let files = LabFiles::Alone(LAB_FILES.write().unwrap_or_else(|e| e.into_inner()));
        Lab::build(subnet, n, files)
    }

    fn build(subnet: u8, n: usize, files: LabFiles) -> Lab {
        remove_stale();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut lab = Lab {
            subnet,
            n,
            dir,
            names: Vec::new(),
            sshd: Vec::new(),
            _files: files,
        };
        let ctl = lab.ctl();
        lab.names.push(ctl.clone());
        sh(&format!(
            "ip netns add {ctl} && ip -n {ctl} link set lo up && \
             ip -n {ctl} link add br0 type bridge && \
             ip -n {ctl} addr add 10.77.{subnet}.1/24 dev br0 && ip -n {ctl} link set br0 up"
        ));
        let d = lab.dir.path().to_path_buf();
        sh(&format!(
            "ssh-keygen -q -t ed25519 -N '' -C faultline-test -f {0}/id && \
             cp {0}/id.pub {0}/authorized_keys && chmod 600 {0}/authorized_keys && mkdir -p /run/sshd && \
             chmod 755 /run/sshd",
            d.display()
        ));
        let mut known = String::new();
        for i in 1..=n {
            let ns = lab.ns(i);
            lab.names.push(ns.clone());
            let addr = lab.addr(i);
            sh(&format!(
                "ip netns add {ns} && ip -n {ns} link set lo up && \
                 ip -n {ctl} link add v{i} type veth peer name eth0 netns {ns} && \
                 ip -n {ctl} link set v{i} master br0 up && \
                 ip -n {ns} addr add {addr}/24 dev eth0 && ip -n {ns} link set eth0 up"
            ));
            let key = d.join(format!("host{i}"));
            sh(&format!(
                "ssh-keygen -q -t ed25519 -N '' -C host{i} -f {}",
                key.display()
            ));
            let pubkey = std::fs::read_to_string(key.with_extension("pub")).unwrap();
            let mut parts = pubkey.split_whitespace();
            known.push_str(&format!(
                "{addr} {} {}\n",
                parts.next().unwrap(),
                parts.next().unwrap()
            ));
            let config = d.join(format!("sshd{i}.conf"));
            std::fs::write(
                &config,
                format!(
                    "ListenAddress {addr}\nPort 22\nHostKey {}\nPidFile none\n\
                     AuthorizedKeysFile {}/authorized_keys\nPermitRootLogin prohibit-password\n\
                     PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
                     StrictModes no\nLogLevel ERROR\nMaxSessions 100\nMaxStartups 100\n",
                    key.display(),
                    d.display()
                ),
            )
            .unwrap();
            let child = Command::new("ip")
                .args(["netns", "exec", &ns, "/usr/sbin/sshd", "-D", "-e", "-f"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(
                    std::fs::File::create(d.join(format!("sshd{i}.log"))).unwrap(),
                ))
                .spawn()
                .expect("sshd starts");
            lab.sshd.push(child);
        }
        std::fs::write(d.join("known_hosts"), known).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        for i in 1..=n {
            loop {
                let probe = sh_any(&format!(
                    "ip netns exec {ctl} timeout 1 bash -c '</dev/tcp/{}/22'",
                    lab.addr(i)
                ));
                if probe.status.success() {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "sshd on {} did not come up: {}",
                    lab.addr(i),
                    std::fs::read_to_string(d.join(format!("sshd{i}.log"))).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        lab
    }

    /// The control namespace (where faultline runs).
    pub fn ctl(&self) -> String {
        format!("{}-s{}-ctl", prefix(), self.subnet)
    }

    /// Host `i`'s namespace (1-based).
    pub fn ns(&self, i: usize) -> String {
        format!("{}-s{}-n{i}", prefix(), self.subnet)
    }

    /// Host `i`'s address (1-based).
    pub fn addr(&self, i: usize) -> String {
        format!("10.77.{}.{}", self.subnet, 10 + i)
    }

    /// `root@ADDR` of every host, comma-separated.
    pub fn ssh_nodes(&self) -> String {
        (1..=self.n)
            .map(|i| format!("root@{}", self.addr(i)))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The connection flags (`--ssh-nodes`, the test's key and known_hosts).
    pub fn ssh_flags(&self) -> Vec<String> {
        vec![
            "--ssh-nodes".into(),
            self.ssh_nodes(),
            "--ssh-key".into(),
            self.path("id"),
            "--ssh-known-hosts".into(),
            self.path("known_hosts"),
            "--ssh-timeout".into(),
            "15".into(),
        ]
    }

    /// A file in the lab's directory.
    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// Runs `cmd` in host `i`'s namespace.
    pub fn on(&self, i: usize, cmd: &str) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ns(i), "sh", "-c", cmd])
            .output()
            .expect("ip netns exec")
    }

    /// The file where faultline records the pids it paused on host `i` (named after the
    /// host's network namespace).
    pub fn paused_file(&self, i: usize) -> String {
        let o = self.on(i, "readlink /proc/self/ns/net | tr -cd 0-9");
        format!(
            "/var/lib/faultline/paused-net{}",
            String::from_utf8_lossy(&o.stdout).trim()
        )
    }

    /// Starts `faultline ARGS` in the control namespace.
    pub fn spawn_faultline(&self, args: &[String]) -> Child {
        Command::new("ip")
            .args(["netns", "exec", &self.ctl()])
            .arg(env!("CARGO_BIN_EXE_faultline"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("faultline starts")
    }

    /// Runs `faultline ARGS` in the control namespace; kills it (failing the test) after
    /// `limit`. Returns (exit code, stdout + stderr).
    pub fn faultline(&self, args: &[String], limit: Duration) -> (i32, String) {
        let child = self.spawn_faultline(args);
        finish(child, limit)
    }
}

/// Waits for `child` (at most `limit`, then kills it and fails); (exit code, stdout+stderr).
/// Its output is read while it runs (a child whose output outgrows the pipe's buffer would
/// otherwise block on its write and never finish).
pub fn finish(mut child: Child, limit: Duration) -> (i32, String) {
    fn drain(pipe: Option<impl std::io::Read + Send + 'static>) -> std::thread::JoinHandle<String> {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).to_string()
        })
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "faultline did not finish within {limit:?}:\n{}{}",
                stdout.join().unwrap_or_default(),
                stderr.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = format!(
        "{}{}",
        stdout.join().unwrap_or_default(),
        stderr.join().unwrap_or_default()
    );
    (status.code().unwrap_or(-1), text)
}

/// The newest run directory under `store` (`STORE/latest`).
pub fn run_dir(store: &Path) -> PathBuf {
    std::fs::canonicalize(store.join("latest")).expect("STORE/latest")
}

impl Drop for Lab {
    fn drop(&mut self) {
        let paused: Vec<String> = (1..=self.n).map(|i| self.paused_file(i)).collect();
        for c in &mut self.sshd {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in self.names.iter().rev() {
            destroy(ns);
        }
        // Paused-pid records of this lab's hosts (they share this file system).
        for f in paused {
            let _ = std::fs::remove_file(f);
        }
    }
}
