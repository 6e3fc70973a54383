//! Jepsen's independent keys: `[key value]` tuples.
//!
//! `jepsen.independent` lifts a test of one register to a map of registers by wrapping every
//! operation's value in a tuple of its key and the register operation's own value: a write of
//! 3 to key 5 is `:value [5 3]`, a read of it `[5 nil]` on invocation and `[5 3]` on
//! completion, a cas `[5 [3 4]]` (a Clojure map entry, which Jepsen's `history.edn` and text
//! log print as a two-element vector). Jepsen's `independent/checker` then checks each key's
//! sub-history apart. Read as one register, such a history compares values of different keys
//! and is judged wrongly: a write `[1 3]`, then a write `[2 4]`, then a read of key 1 returning
//! `[1 3]` is a stale read of the register `[2 4]`, though each key is linearizable.
//!
//! Part of the check step (run → check → report): between pairing ([`super::pair`]) and a
//! model's search. [`unwrap_tuples`] moves each tuple's key into [`Operation::key`] and keeps
//! the value, so the search checks each key apart (P-compositionality), as Jepsen does. With
//! [`Tuples::Auto`] (the default) it does so only for histories that cannot be anything else
//! (see [`unwrap_tuples`]); `--independent always|never` decides for the user.

use super::{Operation, Outcome};
use crate::InputError;
use serde_json::Value;

/// Whether operation values are Jepsen's independent `[key value]` tuples (`--independent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tuples {
    /// Unwrap them when the history is unmistakably one of independent keys.
    #[default]
    Auto,
    /// Every client operation's value is such a tuple; anything else is an input error.
    Always,
    /// Never: values are the register's values, whatever their shape.
    Never,
}

/// The key of a tuple: a scalar (a number, string or boolean — Jepsen's keys are integers or
/// keywords), not `null` and not a collection.
fn key_of(v: &Value) -> Option<&Value> {
    match v {
        Value::Array(items) if items.len() == 2 => match &items[0] {
            Value::Number(_) | Value::String(_) | Value::Bool(_) => Some(&items[0]),
            _ => None,
        },
        _ => None,
    }
}

/// The value part of a tuple (`v` is known to be one).
fn value_of(v: &Value) -> Value {
    match v {
        Value::Array(items) => items[1].clone(),
        _ => Value::Null,
    }
}

/// True when `ops` can only be a history of Jepsen's independent keys: no client operation has
/// a `key` field; every client invocation's value is a `[key value]` tuple with a scalar key,
/// and every `ok` completion's value a tuple of the same key; there is a read, and every read
/// is invoked as `[key null]` (an unkeyed read is invoked with `null`); every `cas` is
/// `[key [old new]]` (an unkeyed cas is `[old new]`, whose second item is a scalar).
fn looks_independent(ops: &[Operation]) -> bool {
    let mut reads = 0usize;
    let mut clients = 0usize;
    for op in ops.iter().filter(|o| o.client) {
        clients += 1;
        if op.key.is_some() {
            return false;
        }
        let Some(key) = key_of(&op.input) else {
            return false;
        };
        if op.outcome == Outcome::Ok && key_of(&op.output) != Some(key) {
            return false;
        }
        match op.f.as_deref() {
            Some("read") => {
                if !op.input[1].is_null() {
                    return false;
                }
                reads += 1;
            }
            Some("cas") if !matches!(&op.input[1], Value::Array(pair) if pair.len() == 2) => {
                return false;
            }
            _ => {}
        }
    }
    clients > 0 && reads > 0
}

