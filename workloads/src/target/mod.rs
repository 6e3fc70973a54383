//! Targets of `faultline run`: the systems under test, one folder each, behind one [`Target`]
//! trait, and the one sequence every run follows ([`drive`]): start (or attach to) the nodes →
//! hand out clients → nemesis → run → collect logs → shut down.
//!
//! A target says what it supports ([`Target::supports`]: workloads and faults, refused with a
//! typed [`RunError`] otherwise), starts or attaches to its nodes ([`Target::start`]), and its
//! running [`Nodes`] hand out clients, perform the fault primitives of
//! [`crate::nemesis::Primitives`] and shut down. The seeded fault schedule is
//! [`crate::nemesis::Schedule`], shared by all.
//!
//! **Flags.** Each target's own flags are a clap `Args` struct in its folder
//! ([`Target::Args`]); the registry flattens them all into `run`'s arguments, each under its own
//! help heading. They live here rather than in the binary so that a new target is one folder
//! plus one registry line, and so that the target itself validates them (the binary stays
//! thin); the cost is a clap dependency of this library, which the binary has anyway. Flags
//! several targets share (`--nodes`, `--local-nodes`, `--read-from`) are [`ServerArgs`]; a
//! target lists the ones it takes in [`Target::SHARED_FLAGS`]. A flag of another target is
//! refused ([`RunError::ForeignFlag`]).
//!
//! **Adding a target**: a folder `target/<name>/` with a type implementing [`Target`] (its
//! client(s), launcher and [`crate::nemesis::Primitives`]) and one line in the `registry!`
//! below (which declares the module too).

pub mod server;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::client::Client;
pub use crate::error::RunError;
use crate::generator::WorkloadKind;
use crate::nemesis::{
    CorruptFile, CorruptSpec, Fault, NodeSet, PacketKind, PacketSpec, Primitives, Schedule,
};
use crate::recorder::Recorder;
use crate::runner::{self, NoNemesis, Progress, RunConfig, RunSummary};

/// The registry: one line per target, `Variant = "name" => module::Type`, its doc the
/// `--target` help. Declares each target's module (its folder) and generates [`TargetKind`]
/// (the `--target` values) and [`TargetArgs`] (every target's flags).
macro_rules! registry {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal => $module:ident :: $ty:ident ),* $(,)?) => {
        $( pub mod $module; )*

        /// `--target` of `faultline run`: which system a run is pointed at.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
        pub enum TargetKind {
            $( $(#[$doc])* #[value(name = $name)] $variant, )*
        }

        impl TargetKind {
            /// Every target, in `--help` order.
            pub const ALL: &'static [TargetKind] = &[$(TargetKind::$variant),*];

            /// The target's name on the command line (`http-kv`).
            pub fn name(self) -> &'static str {
                match self { $(TargetKind::$variant => $name,)* }
            }

            /// The flags of this target's own group that were given.
            fn own_flags_given(self, args: &TargetArgs) -> Vec<&'static str> {
                match self { $(TargetKind::$variant => args.$module.given(),)* }
            }

            /// The shared flags ([`ServerArgs`]) this target takes.
            fn shared_flags(self) -> &'static [&'static str] {
                match self { $(TargetKind::$variant => <$module::$ty as Target>::SHARED_FLAGS,)* }
            }

            fn build(self, spec: &Spec<'_>) -> Result<Box<dyn AnyTarget>, RunError> {
                match self {
                    $(TargetKind::$variant => Ok(Box::new(<$module::$ty as Target>::plan(spec)?)),)*
                }
            }
        }

        /// Every target's flags, flattened into `run`'s arguments (each group under its
        /// target's help heading).
        #[derive(Debug, Clone, Default, clap::Args)]
        pub struct TargetArgs {
            /// Flags several server targets share.
            #[command(flatten)]
            pub servers: ServerArgs,
            $(
                #[allow(missing_docs)]
                #[command(flatten)]
                pub $module: <$module::$ty as Target>::Args,
            )*
        }
    };
}

