//! Elle-style transactional checking (placeholder until it is written): infer version orders
//! from the values reads return, build the dependency graph, find and name cycles.

use crate::history::Operation;
use crate::workload::{not_built, WorkloadOptions, WorkloadReport};
use crate::InputError;

/// Checks a list-append history.
pub fn check_list_append(
    _file: &str,
    ops: &[Operation],
    _opts: &WorkloadOptions,
) -> Result<WorkloadReport, InputError> {
    Ok(not_built("list-append", ops))
}

/// Checks an rw-register history.
pub fn check_rw_register(
    _file: &str,
    ops: &[Operation],
    _opts: &WorkloadOptions,
) -> Result<WorkloadReport, InputError> {
    Ok(not_built("rw-register", ops))
}

/// Validates a `--consistency` name; the error lists the names accepted.
pub fn parse_consistency(name: &str) -> Result<(), String> {
    const KNOWN: &[&str] = &[
        "strict-serializable",
        "serializable",
        "snapshot-isolation",
        "repeatable-read",
        "read-committed",
        "read-uncommitted",
    ];
    if KNOWN.contains(&name) {
        Ok(())
    } else {
        Err(format!(
            "unknown consistency model {name:?}; expected one of: {}",
            KNOWN.join(", ")
        ))
    }
}
