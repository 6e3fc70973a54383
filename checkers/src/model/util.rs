//! Helpers shared by the model files: value interning and shape checks with clear messages.

use crate::error::ShapeError;
use crate::history::{Operation, Outcome};
use crate::int_ids::IntIds;
use serde_json::Value;

/// A small integer standing for one JSON value within one check.
pub type ValueId = u32;

/// Maps JSON values to [`ValueId`]s so model states are integers. Values compare as JSON
/// values: object key order does not matter and `1` equals `1.0`.
#[derive(Debug, Clone)]
pub struct Interner {
    ids: hashbrown::HashMap<String, ValueId>,
    /// Integers already interned, found without building their canonical text (a cache of
    /// `ids`: an integer missing here is looked up there, as `1.0` may have taken its id); a
    /// table for dense ones ([`crate::int_ids`]).
    ints: IntIds,
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
            ints: IntIds::default(),
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
            if let Some(id) = self.ints.get(n, self.values.len()) {
                return id;
            }
            let id = self.new_int(v);
            self.ints.insert(n, id);
            return id;
        }
        if v.is_number() && !self.other_numbers {
            // `1.0` must find the id of `1`: the integers get their canonical texts now.
            self.other_numbers = true;
            for (n, id) in self.ints.iter() {
                self.ids.insert(n.to_string(), id);
            }
        }
        self.intern_canonical(v)
    }

    /// The id of an integer not interned yet (not in `ints`).
    fn new_int(&mut self, v: &Value) -> ValueId {
        if self.other_numbers {
            self.intern_canonical(v)
        } else {
            // No other number yet, so no other value has this integer's canonical text.
            self.values.push(v.clone());
            (self.values.len() - 1) as ValueId
        }
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

    /// Integers interned dense or sparse keep their ids (also across the table's growth), and
    /// `1` and `1.0` share an id in either order.
    #[test]
    fn interner_integer_table_keeps_ids_across_growth_and_float_twins() {
        let mut i = Interner::default();
        let far = i.intern(&json!(100_000));
        let neg = i.intern(&json!(-7));
        let small: Vec<ValueId> = (0..40_000).map(|n| i.intern(&json!(n))).collect();
        assert_eq!(i.intern(&json!(100_000)), far);
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