registry! {
    /// The embedded demo store, started by faultline as 3 processes on loopback (every fault).
    Demo = "demo" => demo::Demo,
    /// Any service speaking the http-kv protocol (docs/http-kv.md), at --nodes (faults with
    /// --ssh-nodes and a node profile: docs/remote.md).
    HttpKv = "http-kv" => http_kv::HttpKvTarget,
    /// An in-process linearizable map (sanity baseline; no faults).
    Local = "local" => local::LocalTarget,
    /// etcd v3: a cluster faultline starts locally or on --ssh-nodes (kill, pause, partition),
    /// or yours at --nodes.
    Etcd = "etcd" => etcd::EtcdTarget,
    /// Redis: a local primary + replicas faultline starts (kill, pause), or yours at --nodes.
    Redis = "redis" => redis::RedisTarget,
    /// PostgreSQL 15: a local server (and --replicas) faultline starts, or yours at --nodes.
    Postgres = "postgres" => postgres::PostgresTarget,
    /// RabbitMQ: a local broker faultline starts (queue workload), or yours at --nodes.
    Rabbitmq = "rabbitmq" => rabbitmq::RabbitTarget,
    /// An in-process map that forgets everything when killed (kill only; a worked example).
    Amnesiac = "amnesiac" => amnesiac::Amnesiac,
}

/// A target's flag group: which of its flags were given (to refuse them on other targets).
pub trait FlagGroup {
    /// The long names (`--etcd-api`) of the flags given on the command line.
    fn given(&self) -> Vec<&'static str>;
}

/// The flag group of a target without flags of its own.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct NoArgs {}

impl FlagGroup for NoArgs {
    fn given(&self) -> Vec<&'static str> {
        Vec::new()
    }
}

/// Where reads go (`--read-from`, Redis and PostgreSQL with replicas).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReadFrom {
    /// Every operation on the primary.
    Primary,
    /// Reads on a replica (asynchronously replicated: may be stale).
    Replica,
}

/// Flags several server targets share.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Servers (http-kv, etcd, redis, postgres, rabbitmq)")]
pub struct ServerArgs {
    /// The target's nodes, HOST:PORT,... (http-kv: required; etcd, redis, postgres, rabbitmq:
    /// yours instead of servers faultline starts, primary first; no faults then).
    #[arg(long, value_name = "ADDR,...", value_delimiter = ',')]
    pub nodes: Vec<SocketAddr>,

    /// Number of servers faultline starts for --target etcd (default 3) or redis (default 3:
    /// a primary and 2 replicas) when --nodes is not given.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=9))]
    pub local_nodes: Option<u64>,

    /// Redis, and PostgreSQL with --replicas: where reads go (default primary).
    #[arg(long, value_enum, value_name = "WHERE")]
    pub read_from: Option<ReadFrom>,

    /// The machines the nodes run on, reached over SSH (http-kv: the user's service there;
    /// etcd: faultline starts the members there).
    #[command(flatten)]
    pub ssh: crate::remote::SshArgs,
}

impl FlagGroup for ServerArgs {
    fn given(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if !self.nodes.is_empty() {
            out.push("--nodes");
        }
        if self.local_nodes.is_some() {
            out.push("--local-nodes");
        }
        if self.read_from.is_some() {
            out.push("--read-from");
        }
        out.extend(self.ssh.given());
        out
    }
}

/// Everything a target needs to plan itself.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    /// The workload.
    pub workload: WorkloadKind,
    /// The faults to inject.
    pub faults: &'a [Fault],
    /// Every target's flags (a target reads its own group and the shared one).
    pub args: &'a TargetArgs,
    /// Per-operation timeout of the clients.
    pub op_timeout: Duration,
    /// The target sets partitions and packet faults aim at (`--nemesis-targets`; empty: the
    /// defaults).
    pub targets: &'a [NodeSet],
    /// What a packet fault does (`--packet`).
    pub packet: PacketSpec,
    /// What a file corruption does (`--corrupt`).
    pub corrupt: CorruptSpec,
}

/// What a target's nemesis can do beyond the fault kinds its `supports` takes: the checks of
/// `--nemesis-targets` and `--packet` before a run.
#[derive(Debug, Clone, Default)]
pub struct NemesisSupport {
    /// Partitions drawn from `--nemesis-targets` (the target cuts any symmetric grudge).
    pub targets: bool,
    /// One-way grudges (a node stops hearing others that still hear it).
    pub one_way: bool,
    /// The target says which nodes lead now (the `primaries` set).
    pub primaries: bool,
    /// The parts of a packet fault it does.
    pub packet: Vec<PacketKind>,
    /// What is missing for the other parts (the refusal's reason).
    pub packet_missing: &'static str,
    /// The files in a node's data directory whose corruption matters (`--nemesis corrupt`;
    /// the first is the default); empty: the fault is refused.
    pub corrupt_files: Vec<CorruptFile>,
    /// Why it names no files (the refusal's reason), when it names none.
    pub corrupt_missing: &'static str,
}

