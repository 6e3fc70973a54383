//! Command-line arguments (clap derive) for every `faultline` command.
//!
//! This module only declares and parses arguments; what a command does lives in its own module
//! ([`crate::check`]). Parsing never exits the process: [`parse`] hands clap's errors back so
//! that `main` can map usage errors to exit code 254 (clap's own default is 2, which means
//! "unknown" in faultline's contract) and `--help`/`--version` to 0.

use checkers::history::Format;
use clap::{ArgGroup, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use serde_json::Value;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;
use workloads::target::{TargetArgs, TargetKind};

/// faultline: a Jepsen-style consistency checker.
#[derive(Debug, Parser)]
#[command(
    name = "faultline",
    version,
    about = "A Jepsen-style consistency checker: is this history linearizable? If not, why not.",
    long_about = "A Jepsen-style consistency checker. `faultline check` reads histories (JSON \
                  lines, JSON arrays, Jepsen/Knossos EDN, Jepsen text logs, Porcupine kv logs) and \
                  says whether each is linearizable with respect to a sequential model; for an \
                  invalid history it shows the smallest sub-history that cannot be linearized.\n\n\
                  Exit codes: 0 valid, 1 invalid, 2 unknown, 254 bad usage or input, 255 internal error.",
    arg_required_else_help = true,
    propagate_version = true
)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check histories: linearizability against a model (--model), or a workload's checker
    /// (--workload).
    Check(CheckArgs),
    /// Run a workload against a store while a nemesis injects faults, record the history,
    /// check it, and write a store directory.
    Run(Box<RunArgs>),
    /// The embedded demo: a 3-replica store in async then sync mode under partitions, checked
    /// and compared side by side (about 30 s).
    Demo(DemoArgs),
    /// Run one node of the embedded demo store (started by `faultline demo` / `run --target
    /// demo`; start three by hand to point `run --target http-kv` at them).
    ServeDemoNode(ServeDemoNodeArgs),
    /// Browse the store directory in a web browser: the runs with their verdicts, and each
    /// run's report, plots and files (binds 127.0.0.1 by default).
    Serve(ServeArgs),
    /// Run a test plan (faultline.toml): its cases' runs and saved histories, judged against
    /// their expectations and an optional baseline; a table, JUnit XML, exit 0 only when every
    /// expectation held (docs/ci.md).
    Test(TestArgs),
    /// Re-check and re-render a store directory (its history.jsonl, with the checker recorded
    /// in results.json) or a history file (--model/--workload as for check): results.json,
    /// report.html, latency.svg, rate.svg.
    Report(ReportArgs),
    /// Undo what a killed faultline left behind. Without --ssh-nodes: on this machine, the
    /// processes a faultline that is gone started, their clock-fault timestamp files (back
    /// to +0), libfaketime's orphaned /dev/shm files and its dead FUSE mounts
    /// (lose-unfsynced). With --ssh-nodes: on those hosts, its iptables chain and paused
    /// processes; then check that every host reaches every other.
    Heal(HealArgs),
    /// Maelstrom compatibility: `faultline maelstrom test` runs Maelstrom node programs
    /// unchanged, with Maelstrom's flags (docs/maelstrom.md).
    Maelstrom(MaelstromArgs),
}

/// Arguments of `faultline maelstrom`.
#[derive(Debug, Args)]
pub struct MaelstromArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: MaelstromCommand,
}

/// Subcommands of `faultline maelstrom`.
#[derive(Debug, Subcommand)]
pub enum MaelstromCommand {
    /// Run a Maelstrom workload against node programs (--bin), with Maelstrom's flags; record,
    /// check and write a store directory like `faultline run`.
    Test(MaelstromTestArgs),
}

/// Arguments of `faultline maelstrom test`: Maelstrom's flag names and meanings, plus a few of
/// faultline's own (seed, store, timeouts, output format).
#[derive(Debug, Args)]
pub struct MaelstromTestArgs {
    /// The workload: echo, unique-ids, broadcast, g-set, g-counter, pn-counter, kafka, lin-kv,
    /// txn-list-append, txn-rw-register.
    #[arg(short = 'w', long, value_name = "NAME", default_value = "lin-kv")]
    pub workload: String,

    /// The node program, started once per node (n1, n2, …); words after the flags that are not
    /// flags themselves (or everything after `--`) are its arguments.
    #[arg(long, value_name = "FILE")]
    pub bin: PathBuf,

    /// Arguments for the node program.
    #[arg(value_name = "ARGS")]
    pub node_args: Vec<String>,

    /// Number of node programs.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub node_count: u64,

