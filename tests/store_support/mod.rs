//! Test harness for the demo store: starts `faultline serve-demo-node` processes on 127.0.0.1,
//! wires their peer links through in-test TCP forwarders that can be blocked (a blackhole:
//! bytes stop flowing both ways, nothing is closed), and talks http-kv with a tiny std-only
//! HTTP/1.1 keep-alive client.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// One started node process and the addresses it bound.
pub struct Node {
    pub id: usize,
    pub child: Option<Child>,
    pub http: SocketAddr,
    pub peer: SocketAddr,
}

/// A blockable one-way link `from → to` (a forwarder in front of `to`'s peer port).
pub struct Link {
    pub from: usize,
    pub to: usize,
    pub port: u16,
    pub blocked: Arc<AtomicBool>,
}

/// Three (or n) nodes, their links and their data directory.
pub struct Cluster {
    pub mode: &'static str,
    pub dir: tempfile::TempDir,
    pub nodes: Vec<Node>,
    pub links: Vec<Link>,
    targets: Vec<Arc<Mutex<Option<SocketAddr>>>>,
}

impl Cluster {
    /// Starts `n` nodes in `mode` ("sync" or "async") and waits for their READY lines.
    pub fn start(mode: &'static str, n: usize) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let targets: Vec<_> = (0..n).map(|_| Arc::new(Mutex::new(None))).collect();
        let mut links = Vec::new();
        for from in 1..=n {
            for to in 1..=n {
                if from != to {
                    let (port, blocked) = forwarder(targets[to - 1].clone());
                    links.push(Link {
                        from,
                        to,
                        port,
                        blocked,
                    });
                }
            }
        }
        let mut cluster = Cluster {
            mode,
            dir,
            nodes: Vec::new(),
            links,
            targets,
        };
        for id in 1..=n {
            let node = cluster.spawn(id, "127.0.0.1:0", "127.0.0.1:0");
            *cluster.targets[id - 1].lock().unwrap() = Some(node.peer);
            cluster.nodes.push(node);
        }
        cluster.wait_connected(&(1..=n).collect::<Vec<_>>(), Duration::from_secs(5));
        cluster
    }

    /// Waits until each of `ids` has heard from each other one within the last 200 ms.
    pub fn wait_connected(&self, ids: &[usize], within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let fresh = ids.iter().all(|&id| {
                let h = self.health(id);
                ids.iter().filter(|&&p| p != id).all(|p| {
                    h["peers"][p.to_string()]["last_heard_ms"]
                        .as_u64()
                        .is_some_and(|ms| ms < 200)
                })
            });
            if fresh {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nodes {ids:?} never all connected"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn spawn(&self, id: usize, http: &str, peer: &str) -> Node {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_faultline"));
        cmd.arg("serve-demo-node")
            .args(["--id", &id.to_string(), "--mode", self.mode])
            .args(["--http", http, "--peer-listen", peer])
            .arg("--data-dir")
            .arg(self.dir.path().join(format!("n{id}")));
        for link in self.links.iter().filter(|l| l.from == id) {
            cmd.arg("--peer")
                .arg(format!("{}=127.0.0.1:{}", link.to, link.port));
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("n{id}.log")))
            .expect("log file");
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start faultline serve-demo-node");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("READY line within 10 s");
        let mut http = None;
        let mut peer = None;
        for part in line.split_whitespace() {
            if let Some(a) = part.strip_prefix("http=") {
                http = a.parse().ok();
            }
            if let Some(a) = part.strip_prefix("peer=") {
                peer = a.parse().ok();
            }
        }
        assert!(line.starts_with("READY "), "bad READY line {line:?}");
        Node {
            id,
            child: Some(child),
            http: http.expect("http address"),
            peer: peer.expect("peer address"),
        }
    }

    /// The node with this id.
    pub fn node(&self, id: usize) -> &Node {
        &self.nodes[id - 1]
    }

    /// SIGKILLs node `id`.
    pub fn kill(&mut self, id: usize) {
        if let Some(mut child) = self.nodes[id - 1].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `signal` ("STOP", "CONT") to node `id` with kill(1).
    pub fn signal(&self, id: usize, signal: &str) {
        let pid = self.node(id).child.as_ref().expect("running").id();
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Restarts node `id` on the same ports and data directory.
    pub fn restart(&mut self, id: usize) {
        self.kill(id);
        let (http, peer) = (self.nodes[id - 1].http, self.nodes[id - 1].peer);
        let node = self.spawn(id, &http.to_string(), &peer.to_string());
        assert_eq!((node.http, node.peer), (http, peer));
        self.nodes[id - 1] = node;
    }

    /// Blocks (or unblocks) every link to and from node `id`.
    pub fn isolate(&self, id: usize, blocked: bool) {
        for link in self.links.iter().filter(|l| l.from == id || l.to == id) {
            link.blocked.store(blocked, Ordering::SeqCst);
        }
    }

    /// Blocks (or unblocks) both directions between nodes `a` and `b` only.
    pub fn cut(&self, a: usize, b: usize, blocked: bool) {
        for link in &self.links {
            if (link.from, link.to) == (a, b) || (link.from, link.to) == (b, a) {
                link.blocked.store(blocked, Ordering::SeqCst);
            }
        }
    }

    /// A fresh http-kv client for node `id`.
    pub fn client(&self, id: usize) -> Client {
        Client::new(self.node(id).http)
    }

    /// `/health` of node `id`.
    pub fn health(&self, id: usize) -> Value {
        self.client(id)
            .call("GET", "/health", "")
            .map(|r| r.1)
            .unwrap_or(Value::Null)
    }

    /// Waits until one of `among` is leader in the view of all of `among`; returns its id.
    pub fn wait_leader(&self, among: &[usize], within: Duration) -> usize {
        let deadline = Instant::now() + within;
        loop {
            let views: Vec<Value> = among.iter().map(|&id| self.health(id)).collect();
            let leaders: Vec<Option<u64>> = views.iter().map(|v| v["leader"].as_u64()).collect();
            if let Some(Some(l)) = leaders.first() {
                let agreed = leaders.iter().all(|x| *x == Some(*l));
                let is_leader = views
                    .iter()
                    .any(|v| v["node"] == json!(l) && v["role"] == "leader");
                if agreed && is_leader && among.contains(&(*l as usize)) {
                    return *l as usize;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no agreed leader among {among:?}: {views:?}"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for id in 1..=self.nodes.len() {
            self.kill(id);
        }
        for link in &self.links {
            link.blocked.store(false, Ordering::SeqCst);
        }
        if thread::panicking() {
            for id in 1..=self.nodes.len() {
                let log = self.dir.path().join(format!("n{id}.log"));
                let text = std::fs::read_to_string(log).unwrap_or_default();
                eprintln!("--- n{id} log ---\n{text}");
            }
        }
    }
}

/// Starts a forwarder on a free port in front of whatever address `target` holds.
fn forwarder(target: Arc<Mutex<Option<SocketAddr>>>) -> (u16, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind forwarder");
    let port = listener.local_addr().expect("addr").port();
    let blocked = Arc::new(AtomicBool::new(false));
    let b = blocked.clone();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(down) = conn else { continue };
            let Some(addr) = *target.lock().unwrap() else {
                continue;
            };
            let Ok(up) = TcpStream::connect(addr) else {
                continue;
            };
            let _ = up.set_nodelay(true);
            let _ = down.set_nodelay(true);
            let (d2, u2) = (down.try_clone().unwrap(), up.try_clone().unwrap());
            let (b1, b2) = (b.clone(), b.clone());
            thread::spawn(move || pump(down, up, b1));
            thread::spawn(move || pump(u2, d2, b2));
        }
    });
    (port, blocked)
}