impl TargetKind {
    /// Plans a run against this target: refuses flags of other targets, lets the target read
    /// its flags, and refuses workloads and faults it does not support.
    pub fn plan(self, spec: &Spec<'_>) -> Result<Box<dyn AnyTarget>, RunError> {
        self.refuse_foreign_flags(spec.args)?;
        if self != TargetKind::Demo {
            crate::nemesis::clock::refuse_clock(self.name(), spec.faults, self.no_clock_reason())?;
        }
        let lazy_targets = [
            TargetKind::Demo,
            TargetKind::Redis,
            TargetKind::Etcd,
            TargetKind::Postgres,
        ];
        if !lazy_targets.contains(&self) && spec.faults.contains(&Fault::LoseUnfsynced) {
            return Err(RunError::FaultUnsupported {
                target: self.name().to_string(),
                fault: "lose-unfsynced".into(),
                missing: "faultline mounts its FUSE filesystem (which forgets unsynced writes) \
                          only under the data directories of the servers it starts on this \
                          machine: --target demo (--fsync never|always), redis \
                          (--redis-appendfsync no|always), etcd, postgres (docs/nemesis.md)"
                    .into(),
            });
        }
        let target = self.build(spec)?;
        target.supports(spec.workload, spec.faults)?;
        refuse_nemesis_parts(self.name(), &target.nemesis_support(), spec)?;
        Ok(target)
    }

    /// Why this target cannot take clock faults (every target but the demo).
    fn no_clock_reason(self) -> &'static str {
        match self.name() {
            "etcd" => {
                "etcd is a Go program, which reads the clock without libc, so libfaketime cannot \
                 move it; faultline does not set the clocks of --ssh-nodes hosts"
            }
            "http-kv" => {
                "the service is the user's (--nodes, or --ssh-nodes hosts whose clocks faultline \
                 does not set)"
            }
            _ => {
                "faultline does not start it under libfaketime, does not set the clocks of \
                 --ssh-nodes hosts, and cannot reach the clocks of --nodes servers"
            }
        }
    }

    fn refuse_foreign_flags(self, args: &TargetArgs) -> Result<(), RunError> {
        let foreign = |flag: &'static str, owners: Vec<TargetKind>| RunError::ForeignFlag {
            flag,
            owners: owners
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(", "),
            target: self.name(),
        };
        for &other in TargetKind::ALL.iter().filter(|&&k| k != self) {
            if let Some(flag) = other.own_flags_given(args).first() {
                return Err(foreign(flag, vec![other]));
            }
        }
        for flag in args.servers.given() {
            if !self.shared_flags().contains(&flag) {
                let owners = TargetKind::ALL
                    .iter()
                    .copied()
                    .filter(|k| k.shared_flags().contains(&flag))
                    .collect();
                return Err(foreign(flag, owners));
            }
        }
        Ok(())
    }
}

/// What the nemesis does on `--ssh-nodes` (iptables on each host): any grudge, one-way too;
/// packet loss with `statistic`; no delay or duplication (no netem driven).
pub fn ssh_nemesis_support() -> NemesisSupport {
    NemesisSupport {
        targets: true,
        one_way: true,
        primaries: false,
        packet: vec![PacketKind::Loss],
        packet_missing: "on --ssh-nodes faultline injects packet loss with iptables `statistic` \
                         only; delay and duplication need tc netem, which faultline does not \
                         drive (and this machine's kernel lacks); use --packet loss=P",
        corrupt_files: Vec::new(),
        corrupt_missing: "faultline does not corrupt files on --ssh-nodes hosts (file \
                          corruption: the servers it starts on this machine — --target demo \
                          --mode sync or lease, redis with --redis-appendfsync, etcd)",
    }
}