    /// Seconds of the whole run: node start, init, requests and faults, then healing,
    /// convergence and final reads, which the clients stop early enough to leave room for
    /// (from --latency and the topology; at most a quarter). The check comes after.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, default_value = "60")]
    pub time_limit: Duration,

    /// Requests per second over all clients.
    #[arg(long, value_name = "R", value_parser = parse_requests_per_second, default_value = "5")]
    pub rate: f64,

    /// Clients: a number, or `Kn` for K times the node count.
    #[arg(long, value_name = "C", default_value = "1n")]
    pub concurrency: String,

    /// Mean network latency of every message, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub latency: u64,

    /// Shape of the latency distribution.
    #[arg(long, value_enum, value_name = "DIST", default_value = "constant")]
    pub latency_dist: workloads::maelstrom::LatencyDist,

    /// Faults: partition (Maelstrom's), and faultline's partition-one-way, kill (SIGKILL and
    /// restart with init again), pause (SIGSTOP/SIGCONT), packet (delay, loss, duplication in
    /// the router, --packet); comma-separated or repeated; one fault at a time.
    #[arg(long, value_name = "FAULT", value_delimiter = ',')]
    pub nemesis: Vec<String>,

    /// What --nemesis packet does to every message of the nodes it hits: delay=MS, jitter=MS,
    /// loss=P, duplicate=P (default delay=50ms,jitter=25ms,loss=0.05). Unlike --message-loss
    /// (all the time, between nodes, no ops), a packet fault comes and goes as recorded ops.
    #[arg(long, value_name = "SPEC")]
    pub packet: Option<String>,

    /// Seconds between fault changes (a fault holds this long, then as long healed).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, default_value = "10")]
    pub nemesis_interval: Duration,

    /// The broadcast topology sent to every node after init.
    #[arg(long, value_enum, value_name = "SHAPE", default_value = "grid")]
    pub topology: workloads::maelstrom::Topology,

    /// Fraction of client requests that must succeed (0..1, or `total` for 1); below it the
    /// verdict is invalid.
    #[arg(long, value_name = "X")]
    pub availability: Option<String>,

    /// Consistency models the txn workloads are checked for, comma-separated (default
    /// strict-serializable).
    #[arg(long, value_name = "M,...")]
    pub consistency_models: Option<String>,

    /// Keys of the lin-kv and kafka workloads, and keys at a time of the txn workloads.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub key_count: u64,

    /// At most this many micro-operations per transaction (txn workloads; default 4).
    #[arg(long, value_name = "N")]
    pub max_txn_length: Option<u64>,

    /// txn workloads: the cycle-search budget of one strongly connected component, in seconds
    /// (as `check --cycle-search-timeout`; Elle's :cycle-search-timeout): when it runs out,
    /// the anomaly classes not yet searched there are unknown. Default: 10.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub cycle_search_timeout: Option<Duration>,

    /// Txn workloads: a key is retired for a fresh one after this many writes (default 16).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_writes_per_key: Option<u64>,

    /// Probability (0..1) that a message between two nodes is lost, during the main phase
    /// (faultline's; healing at the end stops it).
    #[arg(long, value_name = "P", value_parser = parse_probability, default_value = "0")]
    pub message_loss: f64,

    /// Echo the nodes' stderr on faultline's stderr (it always goes to STORE/…/nN.log).
    #[arg(long)]
    pub log_stderr: bool,

    /// Log every message when it is sent into the network (lost ones too) to STORE/…/net.log:
    /// one JSON line each, {"us": µs since start, "event": "send", "msg": MESSAGE}.
    #[arg(long)]
    pub log_net_send: bool,

    /// Log every message when it is delivered to its receiver (never lost ones) to
    /// STORE/…/net.log: {"us": µs since start, "event": "recv", "msg": MESSAGE}.
    #[arg(long)]
    pub log_net_recv: bool,

    /// Seed of the generators, the latency and the nemesis (default: from the clock).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Where the run's directory goes (STORE/maelstrom-WORKLOAD/TIMESTAMP/).
    #[arg(long, value_name = "DIR", default_value = "store")]
    pub store: PathBuf,

    /// A client's RPC timeout in seconds (an unanswered request is indefinite: info).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, default_value = "5")]
    pub rpc_timeout: Duration,

    /// Seconds a node has to answer init with init_ok.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, default_value = "10")]
    pub init_timeout: Duration,

    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: OutputFormat,
}

/// A probability from 0 to 1 (`--message-loss`).
fn parse_probability(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!(
            "expected a probability from 0 to 1, found {text:?}"
        )),
    }
}

/// Arguments of `faultline heal`.
#[derive(Debug, Args)]
pub struct HealArgs {
    /// The hosts and how to reach them.
    #[command(flatten)]
    pub ssh: workloads::remote::SshArgs,

