//! `--target http-kv`: a service the user runs that speaks the http-kv protocol
//! (`docs/http-kv.md`), at `--nodes`. Without `--ssh-nodes` faultline controls neither its
//! processes nor its links, so no faults. With `--ssh-nodes` (node `i` of `--nodes` runs on
//! SSH host `i`) and a node profile (`--node-pid`, `--node-start`, … or `--node-profile FILE`,
//! [`profile`]: how to find and start
//! the service there), faultline partitions the hosts with iptables and kills, restarts,
//! pauses and resumes the service ([`crate::remote::faults`]).

mod client;
pub mod profile;

pub use client::HttpKv;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::{refuse_faults, FlagGroup, Nodes, RunError, Spec, StartCtx, Target};
use crate::generator::WorkloadKind;
use crate::nemesis::Fault;
use crate::remote::faults::{RemoteFaults, Service};
use crate::remote::{Remote, SshArgs};

/// The node profile of the user's service on SSH hosts (`--target http-kv --ssh-nodes …`).
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "http-kv on SSH hosts (--target http-kv --ssh-nodes)")]
pub struct HttpKvArgs {
    /// A shell command, run on each host, printing the service's main pid (kill, pause):
    /// e.g. `cat /run/mydb.pid`, `pgrep -o -x mydb`, `systemctl show -p MainPID --value mydb`.
    #[arg(long, value_name = "CMD")]
    pub node_pid: Option<String>,

    /// A shell command, run on each host, starting the service in the background (restart
    /// after kill): e.g. `systemctl start mydb`.
    #[arg(long, value_name = "CMD")]
    pub node_start: Option<String>,

    /// Cut only these TCP ports (the service's peer ports) in partitions, PORT,... (default:
    /// every packet between the hosts).
    #[arg(long, value_name = "PORT,...", value_delimiter = ',')]
    pub node_peer_ports: Vec<u16>,

    /// The node profile as a TOML file instead of the --node-* flags: keys `pid`, `start`,
    /// `stop` (read, not run), `peer-ports` (docs/remote.md).
    #[arg(long, value_name = "FILE")]
    pub node_profile: Option<std::path::PathBuf>,
}

impl FlagGroup for HttpKvArgs {
    fn given(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.node_pid.is_some() {
            out.push("--node-pid");
        }
        if self.node_start.is_some() {
            out.push("--node-start");
        }
        if !self.node_peer_ports.is_empty() {
            out.push("--node-peer-ports");
        }
        if self.node_profile.is_some() {
            out.push("--node-profile");
        }
        out
    }
}

/// The http-kv target: the user's nodes.
#[derive(Debug, Clone)]
pub struct HttpKvTarget {
    nodes: Arc<Vec<SocketAddr>>,
    timeout: Duration,
    ssh: SshArgs,
    service: Arc<Service>,
}

