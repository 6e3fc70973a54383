//! Jepsen's long-fork checker (placeholder until it is written).

use super::{not_built, WorkloadOptions, WorkloadReport};
use crate::history::Operation;
use crate::InputError;

/// Checks a long-fork history.
pub fn check(
    _file: &str,
    ops: &[Operation],
    _opts: &WorkloadOptions,
) -> Result<WorkloadReport, InputError> {
    Ok(not_built("long-fork", ops))
}
