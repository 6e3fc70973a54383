//! `--target http-kv`: a service the user runs that speaks the http-kv protocol
//! (`docs/http-kv.md`), at `--nodes`. faultline controls neither its processes nor its links,
//! so no faults.

mod client;

pub use client::HttpKv;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::{refuse_faults, NoArgs, NoFaults, Nodes, RunError, Spec, StartCtx, Target};
use crate::generator::WorkloadKind;
use crate::nemesis::Fault;

/// The http-kv target: the user's nodes.
#[derive(Debug, Clone)]
pub struct HttpKvTarget {
    nodes: Arc<Vec<SocketAddr>>,
    timeout: Duration,
}

#[async_trait::async_trait]
impl Target for HttpKvTarget {
    type Args = NoArgs;
    type Client = HttpKv;
    type Nodes = HttpKvNodes;
    const SHARED_FLAGS: &'static [&'static str] = &["--nodes"];

    fn plan(spec: &Spec<'_>) -> Result<Self, RunError> {
        if spec.args.servers.nodes.is_empty() {
            return Err(RunError::Usage(
                "--target http-kv needs --nodes HOST:PORT,...".into(),
            ));
        }
        Ok(HttpKvTarget {
            nodes: Arc::new(spec.args.servers.nodes.clone()),
            timeout: spec.op_timeout,
        })
    }
    fn label(&self) -> &'static str {
        "http-kv"
    }
    fn describe(&self) -> String {
        format!("http-kv at {}", super::addr_list(&self.nodes))
    }
    fn supports(&self, workload: WorkloadKind, faults: &[Fault]) -> Result<(), RunError> {
        super::refuse_queue(workload)?;
        refuse_faults("--target http-kv", faults)
    }
    async fn start(&self, _ctx: &StartCtx<'_>) -> Result<HttpKvNodes, RunError> {
        Ok(HttpKvNodes(self.clone()))
    }

    fn key_base(&self, clock: Duration) -> u64 {
        // The user's service: it holds earlier runs' keys.
        crate::generator::key_base(clock, false)
    }
}

/// The user's nodes.
pub struct HttpKvNodes(HttpKvTarget);

#[async_trait::async_trait]
impl Nodes for HttpKvNodes {
    type Client = HttpKv;
    type Faults = NoFaults;
    fn count(&self) -> usize {
        self.0.nodes.len()
    }
    fn client(&self) -> HttpKv {
        HttpKv::new(self.0.nodes.clone(), self.0.timeout)
    }
    fn primitives(&self) -> Option<NoFaults> {
        None
    }
    async fn shutdown(&self) {}
}
