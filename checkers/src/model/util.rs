//! Helpers shared by the model files: value interning and shape checks with clear messages.

use crate::error::ShapeError;
use crate::history::{Operation, Outcome};
use serde_json::Value;

/// A small integer standing for one JSON value within one check.
pub type ValueId = u32;

/// "Not interned yet" in [`Interner`]'s integer table.
const NO_ID: ValueId = ValueId::MAX;
/// [`Interner`]'s integer table always covers `0..DENSE_FLOOR`…
const DENSE_FLOOR: usize = 4096;
/// …and grows to cover an integer below this many times the number of values interned.
const DENSE_SPREAD: usize = 4;

/// Maps JSON values to [`ValueId`]s so model states are integers. Values compare as JSON
/// values: object key order does not matter and `1` equals `1.0`.
#[derive(Debug, Clone)]
pub struct Interner {
    ids: hashbrown::HashMap<String, ValueId>,
    /// Integers already interned, found without building their canonical text (a cache of
    /// `ids`: an integer missing here is looked up there, as `1.0` may have taken its id).
    ints: hashbrown::HashMap<i64, ValueId>,
    /// The ids of the integers `0..dense.len()` ([`NO_ID`]: not interned yet), found without
    /// hashing; such integers are never in `ints`. Grows by doubling while the integers stay
    /// dense (below [`DENSE_SPREAD`] times the values interned, plus [`DENSE_FLOOR`]).
    dense: Vec<ValueId>,
    /// True once a number that is not an `i64` (`1.0`, a `u64`) was interned: from then on
    /// `ids` holds every integer too. Until then integers are kept in `ints` only (no
    /// canonical text built), and put into `ids` when the first such number comes.
    other_numbers: bool,
    values: Vec<Value>,
}

impl Default for Interner {
    /// A fresh interner in which `null` is always id 0.
    fn default() -> Self {
        let mut i = Interner {
            ids: hashbrown::HashMap::new(),
            ints: hashbrown::HashMap::new(),
            dense: Vec::new(),
            other_numbers: false,
            values: Vec::new(),
        };
        i.intern(&Value::Null);
        i
    }
}

impl Interner {
    /// The id of `v`, allocating one if new.
    pub fn intern(&mut self, v: &Value) -> ValueId {
        if let Some(n) = v.as_i64() {
            if let Ok(i) = usize::try_from(n) {
                if i >= self.dense.len()
                    && i < DENSE_FLOOR.max(DENSE_SPREAD.saturating_mul(self.values.len()))
                {
                    self.grow_dense(i);
                }
                if let Some(&id) = self.dense.get(i) {
                    if id != NO_ID {
                        return id;
                    }
                    let id = self.new_int(v);
                    self.dense[i] = id;
                    return id;
                }
            }
            if let Some(&id) = self.ints.get(&n) {
                return id;
            }
            let id = self.new_int(v);
            self.ints.insert(n, id);
            return id;
        }
        if v.is_number() && !self.other_numbers {
            // `1.0` must find the id of `1`: the integers get their canonical texts now.
            self.other_numbers = true;
            for (n, &id) in &self.ints {
                self.ids.insert(n.to_string(), id);
            }
            for (n, &id) in self.dense.iter().enumerate() {
                if id != NO_ID {
                    self.ids.insert(n.to_string(), id);
                }
            }
        }
        self.intern_canonical(v)
    }

    /// The id of an integer not interned yet (neither in `ints` nor in `dense`).
    fn new_int(&mut self, v: &Value) -> ValueId {
        if self.other_numbers {
            self.intern_canonical(v)
        } else {
            // No other number yet, so no other value has this integer's canonical text.
            self.values.push(v.clone());
            (self.values.len() - 1) as ValueId
        }
    }

    /// Grows the integer table to cover `i`, moving the integers it now covers out of `ints`.
    fn grow_dense(&mut self, i: usize) {
        let len = (i + 1).next_power_of_two().max(DENSE_FLOOR);
        self.dense.resize(len, NO_ID);
        let dense = &mut self.dense;
        self.ints.retain(|&k, &mut id| match usize::try_from(k) {
            Ok(k) if k < len => {
                dense[k] = id;
                false
            }
            _ => true,
        });
    }

    fn intern_canonical(&mut self, v: &Value) -> ValueId {
        let key = canonical(v);
        if let Some(&id) = self.ids.get(&key) {
            return id;
        }
        let id = self.values.len() as ValueId;
        self.values.push(v.clone());
        self.ids.insert(key, id);
        id
    }

    /// The value behind an id.
    pub fn value(&self, id: ValueId) -> &Value {
        &self.values[id as usize]
    }
}

/// A canonical text for a JSON value: sorted object keys, integral floats as integers.
pub fn canonical(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push_str(&i.to_string());
            } else if let Some(u) = n.as_u64() {
                out.push_str(&u.to_string());
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    out.push_str(&(f as i64).to_string());
                } else {
                    out.push_str(&n.to_string());
                }
            }
        }
        Value::Array(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(x, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The operation's `f`, or an error naming the ones the model accepts.
pub fn f_of<'a>(op: &'a Operation, accepted: &str) -> Result<&'a str, ShapeError> {
    op.f.as_deref()
        .ok_or_else(|| format!("expected an operation with :f ({accepted}), found none"))
        .map_err(ShapeError)
}

/// The standard message for an `f` a model does not know.
pub fn unknown_f(model: &str, f: &str, accepted: &str) -> String {
    format!("expected an operation the {model} model understands ({accepted}), found :f {f}")
}

/// A compact rendering of a JSON value for messages.
pub fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 80 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(77).map(|(i, _)| i).unwrap_or(s.len())]
        )
    } else {
        s
    }
}

/// True when the op completed `ok`, so its output is an observation.
pub fn observed(op: &Operation) -> bool {
    op.outcome == Outcome::Ok
}

/// An integer argument or an error saying what was expected.
pub fn int_of(v: &Value, what: &str) -> Result<i64, ShapeError> {
    v.as_i64()
        .ok_or_else(|| format!("expected {what} to be an integer, found {}", show(v)))
        .map_err(ShapeError)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The integer table finds the ids the hash map and the canonical texts would: an integer
    /// interned while sparse (in the map) keeps its id when the table grows over it, and `1`
    /// and `1.0` share an id in either order.
    #[test]
    fn interner_integer_table_keeps_ids_across_growth_and_float_twins() {
        let mut i = Interner::default();
        let far = i.intern(&json!(100_000));
        let neg = i.intern(&json!(-7));
        let small: Vec<ValueId> = (0..40_000).map(|n| i.intern(&json!(n))).collect();
        assert!(i.ints.contains_key(&100_000), "sparse when interned");
        assert_eq!(i.intern(&json!(100_000)), far);
        assert!(i.dense.len() > 100_000, "the table grew over 100000");
        assert!(!i.ints.contains_key(&100_000), "moved out of the map");
        assert_eq!(i.intern(&json!(-7)), neg);
        for (n, &id) in small.iter().enumerate() {
            assert_eq!(i.intern(&json!(n)), id);
            assert_eq!(i.value(id), &json!(n));
        }
        assert_eq!(i.intern(&json!(5.0)), small[5]);
        let mut j = Interner::default();
        let float = j.intern(&json!(3.0));
        assert_eq!(j.intern(&json!(3)), float);
        assert_ne!(j.intern(&json!(4)), float);
        assert_eq!(j.intern(&json!(1u64 << 63)), j.intern(&json!(1u64 << 63)));
    }
}
