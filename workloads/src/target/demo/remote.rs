//! The demo store on SSH hosts (`--target demo --ssh-nodes …`): faultline starts one node of
//! the store (`faultline serve-demo-node`) on each host, in the run's `--mode`, under
//! `/var/lib/faultline/runs/demo-RUN/HOST/` ([`Members`]): the binary is this faultline, copied
//! there over the SSH connection (or `--demo-bin PATH`, a faultline already on the hosts);
//! the node's HTTP (client) port is [`HTTP_PORT`] and its peer port [`PEER_PORT`] on the
//! host's address, its peers named directly (no proxies: partitions are iptables rules on the
//! hosts, [`crate::remote::faults::RemoteFaults`], as for etcd). faultline waits until every
//! node answers `/health` and hears every other; at the end it stops them and copies each
//! `node.log` into the store directory (`nodes/HOST/node.log`). Part of the "run" step.
//!
//! With clock faults each node runs under the host's libfaketime (checked for, installed with
//! `--install`) and its own timestamp file, `faketime` in its directory, which the clock
//! nemesis rewrites over the SSH connection ([`ClockFiles::remote`]); the hosts' real clocks
//! are never touched.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::cluster::health;
use super::Mode;
use crate::remote::faults::{RemoteFaults, Service};
use crate::remote::members::Members;
use crate::nemesis::clock::{self, ClockFiles};
use crate::remote::{join_all, quote, SshArgs, SshError};
use crate::runner::Progress;
use crate::target::RunError;

/// The port of each node's http-kv server (the clients').
pub const HTTP_PORT: u16 = 8650;
/// The port each node's peers connect to.
pub const PEER_PORT: u16 = 8651;

/// How long the nodes have to answer and hear each other after starting.
const HEALTHY_WITHIN: Duration = Duration::from_secs(30);

/// The demo store's nodes running on SSH hosts.
pub struct RemoteDemo {
    /// The members (and the connections).
    pub members: Members,
    /// Each node's http-kv address, in host order.
    pub http: Vec<SocketAddr>,
    /// The node profile for the fault primitives (pid file, start script).
    pub service: Arc<Service>,
    /// The nodes' timestamp files, when the run has clock faults.
    pub clocks: Option<Arc<ClockFiles>>,
}

impl RemoteDemo {
    /// Connects, puts the binary in place (copies this faultline, or checks `demo_bin` on
    /// every host), starts one node per host in `mode` and waits until they talk to each other.
    pub async fn start(
        ssh: &SshArgs,
        store: &Path,
        progress: &Arc<Progress>,
        faults: &[crate::nemesis::Fault],
        mode: Mode,
        demo_bin: Option<&Path>,
    ) -> Result<RemoteDemo, RunError> {
        let members = Members::connect(ssh, "demo", store, "node.log", progress).await?;
        let remote = members.remote.clone();
        let http = remote
            .hosts
            .iter()
            .map(|h| SocketAddr::new(h.addr, HTTP_PORT))
            .collect();
        let mut cluster = RemoteDemo {
            service: Arc::new(members.service()),
            members,
            http,
            clocks: None,
        };
        if let Err(e) = cluster
            .launch(faults, mode, demo_bin, ssh.install, progress)
            .await
        {
            cluster.members.shutdown().await;
            return Err(e);
        }
        Ok(cluster)
    }