    /// Also stop the database members an earlier run started on the hosts and left running
    /// (under /var/lib/faultline/runs/), remove their directories, and end stale `ssh -M`
    /// master processes of dead faultline runs on this machine. Without it, heal only says
    /// what it found.
    #[arg(long)]
    pub remove_leftovers: bool,
}

/// Arguments of `faultline test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// The plan file (docs/ci.md).
    #[arg(value_name = "PLAN", default_value = "faultline.toml")]
    pub plan: std::path::PathBuf,

    /// Run only this case (repeatable; default: every case).
    #[arg(long = "case", value_name = "NAME")]
    pub cases: Vec<String>,

    /// Run each run case with N seeds: its first seed (or one from the clock) and the N-1
    /// after it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub seeds: Option<u64>,

    /// Run each run case once, with this seed (what a failing case's reproduce command says).
    #[arg(long, value_name = "S", conflicts_with = "seeds")]
    pub seed: Option<u64>,

    /// Run up to N cases at once (cases against user nodes — `nodes`, `nodes_env`, http-kv —
    /// still run one at a time).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub jobs: u64,

    /// Compare each case's figures with the baseline in DIR (DIR/baseline.json, written by
    /// --save-baseline); overrides the plan's `[baseline] dir`.
    #[arg(long, value_name = "DIR")]
    pub baseline: Option<PathBuf>,

    /// Write this run's figures to DIR/baseline.json, for later --baseline comparisons.
    #[arg(long, value_name = "DIR")]
    pub save_baseline: Option<PathBuf>,

    /// Directory holding the runs (default: the plan's `store`, else ./store).
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,

    /// Write the results as JUnit XML to FILE, one testcase per case (default: the plan's
    /// `junit`, if any).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Append the summary table as Markdown to FILE (in GitHub Actions:
    /// $GITHUB_STEP_SUMMARY).
    #[arg(long, value_name = "FILE")]
    pub summary_markdown: Option<PathBuf>,
}

/// Arguments of `faultline serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The store directory to serve.
    #[arg(long, value_name = "DIR", default_value = "store")]
    pub store: PathBuf,

    /// Port to listen on (0: any free port; the address is printed).
    #[arg(long, value_name = "N", default_value_t = 8080)]
    pub port: u16,

    /// Address to bind (default loopback only: the store may hold data you do not want to
    /// publish).
    #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
}

/// The transactional checkers' search flags, shared by `check`, `run` and `report`: which
/// anomalies to look for (list-append, rw-register) and which version-order assumptions the
/// rw-register inference may make (docs/transactions.md).
#[derive(Debug, Clone, Default, Args)]
pub struct TxnFlags {
    /// Anomalies to look for (Elle's :anomalies), comma-separated or repeated: each one and
    /// every anomaly that implies it is forbidden, on top of what --consistency forbids;
    /// without --consistency, only these are searched for (list-append, rw-register).
    #[arg(long, value_name = "ANOMALY,...", value_delimiter = ',')]
    pub anomalies: Vec<String>,

    /// rw-register: assume writes follow reads within a committed transaction (read x = 1,
    /// then write x = 2: 1 < 2). Holds for any database that is read committed or stronger.
    #[arg(long)]
    pub wfr_keys: bool,

    /// rw-register: assume each key is sequentially consistent (a process sees a key's
    /// versions in order across its transactions).
    #[arg(long)]
    pub sequential_keys: bool,

    /// rw-register: assume each key is linearizable (a transaction that began after another
    /// completed sees that one's version of the key or a later one).
    #[arg(long)]
    pub linearizable_keys: bool,

    /// The cycle-search budget of one strongly connected component, in seconds (decimals
    /// allowed; Elle's :cycle-search-timeout): when it runs out, the anomaly classes not yet
    /// searched there are unknown and the search goes on with the next component. Found
    /// anomalies still make the history invalid; otherwise the verdict is unknown (exit 2).
    /// Default: 10.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub cycle_search_timeout: Option<Duration>,
}

impl TxnFlags {
    /// The inference switches asked for.
    pub fn inference(&self) -> checkers::Inference {
        checkers::Inference {
            wfr_keys: self.wfr_keys,
            sequential_keys: self.sequential_keys,
            linearizable_keys: self.linearizable_keys,
        }
    }

    /// `--cycle-search-timeout`, or the default.
    pub fn cycle_search_timeout(&self) -> Duration {
        self.cycle_search_timeout
            .unwrap_or(checkers::DEFAULT_CYCLE_SEARCH_TIMEOUT)
    }

