//! `--target etcd`: etcd v3, a local cluster faultline starts from Debian's `etcd-server`
//! (kill, pause, and partition and packet faults through network namespaces), or the user's at
//! `--nodes`.
//!
//! - [`json`]: the client over the v3 JSON gateway; [`grpc`] the same over native gRPC
//!   ([`grpc_proto`]: its messages), chosen with `--etcd-api`.
//! - [`launcher`]: starts the members on loopback, or each in its own network namespace with
//!   every peer link relayed through faultline when partitions or packet faults are asked
//!   for.
//! - [`remote`]: starts the members on SSH hosts (`--ssh-nodes`).
//! - Fault primitives: [`crate::target::server::ServerFaults`] with the namespaces' cuts and
//!   packet faults ([`crate::net::netns::Packets`]); on
//!   SSH hosts [`crate::remote::faults::RemoteFaults`] (iptables, signals).

pub mod grpc;
pub mod grpc_proto;
pub mod json;
pub mod launcher;
pub mod remote;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::server::ServerFaults;
use crate::remote::faults::RemoteFaults;
use super::{FlagGroup, Nodes, RunError, Spec, StartCtx, Target};
use crate::client::Either;
use crate::generator::WorkloadKind;
use crate::nemesis::{CorruptFile, Fault, PacketKind};
use launcher::LocalEtcd;

/// The files of an etcd member whose corruption matters (`--nemesis corrupt`), in its
/// `--data-dir`: `wal`, the write-ahead log segment it appends to now (the newest
/// `member/wal/*.wal`; the default), preallocated to 64 MB of zeros, so a corruption hits what
/// was written of it; and `db`, its bbolt database `member/snap/db` (the applied key space).
pub const ETCD_FILES: [CorruptFile; 2] = [
    CorruptFile::newest("wal", "member/wal", ".wal").preallocated(),
    CorruptFile::at("db", "member/snap/db"),
];

/// Which etcd API the clients speak (`--etcd-api`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EtcdApi {
    /// The v3 JSON gateway over HTTP/1.1.
    Json,
    /// Native gRPC over HTTP/2.
    Grpc,
}

/// The etcd target's flags.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "etcd (--target etcd)")]
pub struct EtcdArgs {
    /// Serve reads from the member alone (`serializable: true`, no quorum).
    #[arg(long)]
    pub etcd_serializable_reads: bool,

    /// The API the clients speak: the v3 JSON gateway (HTTP/1.1) or native gRPC (HTTP/2)
    /// (default json).
    #[arg(long, value_enum, value_name = "API")]
    pub etcd_api: Option<EtcdApi>,
}

impl FlagGroup for EtcdArgs {
    fn given(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.etcd_serializable_reads {
            out.push("--etcd-serializable-reads");
        }
        if self.etcd_api.is_some() {
            out.push("--etcd-api");
        }
        out
    }
}

/// The etcd target: where the members are, and the client's options.
#[derive(Debug, Clone)]
pub struct EtcdTarget {
    nodes: Vec<SocketAddr>,
    local_nodes: usize,
    serializable: bool,
    api: EtcdApi,
    timeout: Duration,
    ssh: crate::remote::SshArgs,
}

/// The etcd client of either API.
pub type EtcdClient = Either<json::Etcd, grpc::EtcdGrpc>;