/// Refuses target sets and packet settings the target cannot do (exit 254, before the run).
pub fn refuse_nemesis_parts(
    target: &str,
    can: &NemesisSupport,
    spec: &Spec<'_>,
) -> Result<(), RunError> {
    let refuse = |fault: String, missing: &str| RunError::FaultUnsupported {
        target: target.to_string(),
        fault,
        missing: missing.to_string(),
    };
    let aimed = spec.faults.contains(&Fault::Partition)
        || spec.faults.contains(&Fault::Packet)
        || spec.faults.contains(&Fault::LoseUnfsynced);
    if !spec.targets.is_empty() {
        if !aimed {
            return Err(RunError::Usage(
                "--nemesis-targets applies to the partition, packet and lose-unfsynced faults; add one to                  --nemesis"
                    .into(),
            ));
        }
        if spec.faults.contains(&Fault::Partition) && !can.targets {
            return Err(refuse(
                "--nemesis-targets".into(),
                "it aims its partitions itself (docs/nemesis.md says how); leave out                  --nemesis-targets",
            ));
        }
        if spec.targets.contains(&NodeSet::OneWay) && !can.one_way {
            return Err(refuse(
                "--nemesis-targets one-way".into(),
                "its links are cut in both directions at once (one-way grudges need the demo                  store's proxies, iptables on --ssh-nodes or the Maelstrom router)",
            ));
        }
        if spec.targets.contains(&NodeSet::Primaries) && !can.primaries {
            return Err(refuse(
                "--nemesis-targets primaries".into(),
                "it cannot say which nodes lead now; use one, minority, majority or                  minority-third",
            ));
        }
    }
    if spec.faults.contains(&Fault::Packet) {
        for kind in spec.packet.kinds() {
            if !can.packet.contains(&kind) {
                let missing = if can.packet_missing.is_empty() {
                    "faultline neither relays its traffic nor controls its hosts' firewall                      (packet faults: --target demo, --ssh-nodes, faultline maelstrom test)"
                } else {
                    can.packet_missing
                };
                return Err(refuse(format!("packet {}", kind.name()), missing));
            }
        }
    }
    if spec.faults.contains(&Fault::Corrupt) {
        if can.corrupt_files.is_empty() {
            let missing = if can.corrupt_missing.is_empty() {
                "it does not say which of its files matter (file corruption: the servers \
                 faultline starts on this machine — --target demo --mode sync or lease, redis \
                 with --redis-appendfsync, etcd — whose files are named in docs/nemesis.md)"
            } else {
                can.corrupt_missing
            };
            return Err(refuse("corrupt".into(), missing));
        }
        if let Some(file) = &spec.corrupt.file {
            if crate::nemesis::corrupt::find(&can.corrupt_files, file).is_none() {
                let names: Vec<String> = can.corrupt_files.iter().map(|f| f.describe()).collect();
                return Err(RunError::Usage(format!(
                    "--corrupt file={file}: --target {target} names the files {} (choose one)",
                    names.join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// What starting a target needs.
pub struct StartCtx<'a> {
    /// The run's store directory (node data and logs go under it).
    pub dir: &'a Path,
    /// The faults the nemesis will inject (etcd starts in namespaces for partitions).
    pub faults: &'a [Fault],
    /// Where to say what is happening (run.log).
    pub progress: &'a Arc<Progress>,
}

/// A system under test.
#[async_trait::async_trait]
pub trait Target: Sized + Send + Sync + 'static {
    /// The target's own flags (in its folder), flattened into `run`'s.
    type Args: clap::Args + FlagGroup + Clone + Default + std::fmt::Debug;
    /// The client the workers use.
    type Client: Client;
    /// The started (or attached) nodes.
    type Nodes: Nodes<Client = Self::Client>;
    /// Which shared flags ([`ServerArgs`]) it takes.
    const SHARED_FLAGS: &'static [&'static str] = &[];

    /// Reads the target's flags and checks them.
    fn plan(spec: &Spec<'_>) -> Result<Self, RunError>;
    /// The prefix of the run's label (`etcd`, `demo-sync`).
    fn label(&self) -> &'static str;
    /// A short description for logs and the summary.
    fn describe(&self) -> String;
    /// Refuses workloads and faults the target cannot take.
    fn supports(&self, workload: WorkloadKind, faults: &[Fault]) -> Result<(), RunError>;
    /// What its nemesis can do beyond the fault kinds (target sets, one-way cuts, primaries,
    /// packet faults); default: none of it.
    fn nemesis_support(&self) -> NemesisSupport {
        NemesisSupport::default()
    }
    /// Starts the nodes (or attaches to the user's).
    async fn start(&self, ctx: &StartCtx<'_>) -> Result<Self::Nodes, RunError>;
    /// Where the run's keys start, given the wall clock. A system faultline did not start
    /// (the user's, at `--nodes`) holds earlier runs' data, so such a target returns a
    /// run-unique base ([`crate::generator::key_base`]); servers faultline starts fresh keep
    /// the default 0, so their keys stay small.
    fn key_base(&self, _clock: Duration) -> u64 {
        0
    }
}

/// A target's running nodes.
#[async_trait::async_trait]
pub trait Nodes: Send + Sync + 'static {
    /// The client the workers use.
    type Client: Client;
    /// The fault primitives over these nodes.
    type Faults: Primitives;
    /// Number of nodes (worker `w` talks to node `w mod count`).
    fn count(&self) -> usize;
    /// A client (not yet opened).
    fn client(&self) -> Self::Client;
    /// The fault primitives, if faultline controls these nodes (`None`: the user's).
    fn primitives(&self) -> Option<Self::Faults>;
    /// The nodes' log files in the store directory (servers write them as they run).
    fn logs(&self) -> Vec<PathBuf> {
        Vec::new()
    }
    /// What faultline started, as run.log names it once it has stopped it (`demo store`,
    /// `etcd`); `None` when the nodes are the user's (nothing is stopped then).
    fn started(&self) -> Option<&'static str> {
        None
    }
    /// Stops the nodes faultline started (also their process trees and proxies).
    async fn shutdown(&self);
}

/// Primitives of nodes faultline does not control: every fault refused.
pub struct NoFaults(pub &'static str);

#[async_trait::async_trait]
impl Primitives for NoFaults {
    fn target(&self) -> &'static str {
        self.0
    }
    fn nodes(&self) -> usize {
        0
    }
    fn aim(&mut self, _fault: Fault, _rng: &mut checkers::Rng) -> Option<crate::nemesis::Aim> {
        None
    }
    async fn check_healed(&mut self) -> Result<String, crate::nemesis::NotHealed> {
        Ok("no faults were injected".into())
    }
}

/// Everything [`drive`] needs besides the target.
pub struct RunCtx {
    /// The run's store directory.
    pub dir: PathBuf,
    /// The runner's configuration (its `nodes` is set from the target).
    pub config: RunConfig,
    /// The faults to inject.
    pub faults: Vec<Fault>,
    /// The target sets partitions and packet faults aim at (empty: the defaults).
    pub targets: Vec<NodeSet>,
    /// What a packet fault does.
    pub packet: PacketSpec,
    /// What a file corruption does.
    pub corrupt: CorruptSpec,
    /// The history.
    pub recorder: Arc<Recorder>,
    /// Progress and run.log.
    pub progress: Arc<Progress>,
    /// Ctrl-C.
    pub stop: watch::Receiver<bool>,
}

/// The one run sequence: start → clients → nemesis → run → logs → shutdown.
pub async fn drive<T: Target>(target: &T, ctx: RunCtx) -> Result<RunSummary, RunError> {
    let RunCtx {
        dir,
        mut config,
        faults,
        targets,
        packet,
        corrupt,
        recorder,
        progress,
        stop,
    } = ctx;
    // While the run goes, a record in faultline's state directory lets `faultline heal` undo
    // what a SIGKILLed faultline leaves (crate::leftovers); dropped (removed) when drive ends.
    let _record = match crate::leftovers::register(&dir) {
        Ok(r) => Some(r),
        Err(e) => {
            progress.note(format!(
                "cannot record the run for `faultline heal` ({e}); a SIGKILLed run's leftovers \
                 will not be found"
            ));
            None
        }
    };
    let start = StartCtx {
        dir: &dir,
        faults: &faults,
        progress: &progress,
    };
    let nodes = target
        .start(&start)
        .await
        .map_err(|e| e.context(target.label()))?;
    config.nodes = nodes.count().max(1);
    let make = |_| nodes.client();
    let summary = match nodes.primitives() {
        Some(p) => {
            let nemesis = Schedule::new(p, faults, config.seed)
                .combined(config.seed)
                .with_targets(targets)
                .with_packet(packet)
                .with_corrupt(corrupt);
            runner::run(config, make, nemesis, recorder, progress.clone(), stop).await
        }
        None => runner::run(config, make, NoNemesis, recorder, progress.clone(), stop).await,
    };
    let logs = nodes.logs();
    if !logs.is_empty() {
        let shown: Vec<String> = logs
            .iter()
            .map(|p| p.strip_prefix(&dir).unwrap_or(p).display().to_string())
            .collect();
        progress.note(format!("node logs: {}", shown.join(" ")));
    }
    nodes.shutdown().await;
    if let Some(name) = nodes.started() {
        progress.note(format!("{name} stopped"));
    }
    Ok(summary)
}

/// A planned target, whatever its type: what the binary holds.
#[async_trait::async_trait]
pub trait AnyTarget: Send + Sync {
    /// See [`Target::label`].
    fn label(&self) -> &'static str;
    /// See [`Target::describe`].
    fn describe(&self) -> String;
    /// See [`Target::supports`].
    fn supports(&self, workload: WorkloadKind, faults: &[Fault]) -> Result<(), RunError>;
    /// See [`Target::nemesis_support`].
    fn nemesis_support(&self) -> NemesisSupport;
    /// See [`Target::key_base`].
    fn key_base(&self, clock: Duration) -> u64;
    /// Runs [`drive`] with this target.
    async fn drive(&self, ctx: RunCtx) -> Result<RunSummary, RunError>;
}

#[async_trait::async_trait]
impl<T: Target> AnyTarget for T {
    fn label(&self) -> &'static str {
        Target::label(self)
    }
    fn describe(&self) -> String {
        Target::describe(self)
    }
    fn supports(&self, workload: WorkloadKind, faults: &[Fault]) -> Result<(), RunError> {
        Target::supports(self, workload, faults)
    }
    fn nemesis_support(&self) -> NemesisSupport {
        Target::nemesis_support(self)
    }
    fn key_base(&self, clock: Duration) -> u64 {
        Target::key_base(self, clock)
    }
    async fn drive(&self, ctx: RunCtx) -> Result<RunSummary, RunError> {
        drive(self, ctx).await
    }
}

/// Refuses every fault: for targets whose nodes faultline does not control.
pub fn refuse_faults(target: &str, faults: &[Fault]) -> Result<(), RunError> {
    match faults.first() {
        None => Ok(()),
        Some(f) => Err(RunError::Usage(format!(
            "--nemesis {}: {target} has no faults (faultline controls neither its processes nor \
             its links); faults need --target demo, or etcd, redis, postgres or rabbitmq \
             started by faultline (no --nodes), or --ssh-nodes (docs/remote.md)",
            f.name()
        ))),
    }
}

/// Refuses a workload the target does not run.
pub fn refuse_workload(target: &str, workload: WorkloadKind, runs: &str) -> RunError {
    RunError::Usage(format!(
        "--target {target} runs --workload {runs}, not {}",
        workload.name()
    ))
}

/// The lowest port [`free_port`] picks.
const LOWEST_PICKED_PORT: u16 = 10_000;

/// A free loopback port (bound then released; the server binds it a moment later).
///
/// Picked at random below the kernel's ephemeral range (`ip_local_port_range`, from which
/// outgoing connections take their local ports and `bind(0)` picks): a port from that range
/// could be taken by any connection on the machine between this check and the server's bind
/// ("address already in use", seen in the suite with several clusters starting at once).
/// Falls back to a port the kernel picks when no random one is free.
pub fn free_port() -> Result<u16, crate::error::ServerError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEED: AtomicU64 = AtomicU64::new(0);
    let low = ephemeral_low().unwrap_or(32_768);
    if low > LOWEST_PICKED_PORT + 1_000 {
        let span = u64::from(low - LOWEST_PICKED_PORT);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let seed = SEED.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            ^ nanos
            ^ (u64::from(std::process::id()) << 32);
        let mut rng = checkers::Rng::new(seed);
        for _ in 0..64 {
            let port = LOWEST_PICKED_PORT + (rng.next_u64() % span) as u16;
            if TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).is_ok() {
                return Ok(port);
            }
        }
    }
    let addr = SocketAddr::from(([127, 0, 0, 1], 0));
    let failed = |source| crate::error::ServerError::Bind {
        what: "a free port".into(),
        addr,
        source,
    };
    let l = TcpListener::bind(addr).map_err(failed)?;
    Ok(l.local_addr().map_err(failed)?.port())
}

/// The first port of the kernel's ephemeral range, if it can be read.
fn ephemeral_low() -> Option<u16> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Finds a server program: `name` on `PATH`, else the first existing path in `fallbacks`
/// (Debian's places). Not found: [`RunError::MissingProgram`] naming the Debian `package`.
pub fn find_program(
    name: &str,
    fallbacks: &[&str],
    package: &'static str,
) -> Result<PathBuf, RunError> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(name)).collect())
        .unwrap_or_default();
    candidates.extend(fallbacks.iter().map(PathBuf::from));
    first_file(name, candidates, fallbacks, package)
}