    /// The flags given that choose what to search for and how to infer, by name (for refusing
    /// them where they do not apply; `--cycle-search-timeout` is a budget, not among them).
    pub fn given(&self) -> Option<&'static str> {
        if !self.anomalies.is_empty() {
            Some("--anomalies")
        } else if self.wfr_keys {
            Some("--wfr-keys")
        } else if self.sequential_keys {
            Some("--sequential-keys")
        } else if self.linearizable_keys {
            Some("--linearizable-keys")
        } else {
            None
        }
    }
}

/// Arguments of `faultline report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A run's store directory (holding history.jsonl and results.json), or a history file.
    #[arg(value_name = "DIR|FILE")]
    pub path: PathBuf,

    /// Check with this model (default for a store directory: the one in results.json).
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,

    /// Check with this workload checker (default for a store directory: the one in
    /// results.json).
    #[arg(long, value_enum, value_name = "WORKLOAD")]
    pub workload: Option<Workload>,

    /// Consistency model for --workload list-append/rw-register (repeatable; default for a
    /// store directory: the ones recorded in results.json).
    #[arg(long, value_name = "MODEL")]
    pub consistency: Vec<String>,

    /// --anomalies and the rw-register inference switches (default for a store directory:
    /// the ones recorded in results.json).
    #[command(flatten)]
    pub txn: TxnFlags,

    /// Where to write (default: the store directory itself, or FILE.report/ for a file).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Wall-clock budget of the check, in seconds; past it the verdict is unknown (exit 2).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, default_value = "600")]
    pub time_limit: Duration,

    /// Memory budget of the check (a size such as 200MB or 1.5G; a bare number is MiB); past
    /// it the verdict is unknown. Default: half of the smaller of physical memory and the
    /// cgroup's limit.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_limit: Option<u64>,

    /// Also write the verdict as JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

/// Arguments of `faultline run`. Each target's own flags are its folder's clap `Args` struct
/// in `workloads/src/target/`, flattened here under the target's help heading; a flag of
/// another target is refused by the target registry (exit 254).
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// What to run against: one of the targets below (the registry in
    /// workloads/src/target/mod.rs); each target's own flags are under its heading further
    /// down (docs/targets.md).
    #[arg(long, value_enum, value_name = "TARGET")]
    pub target: TargetKind,

    /// The workload: register (read/write/cas), kv (get/put/append), list-append
    /// (transactions) or queue (enqueue/dequeue, --target rabbitmq).
    #[arg(long, value_name = "WORKLOAD", default_value = "register")]
    pub workload: String,

    /// Faults to inject: none, or a comma-separated list of partition, kill, pause, packet,
    /// corrupt (kill, corrupt a file --corrupt names, restart; --target demo --mode sync or
    /// lease, redis with --redis-appendfsync, etcd) (`all` is partition, kill, pause), and the clock faults clock-bump, clock-strobe,
    /// clock-skew (or clock; --target demo only, through libfaketime: docs/clocks.md), and
    /// lose-unfsynced (kill, drop every write not yet fsynced, restart: faultline's FUSE
    /// filesystem under the data directories of the servers it starts here — demo, redis with
    /// --redis-appendfsync, etcd, the single postgres with fsync on). Several
    /// kinds run at once, each on its own seeded schedule (clock faults on one schedule of
    /// their own). Faults need a target whose nodes faultline starts: demo, or etcd, redis,
    /// postgres, rabbitmq without --nodes (which faults each takes: docs/nemesis.md).
    #[arg(long, value_name = "FAULT,...", default_value = "none")]
    pub nemesis: String,

    /// Which nodes partitions and packet faults aim at, comma-separated (one drawn per fault):
    /// one, minority, majority, minority-third, primaries, all, the shapes halves, isolate,
    /// majorities-ring, bridge, and one-way (a node stops hearing the others). Default: the
    /// target's own shapes; packet faults hit every node.
    #[arg(long, value_name = "SET,...")]
    pub nemesis_targets: Option<String>,

    /// What --nemesis packet does to the traffic of the nodes it aims at: delay=MS,
    /// jitter=MS, loss=P, duplicate=P (comma-separated; default delay=50ms,jitter=25ms,loss=0.05).
    #[arg(long, value_name = "SPEC")]
    pub packet: Option<String>,

    /// What --nemesis corrupt does to a killed node's file before it restarts: bitflip=P (each
    /// bit flipped with probability P), truncate=BYTES (cut off the end), file=NAME (one of
    /// the files the target names, default its first — demo: log.bin, meta.json; redis: aof
    /// (the newest incremental append-only file), aof-base (its RDB base); etcd: wal (the
    /// newest WAL segment, what was written of it), db (member/snap/db)); each corruption
    /// draws one of the kinds given (default truncate=64).
    #[arg(long, value_name = "SPEC")]
    pub corrupt: Option<String>,

    /// Length of the main phase, in seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, default_value = "20")]
    pub time_limit: Duration,

    /// Stop the main phase after this many operations (at least 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub ops: Option<u64>,

    /// Concurrent client workers.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub concurrency: u64,

    /// Target operations per second over all workers (Jepsen's stagger): a positive number,
    /// or `unlimited` for as fast as the target answers (load tests). The default keeps a
    /// 60-second run's history checkable within the default budgets and still finds the known
    /// anomalies (docs/cli.md has the figures).
    #[arg(long, value_name = "OPS_PER_SEC", value_parser = parse_rate, default_value = DEFAULT_RATE)]
    pub rate: Rate,

    /// Number of keys the workload spreads over.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub keys: u64,

    /// The guard against histories that grow out of hand: once this many client operations
    /// are recorded, the main phase stops early, faults heal, and results.json says
    /// `"complete": false` with the reason (docs/cli.md: why this default).
    #[arg(long, value_name = "OPS", default_value_t = workloads::runner::DEFAULT_MAX_HISTORY, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_history: u64,

    /// Per-operation timeout in seconds; a timed-out operation is recorded as info.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, default_value = "1")]
    pub op_timeout: Duration,

    /// Quiet time before the first fault and between faults, in seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, default_value = "2")]
    pub nemesis_interval: Duration,

    /// How long each fault lasts, in seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, default_value = "3")]
    pub nemesis_hold: Duration,

    /// Consistency model checked for list-append (repeatable).
    #[arg(long, value_name = "MODEL")]
    pub consistency: Vec<String>,

    /// --anomalies for the list-append check (the inference switches apply to rw-register
    /// histories, which no run workload records: they are refused here).
    #[command(flatten)]
    pub txn: TxnFlags,

    /// Seed for every generator and the nemesis (default: from the clock; printed).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Directory holding the runs (each in its own subdirectory).
    #[arg(long, value_name = "DIR", default_value = "store")]
    pub store: PathBuf,

    /// Output format of the verdict.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,

    /// Wall-clock budget of the check after the run, in seconds (`--time-limit` is the length
    /// of the run itself); past it the verdict is unknown (exit 2).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, default_value = "300")]
    pub check_time_limit: Duration,

    /// Memory budget of the check after the run (a size such as 200MB or 1.5G; a bare number
    /// is MiB); past it the verdict is unknown. Default: half of the smaller of physical memory
    /// and the cgroup's limit.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_limit: Option<u64>,

    /// Also write the verdict as JUnit XML to FILE (one testcase: the run's history).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Every target's own flags (each group under its target's help heading).
    #[command(flatten)]
    pub targets: TargetArgs,
}