#[async_trait::async_trait]
impl Target for EtcdTarget {
    type Args = EtcdArgs;
    type Client = EtcdClient;
    type Nodes = EtcdNodes;
    const SHARED_FLAGS: &'static [&'static str] = &[
        "--nodes",
        "--local-nodes",
        "--ssh-nodes",
        "--ssh-user",
        "--ssh-key",
        "--ssh-port",
        "--ssh-sudo",
        "--ssh-known-hosts",
        "--ssh-accept-new-host-keys",
        "--ssh-timeout",
        "--install",
    ];

    fn plan(spec: &Spec<'_>) -> Result<Self, RunError> {
        let s = &spec.args.servers;
        super::refuse_local_nodes_with_nodes(s)?;
        if s.ssh.ssh_nodes.is_empty() {
            if let Some(flag) = s.ssh.given().first() {
                return Err(RunError::Usage(format!(
                    "{flag} needs --ssh-nodes (the hosts to start etcd on)"
                )));
            }
        } else {
            s.ssh.hosts()?;
            if !s.nodes.is_empty() || s.local_nodes.is_some() {
                return Err(RunError::Usage(
                    "--ssh-nodes starts one etcd member on each host: leave out --nodes and \
                     --local-nodes"
                        .into(),
                ));
            }
        }
        let local = s.ssh.ssh_nodes.is_empty() && s.nodes.is_empty();
        if local && spec.faults.contains(&Fault::Packet) && spec.packet.loss > 0.0 {
            super::find_program("iptables", &["/usr/sbin/iptables", "/sbin/iptables"], "iptables")
                .map_err(|e| RunError::FaultUnsupported {
                    target: "etcd".into(),
                    fault: "packet loss".into(),
                    missing: format!(
                        "faultline loses the local members' packets with iptables `statistic` \
                         rules inside their network namespaces: {e}"
                    ),
                })?;
        }
        Ok(EtcdTarget {
            ssh: s.ssh.clone(),
            nodes: s.nodes.clone(),
            local_nodes: s.local_nodes.unwrap_or(3) as usize,
            serializable: spec.args.etcd.etcd_serializable_reads,
            api: spec.args.etcd.etcd_api.unwrap_or(EtcdApi::Json),
            timeout: spec.op_timeout,
        })
    }
    fn label(&self) -> &'static str {
        "etcd"
    }
    fn describe(&self) -> String {
        format!(
            "etcd{} ({}; {} reads)",
            if self.api == EtcdApi::Grpc {
                " over gRPC"
            } else {
                ""
            },
            if self.ssh.ssh_nodes.is_empty() {
                super::place(&self.nodes, self.local_nodes)
            } else {
                format!("on SSH hosts {}", self.ssh.ssh_nodes.join(","))
            },
            if self.serializable {
                "serializable"
            } else {
                "linearizable"
            }
        )
    }
    fn nemesis_support(&self) -> super::NemesisSupport {
        if self.ssh.ssh_nodes.is_empty() {
            // Local members in network namespaces: any symmetric grudge; delay in the relays,
            // loss as iptables rules inside the namespaces.
            super::NemesisSupport {
                targets: true,
                packet: vec![PacketKind::Delay, PacketKind::Loss],
                packet_missing: "the local etcd members talk over TCP through faultline's \
                                 namespace relays, and a duplicated TCP segment is discarded \
                                 by the receiving kernel, so duplication would show nothing; \
                                 use delay, jitter and loss (or faultline maelstrom test \
                                 --nemesis packet for duplicated messages)",
                corrupt_files: if self.nodes.is_empty() {
                    ETCD_FILES.to_vec()
                } else {
                    Vec::new()
                },
                ..Default::default()
            }
        } else {
            super::ssh_nemesis_support()
        }
    }
    fn supports(&self, workload: WorkloadKind, faults: &[Fault]) -> Result<(), RunError> {
        super::refuse_faults_on_user_nodes(&self.nodes, faults)?;
        if faults.contains(&Fault::LoseUnfsynced) {
            let refuse = |missing: String| RunError::FaultUnsupported {
                target: "etcd".into(),
                fault: "lose-unfsynced".into(),
                missing,
            };
            if !self.ssh.ssh_nodes.is_empty() {
                return Err(refuse(
                    "faultline mounts its FUSE filesystem only on this machine, not on \
                     --ssh-nodes hosts"
                        .into(),
                ));
            }
            crate::nemesis::lazyfs::check_available().map_err(|e| refuse(e.to_string()))?;
        }
        match workload {
            WorkloadKind::Register => Ok(()),
            WorkloadKind::Queue => super::refuse_queue(workload),
            w => Err(super::refuse_workload("etcd", w, "register")),
        }
    }
    async fn start(&self, ctx: &StartCtx<'_>) -> Result<EtcdNodes, RunError> {
        if !self.ssh.ssh_nodes.is_empty() {
            let c = remote::RemoteEtcd::start(&self.ssh, ctx.dir, ctx.progress, ctx.faults).await?;
            return Ok(EtcdNodes {
                target: self.clone(),
                endpoints: Arc::new(c.endpoints.clone()),
                local: None,
                remote: Some(c),
            });
        }
        let (endpoints, local) = if self.nodes.is_empty() {
            let n = self.local_nodes;
            // Partitions and packet faults need every peer link relayed between namespaces.
            let isolated =
                ctx.faults.contains(&Fault::Partition) || ctx.faults.contains(&Fault::Packet);
            let lazy = ctx.faults.contains(&Fault::LoseUnfsynced);
            ctx.progress.note(format!(
                "starting etcd ({n} members) {}{}",
                if isolated {
                    "each in its own network namespace"
                } else {
                    "on loopback"
                },
                if lazy {
                    ", data directories on faultline's FUSE filesystem (lose-unfsynced)"
                } else {
                    ""
                }
            ));
            let c = LocalEtcd::start_on(ctx.dir, n, isolated, lazy).await?;
            ctx.progress
                .note(format!("etcd up: {}", c.endpoints.join(" ")));
            (c.endpoints.clone(), Some(c))
        } else {
            let e = self.nodes.iter().map(|a| format!("http://{a}")).collect();
            (e, None)
        };
        Ok(EtcdNodes {
            target: self.clone(),
            endpoints: Arc::new(endpoints),
            local,
            remote: None,
        })
    }

    fn key_base(&self, clock: Duration) -> u64 {
        // The user's servers hold earlier runs' keys; fresh local ones start at 0.
        if self.nodes.is_empty() {
            0
        } else {
            crate::generator::key_base(clock, false)
        }
    }
}

