//! Targets of `faultline run`: what the clients talk to and what the nemesis can break.
//!
//! `demo` starts the embedded store as node processes on loopback behind faultline's link
//! proxies (so every fault is available) and tears it down afterwards, also on error and
//! Ctrl-C; `http-kv` reaches a service the user runs (no faults: faultline controls neither its
//! processes nor its links); `local` is an in-process linearizable map.

use crate::cli::StoreMode;
use crate::run::Plan;
use anyhow::Result;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::watch;
use workloads::client::{HttpKv, Local};
use workloads::recorder::Recorder;
use workloads::runner::{self, NoNemesis, Progress, RunSummary};

/// What a run is pointed at.
#[derive(Debug, Clone)]
pub enum TargetPlan {
    /// The embedded demo store in this mode, started by faultline.
    Demo(StoreMode),
    /// A service speaking http-kv at these addresses.
    HttpKv(Vec<SocketAddr>),
    /// The in-process map.
    Local,
}

impl TargetPlan {
    /// A short description for logs and the summary.
    pub fn describe(&self) -> String {
        match self {
            TargetPlan::Demo(StoreMode::Async) => "demo store (async, 3 nodes)".into(),
            TargetPlan::Demo(StoreMode::Sync) => "demo store (sync, 3 nodes)".into(),
            TargetPlan::HttpKv(nodes) => format!(
                "http-kv at {}",
                nodes
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            TargetPlan::Local => "local in-process map".into(),
        }
    }
}

/// Parses `--nemesis`: `none`, `all`, or a comma-separated list of partition, kill, pause.
pub fn parse_faults(text: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for name in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match name {
            "none" => {}
            "all" => {
                for f in ["partition", "kill", "pause"] {
                    if !out.iter().any(|o| o == f) {
                        out.push(f.into());
                    }
                }
            }
            "partition" | "kill" | "pause" => {
                if !out.iter().any(|o| o == name) {
                    out.push(name.into());
                }
            }
            other => {
                return Err(format!(
                    "unknown fault {other:?}; expected none, all, or a list of partition, kill, pause"
                ))
            }
        }
    }
    Ok(out)
}

/// Brings the target up, runs the plan against it, and brings it down.
pub async fn drive(
    plan: &Plan,
    dir: &Path,
    recorder: Arc<Recorder>,
    progress: Arc<Progress>,
    stop: watch::Receiver<bool>,
) -> Result<RunSummary> {
    let mut config = plan.config.clone();
    match &plan.target {
        TargetPlan::Local => {
            let store = Local::new();
            Ok(runner::run(config, |_| store.clone(), NoNemesis, recorder, progress, stop).await)
        }
        TargetPlan::HttpKv(nodes) => {
            config.nodes = nodes.len();
            let nodes = Arc::new(nodes.clone());
            let timeout = plan.op_timeout;
            Ok(runner::run(
                config,
                |_| HttpKv::new(nodes.clone(), timeout),
                NoNemesis,
                recorder,
                progress,
                stop,
            )
            .await)
        }
        TargetPlan::Demo(_mode) => {
            let _ = dir;
            anyhow::bail!("the demo cluster is being merged")
        }
    }
}