/// Copies bytes until either side closes, holding them while the link is blocked.
fn pump(mut from: TcpStream, mut to: TcpStream, blocked: Arc<AtomicBool>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        while blocked.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(5));
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
    let _ = from.shutdown(std::net::Shutdown::Both);
}

/// A minimal HTTP/1.1 keep-alive client.
pub struct Client {
    addr: SocketAddr,
    stream: Option<BufReader<TcpStream>>,
    pub timeout: Duration,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        Client {
            addr,
            stream: None,
            timeout: Duration::from_secs(3),
        }
    }

    /// Sends one request; `Err` on connection failure or timeout (the connection is dropped).
    /// The error starts with `connect:` when nothing was sent.
    pub fn call(&mut self, method: &str, path: &str, body: &str) -> Result<(u16, Value), String> {
        let result = self.try_call(method, path, body);
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    fn try_call(&mut self, method: &str, path: &str, body: &str) -> Result<(u16, Value), String> {
        if self.stream.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, self.timeout)
                .map_err(|e| format!("connect: {e}"))?;
            s.set_nodelay(true).map_err(|e| e.to_string())?;
            self.stream = Some(BufReader::new(s));
        }
        let reader = self.stream.as_mut().expect("connected");
        reader
            .get_ref()
            .set_read_timeout(Some(self.timeout))
            .map_err(|e| e.to_string())?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        reader
            .get_mut()
            .write_all(request.as_bytes())
            .map_err(|e| e.to_string())?;
        let mut line = String::new();
        reader.read_line(&mut line).map_err(|e| e.to_string())?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line {line:?}"))?;
        let mut length = 0usize;
        loop {
            line.clear();
            reader.read_line(&mut line).map_err(|e| e.to_string())?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().map_err(|_| "bad content-length")?;
                }
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).map_err(|e| e.to_string())?;
        let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Ok((status, value))
    }

    /// POSTs a JSON body to an http-kv endpoint.
    pub fn post(&mut self, path: &str, body: Value) -> Result<(u16, Value), String> {
        self.call("POST", path, &body.to_string())
    }

    pub fn write(&mut self, key: &str, value: Value) -> Result<(u16, Value), String> {
        self.post("/write", json!({"key": key, "value": value}))
    }

    pub fn read(&mut self, key: &str) -> Result<(u16, Value), String> {
        self.post("/read", json!({"key": key}))
    }

    /// Retries a request until it answers 200 (or `within` passes).
    pub fn until_ok(&mut self, path: &str, body: Value, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let last = self.post(path, body.clone());
            if let Ok((200, v)) = &last {
                return v.clone();
            }
            assert!(
                Instant::now() < deadline,
                "{path} {body} never succeeded: {last:?}"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}