/// Finds a program installed at exactly `path` (PostgreSQL's versioned binaries, which must
/// not be confused with another version's on `PATH`).
pub fn find_installed(path: &str, package: &'static str) -> Result<PathBuf, RunError> {
    let name = Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| path.to_string());
    first_file(&name, vec![PathBuf::from(path)], &[path], package)
}

/// The first candidate that is a file. With `FAULTLINE_PROGRAM_DIRS` set (a `:`-separated
/// list, used by tests), only `name` in those directories is looked for.
fn first_file(
    name: &str,
    candidates: Vec<PathBuf>,
    fallbacks: &[&str],
    package: &'static str,
) -> Result<PathBuf, RunError> {
    let (candidates, looked) = match std::env::var_os("FAULTLINE_PROGRAM_DIRS") {
        Some(dirs) => (
            std::env::split_paths(&dirs).map(|d| d.join(name)).collect(),
            format!("FAULTLINE_PROGRAM_DIRS={}", dirs.to_string_lossy()),
        ),
        None => (candidates, format!("PATH, {}", fallbacks.join(", "))),
    };
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| RunError::MissingProgram {
            program: name.to_string(),
            package,
            looked,
        })
}

/// Refuses the queue workload (only RabbitMQ runs it).
pub fn refuse_queue(workload: WorkloadKind) -> Result<(), RunError> {
    match workload {
        WorkloadKind::Queue => Err(RunError::Usage(
            "--workload queue runs against --target rabbitmq".into(),
        )),
        _ => Ok(()),
    }
}

