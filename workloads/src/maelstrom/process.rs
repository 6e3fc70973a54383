//! The node programs ("run" step): `--bin PATH [ARGS…]` started once per node, stdin fed by
//! the node's inbox, stdout read line by line into the [`Router`], stderr appended to the
//! node's log file in the run's store directory (and echoed with `--log-stderr`). A node
//! that exits without being killed by the nemesis is a [`ProtocolError::Exited`].

use super::net::{Inbox, Router};
use super::proto::ProtocolError;
use super::Fatal;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

/// How to start a node program.
#[derive(Debug, Clone)]
pub struct Program {
    /// The binary.
    pub bin: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Whether to echo the nodes' stderr on faultline's stderr.
    pub log_stderr: bool,
}

/// One node program, across its incarnations (a kill and restart starts a new one).
pub struct NodeProc {
    /// The node's address (index) in the router.
    pub addr: usize,
    /// `n1`, …
    pub name: String,
    /// Its stderr log.
    pub log: PathBuf,
    program: Program,
    stdin: Arc<tokio::sync::Mutex<Option<ChildStdin>>>,
    child: Mutex<Option<Child>>,
    pid: AtomicU64,
    /// Set while the nemesis has it killed, and at shutdown: its exit is expected.
    pub expected_exit: Arc<AtomicBool>,
    /// Set while SIGSTOPped.
    pub paused: AtomicBool,
    incarnation: Arc<AtomicU64>,
}

