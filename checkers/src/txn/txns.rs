//! Transactions extracted from a paired history: the first step of a transactional check.
//!
//! Every client operation becomes a [`Txn`] whose micro-operations are flattened into one vector
//! of [`Mop`]s, with keys and values interned to `u32` (integers take a fast path, anything else
//! is interned by its JSON text). Reads of lists keep their elements in one flat vector. An `ok`
//! transaction is taken from its completion (reads carry what they saw), `info` and `fail` ones
//! from their invocation (their reads saw nothing we know). Malformed micro-operations are input
//! errors naming the line.

use crate::history::{Operation, Outcome};
use crate::InputError;
use hashbrown::HashMap;
use serde_json::Value;

/// "No value": a register read of the initial state (`nil`), or a missing list.
pub const NIL: u32 = u32::MAX;

/// What a micro-operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MopKind {
    /// `["append", k, v]`.
    Append,
    /// `["r", k, …]`: a read (a list for list-append, a value for rw-register).
    Read,
    /// `["w", k, v]`: a register write.
    Write,
}

/// One micro-operation, interned.
#[derive(Debug, Clone, Copy)]
pub struct Mop {
    /// Append, read or write.
    pub kind: MopKind,
    /// Interned key.
    pub key: u32,
    /// Interned value written / appended / read (register reads; [`NIL`] for `nil`).
    pub value: u32,
    /// For list reads: index into [`Txns::lists`], or [`NIL`] when the value is unknown.
    pub list: u32,
}

/// One transaction (a client operation).
#[derive(Debug, Clone)]
pub struct Txn {
    /// Index of the operation in the paired list given to the checker.
    pub op: usize,
    /// ok / info / fail.
    pub outcome: Outcome,
    /// Its micro-operations: `mops[start..end]`.
    pub start: u32,
    /// End of its micro-operations (exclusive).
    pub end: u32,
}

/// An interned atom: integers are kept as such, anything else as its JSON text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Atom {
    /// An integer.
    Int(i64),
    /// Any other JSON value, as compact JSON (strings keep their quotes).
    Other(Box<str>),
}

impl Atom {
    /// How the atom reads in explanations (strings without quotes).
    pub fn show(&self) -> String {
        match self {
            Atom::Int(i) => i.to_string(),
            Atom::Other(s) => match serde_json::from_str::<Value>(s) {
                Ok(Value::String(t)) => t,
                _ => s.to_string(),
            },
        }
    }
}

/// Interns atoms to dense `u32` ids (integers through their own map, without allocating).
#[derive(Debug, Default)]
pub struct Interner {
    /// Ids of small non-negative integers (the common case), NIL when not interned yet.
    small: Vec<u32>,
    ints: HashMap<i64, u32>,
    others: HashMap<Box<str>, u32>,
    /// The atom of each id.
    pub atoms: Vec<Atom>,
}

impl Interner {
    /// The id of `v` (interning it).
    pub fn intern(&mut self, v: &Value) -> u32 {
        if let Some(i) = v.as_i64() {
            return self.intern_int(i);
        }
        let next = self.atoms.len() as u32;
        let text: Box<str> = v.to_string().into_boxed_str();
        if let Some(&id) = self.others.get(&text) {
            return id;
        }
        self.others.insert(text.clone(), next);
        self.atoms.push(Atom::Other(text));
        next
    }

    /// The id of the integer `i` (interning it): the same id [`Interner::intern`] gives the
    /// JSON number `i`.
    pub fn intern_int(&mut self, i: i64) -> u32 {
        let next = self.atoms.len() as u32;
        if (0..1 << 20).contains(&i) {
            let i = i as usize;
            if i >= self.small.len() {
                self.small.resize((i + 1).next_power_of_two(), NIL);
            }
            if self.small[i] == NIL {
                self.small[i] = next;
                self.atoms.push(Atom::Int(i as i64));
            }
            return self.small[i];
        }
        let id = *self.ints.entry(i).or_insert(next);
        if id == next {
            self.atoms.push(Atom::Int(i));
        }
        id
    }

    /// Number of distinct atoms.
    pub fn len(&self) -> usize {
        self.atoms.len()
    }

    /// Display form of an id.
    pub fn show(&self, id: u32) -> String {
        if id == NIL {
            "nil".into()
        } else {
            self.atoms[id as usize].show()
        }
    }
}

/// All transactions of a history, flattened.
#[derive(Debug, Default)]
pub struct Txns {
    /// The transactions, in invocation order.
    pub txns: Vec<Txn>,
    /// Every micro-operation.
    pub mops: Vec<Mop>,
    /// List reads: ranges into `elems`.
    pub lists: Vec<(u32, u32)>,
    /// Elements of list reads.
    pub elems: Vec<u32>,
    /// Keys.
    pub keys: Interner,
    /// Values (appended elements, register values).
    pub values: Interner,
}

