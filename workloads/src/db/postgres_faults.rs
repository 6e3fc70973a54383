//! The nemesis over a PostgreSQL primary and its replicas ([`super::postgres_replicas`]), as
//! the runner drives it ("run" step): `kill` (SIGKILL to the postmaster **and every process
//! it forked**, restarted when the fault ends, same data directory), `pause` (SIGSTOP to the
//! whole process tree, SIGCONT at the end) on any node, and `partition` — one replica's
//! replication connection blackholed at faultline's proxy (the replica keeps serving reads from
//! what it has applied; under `synchronous_commit = remote_apply` commits on the primary wait
//! until it heals, so writes time out as `info`). One fault at a time, node chosen from the seed.
//!
//! Signalling only the postmaster, as [`super::faults`] does for single servers, would leave
//! its backends, WAL receiver and startup process running: a "paused" replica would go on
//! replaying WAL and answering queries. Hence the process tree from `/proc`.

use std::sync::Arc;
use std::time::Duration;

use checkers::Rng;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::postgres_replicas::{query, LocalPgReplicas};
use super::server::Server;
use crate::runner::{FaultOp, Faults};

/// The descendants of `pid` (children, grandchildren, …), from `/proc/<pid>/stat`.
fn descendants(pid: u32) -> Vec<u32> {
    let mut parent_of: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
                continue;
            };
            // "pid (comm) state ppid …": comm may contain spaces; split after the last ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|s| s.parse::<u32>().ok());
            if let Some(pp) = ppid {
                parent_of.push((p, pp));
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for &(child, _) in parent_of.iter().filter(|(_, pp)| *pp == p) {
            out.push(child);
            frontier.push(child);
        }
    }
    out
}

fn signal(pids: &[u32], sig: libc::c_int) {
    for &p in pids {
        // SAFETY: kill(2) with a valid signal number; a pid that has gone is harmless (ESRCH).
        unsafe {
            libc::kill(p as libc::pid_t, sig);
        }
    }
}

/// SIGSTOPs (`true`) or SIGCONTs the server's whole process tree.
fn pause_tree(server: &Server, stop: bool) -> Result<(), String> {
    let pid = server
        .pid()
        .ok_or_else(|| format!("{} is not running", server.name()))?;
    if stop {
        server.pause(true)?;
        signal(&descendants(pid), libc::SIGSTOP);
    } else {
        signal(&descendants(pid), libc::SIGCONT);
        server.pause(false)?;
    }
    Ok(())
}

/// SIGKILLs the server's whole process tree (resuming it first if paused).
async fn kill_tree(server: &Server) -> Result<(), String> {
    let pid = server
        .pid()
        .ok_or_else(|| format!("{} is not running", server.name()))?;
    let children = descendants(pid);
    server.kill().await?;
    signal(&children, libc::SIGKILL);
    signal(&children, libc::SIGCONT);
    Ok(())
}

/// Stops a server for good: its whole tree, so no paused or orphaned backend survives.
pub async fn stop_tree(server: &Server) {
    if let Some(pid) = server.pid() {
        let children = descendants(pid);
        signal(&children, libc::SIGKILL);
        signal(&children, libc::SIGCONT);
    }
    server.stop().await;
}

/// The kill/pause/partition nemesis over a primary and its replicas.
pub struct PgFaults {
    cluster: Arc<LocalPgReplicas>,
    kinds: Vec<String>,
    rng: Rng,
    /// The active fault: (kind, node index; 0 is the primary).
    active: Option<(String, usize)>,
    /// The planned operation awaiting `apply`: (f, node index).
    pending: Option<(String, usize)>,
}

impl PgFaults {
    /// A nemesis injecting `kinds` (`kill`, `pause`, `partition`) into `cluster`, seeded.
    pub fn new(cluster: Arc<LocalPgReplicas>, kinds: Vec<String>, seed: u64) -> PgFaults {
        PgFaults {
            cluster,
            kinds,
            rng: Rng::new(seed ^ 0x9E5F_FA17),
            active: None,
            pending: None,
        }
    }

    fn op(&mut self, f: &str, node: usize, summary: String) -> FaultOp {
        self.pending = Some((f.to_string(), node));
        FaultOp {
            f: f.to_string(),
            value: json!(self.cluster.servers[node].name()),
            summary,
        }
    }

