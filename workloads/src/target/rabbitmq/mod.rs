//! `--target rabbitmq`: RabbitMQ, one local broker faultline starts from Debian's
//! `rabbitmq-server` (with its own epmd), or the user's at `--nodes`; the queue workload.
//!
//! - [`client`]: the queue client over AMQP (publisher confirms, manual acks, durable queue,
//!   each switchable by a flag).
//! - [`launcher`]: starts epmd and the broker under the run's directory.
//! - [`RabbitFaults`]: kill (restarted on the same directories; waits for AMQP), pause, and
//!   partition — the clients reach the broker only through a faultline proxy ([`LinkNet`],
//!   clients as endpoint 1, the broker as 2), which the partition blackholes and the packet
//!   fault delays (and stalls for lost packets, as on the demo's links). Around a kill
//!   the run log says how many ready messages the broker reported in the queue just before
//!   it and just after the restart ([`launcher::ready_messages`]): the broker's own word,
//!   next to the checker's, on whether a loss happened inside the broker.

pub mod client;
pub mod launcher;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use checkers::Rng;
use serde_json::json;

use super::{FlagGroup, Nodes, RunError, Spec, StartCtx, Target};
use crate::generator::WorkloadKind;
use crate::nemesis::{
    Aim, Cut, Fault, Grudge, NemesisError, NotHealed, PacketKind, PacketSpec, Primitives,
};
use crate::net::proxy::LinkNet;
use crate::runner::Progress;
use client::{RabbitMq, RabbitOptions};
use launcher::LocalRabbit;

/// The RabbitMQ target's flags.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "RabbitMQ (--target rabbitmq)")]
pub struct RabbitArgs {
    /// A durable queue and persistent messages (`false`: a transient queue and transient
    /// messages, gone when the broker restarts). Default true.
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
    pub rabbitmq_durable: Option<bool>,

    /// Publisher confirms, an enqueue is ok once the broker acks it (`false`: ok as soon as it
    /// is sent). Default true.
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
    pub rabbitmq_confirms: Option<bool>,

    /// Dequeue with auto-ack (the broker forgets a message as soon as it sends it) instead of
    /// manual acks.
    #[arg(long)]
    pub rabbitmq_auto_ack: bool,
}

impl FlagGroup for RabbitArgs {
    fn given(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.rabbitmq_durable.is_some() {
            out.push("--rabbitmq-durable");
        }
        if self.rabbitmq_confirms.is_some() {
            out.push("--rabbitmq-confirms");
        }
        if self.rabbitmq_auto_ack {
            out.push("--rabbitmq-auto-ack");
        }
        out
    }
}

/// The RabbitMQ target.
#[derive(Debug, Clone)]
pub struct RabbitTarget {
    node: Option<SocketAddr>,
    options: RabbitOptions,
    timeout: Duration,
}