impl Txns {
    /// The micro-operations of transaction `t`.
    pub fn mops(&self, t: usize) -> &[Mop] {
        let x = &self.txns[t];
        &self.mops[x.start as usize..x.end as usize]
    }

    /// The elements of list `l`.
    pub fn list(&self, l: u32) -> &[u32] {
        let (a, b) = self.lists[l as usize];
        &self.elems[a as usize..b as usize]
    }
}

/// The two transactional workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnKind {
    /// Appends and list reads.
    ListAppend,
    /// Register reads and writes.
    RwRegister,
}

/// Extracts the transactions of every client operation (from their values), taking the transactions the compact reader ([`super::read`]) already parsed
/// from `compact` and the others from the operations' values: with `compact`, the
/// same transactions, ids and errors as without it over the operations the general reader
/// gives.
pub fn extract_with(
    file: &str,
    ops: &[Operation],
    workload: TxnKind,
    compact: Option<&super::read::CompactTxns>,
) -> Result<Txns, InputError> {
    let mut out = Txns::default();
    if let Some(c) = compact {
        out.mops.reserve(c.mop_count());
        out.txns.reserve(ops.len());
    }
    for op in ops.iter().filter(|o| o.client) {
        if let Some(raw) = compact.and_then(|c| c.of(op.id)) {
            let start = out.mops.len() as u32;
            let ok = op.outcome == Outcome::Ok;
            for m in raw.mops {
                let mop = raw.interned(m, ok, workload, &mut out);
                out.mops.push(mop);
            }
            out.txns.push(Txn {
                op: op.id,
                outcome: op.outcome,
                start,
                end: out.mops.len() as u32,
            });
            continue;
        }
        let (value, line) = match op.outcome {
            Outcome::Ok => (&op.output, op.complete_line.unwrap_or(op.invoke_line)),
            _ => (&op.input, op.invoke_line),
        };
        let Value::Array(mops) = value else {
            return Err(InputError::new(
                file,
                line,
                format!(
                    "expected a transaction (an array of micro-operations like [\"r\", k, v]), found {}",
                    short(value)
                ),
            ));
        };
        let start = out.mops.len() as u32;
        for m in mops {
            let mop = parse_mop(file, line, m, op.outcome == Outcome::Ok, workload, &mut out)?;
            out.mops.push(mop);
        }
        out.txns.push(Txn {
            op: op.id,
            outcome: op.outcome,
            start,
            end: out.mops.len() as u32,
        });
    }
    Ok(out)
}

fn parse_mop(
    file: &str,
    line: usize,
    m: &Value,
    ok: bool,
    workload: TxnKind,
    out: &mut Txns,
) -> Result<Mop, InputError> {
    let bad = |what: &str| {
        InputError::new(
            file,
            line,
            format!("expected a micro-operation {what}, found {}", short(m)),
        )
    };
    let Some([f, k, v]) = m.as_array().map(Vec::as_slice) else {
        return Err(bad("[f, key, value]"));
    };
    let f = f.as_str().unwrap_or("");
    let kind = match (workload, f) {
        (TxnKind::ListAppend, "append") => MopKind::Append,
        (TxnKind::ListAppend, "r") => MopKind::Read,
        (TxnKind::RwRegister, "w") => MopKind::Write,
        (TxnKind::RwRegister, "r") => MopKind::Read,
        (TxnKind::ListAppend, _) => return Err(bad("[\"append\", k, v] or [\"r\", k, list]")),
        (TxnKind::RwRegister, _) => return Err(bad("[\"w\", k, v] or [\"r\", k, v]")),
    };
    let key = out.keys.intern(k);
    let mut mop = Mop {
        kind,
        key,
        value: NIL,
        list: NIL,
    };
    match kind {
        MopKind::Append | MopKind::Write => {
            if v.is_null() && kind == MopKind::Append {
                return Err(bad("[\"append\", k, v] with a value"));
            }
            mop.value = if v.is_null() {
                NIL
            } else {
                out.values.intern(v)
            };
        }
        MopKind::Read if workload == TxnKind::RwRegister => {
            if ok && !v.is_null() {
                mop.value = out.values.intern(v);
            }
        }
        MopKind::Read => {
            if ok {
                let items: &[Value] = match v {
                    Value::Null => &[],
                    Value::Array(items) => items,
                    _ => return Err(bad("[\"r\", k, list] whose value is a list or nil")),
                };
                let a = out.elems.len() as u32;
                for item in items {
                    let id = out.values.intern(item);
                    out.elems.push(id);
                }
                mop.list = out.lists.len() as u32;
                out.lists.push((a, out.elems.len() as u32));
            }
        }
    }
    Ok(mop)
}

/// A short rendering of a JSON value for messages.
pub fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 80 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(77).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s
    }
}
