//! Maelstrom's services as in-process nodes ("run" step): `lin-kv` (linearizable), `seq-kv`
//! (sequentially consistent: a caller's reads may be stale, never older than what it saw),
//! `lww-kv` (replicas merged by last-write-wins: reads may be stale and writes may be lost)
//! and `lin-tso` (strictly increasing timestamps). Node programs reach them through the
//! router, with its latency; partitions cut only links between nodes.
//!
//! The key-value API: `read {key}` → `read_ok {value}` or error 20; `write {key, value}` →
//! `write_ok`; `cas {key, from, to, create_if_not_exists?}` → `cas_ok`, error 20 (absent)
//! or 22 (`from` differs). Anything else: error 10 (not-supported); a request without the
//! fields it needs: error 12 (malformed-request).

use super::net::{Addr, Inbox, Msg, Router};
use super::proto::ErrorCode;
use checkers::Rng;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// The services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Linearizable key-value store.
    LinKv,
    /// Sequentially consistent key-value store.
    SeqKv,
    /// Last-write-wins key-value store over independent replicas.
    LwwKv,
    /// Linearizable timestamp oracle.
    LinTso,
}

impl Service {
    /// Every service.
    pub const ALL: [Service; 4] = [
        Service::LinKv,
        Service::SeqKv,
        Service::LwwKv,
        Service::LinTso,
    ];

    /// Its address.
    pub fn name(self) -> &'static str {
        match self {
            Service::LinKv => "lin-kv",
            Service::SeqKv => "seq-kv",
            Service::LwwKv => "lww-kv",
            Service::LinTso => "lin-tso",
        }
    }

    /// Runs the service on its inbox until the router is gone.
    pub fn spawn(self, me: Addr, inbox: Inbox, router: Arc<Router>, seed: u64) {
        let mut state = State::new(self, seed);
        let r = router.clone();
        tokio::spawn(inbox.pump(router, move |batch| {
            for m in batch {
                if let Some(reply) = state.handle(&m, &r) {
                    r.send(Msg::new(me, m.src, Arc::from(reply)));
                }
            }
            std::future::ready(())
        }));
    }
}

/// A key's value with the version that wrote it (seq-kv).
type Versions = Vec<(u64, Value)>;

struct State {
    service: Service,
    /// lin-kv: the map.
    map: HashMap<String, Value>,
    /// seq-kv: each key's versions (the newest last) and the global version.
    versions: HashMap<String, Versions>,
    version: u64,
    /// seq-kv: the newest version each caller has seen.
    seen: HashMap<Addr, u64>,
    /// lww-kv: replicas, each key → (timestamp, value).
    replicas: Vec<HashMap<String, (u64, Value)>>,
    clock: u64,
    /// lin-tso: the last timestamp.
    ts: u64,
    rng: Rng,
}

/// How many versions of a key seq-kv keeps (older reads are clamped to the oldest kept,
/// which is newer: still sequentially consistent).
const KEEP_VERSIONS: usize = 32;

fn key_of(body: &Map<String, Value>) -> Option<String> {
    body.get("key").map(|k| match k {
        Value::String(s) => format!("s:{s}"),
        other => format!("j:{other}"),
    })
}

impl State {
    fn new(service: Service, seed: u64) -> State {
        State {
            service,
            map: HashMap::new(),
            versions: HashMap::new(),
            version: 0,
            seen: HashMap::new(),
            replicas: vec![HashMap::new(); 3],
            clock: 0,
            ts: 0,
            rng: Rng::new(seed ^ 0x5e41_ce00 ^ service as u64),
        }
    }

    /// The reply line to `m`, if it asks for one.
    fn handle(&mut self, m: &Msg, router: &Router) -> Option<String> {
        let v: Value = serde_json::from_str(&m.line).ok()?;
        let body = v.get("body")?.as_object()?;
        let msg_id = body.get("msg_id").and_then(Value::as_u64);
        let kind = body.get("type").and_then(Value::as_str).unwrap_or("");
        let mut reply = match self.answer(m.src, kind, body) {
            Ok(r) => r,
            Err((code, text)) => json!({"type": "error", "code": code.0, "text": text}),
        };
        let msg_id = msg_id?;
        reply["in_reply_to"] = json!(msg_id);
        let me = v.get("dest").cloned().unwrap_or(Value::Null);
        let to = router.name(m.src);
        Some(json!({"src": me, "dest": to, "body": reply}).to_string())
    }

