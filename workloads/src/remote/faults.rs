//! Fault primitives on remote nodes ([`RemoteFaults`]), and the scripts behind them.
//!
//! - **partition**: every grudge shape faultline has (halves, isolate, majorities ring,
//!   bridge), as iptables rules in a chain faultline owns, [`CHAIN`] (`FAULTLINE`), jumped to
//!   from `INPUT`: on each node, packets from the addresses of the peers it must not hear are
//!   dropped (only to the service's peer ports, if given). Nodes are changed in parallel.
//!   Healing deletes the jump and the chain — nothing else of the host's firewall is touched.
//! - **kill**: SIGKILL of the service's process tree (its pid from the service's pid command),
//!   then the service's start command, and a wait until the pid command prints a pid again.
//! - **pause**: SIGSTOP of the process tree; the pids are written to
//!   `/var/lib/faultline/paused-netINODE` first, so that a later `faultline heal` can SIGCONT them
//!   even if this faultline dies; resume sends SIGCONT and removes the file.
//! - [`HEAL_SCRIPT`]: removes faultline's chain and resumes every recorded pid — what
//!   `faultline heal` and the repair after a run do — and says what it found.

use std::sync::Arc;

use checkers::Rng;

use super::{quote, Remote, SshError, NO_PID};
use crate::nemesis::clock::{ClockFiles, ClockTarget};
use crate::nemesis::{
    Aim, Cut, Fault, Grudge, NemesisError, NotHealed, PacketSpec, Partition, PartitionKind,
    Planned, Primitives,
};

/// The iptables chain faultline owns on a node.
pub const CHAIN: &str = "FAULTLINE";

/// The iptables chain of packet faults (loss with `statistic`), apart from [`CHAIN`] so that
/// healing a partition leaves a packet fault of another lane in place.
pub const PACKET_CHAIN: &str = "FAULTLINE-PKT";

/// Where pids paused by faultline are recorded on a node.
pub const STATE_DIR: &str = "/var/lib/faultline";

/// Removes faultline's chain (and the jumps to it), resumes every pid recorded as paused and
/// puts every libfaketime timestamp file of a node faultline started
/// (`/var/lib/faultline/runs/*/*/faketime`) back to `+0`. Prints `chain N` (rules it held),
/// `resumed PID…` and `clock reset FILE (was OFFSET)` for what it found; nothing when clean.
pub const HEAL_SCRIPT: &str = r#"
if command -v iptables >/dev/null 2>&1; then
  if iptables -w -S FAULTLINE >/dev/null 2>&1; then
    echo "chain $(iptables -w -S FAULTLINE | grep -c '^-A')"
  fi
  while iptables -w -D INPUT -j FAULTLINE 2>/dev/null; do :; done
  iptables -w -F FAULTLINE 2>/dev/null
  iptables -w -X FAULTLINE 2>/dev/null
  if iptables -w -S FAULTLINE-PKT >/dev/null 2>&1; then
    echo "packet chain $(iptables -w -S FAULTLINE-PKT | grep -c '^-A')"
  fi
  while iptables -w -D INPUT -j FAULTLINE-PKT 2>/dev/null; do :; done
  iptables -w -F FAULTLINE-PKT 2>/dev/null
  iptables -w -X FAULTLINE-PKT 2>/dev/null
fi
f=/var/lib/faultline/paused-net$(readlink /proc/self/ns/net 2>/dev/null | tr -cd 0-9)
if [ -f "$f" ]; then
  pids=$(tr -cs '0-9' ' ' < "$f")
  echo "resumed $pids"
  kill -CONT $pids 2>/dev/null
  rm -f "$f"
fi
for f in /var/lib/faultline/runs/*/*/faketime; do
  [ -f "$f" ] || continue
  was=$(cat "$f" 2>/dev/null)
  if [ "$was" != "+0" ]; then
    printf '+0\n' > "$f.tmp" && mv -f "$f.tmp" "$f" && echo "clock reset $f (was $was)"
  fi
done
true
"#;

/// The shell expression of the file recording the pids faultline paused on a node:
/// `/var/lib/faultline/paused-netINODE`, INODE the node's network namespace (one per machine
/// on real hosts; apart for hosts made of network namespaces sharing one file system, as in
/// the tests).
const PAUSED_FILE: &str =
    "/var/lib/faultline/paused-net$(readlink /proc/self/ns/net 2>/dev/null | tr -cd 0-9)";