/// Arguments of `faultline demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Which mode(s) to run: both (async, then sync), or one of them.
    #[arg(long, value_enum, default_value_t = DemoMode::Both)]
    pub mode: DemoMode,

    /// Length of each mode's main phase, in seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, default_value = "10")]
    pub time_limit: Duration,

    /// Seed (default: from the clock; printed).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Directory holding the runs.
    #[arg(long, value_name = "DIR", default_value = "store")]
    pub store: PathBuf,
}

/// `--mode` of `faultline demo`.
/// `--independent`: Jepsen's `[key value]` tuples (checkers::history::Tuples).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Independent {
    /// Unwrap them when the history can be nothing else.
    Auto,
    /// Every client operation's value is one.
    Always,
    /// Never unwrap.
    Never,
}

impl From<Independent> for checkers::history::Tuples {
    fn from(i: Independent) -> Self {
        match i {
            Independent::Auto => checkers::history::Tuples::Auto,
            Independent::Always => checkers::history::Tuples::Always,
            Independent::Never => checkers::history::Tuples::Never,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DemoMode {
    /// async, then sync, compared side by side.
    Both,
    /// Only the async (primary/backup) store.
    Async,
    /// Only the sync (majority) store.
    Sync,
}

/// Arguments of `faultline serve-demo-node`.
#[derive(Debug, Args)]
pub struct ServeDemoNodeArgs {
    /// This node's id, 1-based.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub id: u64,

    /// Replication mode: async (primary/backup), sync (majority, linearizable) or lease (sync
    /// with leader reads under a wall-clock lease).
    #[arg(long, value_enum, default_value_t = StoreMode::Sync)]
    pub mode: StoreMode,

    /// Address of the http-kv server (port 0: any free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub http: std::net::SocketAddr,

    /// Address where peers connect (port 0: any free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub peer_listen: std::net::SocketAddr,

    /// Another node, as ID=ADDR (its peer address, or a proxy in front of it); repeat per peer.
    #[arg(long = "peer", value_name = "ID=ADDR", value_parser = parse_peer)]
    pub peers: Vec<(usize, std::net::SocketAddr)>,

    /// Directory for the node's durable state.
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,

    /// When the node fsyncs its log and term/vote (sync and lease modes): never (acknowledge
    /// after write(), survives a process crash only) or always (fsync before acting).
    #[arg(long, value_enum, default_value_t = workloads::target::demo::Fsync::Never)]
    pub fsync: workloads::target::demo::Fsync,
}

/// `--mode` of the demo store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreMode {
    /// Primary/backup, acknowledges before replicating, followers serve reads.
    Async,
    /// Majority-acknowledged writes, reads confirmed by a majority.
    Sync,
    /// As sync, but the leader answers reads alone under a wall-clock lease.
    Lease,
}

/// Parses `ID=ADDR`.
fn parse_peer(text: &str) -> Result<(usize, std::net::SocketAddr), String> {
    let (id, addr) = text
        .split_once('=')
        .ok_or_else(|| format!("expected ID=ADDR, got {text:?}"))?;
    let id: usize = id
        .parse()
        .map_err(|_| format!("expected a node id before '=', got {id:?}"))?;
    let addr = addr
        .parse()
        .map_err(|_| format!("expected HOST:PORT after '=', got {addr:?}"))?;
    Ok((id, addr))
}

/// Arguments of `faultline check`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("checker").required(true).args(["model", "workload"])))]
pub struct CheckArgs {
    /// Check linearizability against this sequential model (see the list below).
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,

    /// Check with a workload checker instead of a model (Elle list-append/rw-register, Jepsen
    /// counter, set, set-full, bank, long-fork, unique-ids, total-queue, causal-reverse, and
    /// elle-cli's sequential).
    #[arg(long, value_enum, value_name = "WORKLOAD")]
    pub workload: Option<Workload>,

    /// Consistency model for --workload list-append/rw-register; repeat the flag for several
    /// (default: serializable, unless --anomalies is given).
    #[arg(long, value_name = "MODEL")]
    pub consistency: Vec<String>,

    /// --anomalies and the rw-register inference switches.
    #[command(flatten)]
    pub txn: TxnFlags,

    /// Group size for --workload long-fork (at least 1).
    #[arg(long, value_name = "N", value_parser = parse_group_size)]
    pub group_size: Option<usize>,

    /// Allow negative balances for --workload bank.
    #[arg(long)]
    pub negative_balances: bool,

    /// The total every ok read's balances must add up to, for --workload bank (default: the
    /// first ok read's total).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub total_amount: Option<i64>,

    /// Output format: a readable report, or one JSON object per file per line.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,

    /// Read every FILE in this encoding instead of detecting it from the content.
    #[arg(long = "format-in", value_enum, value_name = "ENCODING")]
    pub format_in: Option<InputFormat>,

    /// Wall-clock budget per file for the search, in seconds (decimals allowed). When it runs
    /// out the verdict is unknown (exit 2), never a guess.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, default_value = "600")]
    pub time_limit: Duration,

    /// The model's initial state, as JSON: a value for register/cas-register, an integer for
    /// counter, an object for kv/multi-register, an array for set/queue/fifo-queue, true/false
    /// (held) for mutex. Default: null / 0 / empty / free.
    #[arg(long, value_name = "JSON", value_parser = parse_json, allow_hyphen_values = true)]
    pub initial: Option<Value>,

    /// Models: whether operation values are Jepsen's independent `[key value]` tuples
    /// (jepsen.independent: `:value [5 3]` writes 3 to key 5), checked key by key as Jepsen's
    /// independent checker does. auto: when the history can be nothing else (no `key` field,
    /// every value such a tuple, reads invoked as `[key nil]`, every cas `[key [old new]]`);
    /// always: every operation's value must be one; never: values are the model's own
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = Independent::Auto)]
    pub independent: Independent,