/// `a,b,c` of addresses.
pub fn addr_list(nodes: &[SocketAddr]) -> String {
    nodes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// `local, 3 nodes` for servers faultline starts, else the user's addresses.
pub fn place(nodes: &[SocketAddr], n: usize) -> String {
    if nodes.is_empty() {
        format!("local, {n} node{}", if n == 1 { "" } else { "s" })
    } else {
        addr_list(nodes)
    }
}

/// Refuses faults when the user runs the servers (`--nodes`).
pub fn refuse_faults_on_user_nodes(nodes: &[SocketAddr], faults: &[Fault]) -> Result<(), RunError> {
    if !nodes.is_empty() && !faults.is_empty() {
        return Err(RunError::Usage(
            "--nemesis needs servers faultline starts: leave out --nodes".into(),
        ));
    }
    Ok(())
}

/// Refuses `--local-nodes` together with `--nodes`.
pub fn refuse_local_nodes_with_nodes(s: &ServerArgs) -> Result<(), RunError> {
    if !s.nodes.is_empty() && s.local_nodes.is_some() {
        return Err(RunError::Usage(
            "--local-nodes applies when faultline starts the servers (no --nodes)".into(),
        ));
    }
    Ok(())
}

/// Refuses `partition` on a target that cannot cut links.
pub fn refuse_partition(target: &str, faults: &[Fault]) -> Result<(), RunError> {
    if faults.contains(&Fault::Partition) {
        return Err(RunError::Usage(format!(
            "partition is available for --target etcd, postgres --replicas and rabbitmq \
             (client | broker), not {target}; use --nemesis kill, pause"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Guards the port race: a picked port lies below the ephemeral range (which outgoing
    /// connections draw from), is free, and successive picks differ.
    #[test]
    fn free_ports_are_picked_below_the_ephemeral_range() {
        let low = ephemeral_low().unwrap_or(32_768);
        let ports: Vec<u16> = (0..20).map(|_| free_port().unwrap()).collect();
        for &p in &ports {
            assert!(
                (LOWEST_PICKED_PORT..low).contains(&p),
                "{p} (ephemeral from {low})"
            );
            TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], p))).expect("free");
        }
        let distinct: std::collections::BTreeSet<u16> = ports.iter().copied().collect();
        assert!(distinct.len() > 15, "{ports:?}");
    }
}
