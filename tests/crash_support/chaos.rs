//! A chaos front for `run --target http-kv`: an http-kv server on 127.0.0.1 over a correct,
//! linearizable register map (one mutex) that misbehaves on a schedule — hangs, resets,
//! garbage 200s, 500s — or lies. Every misbehaviour of an honest server happens either before
//! the operation is applied or after it; only [`Mode::Lie`] answers something untrue.
//!
//! HTTP/1.1 by hand on blocking sockets, one thread per connection, keep-alive, bounded by
//! read timeouts so every thread ends.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the server misbehaves on the requests the schedule picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Never: a correct server.
    Correct,
    /// Reads the request, maybe applies it, never answers (holds the connection).
    Hang,
    /// Resets the connection (RST): before applying, after applying, or mid-answer.
    Reset,
    /// Maybe applies, then answers 200 with a body that is not http-kv: not JSON, or JSON
    /// of the wrong shape.
    Garbage,
    /// Maybe applies, then answers 500.
    ServerError,
    /// Answers reads with a value nobody wrote, and acknowledges writes it drops.
    Lie,
}

/// A running chaos server; stops accepting when dropped.
pub struct Chaos {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Drop for Chaos {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

struct State {
    mode: Mode,
    /// Every `every`-th request misbehaves.
    every: u64,
    requests: AtomicU64,
    data: Mutex<HashMap<String, Value>>,
}

impl Chaos {
    /// Starts a server in `mode` where every `every`-th request misbehaves.
    pub fn start(mode: Mode, every: u64) -> Chaos {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let state = Arc::new(State {
            mode,
            every: every.max(1),
            requests: AtomicU64::new(0),
            data: Mutex::new(HashMap::new()),
        });
        let stopped = stop.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let state = state.clone();
                std::thread::spawn(move || serve(conn, &state));
            }
        });
        Chaos { addr, stop }
    }
}

/// One parsed request.
struct Request {
    path: String,
    body: Value,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        path,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    })
}

fn response(status: u16, body: &str) -> String {
    let reason = match status {
        200 => "OK",
        409 => "Conflict",
        500 => "Internal Server Error",
        _ => "Other",
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Closes with a TCP reset instead of a FIN.
fn reset(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a socket we own with a correctly sized linger struct.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    let _ = stream.shutdown(std::net::Shutdown::Read);
}

/// Applies `req` to the map; the status and the honest answer.
fn apply(state: &State, req: &Request) -> (u16, Value) {
    let key = req
        .body
        .get("key")
        .map(Value::to_string)
        .unwrap_or_default();
    let mut data = state.data.lock().unwrap();
    match req.path.as_str() {
        "/read" => (
            200,
            json!({"value": data.get(&key).cloned().unwrap_or(Value::Null)}),
        ),
        "/write" => {
            data.insert(key, req.body["value"].clone());
            (200, json!({}))
        }
        "/cas" => {
            if data.get(&key).unwrap_or(&Value::Null) == &req.body["from"] {
                data.insert(key, req.body["to"].clone());
                (200, json!({}))
            } else {
                (409, json!({"error": "cas-mismatch"}))
            }
        }
        _ => (400, json!({"error": "unknown"})),
    }
}

fn serve(stream: TcpStream, state: &State) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(clone);
    let mut stream = stream;
    while let Some(req) = read_request(&mut reader) {
        let n = state.requests.fetch_add(1, Ordering::SeqCst) + 1;
        let chaos = state.mode != Mode::Correct && n % state.every == 0;
        // Which variant, and whether an honest misbehaviour applies the operation first.
        let variant = (n / state.every) % 3;
        let applies = (n / state.every) % 2 == 0;
        if !chaos {
            let (status, body) = apply(state, &req);
            if stream
                .write_all(response(status, &body.to_string()).as_bytes())
                .is_err()
            {
                return;
            }
            continue;
        }
        match state.mode {
            Mode::Correct => unreachable!(),
            Mode::Hang => {
                if applies {
                    apply(state, &req);
                }
                // Hold the connection until the client gives up (or 5 s pass).
                let mut sink = [0u8; 64];
                while matches!(reader.read(&mut sink), Ok(k) if k > 0) {}
                return;
            }
            Mode::Reset => {
                if variant == 0 {
                    reset(&stream);
                    return;
                }
                let (status, body) = apply(state, &req);
                if variant == 2 {
                    let text = response(status, &body.to_string());
                    let _ = stream.write_all(&text.as_bytes()[..text.len() - 1]);
                    let _ = stream.flush();
                    std::thread::sleep(Duration::from_millis(5));
                }
                reset(&stream);
                return;
            }
            Mode::Garbage => {
                if applies {
                    apply(state, &req);
                }
                // A 200 with a JSON object acknowledges a write (docs/http-kv.md), so the
                // wrong shape for a write is a non-object.
                let body = match (variant, req.path.as_str()) {
                    (0, _) => "<html>oops</html>".to_string(),
                    (1, "/read") => json!({"valeu": 7}).to_string(),
                    (1, _) => json!(["done"]).to_string(),
                    _ => "[1,2".to_string(),
                };
                if stream.write_all(response(200, &body).as_bytes()).is_err() {
                    return;
                }
            }
            Mode::ServerError => {
                if applies {
                    apply(state, &req);
                }
                let body = json!({"error": "internal"}).to_string();
                if stream.write_all(response(500, &body).as_bytes()).is_err() {
                    return;
                }
            }
            Mode::Lie => {
                let body = match req.path.as_str() {
                    "/read" => json!({"value": 1_000_000 + n}),
                    // Acknowledged, never applied.
                    _ => json!({}),
                };
                if stream
                    .write_all(response(200, &body.to_string()).as_bytes())
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}
