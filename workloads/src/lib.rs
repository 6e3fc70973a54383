//! faultline's run side: the "run" step of run → check → report.
//!
//! - [`proxy`]: TCP link proxies between every pair of nodes, which the partition nemesis
//!   blackholes.
//! - [`cluster`]: starts, kills, restarts, pauses and resumes the demo store's node processes on
//!   loopback, wiring their peer links through the proxies.
//! - [`nemesis`]: faults (partition, kill, pause) planned from a seed, applied to a cluster and
//!   always healed.
//! - [`client`]: the client trait and the http-kv client.
//! - [`generator`]: seeded schedules of operations per workload.
//! - [`recorder`]: appends every invocation and completion to `history.jsonl` as it happens.
//! - [`runner`]: drives client workers and the nemesis on tokio, records, and stops cleanly.

pub mod client;
pub mod cluster;
pub mod db;
pub mod generator;
pub mod nemesis;
pub mod proxy;
pub mod recorder;
pub mod runner;