/// How to find and start a service on each node: shell commands run there, in which `{host}`
/// stands for the node's `--ssh-nodes` entry as a file name ([`file_label`]).
#[derive(Debug, Clone, Default)]
pub struct Service {
    /// A command printing the service's main pid (kill, pause, and checks after healing).
    pub pid: Option<String>,
    /// A command starting the service (in the background; it must return).
    pub start: Option<String>,
    /// Only these ports are cut by partitions (default: every packet from the peer).
    pub peer_ports: Vec<u16>,
}

/// A file name safe for `label`.
pub fn file_label(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The shell preamble that sets `$pid` from the service's pid command, or exits [`NO_PID`].
fn pid_preamble(pid_cmd: &str) -> String {
    format!(
        "tree() {{ echo \"$1\"; for c in $(pgrep -P \"$1\"); do tree \"$c\"; done; }}\n\
         pid=$( {pid_cmd} ) ; pid=$(printf '%s\\n' \"$pid\" | head -n 1 | tr -cd 0-9)\n\
         if [ -z \"$pid\" ]; then echo {} >&2; exit {NO_PID}; fi\n",
        quote(pid_cmd)
    )
}

/// The fault primitives over remote nodes running `service`.
pub struct RemoteFaults {
    target: &'static str,
    remote: Arc<Remote>,
    service: Arc<Service>,
    /// Node `i` is killed (not yet restarted).
    down: Vec<bool>,
    /// Node `i` is paused.
    paused: Vec<bool>,
    /// The nodes' timestamp files, when faultline started them under libfaketime (the demo
    /// store with clock faults).
    clocks: Option<Arc<ClockFiles>>,
}

impl RemoteFaults {
    /// Primitives of `target` over `remote`'s nodes.
    pub fn new(target: &'static str, remote: Arc<Remote>, service: Arc<Service>) -> RemoteFaults {
        let n = remote.len();
        RemoteFaults {
            target,
            remote,
            service,
            down: vec![false; n],
            paused: vec![false; n],
            clocks: None,
        }
    }

    /// These primitives with the nodes' timestamp files, for the clock nemesis.
    pub fn with_clocks(mut self, clocks: Option<Arc<ClockFiles>>) -> RemoteFaults {
        self.clocks = clocks;
        self
    }

    fn pid_cmd(&self, node: usize, what: &'static str) -> Result<String, NemesisError> {
        match &self.service.pid {
            Some(p) => Ok(self.for_node(node, p)),
            None => Err(self.unsupported(what)),
        }
    }

    /// `cmd` with `{host}` replaced by node `node`'s file label.
    fn for_node(&self, node: usize, cmd: &str) -> String {
        cmd.replace("{host}", &file_label(&self.remote.hosts[node].spec.label))
    }

    /// The script cutting node `i` off from `peers` (indices).
    fn cut_script(&self, peers: &[usize]) -> String {
        let mut s = format!(
            "iptables -w -N {CHAIN} 2>/dev/null || iptables -w -F {CHAIN} || exit 1\n\
             iptables -w -C INPUT -j {CHAIN} 2>/dev/null || iptables -w -I INPUT 1 -j {CHAIN} \
             || exit 1\n"
        );
        for &p in peers {
            let addr = self.remote.hosts[p].addr;
            if self.service.peer_ports.is_empty() {
                s.push_str(&format!(
                    "iptables -w -A {CHAIN} -s {addr} -m comment --comment faultline -j DROP \
                     || exit 1\n"
                ));
            } else {
                for port in &self.service.peer_ports {
                    s.push_str(&format!(
                        "iptables -w -A {CHAIN} -s {addr} -p tcp --dport {port} -m comment \
                         --comment faultline -j DROP || exit 1\n"
                    ));
                }
            }
        }
        s
    }

    /// Checks before a run, on every node: the tools the faults need are there, the service's
    /// pid command prints a pid. Leftovers of an earlier run (faultline's chain, paused pids)
    /// are reported in run.log and healed first.
    pub async fn prepare(&self, faults: &[Fault]) -> Result<(), SshError> {
        if faults.contains(&Fault::Partition) {
            if let Some(h) = self.remote.hosts.iter().find(|h| h.addr.is_ipv6()) {
                return Err(SshError::Ipv6Partition {
                    host: h.spec.label.clone(),
                    addr: h.addr,
                });
            }
        }
        let mut tools = vec!["pgrep", "kill"];
        if faults.contains(&Fault::Partition) || faults.contains(&Fault::Packet) {
            tools.push("iptables");
        }
        let check = tools
            .iter()
            .map(|t| format!("command -v {t} >/dev/null 2>&1 || echo {t}"))
            .collect::<Vec<_>>()
            .join("\n");
        let results = self.remote.run_all("check tools", |_| check.clone()).await;
        for (h, r) in self.remote.hosts.iter().zip(results) {
            if let Some(program) = r?.stdout.split_whitespace().next() {
                return Err(SshError::Missing {
                    host: h.spec.label.clone(),
                    program: program.to_string(),
                    hint: match program {
                        "iptables" => "apt-get install iptables".to_string(),
                        _ => "apt-get install procps".to_string(),
                    },
                });
            }
        }
        self.refuse_or_heal_leftovers().await?;
        if let Some(pid) = &self.service.pid {
            let script = |i| pid_preamble(&self.for_node(i, pid)) + "echo $pid";
            let results = self.remote.run_all("find the service's pid", script).await;
            for r in results {
                r?;
            }
        }
        Ok(())
    }

    /// Before a run: looks on every node for what an earlier faultline run left there. The
    /// database members it started and that still run (`/var/lib/faultline/runs/*/HOST/`,
    /// [`leftovers_script`]) refuse the run ([`SshError::Leftovers`], naming the host and the
    /// `faultline heal … --remove-leftovers` command to run): they may hold the ports, the
    /// data and the machine this run needs, and stopping processes nobody asked this run to
    /// stop is not its business. Members' directories with nothing running are only named.
    /// faultline's iptables chains and the pids it paused are removed and resumed first
    /// ([`HEAL_SCRIPT`]), said in the output and run.log (`leftovers of an earlier run found
    /// and healed first: chain 2; resumed 4711`).
    pub async fn refuse_or_heal_leftovers(&self) -> Result<(), SshError> {
        let remote = &self.remote;
        let members = remote
            .run_all("look for leftover members", |i| {
                leftovers_script(&remote.hosts[i].spec.label, false)
            })
            .await;
        for (h, r) in remote.hosts.iter().zip(members) {
            let out = r?.stdout;
            let running: Vec<&str> = out
                .lines()
                .filter(|l| l.starts_with("member still running"))
                .collect();
            if !running.is_empty() {
                return Err(SshError::Leftovers {
                    host: h.spec.label.clone(),
                    found: running.join("; "),
                    command: remote.heal_command().to_string(),
                });
            }
            let dirs = out.trim().replace('\n', "; ");
            if !dirs.is_empty() {
                remote.progress().note(format!(
                    "ssh {}: an earlier run left (nothing running there): {dirs}; `{}` removes it",
                    h.spec.label,
                    remote.heal_command()
                ));
            }
        }
        let healed = remote
            .run_all("look for leftovers", |_| HEAL_SCRIPT.into())
            .await;
        for (h, r) in remote.hosts.iter().zip(healed) {
            let found = r?.stdout.trim().replace('\n', "; ");
            if !found.is_empty() {
                remote.progress().note(format!(
                    "ssh {}: leftovers of an earlier run found and healed first: {found}",
                    h.spec.label
                ));
            }
        }
        Ok(())
    }

    async fn on_all(&self, what: &str, script: impl Fn(usize) -> String) -> Result<(), SshError> {
        for r in self.remote.run_all(what, script).await {
            r?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Primitives for RemoteFaults {
    fn target(&self) -> &'static str {
        self.target
    }
    fn nodes(&self) -> usize {
        self.remote.len()
    }
    fn aim(&mut self, fault: Fault, rng: &mut Rng) -> Option<Aim> {
        let n = self.remote.len();
        if n == 0 {
            return None;
        }
        Some(match fault {
            Fault::Partition => {
                let kind = PartitionKind::ALL[rng.below(PartitionKind::ALL.len() as u64) as usize];
                let p = Partition::plan(kind, n, rng);
                let pairs: Vec<(usize, usize)> =
                    p.blocked.iter().map(|&(a, b)| (a - 1, b - 1)).collect();
                Aim::Cut(Box::new(Cut {
                    grudge: Grudge::from_pairs(&pairs),
                    value: p.value(),
                    stop_value: serde_json::Value::Null,
                    summary: p.summary(),
                    stop_summary: "heal partition".into(),
                }))
            }
            Fault::Kill | Fault::Pause => Aim::Node(rng.below(n as u64) as usize),
            // On the clock nemesis's own schedule (`clocks`).
            Fault::ClockBump | Fault::ClockStrobe | Fault::ClockSkew => return None,
            // Aimed by the schedule.
            Fault::Packet => return None,
            // Refused before the run (no files named).
            Fault::Corrupt => return None,
            // Aimed by the schedule (at the nodes of a target set).
            Fault::LoseUnfsynced => return None,
        })
    }
    fn clocks(&self) -> Option<Box<dyn ClockTarget>> {
        let files = self.clocks.clone()?;
        Some(Box::new(RemoteClocks(self.target, files)))
    }
    async fn kill(&mut self, node: usize) -> Result<(), NemesisError> {
        let script = pid_preamble(&self.pid_cmd(node, "kill a node without --node-pid")?)
            + "pids=$(tree $pid); kill -KILL $pids\n"
            + crate::nemesis::clock::REMOVE_SHM_SH;
        self.remote.run(node, "kill", &script).await?;
        self.down[node] = true;
        self.paused[node] = false;
        Ok(())
    }
    async fn restart(&mut self, node: usize) -> Result<(), NemesisError> {
        let start = match &self.service.start {
            Some(s) => self.for_node(node, s),
            None => return Err(self.unsupported("restart a node without --node-start")),
        };
        let pid = self.pid_cmd(node, "restart a node without --node-pid")?;
        let secs = self.remote.timeout().as_secs().saturating_sub(1).max(1);
        // Start, then wait (within the command's timeout) until the pid command finds it.
        let script = format!(
            "{start}\ni=0\nwhile [ $i -lt {tries} ]; do\n  p=$( {pid} ); \
             [ -n \"$(printf '%s' \"$p\" | tr -cd 0-9)\" ] && exit 0\n  sleep 0.1; i=$((i+1))\n\
             done\necho 'started, but the pid command still prints no pid' >&2; exit 1",
            tries = secs * 10
        );
        self.remote.run(node, "restart", &script).await?;
        self.down[node] = false;
        Ok(())
    }
    async fn pause(&mut self, node: usize) -> Result<(), NemesisError> {
        let script = pid_preamble(&self.pid_cmd(node, "pause a node without --node-pid")?)
            + &format!(
                "mkdir -p {STATE_DIR} || exit 1\npids=$(tree $pid)\n\
                 echo $pids >> {PAUSED_FILE} || exit 1\nkill -STOP $pids"
            );
        self.remote.run(node, "pause", &script).await?;
        self.paused[node] = true;
        Ok(())
    }
    async fn resume(&mut self, node: usize) -> Result<(), NemesisError> {
        let script = format!(
            "f={PAUSED_FILE}\nif [ -f \"$f\" ]; then kill -CONT $(tr -cs '0-9' ' ' < \"$f\") \
             2>/dev/null; rm -f \"$f\"; fi\ntrue"
        );
        self.remote.run(node, "resume", &script).await?;
        self.paused[node] = false;
        Ok(())
    }
    async fn cut(&mut self, grudge: &Grudge) -> Result<(), NemesisError> {
        let started = std::time::Instant::now();
        let scripts: Vec<Option<String>> = (0..self.remote.len())
            .map(|i| {
                grudge
                    .0
                    .get(&i)
                    .filter(|peers| !peers.is_empty())
                    .map(|peers| self.cut_script(&peers.iter().copied().collect::<Vec<_>>()))
            })
            .collect();
        let remote = &self.remote;
        let futures = scripts.iter().enumerate().filter_map(|(i, s)| {
            s.as_ref()
                .map(|s| async move { remote.run(i, "partition (iptables)", s).await })
        });
        for r in super::join_all(futures).await {
            r?;
        }
        self.remote.progress().note(format!(
            "partition applied on every node in {:.1} ms",
            started.elapsed().as_secs_f64() * 1000.0
        ));
        Ok(())
    }
    async fn packet(&mut self, nodes: &[usize], spec: &PacketSpec) -> Result<(), NemesisError> {
        // Loss only (checked before the run): every host drops, at random with probability
        // `loss`, what it receives from a peer when either of them is hit.
        let n = self.remote.len();
        let hit: Vec<bool> = (0..n).map(|i| nodes.contains(&i)).collect();
        let scripts: Vec<String> = (0..n)
            .map(|h| {
                let mut s = format!(
                    "iptables -w -N {PACKET_CHAIN} 2>/dev/null || iptables -w -F {PACKET_CHAIN} \
                     || exit 1\niptables -w -C INPUT -j {PACKET_CHAIN} 2>/dev/null || \
                     iptables -w -I INPUT 1 -j {PACKET_CHAIN} || exit 1\n"
                );
                for p in (0..n).filter(|&p| p != h && (hit[h] || hit[p])) {
                    let addr = self.remote.hosts[p].addr;
                    s.push_str(&format!(
                        "iptables -w -A {PACKET_CHAIN} -s {addr} -m statistic --mode random \
                         --probability {} -m comment --comment faultline -j DROP || exit 1\n",
                        spec.loss
                    ));
                }
                s
            })
            .collect();
        let remote = &self.remote;
        let futures = scripts.iter().enumerate().map(|(i, s)| async move {
            remote.run(i, "packet loss (iptables statistic)", s).await
        });
        for r in super::join_all(futures).await {
            r?;
        }
        Ok(())
    }
    async fn heal_packets(&mut self) {
        let script = format!(
            "while iptables -w -D INPUT -j {PACKET_CHAIN} 2>/dev/null; do :; done\n\
             iptables -w -F {PACKET_CHAIN} 2>/dev/null; iptables -w -X {PACKET_CHAIN} 2>/dev/null; \
             true"
        );
        let _ = self
            .on_all("heal packets (iptables)", |_| script.clone())
            .await;
    }
    async fn heal(&mut self) {
        let started = std::time::Instant::now();
        let script = format!(
            "while iptables -w -D INPUT -j {CHAIN} 2>/dev/null; do :; done\n\
             iptables -w -F {CHAIN} 2>/dev/null; iptables -w -X {CHAIN} 2>/dev/null; true"
        );
        let _ = self
            .on_all("heal partition (iptables)", |_| script.clone())
            .await;
        self.remote.progress().note(format!(
            "partition healed on every node in {:.1} ms",
            started.elapsed().as_secs_f64() * 1000.0
        ));
    }
    async fn repair(&mut self) -> (Vec<Planned>, Vec<String>) {
        let mut errors = Vec::new();
        if let Err(e) = self.on_all("heal everything", |_| HEAL_SCRIPT.into()).await {
            errors.push(e.to_string());
        }
        self.paused.iter_mut().for_each(|p| *p = false);
        let mut ops = Vec::new();
        for node in 0..self.remote.len() {
            if self.down[node] {
                match self.restart(node).await {
                    Ok(()) => ops.push(Planned::new(crate::nemesis::Action::Restart(node), |i| {
                        format!("n{}", i + 1)
                    })),
                    Err(e) => errors.push(e.to_string()),
                }
            }
        }
        (ops, errors)
    }
    async fn check_healed(&mut self) -> Result<String, NotHealed> {
        let running = |i: usize| match &self.service.pid {
            Some(pid) => {
                pid_preamble(&self.for_node(i, pid))
                    + "case \"$(ps -o stat= -p $pid)\" in T*) echo \"pid $pid is still \
                       stopped\" >&2; exit 1;; '') echo \"pid $pid is gone\" >&2; exit 1;; esac\n"
            }
            None => String::new(),
        };
        let hosts = &self.remote.hosts;
        let script = |i: usize| {
            let mut s = format!(
                "if iptables -w -S {CHAIN} >/dev/null 2>&1; then echo \"faultline's iptables \
                 chain is still there\" >&2; exit 1; fi\n{}",
                running(i)
            );
            for (j, h) in hosts.iter().enumerate() {
                if j != i {
                    let port = h.spec.port.unwrap_or(22);
                    s.push_str(&format!(
                        "timeout 3 bash -c '</dev/tcp/{}/{port}' 2>/dev/null || {{ echo \
                         \"cannot reach {} ({}:{port})\" >&2; exit 1; }}\n",
                        h.addr, h.spec.label, h.addr
                    ));
                }
            }
            s
        };
        match self.on_all("verify healed", script).await {
            Ok(()) => Ok(format!(
                "no faultline rule on any node, every node reaches every other{}",
                if self.service.pid.is_some() {
                    ", every service runs"
                } else {
                    ""
                }
            )),
            Err(e) => Err(NotHealed::Remote(Arc::new(e))),
        }
    }
}

/// The timestamp files of nodes faultline started on SSH hosts, for the clock nemesis.
struct RemoteClocks(&'static str, Arc<ClockFiles>);

impl ClockTarget for RemoteClocks {
    fn target(&self) -> &'static str {
        self.0
    }
    fn files(&self) -> &Arc<ClockFiles> {
        &self.1
    }
}

/// The script finding the members an earlier run started on the host labelled `label`
/// (directories `/var/lib/faultline/runs/*/LABEL/`, the member's pid in `pid` there, checked
/// to still be the member: its working directory is that directory or below it). With
/// `remove`, stops each (SIGCONT, SIGKILL of its tree) and removes its directory; otherwise
/// only names them.
pub fn leftovers_script(label: &str, remove: bool) -> String {
    const SCRIPT: &str = r#"
for d in /var/lib/faultline/runs/*/LABEL; do
  [ -d "$d" ] || continue
  p=$(cat "$d/pid" 2>/dev/null | tr -cd 0-9)
  case "$(readlink /proc/${p:-0}/cwd 2>/dev/null)" in "$d"|"$d"/*) ok=1;; *) ok=0;; esac
  if [ -n "$p" ] && [ $ok = 1 ]; then
    if [ $remove = 1 ]; then
      pids=$(tree $p); kill -CONT $pids 2>/dev/null; kill -KILL $pids 2>/dev/null
      for q in $pids; do rm -f /dev/shm/faketime_shm_$q /dev/shm/sem.faketime_sem_$q; done
      echo "stopped member pid $p ($d)"
    else
      echo "member still running: pid $p ($d)"
    fi
  fi
  if [ $remove = 1 ]; then
    rm -rf "$d"; rmdir "$(dirname "$d")" 2>/dev/null; echo "removed $d"
  else
    echo "leftover directory $d"
  fi
done
true
"#;
    format!(
        "{}remove={}\n{}",
        super::members::TREE_FN,
        if remove { 1 } else { 0 },
        SCRIPT.replace("LABEL", &file_label(label))
    )
}

/// What `faultline heal` found and did on each node: faultline's chain and paused pids
/// ([`HEAL_SCRIPT`]), then the members earlier runs left (stopped and removed with
/// `remove_leftovers`, else only named).
pub async fn heal_all(
    remote: &Remote,
    remove_leftovers: bool,
) -> Vec<(String, Result<String, SshError>)> {
    let results = remote.run_all("heal", |_| HEAL_SCRIPT.into()).await;
    let left = remote
        .run_all("look for leftover members", |i| {
            leftovers_script(&remote.hosts[i].spec.label, remove_leftovers)
        })
        .await;
    remote
        .hosts
        .iter()
        .zip(results.into_iter().zip(left))
        .map(|(h, (r, l))| {
            let r = r.and_then(|o| {
                let found = o.stdout.trim().replace('\n', "; ");
                let left = l?.stdout.trim().replace('\n', "; ");
                let mut parts = Vec::new();
                if !found.is_empty() {
                    parts.push(format!("removed {found}"));
                }
                if !left.is_empty() {
                    parts.push(left);
                    if !remove_leftovers {
                        parts.push(
                            "(faultline heal --remove-leftovers stops them and removes the \
                             directories)"
                                .into(),
                        );
                    }
                }
                Ok(if parts.is_empty() {
                    "nothing of faultline's found".to_string()
                } else {
                    parts.join("; ")
                })
            });
            (h.spec.label.clone(), r)
        })
        .collect()
}
