//! The run side of faultline: workload generators, clients for each target, nemeses and the
//! runner that records histories (run → check → report: this crate is "run").
//!
//! It is empty until the run-side issue lands; the checking half lives in `checkers`.
