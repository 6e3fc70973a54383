//! PostgreSQL's process trees: `kill` and `pause` of a primary with replicas signal the
//! postmaster **and every process it forked** ([`kill_tree`], [`pause_tree`]); [`stop_tree`]
//! stops a server for good.
//!
//! Signalling only the postmaster would leave its backends, WAL receiver and startup process
//! running: a "paused" replica would go on replaying WAL and answering queries. Hence the
//! process tree from `/proc`.

use crate::error::ServerError;
use crate::target::server::Server;

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
pub fn pause_tree(server: &Server, stop: bool) -> Result<(), ServerError> {
    let pid = server
        .pid()
        .ok_or_else(|| ServerError::NotRunning(server.name().to_string()))?;
    if stop {
        server.pause(true)?;
        signal(&descendants(pid), libc::SIGSTOP);
    } else {
        signal(&descendants(pid), libc::SIGCONT);
        server.pause(false)?;
    }
    Ok(())
}

/// SIGKILLs the server's whole process tree like [`kill_tree`] and waits (up to `limit`)
/// until every process of it is gone (or a zombie): nothing of the server writes to its data
/// directory any more.
pub async fn kill_tree_and_wait(
    server: &Server,
    limit: std::time::Duration,
) -> Result<(), ServerError> {
    let pid = server
        .pid()
        .ok_or_else(|| ServerError::NotRunning(server.name().to_string()))?;
    let mut tree = descendants(pid);
    tree.push(pid);
    kill_tree(server).await?;
    let deadline = tokio::time::Instant::now() + limit;
    let alive = |p: &u32| match std::fs::read_to_string(format!("/proc/{p}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    };
    while tree.iter().any(alive) {
        if tokio::time::Instant::now() > deadline {
            return Err(ServerError::Command(format!(
                "{}'s processes {:?} still run {limit:?} after SIGKILL",
                server.name(),
                tree.iter().filter(|p| alive(p)).collect::<Vec<_>>()
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Ok(())
}

/// SIGKILLs the server's whole process tree (resuming it first if paused).
pub async fn kill_tree(server: &Server) -> Result<(), ServerError> {
    let pid = server
        .pid()
        .ok_or_else(|| ServerError::NotRunning(server.name().to_string()))?;
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