#[async_trait::async_trait]
impl Target for RabbitTarget {
    type Args = RabbitArgs;
    type Client = RabbitMq;
    type Nodes = RabbitNodes;
    const SHARED_FLAGS: &'static [&'static str] = &["--nodes"];

    fn plan(spec: &Spec<'_>) -> Result<Self, RunError> {
        let nodes = &spec.args.servers.nodes;
        if nodes.len() > 1 {
            return Err(RunError::Usage("--target rabbitmq runs one broker".into()));
        }
        let a = &spec.args.rabbitmq;
        Ok(RabbitTarget {
            node: nodes.first().copied(),
            options: RabbitOptions {
                durable: a.rabbitmq_durable.unwrap_or(true),
                confirms: a.rabbitmq_confirms.unwrap_or(true),
                auto_ack: a.rabbitmq_auto_ack,
            },
            timeout: spec.op_timeout,
        })
    }
    fn label(&self) -> &'static str {
        "rabbitmq"
    }
    fn describe(&self) -> String {
        let nodes: Vec<SocketAddr> = self.node.into_iter().collect();
        format!(
            "rabbitmq ({}; {})",
            super::place(&nodes, 1),
            self.options.describe()
        )
    }
    fn nemesis_support(&self) -> super::NemesisSupport {
        // The clients' link to the broker is a faultline proxy: delay and loss (as the
        // retransmission stall) in it, as on the demo's links.
        super::NemesisSupport {
            packet: vec![PacketKind::Delay, PacketKind::Loss],
            packet_missing: "the clients reach the broker over TCP through faultline's proxy, \
                             and a duplicated TCP segment is discarded by the receiving \
                             kernel, so duplication would show nothing; use delay, jitter and \
                             loss",
            ..Default::default()
        }
    }
    fn supports(&self, workload: WorkloadKind, faults: &[Fault]) -> Result<(), RunError> {
        let nodes: Vec<SocketAddr> = self.node.into_iter().collect();
        super::refuse_faults_on_user_nodes(&nodes, faults)?;
        match workload {
            WorkloadKind::Queue => Ok(()),
            w => Err(super::refuse_workload("rabbitmq", w, "queue")),
        }
    }
    async fn start(&self, ctx: &StartCtx<'_>) -> Result<RabbitNodes, RunError> {
        if let Some(addr) = self.node {
            let clock = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let queue = client::queue_name(true, clock);
            ctx.progress.note(format!(
                "rabbitmq: your broker at {addr}; this run's queue is {queue} (run-unique; \
                 delete it when done: rabbitmqctl delete_queue {queue})"
            ));
            return Ok(RabbitNodes {
                target: self.clone(),
                via: addr,
                queue: queue.into(),
                local: None,
                progress: ctx.progress.clone(),
            });
        }
        ctx.progress.note("starting rabbitmq on loopback");
        let broker = Arc::new(LocalRabbit::start(ctx.dir).await?);
        // Clients reach the broker through a proxy (clients = endpoint 1, broker = 2), which
        // the partition fault blackholes.
        let net = match LinkNet::bind(2).await {
            Ok(n) => Arc::new(n),
            Err(e) => {
                broker.shutdown().await;
                return Err(RunError::Start(format!(
                    "cannot bind the client proxy: {e}"
                )));
            }
        };
        let _ = net.set_upstream(2, broker.amqp);
        let via = net
            .addr(1, 2)
            .ok_or_else(|| RunError::Internal("no client proxy".into()))?;
        ctx.progress.note(format!(
            "rabbitmq up: amqp://{} (clients via the proxy at {via}); queue {}",
            broker.amqp,
            client::QUEUE
        ));
        Ok(RabbitNodes {
            target: self.clone(),
            via,
            queue: client::queue_name(false, Duration::ZERO).into(),
            local: Some((broker, net)),
            progress: ctx.progress.clone(),
        })
    }
}

/// The running (or the user's) broker.
pub struct RabbitNodes {
    target: RabbitTarget,
    /// Where the clients connect (the proxy, for a local broker).
    via: SocketAddr,
    /// The run's queue ([`client::queue_name`]).
    queue: Arc<str>,
    local: Option<(Arc<LocalRabbit>, Arc<LinkNet>)>,
    /// The run log, for what the broker reports around kills.
    progress: Arc<Progress>,
}

#[async_trait::async_trait]
impl Nodes for RabbitNodes {
    type Client = RabbitMq;
    type Faults = RabbitFaults;
    fn count(&self) -> usize {
        1
    }
    fn client(&self) -> RabbitMq {
        RabbitMq::new(
            self.via,
            self.target.options,
            self.queue.clone(),
            self.target.timeout,
        )
    }
    fn primitives(&self) -> Option<RabbitFaults> {
        let (broker, net) = self.local.clone()?;
        Some(RabbitFaults {
            broker,
            net,
            queue: self.queue.clone(),
            progress: self.progress.clone(),
            before_kill: None,
        })
    }
    fn logs(&self) -> Vec<std::path::PathBuf> {
        self.local
            .iter()
            .map(|(b, _)| b.server.log().to_path_buf())
            .collect()
    }
    fn started(&self) -> Option<&'static str> {
        self.local.as_ref().map(|_| "rabbitmq")
    }
    async fn shutdown(&self) {
        if let Some((broker, net)) = &self.local {
            net.shutdown();
            broker.shutdown().await;
        }
    }
}

/// The fault primitives over one local broker and the clients' proxy.
pub struct RabbitFaults {
    broker: Arc<LocalRabbit>,
    net: Arc<LinkNet>,
    queue: Arc<str>,
    progress: Arc<Progress>,
    /// The ready messages the broker reported just before the last kill.
    before_kill: Option<u32>,
}

