//! Maelstrom's workloads ("run" step): for each, the client RPCs a generator sends, how an
//! answer becomes `ok`/`fail`/`info` in the history, the final reads, and the registered
//! checker the history goes to (`checkers::registry`).
//!
//! | workload | history ops | checker |
//! |---|---|---|
//! | echo | `echo` | `echo` |
//! | unique-ids | `generate` | `unique-ids` |
//! | broadcast | `broadcast`, `read`, `final-read` | `convergent-set` |
//! | g-set | `add`, `read`, `final-read` | `convergent-set` |
//! | g-counter, pn-counter | `add`, final `read` | `counter` |
//! | lin-kv | `read`, `write`, `cas` per key | model `cas-register` |
//! | txn-list-append, txn-rw-register | `txn` | `list-append`, `rw-register` (Elle) |
//! | kafka | `send`, `poll`, `commit_offsets`, `list_committed_offsets` | `kafka` |
//!
//! Counters are eventually consistent, so reads during the run may lag: only final reads
//! (after healing and a quiet period) are issued, and checked against the acknowledged and
//! indeterminate deltas, as Maelstrom does.

use super::proto::ErrorCode;
use crate::client::{Op, Outcome};
use checkers::{CheckerKind, Rng};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// A Maelstrom workload (`-w`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// Echo: the payload comes back.
    Echo,
    /// Globally unique ids.
    UniqueIds,
    /// Broadcast with topology: every acknowledged message in every final read.
    Broadcast,
    /// A grow-only set.
    GSet,
    /// A grow-only counter.
    GCounter,
    /// A counter that also decrements.
    PnCounter,
    /// A linearizable key-value store.
    LinKv,
    /// Transactions of list appends and reads (Elle list-append).
    TxnListAppend,
    /// Transactions of register writes and reads (Elle rw-register).
    TxnRwRegister,
    /// Keyed append-only logs: send, poll, commit_offsets, list_committed_offsets.
    Kafka,
}

impl Workload {
    /// Its name (`unique-ids`).
    pub fn name(self) -> &'static str {
        match self {
            Workload::Echo => "echo",
            Workload::UniqueIds => "unique-ids",
            Workload::Broadcast => "broadcast",
            Workload::GSet => "g-set",
            Workload::GCounter => "g-counter",
            Workload::PnCounter => "pn-counter",
            Workload::LinKv => "lin-kv",
            Workload::TxnListAppend => "txn-list-append",
            Workload::TxnRwRegister => "txn-rw-register",
            Workload::Kafka => "kafka",
        }
    }

    /// The registered checker its histories go to.
    pub fn checker(self) -> (CheckerKind, &'static str) {
        match self {
            Workload::Echo => (CheckerKind::Workload, "echo"),
            Workload::UniqueIds => (CheckerKind::Workload, "unique-ids"),
            Workload::Broadcast | Workload::GSet => (CheckerKind::Workload, "convergent-set"),
            Workload::GCounter | Workload::PnCounter => (CheckerKind::Workload, "counter"),
            Workload::LinKv => (CheckerKind::Model, "cas-register"),
            Workload::TxnListAppend => (CheckerKind::Workload, "list-append"),
            Workload::TxnRwRegister => (CheckerKind::Workload, "rw-register"),
            Workload::Kafka => (CheckerKind::Workload, "kafka"),
        }
    }

    /// Whether the workload is transactional (`--consistency-models`, `--max-txn-length`).
    pub fn transactional(self) -> bool {
        matches!(self, Workload::TxnListAppend | Workload::TxnRwRegister)
    }

    /// Whether the run ends with a read on every node (after healing and a quiet period).
    pub fn final_reads(self) -> bool {
        matches!(
            self,
            Workload::Broadcast | Workload::GSet | Workload::GCounter | Workload::PnCounter
        )
    }

    /// The final read on one node: the history op and the request body.
    pub fn final_read(self) -> Option<(Op, Value)> {
        let f = match self {
            Workload::Broadcast | Workload::GSet => "final-read",
            Workload::GCounter | Workload::PnCounter => "read",
            _ => return None,
        };
        Some((
            Op {
                f,
                key: None,
                value: Value::Null,
            },
            json!({"type": "read"}),
        ))
    }
}