/// The operations of a history of Jepsen's independent keys with each `[key value]` tuple
/// unwrapped: `key` set to the tuple's key, the invocation's value and the completion's value
/// to the tuple's value (a completion whose value is not a tuple of that key — an `info`
/// carrying `:timed-out`, say — keeps its value). `Ok(None)` when the values are not to be
/// unwrapped: [`Tuples::Never`], or with [`Tuples::Auto`] a history that could be something
/// else (see the module docs). With [`Tuples::Always`], a client operation without a tuple is
/// an error naming its line in `file`.
pub fn unwrap_tuples(
    file: &str,
    ops: &[Operation],
    mode: Tuples,
) -> Result<Option<Vec<Operation>>, InputError> {
    match mode {
        Tuples::Never => return Ok(None),
        Tuples::Auto if !looks_independent(ops) => return Ok(None),
        Tuples::Auto => {}
        Tuples::Always => {
            for op in ops.iter().filter(|o| o.client) {
                if let Some(key) = &op.key {
                    return Err(InputError::new(
                        file,
                        op.invoke_line,
                        format!(
                            "expected no key field with --independent always (the key is the \
                             tuple's first item), found key {key}"
                        ),
                    ));
                }
                let Some(key) = key_of(&op.input) else {
                    return Err(InputError::new(
                        file,
                        op.invoke_line,
                        format!(
                            "expected a [key value] tuple of Jepsen's independent keys as the \
                             value (--independent always), found {}",
                            op.input
                        ),
                    ));
                };
                if op.outcome == Outcome::Ok && key_of(&op.output) != Some(key) {
                    return Err(InputError::new(
                        file,
                        op.complete_line.unwrap_or(op.invoke_line),
                        format!(
                            "expected the completion's value to be a [key value] tuple of key \
                             {key}, as its invocation's (--independent always), found {}",
                            op.output
                        ),
                    ));
                }
            }
        }
    }
    let unwrapped = ops
        .iter()
        .map(|op| {
            let mut op = op.clone();
            if op.client {
                if let Some(key) = key_of(&op.input).cloned() {
                    if key_of(&op.output) == Some(&key) {
                        op.output = value_of(&op.output);
                    }
                    op.input = value_of(&op.input);
                    op.key = Some(key);
                }
            }
            op
        })
        .collect();
    Ok(Some(unwrapped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{pair, read_history};

    fn ops(edn: &str) -> Vec<Operation> {
        let h = read_history("t.edn", edn.as_bytes(), None).unwrap();
        pair(&h).unwrap()
    }

    const TWO_KEYS: &str = "[{:process 0, :type :invoke, :f :write, :value [1 3]}
{:process 0, :type :ok, :f :write, :value [1 3]}
{:process 1, :type :invoke, :f :write, :value [2 4]}
{:process 1, :type :ok, :f :write, :value [2 4]}
{:process 0, :type :invoke, :f :read, :value [1 nil]}
{:process 0, :type :ok, :f :read, :value [1 3]}
{:process 1, :type :invoke, :f :cas, :value [2 [4 5]]}
{:process 1, :type :info, :f :cas, :value :timed-out}]";

    #[test]
    fn independent_tuples_are_unwrapped_into_keys_and_values() {
        let out = unwrap_tuples("t.edn", &ops(TWO_KEYS), Tuples::Auto)
            .unwrap()
            .unwrap();
        assert_eq!(out[2].key, Some(Value::from(1)));
        assert_eq!(out[2].input, Value::Null);
        assert_eq!(out[2].output, Value::from(3));
        assert_eq!(out[3].key, Some(Value::from(2)));
        assert_eq!(out[3].input, serde_json::json!([4, 5]));
        // An info completion without a tuple keeps its value.
        assert_eq!(out[3].output, Value::from("timed-out"));
    }

    #[test]
    fn unkeyed_register_histories_are_left_alone() {
        // A cas-register of one key: reads invoked with nil, cas [old new].
        let plain = "[{:process 0, :type :invoke, :f :write, :value [1 3]}
{:process 0, :type :ok, :f :write, :value [1 3]}
{:process 0, :type :invoke, :f :read, :value nil}
{:process 0, :type :ok, :f :read, :value [1 3]}
{:process 0, :type :invoke, :f :cas, :value [[1 3] [2 2]]}
{:process 0, :type :ok, :f :cas, :value [[1 3] [2 2]]}]";
        assert_eq!(
            unwrap_tuples("t.edn", &ops(plain), Tuples::Auto).unwrap(),
            None
        );
        // No read at all: nothing says the pairs are tuples.
        let writes = "[{:process 0, :type :invoke, :f :write, :value [1 3]}
{:process 0, :type :ok, :f :write, :value [1 3]}]";
        assert_eq!(
            unwrap_tuples("t.edn", &ops(writes), Tuples::Auto).unwrap(),
            None
        );
        // An unkeyed cas [old new] has a scalar second item.
        let cas = "[{:process 0, :type :invoke, :f :read, :value [1 nil]}
{:process 0, :type :ok, :f :read, :value [1 nil]}
{:process 0, :type :invoke, :f :cas, :value [1 2]}
{:process 0, :type :ok, :f :cas, :value [1 2]}]";
        assert_eq!(
            unwrap_tuples("t.edn", &ops(cas), Tuples::Auto).unwrap(),
            None
        );
        assert_eq!(
            unwrap_tuples("t.edn", &ops(TWO_KEYS), Tuples::Never).unwrap(),
            None
        );
    }

    #[test]
    fn always_names_the_line_of_a_value_that_is_no_tuple() {
        let bad = "[{:process 0, :type :invoke, :f :write, :value [1 3]}
{:process 0, :type :ok, :f :write, :value [1 3]}
{:process 0, :type :invoke, :f :write, :value 4}
{:process 0, :type :ok, :f :write, :value 4}]";
        let e = unwrap_tuples("t.edn", &ops(bad), Tuples::Always).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("[key value] tuple"), "{e}");
        let other_key = "[{:process 0, :type :invoke, :f :read, :value [1 nil]}
{:process 0, :type :ok, :f :read, :value [2 3]}]";
        let e = unwrap_tuples("t.edn", &ops(other_key), Tuples::Always).unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(
            unwrap_tuples("t.edn", &ops(other_key), Tuples::Auto).unwrap(),
            None
        );
    }
}
