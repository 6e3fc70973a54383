//! The faults a [`Cluster`] can suffer and their undoing: kill/restart, pause/resume,
//! partition/heal, `heal_all`, `shutdown`, and the synchronous cleanup in `Drop`.
//!
//! Every lifecycle operation on a node holds that node's `op` lock, so `heal_all` running
//! concurrently with a fault waits for it and then undoes it.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::{process, Cluster, ClusterError, Healed, Node};

/// How long a restart keeps retrying a node that exits before READY (e.g. port still busy).
const RESTART_RETRY_FOR: Duration = Duration::from_secs(10);
/// Pause between restart attempts.
const RESTART_BACKOFF: Duration = Duration::from_millis(200);

impl Cluster {
    /// Kills node `id` with SIGKILL and reaps it. Killing a killed node does nothing.
    pub async fn kill(&self, id: usize) -> Result<(), ClusterError> {
        self.check_open()?;
        let node = self.node(id)?;
        let _op = node.op.lock().await;
        self.kill_locked(node).await;
        Ok(())
    }

    /// Kills node `id` (SIGKILL, reaped: every FUSE request it made has been answered) and
    /// drops every write to its data directory that it had not fsynced; says what was lost.
    pub async fn lose_unfsynced(
        &self,
        id: usize,
    ) -> Result<crate::nemesis::lazyfs::Lost, ClusterError> {
        self.check_open()?;
        let node = self.node(id)?;
        let _op = node.op.lock().await;
        self.kill_locked(node).await;
        let mounts = self.mounts.lock().unwrap_or_else(|e| e.into_inner());
        let mount = mounts.get(id - 1).ok_or(ClusterError::NotLazy(id))?;
        Ok(mount.lose_unfsynced())
    }

    /// Restarts node `id` on the same http and peer addresses as its first start (retrying
    /// while the ports are briefly unavailable) and waits for READY and `/health`. Restarting
    /// a running node does nothing.
    pub async fn restart(&self, id: usize) -> Result<(), ClusterError> {
        self.check_open()?;
        let node = self.node(id)?;
        let _op = node.op.lock().await;
        self.restart_locked(node).await.map(|_| ())
    }

    /// Kills node `id` (as [`Cluster::kill`]) and, while it is down, corrupts `file` in its
    /// data directory as `kind` says; the node stays down until [`Cluster::restart`]. Returns
    /// what was done ([`crate::nemesis::corrupt::corrupt_in`]: `{"size", "cut", "path"}` or
    /// `{"size", "flipped", "offsets", "path"}`; a file the node never wrote: `{"missing":
    /// true}`).
    pub async fn corrupt(
        &self,
        id: usize,
        file: &crate::nemesis::CorruptFile,
        kind: crate::nemesis::CorruptKind,
        seed: u64,
    ) -> Result<serde_json::Value, ClusterError> {
        self.check_open()?;
        let node = self.node(id)?;
        let _op = node.op.lock().await;
        self.kill_locked(node).await;
        let dir = process::data_dir(&self.spec, id);
        crate::nemesis::corrupt::corrupt_in(&dir, file, kind, seed).map_err(|e| ClusterError::Io {
            what: format!("cannot corrupt {}", e.path.display()),
            source: e.source,
        })
    }

    /// Pauses node `id` with SIGSTOP. Pausing a paused node does nothing; a killed node is an
    /// error.
    pub fn pause(&self, id: usize) -> Result<(), ClusterError> {
        self.check_open()?;
        let node = self.node(id)?;
        let mut proc = node.proc();
        let pid = proc.child.as_ref().and_then(|c| c.id());
        let pid = pid.ok_or(ClusterError::NotRunning(id))?;
        signal(id, pid, libc::SIGSTOP)?;
        proc.paused = true;
        Ok(())
    }

    /// Resumes node `id` with SIGCONT (also if it was not paused, harmlessly).
    pub fn resume(&self, id: usize) -> Result<(), ClusterError> {
        let node = self.node(id)?;
        let mut proc = node.proc();
        if let Some(pid) = proc.child.as_ref().and_then(|c| c.id()) {
            signal(id, pid, libc::SIGCONT)?;
        }
        proc.paused = false;
        Ok(())
    }

    /// Blackholes the given unordered pairs of nodes (in addition to those already blocked).
    pub fn partition(&self, pairs: &[(usize, usize)]) -> Result<(), ClusterError> {
        self.check_open()?;
        self.net.block(pairs)?;
        Ok(())
    }

    /// Blackholes the given directions, each `(hearer, speaker)` (a one-way cut unless the
    /// reverse is given too).
    pub fn partition_directed(&self, pairs: &[(usize, usize)]) -> Result<(), ClusterError> {
        self.check_open()?;
        self.net.block_directed(pairs)?;
        Ok(())
    }

    /// Puts a packet fault on every link to or from `nodes` (ids from 1).
    pub fn packet(&self, nodes: &[usize], spec: crate::nemesis::PacketSpec) -> Result<(), ClusterError> {
        self.check_open()?;
        self.net.set_packet(nodes, spec);
        Ok(())
    }

    /// Ends every packet fault.
    pub fn heal_packets(&self) {
        self.net.heal_packets();
    }

    /// The nodes (ids from 1) whose links suffer a packet fault now.
    pub fn packet_nodes(&self) -> Vec<usize> {
        self.net.packet_nodes()
    }

    /// Unblocks every link.
    pub fn heal_network(&self) {
        self.net.heal();
    }

