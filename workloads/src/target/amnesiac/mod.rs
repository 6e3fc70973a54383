//! `--target amnesiac`: an in-process map that forgets everything when it is killed — the
//! worked example of adding a target (one folder plus one registry line), and a test double
//! for the nemesis: with `--nemesis kill`, acknowledged writes vanish, so faultline must find
//! the history not linearizable; without faults it is as linearizable as `local`.
//!
//! It supports one fault, `kill` (while "down", every operation fails; the restart brings it
//! back empty), and refuses the others before the run starts.

use crate::error::ClientError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use checkers::Rng;

use super::local::Local;
use super::{NoArgs, Nodes, RunError, Spec, StartCtx, Target};
use crate::client::{Client, Op, Outcome};
use crate::generator::WorkloadKind;
use crate::nemesis::{Aim, Fault, NemesisError, NotHealed, Primitives};

/// The amnesiac target.
#[derive(Debug, Clone)]
pub struct Amnesiac;

#[async_trait::async_trait]
impl Target for Amnesiac {
    type Args = NoArgs;
    type Client = AmnesiacClient;
    type Nodes = AmnesiacNodes;

    fn plan(_spec: &Spec<'_>) -> Result<Self, RunError> {
        Ok(Amnesiac)
    }
    fn label(&self) -> &'static str {
        "amnesiac"
    }
    fn describe(&self) -> String {
        "amnesiac in-process map (forgets everything when killed)".into()
    }
    fn supports(&self, workload: WorkloadKind, faults: &[Fault]) -> Result<(), RunError> {
        super::refuse_queue(workload)?;
        match faults.iter().find(|&&f| f != Fault::Kill) {
            Some(f) => Err(RunError::Usage(format!(
                "--target amnesiac takes --nemesis kill only, not {}",
                f.name()
            ))),
            None => Ok(()),
        }
    }
    async fn start(&self, _ctx: &StartCtx<'_>) -> Result<AmnesiacNodes, RunError> {
        Ok(AmnesiacNodes {
            store: Arc::new(Mutex::new(Local::new())),
            down: Arc::new(AtomicBool::new(false)),
        })
    }
}

/// The one store (replaced by an empty one on a kill) and whether it is "down".
pub struct AmnesiacNodes {
    store: Arc<Mutex<Local>>,
    down: Arc<AtomicBool>,
}

#[async_trait::async_trait]
impl Nodes for AmnesiacNodes {
    type Client = AmnesiacClient;
    type Faults = AmnesiacFaults;
    fn count(&self) -> usize {
        1
    }
    fn client(&self) -> AmnesiacClient {
        AmnesiacClient {
            store: self.store.clone(),
            down: self.down.clone(),
        }
    }
    fn primitives(&self) -> Option<AmnesiacFaults> {
        Some(AmnesiacFaults {
            store: self.store.clone(),
            down: self.down.clone(),
        })
    }
    async fn shutdown(&self) {}
}

/// A client of the amnesiac store: [`Local`]'s on the current store, failing every operation
/// while down.
#[derive(Debug, Clone)]
pub struct AmnesiacClient {
    store: Arc<Mutex<Local>>,
    down: Arc<AtomicBool>,
}

impl AmnesiacClient {
    fn current(&self) -> Local {
        self.store.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Client for AmnesiacClient {
    async fn open(&mut self, _node: usize) -> Result<(), ClientError> {
        Ok(())
    }
    async fn invoke(&mut self, op: &Op) -> Outcome {
        if self.down.load(Ordering::SeqCst) {
            return Outcome::Fail(serde_json::json!("down"));
        }
        self.current().invoke(op).await
    }
    async fn close(&mut self) {}
    fn node_name(&self) -> String {
        self.current().node_name()
    }
    /// A killed store refuses at once, as a dead server's port would.
    fn unreachable(&self) -> Option<crate::client::Unreachable> {
        self.down
            .load(Ordering::SeqCst)
            .then_some(crate::client::Unreachable::Refused)
    }
}

/// `kill` forgets everything; `restart` brings the store back, empty.
pub struct AmnesiacFaults {
    store: Arc<Mutex<Local>>,
    down: Arc<AtomicBool>,
}

#[async_trait::async_trait]
impl Primitives for AmnesiacFaults {
    fn target(&self) -> &'static str {
        "amnesiac"
    }
    fn nodes(&self) -> usize {
        1
    }
    fn aim(&mut self, _fault: Fault, _rng: &mut Rng) -> Option<Aim> {
        Some(Aim::Node(0))
    }
    async fn kill(&mut self, _node: usize) -> Result<(), NemesisError> {
        self.down.store(true, Ordering::SeqCst);
        *self.store.lock().unwrap_or_else(|e| e.into_inner()) = Local::new();
        Ok(())
    }
    async fn restart(&mut self, _node: usize) -> Result<(), NemesisError> {
        self.down.store(false, Ordering::SeqCst);
        Ok(())
    }
    async fn check_healed(&mut self) -> Result<String, NotHealed> {
        match self.down.load(Ordering::SeqCst) {
            true => Err(NotHealed::Still("n1 is still down")),
            false => Ok("n1 is up again (and has forgotten everything)".into()),
        }
    }
}