/// The running (or the user's) members.
pub struct EtcdNodes {
    target: EtcdTarget,
    endpoints: Arc<Vec<String>>,
    local: Option<LocalEtcd>,
    remote: Option<remote::RemoteEtcd>,
}

#[async_trait::async_trait]
impl Nodes for EtcdNodes {
    type Client = EtcdClient;
    type Faults = Either<ServerFaults, RemoteFaults>;
    fn count(&self) -> usize {
        self.endpoints.len()
    }
    fn client(&self) -> EtcdClient {
        let (e, t, s) = (
            self.endpoints.clone(),
            self.target.timeout,
            self.target.serializable,
        );
        match self.target.api {
            EtcdApi::Json => Either::A(json::Etcd::new(e, t, s)),
            EtcdApi::Grpc => Either::B(grpc::EtcdGrpc::new(e, t, s)),
        }
    }
    fn primitives(&self) -> Option<Either<ServerFaults, RemoteFaults>> {
        if let Some(r) = &self.remote {
            return Some(Either::B(RemoteFaults::new(
                "etcd",
                r.members.remote.clone(),
                r.service.clone(),
            )));
        }
        let c = self.local.as_ref()?;
        let mut faults = ServerFaults::new("etcd", c.servers.clone(), super::server::SERVER_SALT);
        if let Some(cuts) = &c.cuts {
            faults = faults.with_cuts(cuts.clone());
        }
        if let Some(packets) = &c.packets {
            faults = faults.with_packets(packets.clone());
        }
        if let Some(m) = &c.mounts {
            faults = faults.with_mounts(m.clone());
        }
        Some(Either::A(faults.with_files(c.files())))
    }
    fn logs(&self) -> Vec<std::path::PathBuf> {
        if let Some(r) = &self.remote {
            // Copied from the hosts when they stop (shutdown).
            return r.log_paths();
        }
        super::server::logs(self.local.iter().flat_map(|c| &c.servers))
    }
    fn started(&self) -> Option<&'static str> {
        (self.local.is_some() || self.remote.is_some()).then_some("etcd")
    }
    async fn shutdown(&self) {
        if let Some(r) = &self.remote {
            r.shutdown().await;
        }
        if let Some(c) = &self.local {
            c.shutdown().await;
        }
    }
}