    async fn launch(
        &mut self,
        faults: &[crate::nemesis::Fault],
        mode: Mode,
        demo_bin: Option<&Path>,
        install: bool,
        progress: &Arc<Progress>,
    ) -> Result<(), RunError> {
        let members = &self.members;
        let remote = &members.remote;
        RemoteFaults::new("demo", remote.clone(), Arc::new(Service::default()))
            .prepare(faults)
            .await?;
        let bins = self.place_binary(demo_bin, progress).await?;
        let libs = if faults.iter().any(|&f| clock::is_clock(f)) {
            Some(self.find_libfaketime(install).await?)
        } else {
            None
        };
        let members = &self.members;
        let remote = &members.remote;
        let mut new_clocks = None;
        let clock_file = |i: usize| format!("{}/{}", members.dir(i), clock::REMOTE_FILE);
        let start = |i: usize| {
            let under = match &libs {
                Some(libs) => format!("env {} ", clock::remote_env(&libs[i], &clock_file(i))),
                None => String::new(),
            };
            let addr = remote.hosts[i].addr;
            let peers: String = remote
                .hosts
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(j, h)| format!(" --peer {}={}", j + 1, SocketAddr::new(h.addr, PEER_PORT)))
                .collect();
            format!(
                "nohup setsid {under}{bin} serve-demo-node --id {id} --mode {mode} --http {http} \
                 --peer-listen {peer}{peers} --data-dir $dir/data >> $dir/node.log 2>&1 \
                 < /dev/null &\necho $! > $dir/pid\n",
                bin = quote(&bins[i]),
                id = i + 1,
                mode = mode.name(),
                http = SocketAddr::new(addr, HTTP_PORT),
                peer = SocketAddr::new(addr, PEER_PORT),
            )
        };
        progress.note(format!(
            "starting the demo store ({}, {} nodes) on SSH hosts {}",
            mode.name(),
            remote.len(),
            remote
                .hosts
                .iter()
                .map(|h| h.spec.label.as_str())
                .collect::<Vec<_>>()
                .join(",")
        ));
        // The timestamp file holds no offset before the node starts.
        let prepare = |i: usize| match &libs {
            Some(_) => format!(
                "printf '%s\\n' {} > {} || exit 1",
                clock::ZERO,
                quote(&clock_file(i))
            ),
            None => String::new(),
        };
        members
            .launch("start the demo node", prepare, start)
            .await?;
        if libs.is_some() {
            let files: Vec<String> = (0..remote.len()).map(clock_file).collect();
            let clocks = ClockFiles::remote(remote.clone(), files);
            progress.note(format!(
                "node clocks under libfaketime: {}",
                (0..remote.len())
                    .map(|i| clocks.describe(i))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
            new_clocks = Some(clocks);
        }
        self.wait_connected().await?;
        progress.note(format!(
            "demo store up: {}",
            self.http
                .iter()
                .enumerate()
                .map(|(i, a)| format!("n{}=http://{a}", i + 1))
                .collect::<Vec<_>>()
                .join(" ")
        ));
        self.clocks = new_clocks;
        Ok(())
    }

    /// libfaketime's preload library on each host (the first of
    /// [`clock::LIBFAKETIME_PATHS`] there); missing: an error naming the host and the package,
    /// or, with `install`, the package installed (`faketime`, which brings `libfaketime`).
    async fn find_libfaketime(&self, install: bool) -> Result<Vec<String>, RunError> {
        let remote = &self.members.remote;
        let script = clock::find_libfaketime_script();
        let mut tried_install = false;
        loop {
            let found = remote
                .run_all("find libfaketime", |_| script.clone())
                .await;
            let mut libs = Vec::new();
            let mut missing = None;
            for (h, r) in remote.hosts.iter().zip(found) {
                let path = r?.stdout.trim().to_string();
                if path.is_empty() && missing.is_none() {
                    missing = Some(h.spec.label.clone());
                }
                libs.push(path);
            }
            let Some(host) = missing else {
                return Ok(libs);
            };
            if !install || tried_install {
                return Err(SshError::Missing {
                    host,
                    program: format!(
                        "libfaketimeMT.so.1 (looked in {})",
                        clock::LIBFAKETIME_PATHS.join(", ")
                    ),
                    hint: "clock faults run the demo's nodes under libfaketime: apt-get \
                           install libfaketime, or pass --install"
                        .into(),
                }
                .into());
            }
            // The `faketime` program's package depends on `libfaketime`.
            self.members
                .ensure_program("faketime", "faketime", true)
                .await?;
            tried_install = true;
        }
    }

    /// The path of the node binary on each host: `demo_bin` (checked to run there), or this
    /// faultline copied into the member's directory.
    async fn place_binary(
        &self,
        demo_bin: Option<&Path>,
        progress: &Arc<Progress>,
    ) -> Result<Vec<String>, RunError> {
        let members = &self.members;
        let remote = &members.remote;
        let bins: Vec<String> = match demo_bin {
            Some(path) => vec![path.display().to_string(); remote.len()],
            None => {
                let local = std::env::current_exe().map_err(|e| {
                    RunError::Internal(format!("cannot find faultline's executable: {e}"))
                })?;
                let size = std::fs::metadata(&local).map(|m| m.len()).unwrap_or(0);
                progress.note(format!(
                    "copying {} ({:.1} MB) to {} SSH hosts",
                    local.display(),
                    size as f64 / 1e6,
                    remote.len()
                ));
                for r in remote
                    .run_all("make the node's directory", |i| {
                        format!("mkdir -p {}", quote(&members.dir(i)))
                    })
                    .await
                {
                    r?;
                }
                let bins: Vec<String> = (0..remote.len())
                    .map(|i| format!("{}/faultline", members.dir(i)))
                    .collect();
                let copies = (0..remote.len()).map(|i| {
                    let local = local.clone();
                    let to = bins[i].clone();
                    async move {
                        remote
                            .upload(i, "copy faultline", &local, &to)
                            .await
                    }
                });
                for r in join_all(copies).await {
                    r?;
                }
                bins
            }
        };
        // The binary must run there (same architecture and C library as this machine's, or the
        // one --demo-bin names).
        let check = |i: usize| {
            format!(
                "{b} serve-demo-node --help >/dev/null 2>&1 || {{ echo {b}; exit 1; }}",
                b = quote(&bins[i])
            )
        };
        let results = remote.run_all("check the demo node binary", check).await;
        for (i, r) in results.into_iter().enumerate() {
            if let Err(e) = r {
                return Err(match e {
                    SshError::Failed { host, .. } => SshError::Missing {
                        host,
                        program: bins[i].clone(),
                        hint: match demo_bin {
                            Some(_) => "--demo-bin must name a faultline binary that runs on \
                                        every host"
                                .into(),
                            None => "this faultline does not run there (another architecture \
                                     or C library?); build one for the hosts and name it with \
                                     --demo-bin"
                                .into(),
                        },
                    },
                    other => other,
                }
                .into());
            }
        }
        Ok(bins)
    }

    /// Polls every node's `/health` until each answers and hears every other node.
    async fn wait_connected(&self) -> Result<(), RunError> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| RunError::Internal(format!("http client: {e}")))?;
        let deadline = tokio::time::Instant::now() + HEALTHY_WITHIN;
        loop {
            let answers = join_all(
                self.http
                    .iter()
                    .map(|&a| health::get(&client, a, Duration::from_secs(1))),
            )
            .await;
            let problems = health::deafness(&answers);
            if problems.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                let remote = &self.members.remote;
                let mut tails = String::new();
                for i in 0..remote.len() {
                    tails.push_str(&format!(
                        "\n{} ({}/node.log):\n{}",
                        remote.hosts[i].spec.label,
                        self.members.dir(i),
                        self.members.tail(i).await
                    ));
                }
                return Err(RunError::Start(format!(
                    "the demo store's nodes on the SSH hosts did not all answer and hear each \
                     other within {} s: {}{tails}",
                    HEALTHY_WITHIN.as_secs(),
                    problems.join("; ")
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Where each node's log is copied to in the store directory.
    pub fn log_paths(&self) -> Vec<PathBuf> {
        self.members.log_paths()
    }
}