#[async_trait::async_trait]
impl Target for HttpKvTarget {
    type Args = HttpKvArgs;
    type Client = HttpKv;
    type Nodes = HttpKvNodes;
    const SHARED_FLAGS: &'static [&'static str] = &[
        "--nodes",
        "--ssh-nodes",
        "--ssh-user",
        "--ssh-key",
        "--ssh-port",
        "--ssh-sudo",
        "--ssh-known-hosts",
        "--ssh-accept-new-host-keys",
        "--ssh-timeout",
    ];

    fn plan(spec: &Spec<'_>) -> Result<Self, RunError> {
        let s = &spec.args.servers;
        if s.nodes.is_empty() {
            return Err(RunError::Usage(
                "--target http-kv needs --nodes HOST:PORT,...".into(),
            ));
        }
        let own = &spec.args.http_kv;
        if s.ssh.ssh_nodes.is_empty() {
            if let Some(flag) = s.ssh.given().first().or(own.given().first()) {
                return Err(RunError::Usage(format!(
                    "{flag} needs --ssh-nodes (the hosts the service runs on)"
                )));
            }
        } else {
            let hosts = s.ssh.hosts()?;
            if hosts.len() != s.nodes.len() {
                return Err(RunError::Usage(format!(
                    "--ssh-nodes names {} hosts but --nodes {} nodes; node i of --nodes runs \
                     on host i of --ssh-nodes",
                    hosts.len(),
                    s.nodes.len()
                )));
            }
        }
        let service = match &own.node_profile {
            Some(file) => {
                if let Some(flag) = own.given().into_iter().find(|f| *f != "--node-profile") {
                    return Err(RunError::Usage(format!(
                        "{flag} and --node-profile: give the node profile either as flags or \
                         as a file"
                    )));
                }
                let p = profile::NodeProfile::load(file)
                    .map_err(|e| RunError::Usage(e.to_string()))?;
                Service {
                    pid: p.pid,
                    start: p.start,
                    peer_ports: p.peer_ports,
                }
            }
            None => Service {
                pid: own.node_pid.clone(),
                start: own.node_start.clone(),
                peer_ports: own.node_peer_ports.clone(),
            },
        };
        Ok(HttpKvTarget {
            nodes: Arc::new(s.nodes.clone()),
            timeout: spec.op_timeout,
            ssh: s.ssh.clone(),
            service: Arc::new(service),
        })
    }
    fn label(&self) -> &'static str {
        "http-kv"
    }
    fn describe(&self) -> String {
        if self.ssh.ssh_nodes.is_empty() {
            format!("http-kv at {}", super::addr_list(&self.nodes))
        } else {
            format!(
                "http-kv at {} on SSH hosts {}",
                super::addr_list(&self.nodes),
                self.ssh.ssh_nodes.join(",")
            )
        }
    }
    fn nemesis_support(&self) -> super::NemesisSupport {
        if self.ssh.ssh_nodes.is_empty() {
            super::NemesisSupport::default()
        } else {
            super::ssh_nemesis_support()
        }
    }
    fn supports(&self, workload: WorkloadKind, faults: &[Fault]) -> Result<(), RunError> {
        super::refuse_queue(workload)?;
        if self.ssh.ssh_nodes.is_empty() {
            return refuse_faults("--target http-kv without --ssh-nodes", faults);
        }
        for f in faults {
            let missing = match f {
                Fault::Partition => None,
                Fault::Pause if self.service.pid.is_none() => Some("--node-pid"),
                Fault::Kill if self.service.pid.is_none() => Some("--node-pid"),
                Fault::Kill if self.service.start.is_none() => Some("--node-start"),
                Fault::Kill | Fault::Pause => None,
                // Refused for every target but the demo by `TargetKind::plan`.
                Fault::ClockBump | Fault::ClockStrobe | Fault::ClockSkew => None,
                // Refused with what is missing by the registry (packet support).
                Fault::Packet => None,
                // Refused by the registry: the user's service names no files.
                Fault::Corrupt => None,
                // Aimed by the schedule (at the nodes of a target set).
                Fault::LoseUnfsynced => None,
            };
            if let Some(flag) = missing {
                return Err(RunError::Usage(format!(
                    "--nemesis {} on the user's service needs {flag} (how to find{} it on \
                     each host; docs/remote.md)",
                    f.name(),
                    if flag == "--node-start" {
                        " and start"
                    } else {
                        ""
                    }
                )));
            }
        }
        Ok(())
    }
    async fn start(&self, ctx: &StartCtx<'_>) -> Result<HttpKvNodes, RunError> {
        let remote = if self.ssh.ssh_nodes.is_empty() {
            None
        } else {
            // iptables, and the record of paused pids under /var/lib/faultline, need root.
            let root = !ctx.faults.is_empty();
            ctx.progress.note(format!(
                "connecting to {} SSH hosts",
                self.ssh.ssh_nodes.len()
            ));
            let remote = Remote::connect(&self.ssh, root, ctx.progress.clone()).await?;
            let faults = RemoteFaults::new("http-kv", remote.clone(), self.service.clone());
            if let Err(e) = faults.prepare(ctx.faults).await {
                remote.close().await;
                return Err(e.into());
            }
            Some(remote)
        };
        Ok(HttpKvNodes {
            target: self.clone(),
            remote,
        })
    }

    fn key_base(&self, clock: Duration) -> u64 {
        // The user's service: it holds earlier runs' keys.
        crate::generator::key_base(clock, false)
    }
}

/// The user's nodes (and, with `--ssh-nodes`, the connections to their hosts).
pub struct HttpKvNodes {
    target: HttpKvTarget,
    remote: Option<Arc<Remote>>,
}

#[async_trait::async_trait]
impl Nodes for HttpKvNodes {
    type Client = HttpKv;
    type Faults = RemoteFaults;
    fn count(&self) -> usize {
        self.target.nodes.len()
    }
    fn client(&self) -> HttpKv {
        HttpKv::new(self.target.nodes.clone(), self.target.timeout)
    }
    fn primitives(&self) -> Option<RemoteFaults> {
        let remote = self.remote.clone()?;
        Some(RemoteFaults::new(
            "http-kv",
            remote,
            self.target.service.clone(),
        ))
    }
    async fn shutdown(&self) {
        if let Some(r) = &self.remote {
            r.close().await;
        }
    }
}