/// One client's generator.
pub struct Gen {
    workload: Workload,
    rng: Rng,
    next: u64,
    client: u64,
    clients: u64,
    keys: u64,
    max_txn: u64,
    /// kafka: per key, the highest offset this client's polls returned.
    seen: std::collections::BTreeMap<String, i64>,
    /// txn workloads: the keys shared by every client.
    pool: Arc<Mutex<KeyPool>>,
}

/// The txn workloads' keys, shared by every client (Maelstrom's `--key-count` and
/// `--max-writes-per-key`, as in Elle's generators): `key_count` keys are active at a time;
/// each write to a key takes the key's next value (1, 2, …, so values are unique per key), and
/// a key that has had `max_writes` writes is retired for a fresh one. Lists and version chains
/// therefore stay short, whatever the length of the run.
#[derive(Debug)]
pub struct KeyPool {
    active: Vec<(u64, u64)>,
    next_key: u64,
    max_writes: u64,
}

impl KeyPool {
    /// `key_count` active keys, each retired after `max_writes` writes.
    pub fn new(key_count: u64, max_writes: u64) -> KeyPool {
        let n = key_count.max(1);
        KeyPool {
            active: (0..n).map(|k| (k, 0)).collect(),
            next_key: n,
            max_writes: max_writes.max(1),
        }
    }

    /// The key of active slot `slot` (any number; taken modulo the slots).
    fn read(&self, slot: u64) -> u64 {
        self.active[(slot % self.active.len() as u64) as usize].0
    }

    /// A write to the key of active slot `slot`: the key and its value; the key is retired
    /// when it has had its `max_writes` writes.
    fn write(&mut self, slot: u64) -> (u64, u64) {
        let i = (slot % self.active.len() as u64) as usize;
        let (key, writes) = &mut self.active[i];
        *writes += 1;
        let out = (*key, *writes);
        if *writes >= self.max_writes {
            self.active[i] = (self.next_key, 0);
            self.next_key += 1;
        }
        out
    }
}

/// What the clients had acknowledged by the end of the main phase (workloads with final
/// reads): the run takes its final reads as soon as the nodes' answers show this.
#[derive(Debug, Default, Clone)]
pub struct Acked {
    /// broadcast, g-set: elements added ok.
    elements: std::collections::BTreeSet<u64>,
    /// Counters: the sum of ok deltas, and of the positive and negative deltas of
    /// indeterminate adds.
    ok_sum: i64,
    info_up: i64,
    info_down: i64,
}

impl Acked {
    /// Learns from one completed client operation of `workload`.
    pub fn observe(&mut self, workload: Workload, op: &Op, outcome: &Outcome) {
        let counter = matches!(workload, Workload::GCounter | Workload::PnCounter);
        match (op.f, outcome) {
            ("broadcast" | "add", Outcome::Ok(_)) if !counter => {
                if let Some(e) = op.value.as_u64() {
                    self.elements.insert(e);
                }
            }
            ("add", Outcome::Ok(_)) => self.ok_sum += op.value.as_i64().unwrap_or(0),
            ("add", Outcome::Info(_)) => {
                let d = op.value.as_i64().unwrap_or(0);
                if d > 0 {
                    self.info_up += d;
                } else {
                    self.info_down += d;
                }
            }
            _ => {}
        }
    }

