//! `--target local`: an in-process linearizable map (a mutex around a map), the sanity
//! baseline. No nodes to break, so no faults.

mod client;

pub use client::Local;

use super::{refuse_faults, NoArgs, NoFaults, Nodes, RunError, Spec, StartCtx, Target};
use crate::generator::WorkloadKind;
use crate::nemesis::Fault;

/// The local target.
#[derive(Debug, Clone)]
pub struct LocalTarget;

#[async_trait::async_trait]
impl Target for LocalTarget {
    type Args = NoArgs;
    type Client = Local;
    type Nodes = LocalNodes;

    fn plan(_spec: &Spec<'_>) -> Result<Self, RunError> {
        Ok(LocalTarget)
    }
    fn label(&self) -> &'static str {
        "local"
    }
    fn describe(&self) -> String {
        "local in-process map".into()
    }
    fn supports(&self, workload: WorkloadKind, faults: &[Fault]) -> Result<(), RunError> {
        super::refuse_queue(workload)?;
        refuse_faults("--target local", faults)
    }
    async fn start(&self, _ctx: &StartCtx<'_>) -> Result<LocalNodes, RunError> {
        Ok(LocalNodes(Local::new()))
    }
}

/// The one in-process store.
pub struct LocalNodes(Local);

#[async_trait::async_trait]
impl Nodes for LocalNodes {
    type Client = Local;
    type Faults = NoFaults;
    fn count(&self) -> usize {
        1
    }
    fn client(&self) -> Local {
        self.0.clone()
    }
    fn primitives(&self) -> Option<NoFaults> {
        None
    }
    async fn shutdown(&self) {}
}