    /// Memory budget of the check, for the whole process's heap (all files together): past
    /// it the verdict is unknown (exit 2), never an out-of-memory kill. A size such as 200MB,
    /// 1.5G or 512MiB (binary units: 1 MB = 1 MiB); a bare number is MiB. Default: half of
    /// the smaller of physical memory and the cgroup's memory limit.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_limit: Option<u64>,

    /// Do not shrink an invalid history to a minimal failing sub-history.
    #[arg(long)]
    pub no_shrink: bool,

    /// Wall-clock budget for shrinking an invalid history, in seconds. Default: at most ten
    /// times the configurations the check explored (at least 2,048), for at most 10 s. When it runs out, the sub-history
    /// shown still fails but is labelled "not proven minimal".
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub shrink_time: Option<Duration>,

    /// Also write the results to DIR (created if needed): results.json, holding the JSON
    /// report of every file, and report.html (the timeline) with latency.svg and rate.svg.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Also write the verdicts as JUnit XML to FILE (one testcase per history).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// History files to check; `-` reads standard input. Several files are checked in
    /// parallel and reported in the order given.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<String>,
}

/// `--format`: how results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A readable verdict per file, with the counterexample of an invalid history.
    Human,
    /// One JSON object per file, one per line (`format_version` 1).
    Json,
}

