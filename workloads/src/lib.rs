//! faultline's run side: the "run" step of run → check → report.
//!
//! - [`target`]: the systems under test, one folder each (demo, http_kv, local, etcd, redis,
//!   postgres, rabbitmq) behind one `Target` trait and registry, and the one run sequence
//!   (`target::drive`): start → clients → nemesis → run → logs → shutdown.
//! - [`nemesis`]: the typed `Fault`, and the seeded schedule (plan → apply → heal → verify)
//!   over a target's fault primitives.
//! - [`net`]: TCP link proxies ([`net::proxy`]) and network namespaces ([`net::netns`]),
//!   which partitions cut.
//! - [`remote`]: nodes on other machines over SSH (connections, iptables and signal faults,
//!   `faultline heal`).
//! - [`leftovers`]: the record of running local runs, and the sweep `faultline heal` does
//!   after a SIGKILLed run (clock files, leftover processes, libfaketime's /dev/shm files).
//! - [`client`]: the client trait (clients live with their targets).
//! - [`generator`]: seeded schedules of operations per workload.
//! - [`recorder`]: appends every invocation and completion to `history.jsonl` as it happens.
//! - [`runner`]: drives client workers and the nemesis on tokio, records, and stops cleanly.
//! - [`error`]: the typed [`RunError`], environment problems apart from bugs.

pub mod client;
pub mod error;
pub mod generator;
pub mod leftovers;
pub mod maelstrom;
pub mod nemesis;
pub mod net;
pub mod recorder;
pub mod remote;
pub mod runner;
pub mod target;

pub use error::{ClientError, RunError, ServerError};