    /// Waits (up to 30 s) until the restarted node accepts queries again.
    async fn wait_up(&self, node: usize) -> Result<(), String> {
        let conn = self.cluster.conns[node].clone();
        self.cluster.servers[node]
            .wait_until(
                "restarted postgres",
                Instant::now() + Duration::from_secs(30),
                || {
                    let conn = conn.clone();
                    async move { query(&conn, "SELECT 1").await.is_ok() }
                },
            )
            .await
    }
}

impl Faults for PgFaults {
    fn plan_start(&mut self) -> Option<FaultOp> {
        let n = self.cluster.servers.len();
        if self.kinds.is_empty() || self.active.is_some() {
            return None;
        }
        let kind = self.kinds[self.rng.below(self.kinds.len() as u64) as usize].clone();
        if kind == "partition" {
            if n < 2 {
                return None;
            }
            let node = 1 + self.rng.below(n as u64 - 1) as usize;
            let name = self.cluster.servers[node].name().to_string();
            return Some(self.op("start-partition", node, format!("cut n1 ↔ {name}")));
        }
        let node = self.rng.below(n as u64) as usize;
        let name = self.cluster.servers[node].name().to_string();
        Some(self.op(&kind, node, format!("{kind} {name}")))
    }

    fn plan_stop(&mut self) -> Option<FaultOp> {
        let (kind, node) = self.active.clone()?;
        let f = match kind.as_str() {
            "kill" => "restart",
            "partition" => "stop-partition",
            _ => "resume",
        };
        let name = self.cluster.servers[node].name().to_string();
        Some(self.op(f, node, format!("{f} {name}")))
    }

    async fn apply(&mut self, op: &FaultOp) -> Result<Value, String> {
        let (f, node) = self
            .pending
            .take()
            .ok_or_else(|| format!("{} was not planned", op.f))?;
        let server = self.cluster.servers[node].clone();
        match f.as_str() {
            "kill" => {
                kill_tree(&server).await?;
                self.active = Some((f, node));
            }
            "pause" => {
                pause_tree(&server, true)?;
                self.active = Some((f, node));
            }
            "start-partition" => {
                self.cluster
                    .links
                    .block(&[(1, node + 1)])
                    .map_err(|e| e.to_string())?;
                self.active = Some(("partition".into(), node));
            }
            "stop-partition" => {
                self.active = None;
                self.cluster.links.heal();
            }
            "restart" => {
                self.active = None;
                server.restart().await?;
                self.wait_up(node).await?;
            }
            "resume" => {
                self.active = None;
                pause_tree(&server, false)?;
            }
            other => return Err(format!("unknown fault {other:?}")),
        }
        Ok(json!(server.name()))
    }

    async fn heal_all(&mut self) -> Vec<(FaultOp, Result<Value, String>)> {
        let mut out = Vec::new();
        self.cluster.links.heal();
        if let Some(op) = self.plan_stop() {
            let r = self.apply(&op).await;
            out.push((op, r));
        }
        out
    }

    async fn verify_healed(&mut self) -> Result<String, String> {
        if let Some(s) = self
            .cluster
            .servers
            .iter()
            .find(|s| s.exited() || s.is_paused() || s.pid().is_none())
        {
            return Err(format!(
                "{} is not running (log {})",
                s.name(),
                s.log().display()
            ));
        }
        self.cluster
            .wait_streaming(Instant::now() + Duration::from_secs(30), false)
            .await?;
        Ok("every server runs and every replica streams from the primary again".into())
    }
}

#[cfg(test)]
mod tests {
    use super::descendants;

    #[test]
    fn descendants_finds_grandchildren_of_a_process_tree() {
        // sh (child) forks sleep (grandchild); both must be found from our pid.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 5 & wait"])
            .spawn()
            .expect("sh starts");
        let sh = child.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let found = loop {
            let d = descendants(std::process::id());
            if d.contains(&sh) && d.len() >= 2 || std::time::Instant::now() > deadline {
                break d;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        super::signal(&descendants(sh), libc::SIGKILL);
        let _ = child.kill();
        let _ = child.wait();
        assert!(found.contains(&sh), "{found:?} lacks {sh}");
        assert!(found.len() >= 2, "the grandchild is missing: {found:?}");
    }
}