/// `--format-in`: the encodings faultline reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    /// One JSON object per line.
    JsonLines,
    /// One JSON array of operation objects.
    JsonArray,
    /// Jepsen/Knossos/Elle EDN: a vector or list of maps, or one map per line.
    Edn,
    /// Porcupine's key-value EDN, one map per line.
    PorcupineKv,
    /// Jepsen's text log (`INFO  jepsen.util - ...` lines).
    JepsenLog,
}

impl InputFormat {
    /// The library's format.
    pub fn format(self) -> Format {
        match self {
            InputFormat::JsonLines => Format::JsonLines,
            InputFormat::JsonArray => Format::JsonArray,
            InputFormat::Edn => Format::Edn,
            InputFormat::PorcupineKv => Format::PorcupineKv,
            InputFormat::JepsenLog => Format::JepsenLog,
        }
    }
}

/// `--workload`: the checkers that are not linearizability search (`checkers::registry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Elle list-append (transactional dependency graphs).
    ListAppend,
    /// Elle read-write register.
    RwRegister,
    /// Jepsen counter.
    Counter,
    /// Jepsen set.
    Set,
    /// Jepsen set-full.
    SetFull,
    /// Jepsen bank.
    Bank,
    /// Jepsen long-fork.
    LongFork,
    /// Jepsen unique-ids.
    UniqueIds,
    /// Jepsen total-queue.
    TotalQueue,
    /// elle-cli sequential (subkeys read newest-first: no null after a value).
    Sequential,
    /// Jepsen causal-reverse (a read seeing a write sees the writes completed before it).
    CausalReverse,
    /// Maelstrom echo (every ok echo returns its payload).
    Echo,
    /// Maelstrom broadcast / g-set: set-full, and every final read holds every ok add.
    ConvergentSet,
}

impl Workload {
    /// The name used on the command line.
    pub fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }
}

/// Parses `--group-size`: a whole number, at least 1 (a group of no keys checks nothing).
fn parse_group_size(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "expected a group size of at least 1 (keys per group), found {s:?}"
        )),
    }
}

/// The largest number of seconds a duration flag takes (about 31 years).
const MAX_SECONDS: f64 = 1e9;

/// Parses a positive number of seconds (`0.5`, `10`), at most [`MAX_SECONDS`].
fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("expected a number of seconds, found {s:?}"))?;
    if !secs.is_finite() || secs <= 0.0 || secs > MAX_SECONDS {
        return Err(format!(
            "expected a number of seconds greater than 0 and at most {MAX_SECONDS} (about 31 \
             years), found {s:?}"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The default of `run --rate`, in operations per second over all workers.
pub const DEFAULT_RATE: &str = "5000";

/// `run --rate`: a target rate, or none.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate(pub Option<f64>);

/// Parses `--rate`: a positive, finite number of operations per second, or `unlimited` (0
/// would be read as "unlimited" by the runner, so it is refused rather than silently meaning
/// the opposite).
fn parse_rate(s: &str) -> Result<Rate, String> {
    if s.trim() == "unlimited" {
        return Ok(Rate(None));
    }
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(Rate(Some(r))),
        _ => Err(format!(
            "expected a positive number of operations per second or `unlimited`, found {s:?}"
        )),
    }
}

/// Parses `maelstrom test --rate`: a positive number of requests per second (Maelstrom has no
/// unlimited rate).
fn parse_requests_per_second(s: &str) -> Result<f64, String> {
    match parse_rate(s)? {
        Rate(Some(r)) => Ok(r),
        Rate(None) => Err(format!(
            "expected a positive number of requests per second, found {s:?}"
        )),
    }
}

/// The smallest memory budget `--memory-limit` takes: 1 MiB.
const MIN_SIZE: u64 = 1 << 20;

/// Parses a memory size in bytes: `200MB`, `200M`, `200MiB`, `1.5G`, `1024KiB`, `1048576B`
/// (binary units: K = 1024); a bare number is MiB. At least [`MIN_SIZE`].
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "m" | "mb" | "mib" => 20,
        "b" => 0,
        "k" | "kb" | "kib" => 10,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => {
            return Err(format!(
                "expected a size such as 200MB, 1.5G or 512MiB, found {s:?}"
            ))
        }
    };
    let n: f64 = number
        .parse()
        .map_err(|_| format!("expected a size such as 200MB, 1.5G or 512MiB, found {s:?}"))?;
    let bytes = n * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err(format!("expected a positive size, found {s:?}"));
    }
    if bytes < MIN_SIZE as f64 {
        return Err(format!(
            "expected a size of at least 1 MiB (the smallest memory budget faultline takes), \
             found {s:?}"
        ));
    }
    Ok(bytes as u64)
}

