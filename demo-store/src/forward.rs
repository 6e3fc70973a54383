//! Forwarding client commands from a follower to the node it believes leads, over the peer
//! link, and matching the answers that come back (possibly late, possibly never).
//!
//! Run side only. The status code rules of `docs/http-kv.md` decide the answers here: 503 only
//! when nothing was sent, 504 when something was sent but no answer came in time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::oneshot;

use super::kv::{Cmd, Reply};
use super::link::Links;
use super::msg::Msg;

/// How long a follower waits for the leader's answer to a forwarded command.
pub const FORWARD_TIMEOUT: Duration = Duration::from_millis(2000);

/// Forwarded commands waiting for their answers.
pub struct Forwarder {
    next: AtomicU64,
    waiting: Mutex<HashMap<u64, oneshot::Sender<Reply>>>,
}

impl Default for Forwarder {
    /// Request ids start at the current time in nanoseconds, so a late answer meant for a
    /// previous incarnation of this node (killed and restarted) never matches a new request.
    fn default() -> Forwarder {
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Forwarder {
            next: AtomicU64::new(start),
            waiting: Mutex::new(HashMap::new()),
        }
    }
}

impl Forwarder {
    /// Sends `cmd` to node `to` and waits for its answer.
    pub async fn forward(&self, links: &Links, to: usize, cmd: Cmd) -> Reply {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.lock().insert(id, tx);
        if !links.send(to, &Msg::Forward { id, cmd }) {
            self.lock().remove(&id);
            return Reply::unavailable(format!("cannot reach the leader n{to}"));
        }
        let reply = tokio::time::timeout(FORWARD_TIMEOUT, rx).await;
        self.lock().remove(&id);
        match reply {
            Ok(Ok(reply)) => reply,
            _ => Reply::timeout(),
        }
    }

    /// Delivers the answer to forwarded request `id` (ignored if nobody waits any more).
    pub fn answer(&self, id: u64, reply: Reply) {
        if let Some(tx) = self.lock().remove(&id) {
            let _ = tx.send(reply);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<Reply>>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}