impl NodeProc {
    /// A node not yet started.
    pub fn new(addr: usize, name: String, log: PathBuf, program: Program) -> Arc<NodeProc> {
        Arc::new(NodeProc {
            addr,
            name,
            log,
            program,
            stdin: Arc::new(tokio::sync::Mutex::new(None)),
            child: Mutex::new(None),
            pid: AtomicU64::new(0),
            expected_exit: Arc::new(AtomicBool::new(false)),
            paused: AtomicBool::new(false),
            incarnation: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Feeds the node's stdin from its inbox (for the whole run, across incarnations). Lines
    /// for a node that is down are dropped (counted by the router).
    pub fn feed(self: &Arc<Self>, inbox: Inbox, router: Arc<Router>) {
        let stdin = self.stdin.clone();
        let r = router.clone();
        tokio::spawn(inbox.pump(router, move |batch| {
            let stdin = stdin.clone();
            let r = r.clone();
            async move {
                let mut buf = Vec::with_capacity(batch.len() * 64);
                for m in &batch {
                    buf.extend_from_slice(m.line.as_bytes());
                    buf.push(b'\n');
                }
                let mut guard = stdin.lock().await;
                let ok = match guard.as_mut() {
                    Some(w) => w.write_all(&buf).await.is_ok() && w.flush().await.is_ok(),
                    None => false,
                };
                if !ok {
                    *guard = None;
                    for m in &batch {
                        r.dropped(m);
                    }
                }
            }
        }));
    }

    /// Starts a new incarnation; its stdout goes to `router`, protocol errors to `fatal`.
    pub async fn start(
        self: &Arc<Self>,
        router: Arc<Router>,
        fatal: Arc<Fatal>,
    ) -> Result<(), ProtocolError> {
        let spawn_err = |e: std::io::Error| ProtocolError::Spawn {
            node: self.name.clone(),
            program: self.program.bin.display().to_string(),
            reason: e.to_string(),
        };
        let mut cmd = Command::new(&self.program.bin);
        cmd.args(&self.program.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = crate::target::demo::cluster::process::spawn_tied(cmd)
            .await
            .map_err(spawn_err)?;
        let inc = self.incarnation.fetch_add(1, Ordering::SeqCst) + 1;
        self.pid
            .store(u64::from(child.id().unwrap_or(0)), Ordering::SeqCst);
        *self.stdin.lock().await = child.stdin.take();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        *self.child.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
        self.expected_exit.store(false, Ordering::SeqCst);

        // stderr → the node's log (appended across incarnations); `logged` fires when it is
        // all written, so an exit report quotes the node's last words.
        let (logged_tx, logged) = tokio::sync::oneshot::channel::<()>();
        if let Some(mut err) = stderr {
            let path = self.log.clone();
            let echo = self.program.log_stderr;
            let name = self.name.clone();
            tokio::spawn(async move {
                let mut file = tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .await
                    .ok();
                let mut buf = vec![0u8; 8192];
                loop {
                    match err.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if let Some(f) = file.as_mut() {
                                let _ = f.write_all(&buf[..n]).await;
                            }
                            if echo {
                                let text = String::from_utf8_lossy(&buf[..n]);
                                for l in text.lines() {
                                    eprintln!("{name}: {l}");
                                }
                            }
                        }
                    }
                }
                if let Some(f) = file.as_mut() {
                    let _ = f.flush().await;
                }
                drop(logged_tx);
            });
        }
        // stdout → the router.
        if let Some(out) = stdout {
            let me = self.clone();
            let incarnation = self.incarnation.clone();
            tokio::spawn(async move {
                // One reused buffer: the only copy of a line is the router's Arc<str>.
                let mut reader = BufReader::with_capacity(64 * 1024, out);
                let mut buf = Vec::with_capacity(4096);
                loop {
                    buf.clear();
                    match reader.read_until(b'\n', &mut buf).await {
                        Ok(0) => break,
                        Ok(_) => {
                            let Ok(text) = std::str::from_utf8(&buf) else {
                                fatal.raise(ProtocolError::NotAMessage {
                                    node: me.name.clone(),
                                    why: "a line that is not UTF-8; expected UTF-8 lines".into(),
                                    line: super::proto::shorten(&String::from_utf8_lossy(&buf)),
                                });
                                return;
                            };
                            let line = text.trim_end_matches(['\n', '\r']);
                            if line.trim().is_empty() {
                                continue;
                            }
                            if let Err(e) = router.from_node(me.addr, line) {
                                fatal.raise(e);
                                return;
                            }
                        }
                        Err(e) => {
                            fatal.raise(ProtocolError::NotAMessage {
                                node: me.name.clone(),
                                why: format!("unreadable stdout ({e}); expected UTF-8 lines"),
                                line: String::new(),
                            });
                            return;
                        }
                    }
                }
                // EOF: the process ended (or closed stdout).
                if incarnation.load(Ordering::SeqCst) != inc
                    || me.expected_exit.load(Ordering::SeqCst)
                {
                    return;
                }
                let status = me.wait_exit().await;
                let _ = tokio::time::timeout(std::time::Duration::from_secs(1), logged).await;
                if me.expected_exit.load(Ordering::SeqCst)
                    || incarnation.load(Ordering::SeqCst) != inc
                {
                    return;
                }
                fatal.raise(ProtocolError::Exited {
                    node: me.name.clone(),
                    status,
                    log: me.log.display().to_string(),
                    tail: tail(&me.log),
                });
            });
        }
        Ok(())
    }

    async fn wait_exit(&self) -> String {
        let child = self.child.lock().unwrap_or_else(|e| e.into_inner()).take();
        match child {
            Some(mut c) => {
                match tokio::time::timeout(std::time::Duration::from_secs(2), c.wait()).await {
                    Ok(Ok(s)) => s.to_string(),
                    Ok(Err(e)) => format!("cannot wait for it: {e}"),
                    Err(_) => {
                        let _ = c.start_kill();
                        "closed its stdout but kept running; killed".to_string()
                    }
                }
            }
            None => "exited".to_string(),
        }
    }

    fn signal(&self, sig: libc::c_int) -> std::io::Result<()> {
        let pid = self.pid.load(Ordering::SeqCst);
        if pid == 0 {
            return Ok(());
        }
        // SAFETY: kill(2) with a pid we started; no memory is touched.
        if unsafe { libc::kill(pid as libc::pid_t, sig) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// SIGKILLs the current incarnation (its exit is expected) and reaps it.
    pub async fn kill(&self) -> std::io::Result<()> {
        self.expected_exit.store(true, Ordering::SeqCst);
        if self.paused.swap(false, Ordering::SeqCst) {
            let _ = self.signal(libc::SIGCONT);
        }
        let child = self.child.lock().unwrap_or_else(|e| e.into_inner()).take();
        *self.stdin.lock().await = None;
        if let Some(mut c) = child {
            let _ = c.start_kill();
            let _ = c.wait().await;
        }
        self.pid.store(0, Ordering::SeqCst);
        Ok(())
    }

    /// Whether an incarnation is running (not killed).
    pub fn running(&self) -> bool {
        self.pid.load(Ordering::SeqCst) != 0
    }

    /// SIGSTOP.
    pub fn pause(&self) -> std::io::Result<()> {
        self.signal(libc::SIGSTOP)?;
        self.paused.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// SIGCONT.
    pub fn resume(&self) -> std::io::Result<()> {
        self.signal(libc::SIGCONT)?;
        self.paused.store(false, Ordering::SeqCst);
        Ok(())
    }
}

/// The last lines of a node's log, for messages.
pub fn tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() {
        return " (empty)".into();
    }
    let from = lines.len().saturating_sub(8);
    format!(", ending:\n    {}", lines[from..].join("\n    "))
}