/// Parses `--initial` as a JSON value.
fn parse_json(s: &str) -> Result<Value, String> {
    serde_json::from_str(s).map_err(|e| {
        format!("expected a JSON value (e.g. 0, \"x\", [1,2] or {{\"x\":0}}), found {s:?}: {e}")
    })
}

/// The list of models shown at the end of `faultline check --help`.
fn models_help() -> String {
    let mut text = String::from("Models (--model):\n");
    for m in checkers::registry::models() {
        text.push_str(&format!("  {:<16} {}\n", m.name, m.about));
    }
    text.push_str(
        "\nExit codes: 0 valid, 1 invalid, 2 unknown, 254 bad usage or input, 255 internal error.",
    );
    text
}

/// Parses `args` (the first being the program name). Errors include `--help` and
/// `--version`, which clap reports as "errors" that print to standard output.
pub fn parse<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let command = Cli::command().mut_subcommand("check", |check| check.after_help(models_help()));
    let matches = command.try_get_matches_from(args)?;
    Cli::from_arg_matches(&matches)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// Every subcommand's defaults go through its value parsers into its fields: a parser whose
    /// type differs from its field's (as `maelstrom test --rate` had after `parse_rate` began
    /// returning `Rate`) panics here, not in a user's run.
    #[test]
    fn defaults_parse_into_their_fields_for_every_subcommand() {
        for argv in [
            &["faultline", "maelstrom", "test", "-w", "echo", "--bin", "n"][..],
            &["faultline", "run", "--target", "demo"],
            &["faultline", "demo"],
            &["faultline", "test"],
            &["faultline", "check", "--model", "register", "h.jsonl"],
        ] {
            let parsed = parse(argv.iter().copied());
            assert!(parsed.is_ok(), "{argv:?}: {:?}", parsed.err());
        }
        let Ok(Cli {
            command: Command::Maelstrom(m),
        }) = parse([
            "faultline",
            "maelstrom",
            "test",
            "--bin",
            "n",
            "--rate",
            "100",
        ])
        else {
            panic!("maelstrom test parses")
        };
        let MaelstromCommand::Test(t) = m.command;
        assert_eq!(t.rate, 100.0);
    }

    #[test]
    fn repeated_consistency_does_not_swallow_the_file() {
        let cli = parse([
            "faultline",
            "check",
            "--workload",
            "list-append",
            "--consistency",
            "snapshot-isolation",
            "--consistency",
            "repeatable-read",
            "h.edn",
        ])
        .unwrap();
        let Command::Check(args) = cli.command else {
            panic!("expected the check command")
        };
        assert_eq!(args.consistency, ["snapshot-isolation", "repeatable-read"]);
        assert_eq!(args.files, ["h.edn"]);
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_seconds("0").is_err());
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("soon").is_err());
        assert_eq!(parse_seconds("1e9"), Ok(Duration::from_secs(1_000_000_000)));
        let too_long = parse_seconds("1e30").unwrap_err();
        assert!(too_long.contains("at most 1000000000"), "{too_long}");
        assert!(parse_seconds("99999999999").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("200MB"), Ok(200 << 20));
        assert_eq!(parse_size("200"), Ok(200 << 20));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert_eq!(parse_size("1024KiB"), Ok(1 << 20));
        assert_eq!(parse_size("1048576b"), Ok(1 << 20));
        let tiny = parse_size("1KB").unwrap_err();
        assert!(tiny.contains("at least 1 MiB"), "{tiny}");
        assert!(parse_size("4096b").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5 parsecs").is_err());
    }

    #[test]
    fn negative_initial() {
        let cli = parse([
            "faultline",
            "check",
            "--model",
            "counter",
            "--initial",
            "-3",
            "f",
        ])
        .unwrap();
        let Command::Check(args) = cli.command else {
            panic!("expected the check command")
        };
        assert_eq!(args.initial, Some(Value::from(-3)));
    }
}