    /// Whether the nodes' answers to a read (`None`: no answer) agree and hold everything
    /// acknowledged: every set holds every acknowledged element, or every counter lies within
    /// the acknowledged sum and the indeterminate adds. Only decides when to take the final
    /// reads; the checker judges those.
    pub fn converged(&self, workload: Workload, reads: &[Option<Value>]) -> bool {
        let mut values = Vec::new();
        for r in reads {
            let Some(body) = r else { return false };
            if body.get("type").and_then(Value::as_str) != Some("read_ok") {
                return false;
            }
            values.push(match workload {
                Workload::Broadcast => body.get("messages"),
                _ => body.get("value"),
            });
        }
        match workload {
            Workload::Broadcast | Workload::GSet => {
                let mut first: Option<std::collections::BTreeSet<u64>> = None;
                for v in values {
                    let Some(list) = v.and_then(Value::as_array) else {
                        return false;
                    };
                    let set: Option<std::collections::BTreeSet<u64>> =
                        list.iter().map(Value::as_u64).collect();
                    let Some(set) = set else { return false };
                    if !self.elements.is_subset(&set) {
                        return false;
                    }
                    match &first {
                        None => first = Some(set),
                        Some(f) if *f != set => return false,
                        Some(_) => {}
                    }
                }
                true
            }
            Workload::GCounter | Workload::PnCounter => {
                let lo = self.ok_sum + self.info_down;
                let hi = self.ok_sum + self.info_up;
                let mut first = None;
                for v in values {
                    let Some(x) = v.and_then(Value::as_i64) else {
                        return false;
                    };
                    if x < lo || x > hi || first.is_some_and(|f| f != x) {
                        return false;
                    }
                    first = Some(x);
                }
                true
            }
            _ => true,
        }
    }
}