impl RabbitFaults {
    /// The broker's count of ready messages in the run's queue, as a phrase for the run log.
    async fn count(&self) -> (Option<u32>, String) {
        match launcher::ready_messages(self.broker.amqp, &self.queue).await {
            Ok(n) => (Some(n), format!("{n} ready messages")),
            Err(launcher::CountError::NoQueue) => (
                Some(0),
                "0 ready messages (the broker has no queue by that name)".to_string(),
            ),
            Err(e) => (None, format!("no count ({e})")),
        }
    }
}

#[async_trait::async_trait]
impl Primitives for RabbitFaults {
    fn target(&self) -> &'static str {
        "rabbitmq"
    }
    fn salt(&self) -> u64 {
        0x0AB_B17F
    }
    fn nodes(&self) -> usize {
        1
    }
    fn aim(&mut self, fault: Fault, _rng: &mut Rng) -> Option<Aim> {
        Some(match fault {
            Fault::Partition => {
                let value = json!({"kind": "clients-broker", "groups": [["clients"], ["n1"]]});
                Aim::Cut(Box::new(Cut {
                    grudge: Grudge::from_pairs(&[(1, 2)]),
                    value: value.clone(),
                    stop_value: value,
                    summary: "partition clients | n1".into(),
                    stop_summary: "heal clients | n1".into(),
                }))
            }
            Fault::Kill | Fault::Pause => Aim::Node(0),
            // Refused by `TargetKind::plan`: only the demo's nodes run under libfaketime.
            Fault::ClockBump | Fault::ClockStrobe | Fault::ClockSkew => return None,
            // Refused before the run (no files named: `NemesisSupport::corrupt_files`).
            Fault::Packet | Fault::Corrupt => return None,
            // Aimed by the schedule (at the nodes of a target set).
            Fault::LoseUnfsynced => return None,
        })
    }
    async fn kill(&mut self, _node: usize) -> Result<(), NemesisError> {
        let (n, said) = self.count().await;
        self.before_kill = n;
        self.progress.note(format!(
            "rabbitmq: queue {} holds {said} just before the kill (the broker's count)",
            self.queue
        ));
        Ok(self.broker.server.kill().await?)
    }
    async fn restart(&mut self, _node: usize) -> Result<(), NemesisError> {
        self.broker.server.restart().await?;
        // The broker takes seconds to boot; the next fault waits until it is back, so that
        // every kill hits a running broker.
        self.broker.wait_ready(Duration::from_secs(90)).await?;
        let (_, said) = self.count().await;
        let before = self
            .before_kill
            .take()
            .map_or_else(|| "no count".to_string(), |n| n.to_string());
        self.progress.note(format!(
            "rabbitmq: queue {} holds {said} after the restart ({before} before the kill; \
             the broker's count)",
            self.queue
        ));
        Ok(())
    }
    async fn pause(&mut self, _node: usize) -> Result<(), NemesisError> {
        Ok(self.broker.server.pause(true)?)
    }
    async fn resume(&mut self, _node: usize) -> Result<(), NemesisError> {
        Ok(self.broker.server.pause(false)?)
    }
    async fn cut(&mut self, grudge: &Grudge) -> Result<(), NemesisError> {
        self.net
            .block(&grudge.pairs())
            .map_err(NemesisError::from)
    }
    async fn heal(&mut self) {
        self.net.heal();
    }
    async fn packet(&mut self, _nodes: &[usize], spec: &PacketSpec) -> Result<(), NemesisError> {
        // The one node is the broker, endpoint 2 of the proxy: its link with the clients.
        self.net.set_packet(&[2], *spec);
        Ok(())
    }
    async fn heal_packets(&mut self) {
        self.net.heal_packets();
    }
    async fn check_healed(&mut self) -> Result<String, NotHealed> {
        if self.broker.server.is_paused() {
            return Err(NotHealed::Still("n1 is still paused"));
        }
        if !self.net.packet_nodes().is_empty() {
            return Err(NotHealed::Still(
                "a packet fault is still on the clients' link to n1",
            ));
        }
        if !self.net.blocked().is_empty() {
            return Err(NotHealed::Still("the clients' link to n1 is still blocked"));
        }
        self.broker
            .wait_ready(Duration::from_secs(90))
            .await
            .map(|()| "the broker accepts AMQP connections again".to_string())
            .map_err(NotHealed::from)
    }
}
