//! Jepsen's counter checker (placeholder until it is written).

use super::{not_built, WorkloadOptions, WorkloadReport};
use crate::history::Operation;
use crate::InputError;

/// Checks a counter history.
pub fn check(
    _file: &str,
    ops: &[Operation],
    _opts: &WorkloadOptions,
) -> Result<WorkloadReport, InputError> {
    Ok(not_built("counter", ops))
}