    /// Undoes every fault: heals the network, SIGCONTs every paused node, restarts every node
    /// that is down (killed or crashed). Idempotent, callable from any state and concurrently
    /// with a fault being applied (it waits for that fault, then undoes it). After
    /// [`Cluster::shutdown`] it only heals the network and resumes.
    pub async fn heal_all(&self) -> Healed {
        let mut healed = Healed {
            partition: self.net.blocked(),
            ..Healed::default()
        };
        self.net.heal();
        self.net.heal_packets();
        for node in &self.nodes {
            let _op = node.op.lock().await;
            if self.resume_quietly(node) {
                healed.resumed.push(node.id);
            }
            if self.closed.load(Ordering::SeqCst) {
                continue;
            }
            match self.restart_locked(node).await {
                Ok(true) => healed.restarted.push(node.id),
                Ok(false) => {}
                Err(e) => healed.errors.push(e.to_string()),
            }
        }
        // A partition applied while we were restarting is healed too.
        healed.partition.extend(self.net.blocked());
        healed.partition.sort_unstable();
        healed.partition.dedup();
        self.net.heal();
        healed
    }

    /// Heals, then kills every node and reaps it, and stops the proxies. Later faults fail
    /// with [`ClusterError::Closed`].
    pub async fn shutdown(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.net.heal();
        self.net.heal_packets();
        for node in &self.nodes {
            let _op = node.op.lock().await;
            self.resume_quietly(node);
            self.kill_locked(node).await;
        }
        self.net.shutdown();
        // Every node is dead: nothing uses the FUSE mounts any more.
        let mounts = std::mem::take(&mut *self.mounts.lock().unwrap_or_else(|e| e.into_inner()));
        drop(mounts);
    }

    /// Fails once the cluster is shut down.
    fn check_open(&self) -> Result<(), ClusterError> {
        if self.closed.load(Ordering::SeqCst) {
            Err(ClusterError::Closed)
        } else {
            Ok(())
        }
    }

    /// SIGCONTs a node's process (ignoring errors); `true` if it was paused.
    fn resume_quietly(&self, node: &Node) -> bool {
        let mut proc = node.proc();
        if let Some(pid) = proc.child.as_ref().and_then(|c| c.id()) {
            let _ = signal(node.id, pid, libc::SIGCONT);
        }
        std::mem::replace(&mut proc.paused, false)
    }

    /// Restarts `node` if it is down (holding its `op` lock); `Ok(true)` if it was restarted.
    async fn restart_locked(&self, node: &Node) -> Result<bool, ClusterError> {
        {
            let mut proc = node.proc();
            if let Some(child) = proc.child.as_mut() {
                let pid = child.id();
                if matches!(child.try_wait(), Ok(None)) {
                    return Ok(false);
                }
                self.forget_pid(pid);
                // It died on its own: reaped by try_wait, restart it.
                proc.child = None;
            }
            proc.paused = false;
        }
        let peers = Self::peers_of(&self.net, node.id);
        let give_up = Instant::now() + RESTART_RETRY_FOR;
        let spawned = loop {
            let deadline = Instant::now() + process::READY_TIMEOUT;
            match process::spawn_node(&self.spec, node.id, node.http, node.peer, &peers, deadline)
                .await
            {
                Ok(spawned) => break spawned,
                Err(ClusterError::Exited { .. }) if Instant::now() + RESTART_BACKOFF < give_up => {
                    tokio::time::sleep(RESTART_BACKOFF).await;
                }
                Err(e) => return Err(e),
            }
        };
        node.proc().child = Some(spawned.child);
        self.wait_healthy(Some(node.id), false).await?;
        Ok(true)
    }
}

impl Drop for Cluster {
    /// SIGCONTs and SIGKILLs every node still running and reaps it (briefly blocking; needs no
    /// runtime).
    fn drop(&mut self) {
        self.net.shutdown();
        for node in &mut self.nodes {
            let proc = node.proc.get_mut().unwrap_or_else(|e| e.into_inner());
            let Some(mut child) = proc.child.take() else {
                continue;
            };
            if let Some(pid) = child.id() {
                let _ = signal(node.id, pid, libc::SIGCONT);
            }
            let pid = child.id();
            let _ = child.start_kill();
            let give_up = std::time::Instant::now() + Duration::from_secs(2);
            while matches!(child.try_wait(), Ok(None)) && std::time::Instant::now() < give_up {
                std::thread::sleep(Duration::from_millis(2));
            }
            if let (Some(pid), Some(_)) = (pid, &self.spec.clock) {
                crate::nemesis::clock::ClockFiles::remove_shm(pid);
            }
        }
    }
}

impl Cluster {
    /// SIGKILLs and reaps a node's process (holding its `op` lock), if it has one.
    async fn kill_locked(&self, node: &Node) {
        let child = {
            let mut proc = node.proc();
            proc.paused = false;
            proc.child.take()
        };
        if let Some(mut child) = child {
            let pid = child.id();
            // kill() sends SIGKILL (which also ends a stopped process) and waits for the exit.
            let _ = child.kill().await;
            self.forget_pid(pid);
        }
    }

    /// After reaping a node under libfaketime: removes what libfaketime leaves in /dev/shm
    /// for a killed process.
    fn forget_pid(&self, pid: Option<u32>) {
        if let (Some(pid), Some(_)) = (pid, &self.spec.clock) {
            crate::nemesis::clock::ClockFiles::remove_shm(pid);
        }
    }
}

/// Sends `sig` to node `id`'s process `pid`.
fn signal(id: usize, pid: u32, sig: libc::c_int) -> Result<(), ClusterError> {
    // SAFETY: kill(2) has no memory-safety preconditions; `pid` is a child we have not reaped,
    // so it cannot name another process.
    if unsafe { libc::kill(pid as libc::pid_t, sig) } == 0 {
        Ok(())
    } else {
        Err(ClusterError::Signal {
            node: id,
            source: std::io::Error::last_os_error(),
        })
    }
}