impl Gen {
    /// Client `client` (0-based) of `clients`, over `keys` keys (lin-kv).
    pub fn new(
        workload: Workload,
        seed: u64,
        client: usize,
        clients: usize,
        keys: u64,
        max_txn: u64,
        pool: Arc<Mutex<KeyPool>>,
    ) -> Gen {
        Gen {
            workload,
            rng: Rng::new(seed ^ (client as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            next: 0,
            client: client as u64,
            clients: clients.max(1) as u64,
            keys: keys.max(1),
            max_txn: max_txn.max(1),
            seen: std::collections::BTreeMap::new(),
            pool,
        }
    }

    /// A value no other client produces.
    fn unique(&mut self) -> u64 {
        let v = self.next * self.clients + self.client;
        self.next += 1;
        v
    }

    /// Learns from how an operation ended: kafka clients poll on from the offsets their own
    /// polls returned.
    pub fn observe(&mut self, op: &Op, outcome: &Outcome) {
        if op.f != "poll" {
            return;
        }
        let Outcome::Ok(Value::Object(msgs)) = outcome else {
            return;
        };
        for (k, list) in msgs {
            let top = list
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e.get(0).and_then(Value::as_i64))
                .max();
            if let Some(o) = top {
                let s = self.seen.entry(k.clone()).or_insert(o);
                *s = (*s).max(o);
            }
        }
    }

    /// The next operation: what the history records, and the request body.
    pub fn next_op(&mut self) -> (Op, Value) {
        let op = |f, key, value| Op { f, key, value };
        match self.workload {
            Workload::Kafka => {
                let r = self.rng.below(10);
                if r < 5 {
                    let k = kafka_key(self.rng.below(self.keys));
                    let v = self.unique();
                    return (
                        op("send", Some(json!(k)), json!(v)),
                        json!({"type": "send", "key": k, "msg": v}),
                    );
                }
                if r < 8 || (r == 8 && self.seen.is_empty()) {
                    // From one past what this client's polls returned, on every key.
                    let offsets: serde_json::Map<String, Value> = (0..self.keys)
                        .map(|i| {
                            let k = kafka_key(i);
                            let from = self.seen.get(&k).map_or(0, |o| o + 1);
                            (k, json!(from))
                        })
                        .collect();
                    return (
                        op("poll", None, Value::Object(offsets.clone())),
                        json!({"type": "poll", "offsets": offsets}),
                    );
                }
                if r == 8 {
                    let offsets: serde_json::Map<String, Value> = self
                        .seen
                        .iter()
                        .map(|(k, o)| (k.clone(), json!(o)))
                        .collect();
                    return (
                        op("commit_offsets", None, Value::Object(offsets.clone())),
                        json!({"type": "commit_offsets", "offsets": offsets}),
                    );
                }
                let keys: Vec<String> = (0..self.keys).map(kafka_key).collect();
                (
                    op("list_committed_offsets", None, json!(keys)),
                    json!({"type": "list_committed_offsets", "keys": keys}),
                )
            }
            Workload::Echo => {
                let s = format!("Please echo {}", self.unique());
                (
                    op("echo", None, json!(s)),
                    json!({"type": "echo", "echo": s}),
                )
            }
            Workload::UniqueIds => (
                op("generate", None, Value::Null),
                json!({"type": "generate"}),
            ),
            Workload::Broadcast | Workload::GSet => {
                if self.rng.below(2) == 0 {
                    let f = if self.workload == Workload::Broadcast {
                        "broadcast"
                    } else {
                        "add"
                    };
                    let v = self.unique();
                    let body = if f == "broadcast" {
                        json!({"type": "broadcast", "message": v})
                    } else {
                        json!({"type": "add", "element": v})
                    };
                    (op(f, None, json!(v)), body)
                } else {
                    (op("read", None, Value::Null), json!({"type": "read"}))
                }
            }
            Workload::GCounter | Workload::PnCounter => {
                let delta = if self.workload == Workload::GCounter {
                    self.rng.below(5) as i64 + 1
                } else {
                    self.rng.below(11) as i64 - 5
                };
                (
                    op("add", None, json!(delta)),
                    json!({"type": "add", "delta": delta}),
                )
            }
            Workload::TxnListAppend | Workload::TxnRwRegister => {
                let n = 1 + self.rng.below(self.max_txn);
                let write = if self.workload == Workload::TxnListAppend {
                    "append"
                } else {
                    "w"
                };
                let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
                let micro: Vec<Value> = (0..n)
                    .map(|_| {
                        let slot = self.rng.below(self.keys);
                        if self.rng.below(2) == 0 {
                            let (k, v) = pool.write(slot);
                            json!([write, k, v])
                        } else {
                            json!(["r", pool.read(slot), null])
                        }
                    })
                    .collect();
                drop(pool);
                (
                    op("txn", None, json!(micro)),
                    json!({"type": "txn", "txn": micro}),
                )
            }
            Workload::LinKv => {
                let key = self.rng.below(self.keys);
                match self.rng.below(4) {
                    0 | 1 => (
                        op("read", Some(json!(key)), Value::Null),
                        json!({"type": "read", "key": key}),
                    ),
                    2 => {
                        let v = self.rng.below(5);
                        (
                            op("write", Some(json!(key)), json!(v)),
                            json!({"type": "write", "key": key, "value": v}),
                        )
                    }
                    _ => {
                        let (from, to) = (self.rng.below(5), self.rng.below(5));
                        (
                            op("cas", Some(json!(key)), json!([from, to])),
                            json!({"type": "cas", "key": key, "from": from, "to": to}),
                        )
                    }
                }
            }
        }
    }
}

/// kafka's keys: `k0`, `k1`, … (`--key-count` of them).
fn kafka_key(i: u64) -> String {
    format!("k{i}")
}

/// The error of an error reply, as the history records it: `{"code", "name", "text"}`.
fn error_value(body: &Value) -> (ErrorCode, Value) {
    let code = ErrorCode(body.get("code").and_then(Value::as_i64).unwrap_or(-1));
    let mut v = json!({"code": code.0});
    if let Some(n) = code.name() {
        v["name"] = json!(n);
    }
    if let Some(t) = body.get("text") {
        v["text"] = t.clone();
    }
    (code, v)
}

/// How a reply `body` to `op` ends it. An error with a definite code is `fail`, any other
/// error `info`; a reply of an unexpected type is `info` (never invented into a result).
pub fn outcome(op: &Op, body: &Value) -> Outcome {
    let kind = body.get("type").and_then(Value::as_str).unwrap_or("");
    if kind == "error" {
        let (code, v) = error_value(body);
        // lin-kv: a missing key reads as null (the register's initial value).
        if op.f == "read" && op.key.is_some() && code == ErrorCode::KEY_DOES_NOT_EXIST {
            return Outcome::Ok(Value::Null);
        }
        return if code.definite() {
            Outcome::Fail(v)
        } else {
            Outcome::Info(v)
        };
    }
    let base = if op.f == "final-read" { "read" } else { op.f };
    by_type(op, body, kind, base)
}

fn by_type(op: &Op, body: &Value, kind: &str, f: &str) -> Outcome {
    let want = format!("{f}_ok");
    if kind != want {
        return Outcome::Info(json!(format!("expected {want}, got {kind:?}")));
    }
    let field = |name: &str| body.get(name).cloned().unwrap_or(Value::Null);
    match op.f {
        "echo" => Outcome::Ok(field("echo")),
        "generate" => Outcome::Ok(field("id")),
        "broadcast" | "add" | "write" | "cas" => Outcome::Ok(op.value.clone()),
        "txn" => Outcome::Ok(field("txn")),
        // kafka: recorded as answered; the checker names a malformed answer's line.
        "send" => Outcome::Ok(json!([field("offset"), op.value])),
        "poll" => Outcome::Ok(field("msgs")),
        "commit_offsets" => Outcome::Ok(op.value.clone()),
        "list_committed_offsets" => Outcome::Ok(field("offsets")),
        // broadcast answers `messages`, the others `value`.
        "read" | "final-read" if body.get("messages").is_some() => Outcome::Ok(field("messages")),
        "read" | "final-read" => Outcome::Ok(field("value")),
        _ => Outcome::Info(json!("unexpected operation")),
    }
}

/// `--topology`: who each node's neighbours are, for the broadcast workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Topology {
    /// Nodes on a line.
    Line,
    /// A square-ish grid (each node linked to its up/down/left/right neighbours).
    Grid,
    /// A binary tree.
    Tree,
    /// A tree with 2 children per node.
    Tree2,
    /// A tree with 3 children per node.
    Tree3,
    /// A tree with 4 children per node.
    Tree4,
    /// Every node linked to every other.
    Total,
}

