//! The nemesis for real servers faultline started: `kill` (SIGKILL, restarted when the
//! fault ends, same data directory), `pause` (SIGSTOP, then SIGCONT) and, for etcd in network
//! namespaces, `partition` (one member isolated from the others), one node at a time,
//! chosen from a seed. Driven by the runner through [`crate::runner::Faults`].

use std::sync::Arc;
use std::time::Duration;

use checkers::Rng;
use serde_json::{json, Value};

use super::server::Server;
use crate::runner::{FaultOp, Faults};

/// The kill/pause nemesis over a set of servers.
pub struct ServerFaults {
    servers: Vec<Arc<Server>>,
    kinds: Vec<String>,
    rng: Rng,
    /// The active fault: (kind, node index).
    active: Option<(String, usize)>,
    /// The planned operation awaiting `apply`: (f, node index).
    pending: Option<(String, usize)>,
    /// Member links that `partition` cuts (etcd in network namespaces).
    cuts: Option<super::netns::Cuts>,
}

impl ServerFaults {
    /// A nemesis injecting `kinds` (each `kill` or `pause`) into `servers`, seeded.
    pub fn new(servers: Vec<Arc<Server>>, kinds: Vec<String>, seed: u64) -> ServerFaults {
        ServerFaults {
            servers,
            kinds,
            rng: Rng::new(seed ^ 0x5EED_FA17),
            active: None,
            pending: None,
            cuts: None,
        }
    }

    /// Enables `partition`: isolate one node by cutting its links in `cuts`.
    pub fn with_cuts(mut self, cuts: super::netns::Cuts) -> ServerFaults {
        self.cuts = Some(cuts);
        self
    }

    fn op(&mut self, f: &str, node: usize) -> FaultOp {
        let name = self.servers[node].name().to_string();
        self.pending = Some((f.to_string(), node));
        FaultOp {
            f: f.to_string(),
            value: json!(name),
            summary: format!("{f} {name}"),
        }
    }
}

impl Faults for ServerFaults {
    fn plan_start(&mut self) -> Option<FaultOp> {
        if self.kinds.is_empty() || self.servers.is_empty() || self.active.is_some() {
            return None;
        }
        let kind = self.kinds[self.rng.below(self.kinds.len() as u64) as usize].clone();
        let node = self.rng.below(self.servers.len() as u64) as usize;
        if kind == "partition" {
            let mut op = self.op("start-partition", node);
            op.summary = format!("isolate {}", self.servers[node].name());
            return Some(op);
        }
        Some(self.op(&kind, node))
    }

    fn plan_stop(&mut self) -> Option<FaultOp> {
        let (kind, node) = self.active.clone()?;
        let f = match kind.as_str() {
            "kill" => "restart",
            "partition" => "stop-partition",
            _ => "resume",
        };
        Some(self.op(f, node))
    }

    async fn apply(&mut self, op: &FaultOp) -> Result<Value, String> {
        let (f, node) = self
            .pending
            .take()
            .ok_or_else(|| format!("{} was not planned", op.f))?;
        let server = self.servers[node].clone();
        match f.as_str() {
            "kill" => {
                server.kill().await?;
                self.active = Some((f, node));
            }
            "pause" => {
                server.pause(true)?;
                self.active = Some((f, node));
            }
            "start-partition" => {
                let cuts = self
                    .cuts
                    .as_ref()
                    .ok_or("partition needs network namespaces")?;
                cuts.isolate(node, self.servers.len());
                self.active = Some(("partition".into(), node));
            }
            "stop-partition" => {
                self.active = None;
                if let Some(c) = &self.cuts {
                    c.heal();
                }
            }
            "restart" => {
                self.active = None;
                server.restart().await?;
            }
            "resume" => {
                self.active = None;
                server.pause(false)?;
            }
            other => return Err(format!("unknown fault {other:?}")),
        }
        Ok(json!(server.name()))
    }

    async fn heal_all(&mut self) -> Vec<(FaultOp, Result<Value, String>)> {
        let mut out = Vec::new();
        if let Some(c) = &self.cuts {
            c.heal();
        }
        if let Some(op) = self.plan_stop() {
            let r = self.apply(&op).await;
            out.push((op, r));
        }
        out
    }

    async fn verify_healed(&mut self) -> Result<String, String> {
        tokio::time::sleep(Duration::from_millis(200)).await;
        match self.servers.iter().find(|s| s.exited() || s.is_paused()) {
            Some(s) => Err(format!(
                "{} is not running (log {})",
                s.name(),
                s.log().display()
            )),
            None => Ok("every server runs again".into()),
        }
    }
}
