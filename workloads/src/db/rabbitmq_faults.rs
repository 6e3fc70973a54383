//! The nemesis of `--target rabbitmq` ("run" step), driven by the runner through
//! [`Faults`]: `kill` (SIGKILL the broker, restart it on the same data directory when the
//! fault ends), `pause` (SIGSTOP, then SIGCONT) and `partition` (the clients reach the broker
//! only through a faultline TCP proxy, [`LinkNet`] with the clients as node 1 and the broker
//! as node 2; the partition blackholes it: bytes stop both ways, connections hang, and flow
//! again when it heals). One fault at a time, chosen from a seed. A restart, and healing, wait
//! until the broker completes an AMQP handshake again (it boots in seconds), so every kill hits
//! a running broker and the final drain meets a working one.

use std::sync::Arc;
use std::time::Duration;

use checkers::Rng;
use serde_json::{json, Value};

use super::local_rabbitmq::LocalRabbit;
use crate::proxy::LinkNet;
use crate::runner::{FaultOp, Faults};

/// The kill/pause/partition nemesis over one local broker.
pub struct RabbitFaults {
    broker: Arc<LocalRabbit>,
    net: Arc<LinkNet>,
    kinds: Vec<String>,
    rng: Rng,
    /// The active fault's kind.
    active: Option<String>,
    /// The planned operation awaiting `apply`.
    pending: Option<String>,
}

impl RabbitFaults {
    /// A nemesis injecting `kinds` (`kill`, `pause`, `partition`), seeded.
    pub fn new(
        broker: Arc<LocalRabbit>,
        net: Arc<LinkNet>,
        kinds: Vec<String>,
        seed: u64,
    ) -> RabbitFaults {
        RabbitFaults {
            broker,
            net,
            kinds,
            rng: Rng::new(seed ^ 0x0AB_B17F),
            active: None,
            pending: None,
        }
    }

    fn op(&mut self, f: &str) -> FaultOp {
        self.pending = Some(f.to_string());
        let (value, summary) = match f {
            "start-partition" | "stop-partition" => (
                json!({"kind": "clients-broker", "groups": [["clients"], ["n1"]]}),
                format!(
                    "{} clients | n1",
                    if f == "start-partition" {
                        "partition"
                    } else {
                        "heal"
                    }
                ),
            ),
            _ => (json!("n1"), format!("{f} n1")),
        };
        FaultOp {
            f: f.to_string(),
            value,
            summary,
        }
    }
}

impl Faults for RabbitFaults {
    fn plan_start(&mut self) -> Option<FaultOp> {
        if self.kinds.is_empty() || self.active.is_some() {
            return None;
        }
        let kind = self.kinds[self.rng.below(self.kinds.len() as u64) as usize].clone();
        Some(match kind.as_str() {
            "partition" => self.op("start-partition"),
            other => self.op(other),
        })
    }

    fn plan_stop(&mut self) -> Option<FaultOp> {
        let f = match self.active.as_deref()? {
            "kill" => "restart",
            "partition" => "stop-partition",
            _ => "resume",
        };
        Some(self.op(f))
    }

    async fn apply(&mut self, op: &FaultOp) -> Result<Value, String> {
        let f = self
            .pending
            .take()
            .ok_or_else(|| format!("{} was not planned", op.f))?;
        let server = &self.broker.server;
        match f.as_str() {
            "kill" => {
                server.kill().await?;
                self.active = Some(f);
            }
            "pause" => {
                server.pause(true)?;
                self.active = Some(f);
            }
            "start-partition" => {
                self.net.block(&[(1, 2)]).map_err(|e| e.to_string())?;
                self.active = Some("partition".into());
            }
            "stop-partition" => {
                self.active = None;
                self.net.heal();
            }
            "restart" => {
                self.active = None;
                server.restart().await?;
                // The broker takes seconds to boot; the next fault waits until it is back, so
                // that every kill hits a running broker.
                self.broker.wait_ready(Duration::from_secs(90)).await?;
            }
            "resume" => {
                self.active = None;
                server.pause(false)?;
            }
            other => return Err(format!("unknown fault {other:?}")),
        }
        Ok(op.value.clone())
    }

    async fn heal_all(&mut self) -> Vec<(FaultOp, Result<Value, String>)> {
        let mut out = Vec::new();
        self.net.heal();
        if let Some(op) = self.plan_stop() {
            let r = self.apply(&op).await;
            out.push((op, r));
        }
        out
    }

    async fn verify_healed(&mut self) -> Result<String, String> {
        let server = &self.broker.server;
        if server.is_paused() {
            return Err("n1 is still paused".into());
        }
        if !self.net.blocked().is_empty() {
            return Err("the clients' link to n1 is still blocked".into());
        }
        self.broker
            .wait_ready(Duration::from_secs(90))
            .await
            .map(|()| "the broker accepts AMQP connections again".to_string())
    }
}