    fn answer(
        &mut self,
        from: Addr,
        kind: &str,
        body: &Map<String, Value>,
    ) -> Result<Value, (ErrorCode, String)> {
        let malformed = |what: &str| (ErrorCode::MALFORMED_REQUEST, format!("{kind} needs {what}"));
        if self.service == Service::LinTso {
            return match kind {
                "ts" => {
                    self.ts += 1;
                    Ok(json!({"type": "ts_ok", "ts": self.ts}))
                }
                other => Err((
                    ErrorCode::NOT_SUPPORTED,
                    format!("lin-tso answers ts, not {other:?}"),
                )),
            };
        }
        let key = key_of(body).ok_or_else(|| malformed("a key"))?;
        // seq-kv: reads may be stale; updates apply to the newest state (one total order).
        let current = match (self.service, kind) {
            (Service::SeqKv, "cas") => self
                .versions
                .get(&key)
                .and_then(|v| v.last())
                .map(|(_, v)| v.clone()),
            (_, "write") => None,
            _ => self.get(from, &key),
        };
        match kind {
            "read" => match current {
                Some(v) => Ok(json!({"type": "read_ok", "value": v})),
                None => Err((ErrorCode::KEY_DOES_NOT_EXIST, "key does not exist".into())),
            },
            "write" => {
                let value = body.get("value").ok_or_else(|| malformed("a value"))?;
                self.put(from, &key, value.clone());
                Ok(json!({"type": "write_ok"}))
            }
            "cas" => {
                let from_v = body.get("from").ok_or_else(|| malformed("from"))?;
                let to_v = body.get("to").ok_or_else(|| malformed("to"))?;
                let create = body
                    .get("create_if_not_exists")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                match current {
                    None if create => {
                        self.put(from, &key, to_v.clone());
                        Ok(json!({"type": "cas_ok"}))
                    }
                    None => Err((ErrorCode::KEY_DOES_NOT_EXIST, "key does not exist".into())),
                    Some(c) if &c == from_v => {
                        self.put(from, &key, to_v.clone());
                        Ok(json!({"type": "cas_ok"}))
                    }
                    Some(c) => Err((
                        ErrorCode::PRECONDITION_FAILED,
                        format!("expected {from_v}, but had {c}"),
                    )),
                }
            }
            other => Err((
                ErrorCode::NOT_SUPPORTED,
                format!(
                    "{} answers read, write and cas, not {other:?}",
                    self.service.name()
                ),
            )),
        }
    }

    /// The value `from` sees now.
    fn get(&mut self, from: Addr, key: &str) -> Option<Value> {
        match self.service {
            Service::LinKv | Service::LinTso => self.map.get(key).cloned(),
            Service::SeqKv => {
                let seen = self.seen.get(&from).copied().unwrap_or(0);
                let versions = self.versions.get(key)?;
                // Some version between what the caller saw and the newest.
                let candidates: Vec<&(u64, Value)> = versions
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| versions.get(i + 1).map_or(true, |(n, _)| *n > seen))
                    .map(|(_, e)| e)
                    .collect();
                let pick = candidates[self.rng.below(candidates.len() as u64) as usize];
                let (ver, value) = (pick.0, pick.1.clone());
                let s = self.seen.entry(from).or_insert(0);
                *s = (*s).max(ver);
                Some(value)
            }
            Service::LwwKv => {
                let r = self.rng.below(self.replicas.len() as u64) as usize;
                self.gossip(r);
                self.replicas[r].get(key).map(|(_, v)| v.clone())
            }
        }
    }

    fn put(&mut self, from: Addr, key: &str, value: Value) {
        match self.service {
            Service::LinKv | Service::LinTso => {
                self.map.insert(key.to_string(), value);
            }
            Service::SeqKv => {
                self.version += 1;
                let v = self.versions.entry(key.to_string()).or_default();
                v.push((self.version, value));
                if v.len() > KEEP_VERSIONS {
                    v.remove(0);
                }
                self.seen.insert(from, self.version);
            }
            Service::LwwKv => {
                let r = self.rng.below(self.replicas.len() as u64) as usize;
                // A rough clock: may run behind the other replicas' writes.
                self.clock += 1;
                let skew = self.rng.below(4);
                let ts = self.clock.saturating_sub(skew);
                let e = self.replicas[r]
                    .entry(key.to_string())
                    .or_insert((0, Value::Null));
                if ts >= e.0 {
                    *e = (ts, value);
                }
            }
        }
    }

    /// lww-kv: replica `r` sometimes merges another replica's state, last write wins.
    fn gossip(&mut self, r: usize) {
        if self.rng.below(2) == 0 {
            return;
        }
        let o = self.rng.below(self.replicas.len() as u64) as usize;
        if o == r {
            return;
        }
        let other = self.replicas[o].clone();
        for (k, (ts, v)) in other {
            let e = self.replicas[r].entry(k).or_insert((0, Value::Null));
            if ts > e.0 {
                *e = (ts, v);
            }
        }
    }
}