impl Topology {
    /// The topology map: node name → neighbour names.
    pub fn build(self, n: usize) -> serde_json::Map<String, Value> {
        let name = |i: usize| format!("n{}", i + 1);
        let mut adj: Vec<Vec<usize>> = vec![Vec::new(); n];
        let link = |a: usize, b: usize, adj: &mut Vec<Vec<usize>>| {
            if a != b && !adj[a].contains(&b) {
                adj[a].push(b);
                adj[b].push(a);
            }
        };
        match self {
            Topology::Line => {
                for i in 1..n {
                    link(i - 1, i, &mut adj);
                }
            }
            Topology::Total => {
                for a in 0..n {
                    for b in a + 1..n {
                        link(a, b, &mut adj);
                    }
                }
            }
            Topology::Grid => {
                let w = (n as f64).sqrt().ceil().max(1.0) as usize;
                for i in 0..n {
                    if (i + 1) % w != 0 && i + 1 < n {
                        link(i, i + 1, &mut adj);
                    }
                    if i + w < n {
                        link(i, i + w, &mut adj);
                    }
                }
            }
            Topology::Tree | Topology::Tree2 | Topology::Tree3 | Topology::Tree4 => {
                let k = match self {
                    Topology::Tree3 => 3,
                    Topology::Tree4 => 4,
                    _ => 2,
                };
                for i in 1..n {
                    link((i - 1) / k, i, &mut adj);
                }
            }
        }
        adj.into_iter()
            .enumerate()
            .map(|(i, ns)| {
                let mut ns: Vec<usize> = ns;
                ns.sort_unstable();
                (name(i), json!(ns.into_iter().map(name).collect::<Vec<_>>()))
            })
            .collect()
    }

    /// The most hops a message needs between two of `n` nodes over this topology (its
    /// diameter; 0 for one node).
    pub fn diameter(self, n: usize) -> usize {
        let map = self.build(n);
        let index = |name: &str| name[1..].parse::<usize>().ok().map(|k| k - 1);
        let adj: Vec<Vec<usize>> = (0..n)
            .map(|i| {
                map[&format!("n{}", i + 1)]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().and_then(index))
                    .collect()
            })
            .collect();
        let mut most = 0;
        for from in 0..n {
            let mut dist = vec![usize::MAX; n];
            dist[from] = 0;
            let mut queue = std::collections::VecDeque::from([from]);
            while let Some(a) = queue.pop_front() {
                for &b in &adj[a] {
                    if dist[b] == usize::MAX {
                        dist[b] = dist[a] + 1;
                        queue.push_back(b);
                    }
                }
            }
            most = most.max(
                dist.into_iter()
                    .filter(|&d| d != usize::MAX)
                    .max()
                    .unwrap_or(0),
            );
        }
        most
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topologies_are_connected_and_symmetric() {
        for t in [
            Topology::Line,
            Topology::Grid,
            Topology::Tree2,
            Topology::Tree4,
            Topology::Total,
        ] {
            for n in [1, 2, 5, 25] {
                let m = t.build(n);
                assert_eq!(m.len(), n);
                // Symmetric.
                for (a, ns) in &m {
                    for b in ns.as_array().unwrap() {
                        let back = m[b.as_str().unwrap()].as_array().unwrap();
                        assert!(back.contains(&json!(a)), "{t:?} {n}");
                    }
                }
                // Connected: a walk from n1 reaches everyone.
                let mut seen = vec!["n1".to_string()];
                let mut i = 0;
                while i < seen.len() {
                    for b in m[&seen[i]].as_array().unwrap() {
                        let b = b.as_str().unwrap().to_string();
                        if !seen.contains(&b) {
                            seen.push(b);
                        }
                    }
                    i += 1;
                }
                assert_eq!(seen.len(), n, "{t:?} {n}");
            }
        }
    }

    #[test]
    fn diameters_count_the_hops_across_each_topology() {
        assert_eq!(Topology::Grid.diameter(25), 8);
        assert_eq!(Topology::Grid.diameter(10), 5);
        assert_eq!(Topology::Line.diameter(5), 4);
        assert_eq!(Topology::Total.diameter(25), 1);
        assert_eq!(Topology::Tree2.diameter(7), 4);
        assert_eq!(Topology::Grid.diameter(1), 0);
    }

    #[test]
    fn definite_errors_fail_and_indefinite_ones_are_info() {
        let w = Op {
            f: "write",
            key: Some(json!(1)),
            value: json!(3),
        };
        let e = |c: i64| json!({"type": "error", "code": c, "in_reply_to": 1});
        assert!(matches!(outcome(&w, &e(22)), Outcome::Fail(_)));
        assert!(matches!(outcome(&w, &e(13)), Outcome::Info(_)));
        assert!(matches!(outcome(&w, &e(1000)), Outcome::Info(_)));
        let r = Op {
            f: "read",
            key: Some(json!(1)),
            value: Value::Null,
        };
        assert_eq!(outcome(&r, &e(20)), Outcome::Ok(Value::Null));
        assert!(matches!(
            outcome(&w, &json!({"type": "read_ok"})),
            Outcome::Info(_)
        ));
    }
}
