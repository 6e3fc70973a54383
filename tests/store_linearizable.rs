//! End to end: concurrent clients against the demo store under faults, history checked by
//! `faultline check --model cas-register`. Sync mode must come out valid under partitions,
//! SIGKILL + restart and SIGSTOP pauses; async mode must be caught (stale follower reads).

mod store_support;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use store_support::{Client, Cluster};

const CLIENTS: usize = 6;
const KEYS: u64 = 3;

/// Records invocations and completions as JSON lines, in real-time order.
#[derive(Clone, Default)]
struct History(Arc<Mutex<Vec<String>>>);

impl History {
    fn push(&self, event: Value) {
        self.0.lock().unwrap().push(event.to_string());
    }
}

/// One client thread: random read/write/cas on a few keys against one node.
fn worker(mut client: Client, w: usize, history: History, stop: Arc<AtomicBool>) {
    let mut process = w;
    let mut rng: u64 = 0x9E37_79B9 ^ ((w as u64 + 1) * 7919);
    while !stop.load(Ordering::Relaxed) {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let key = (rng >> 40) % KEYS;
        let (a, b) = ((rng >> 20) % 5, (rng >> 30) % 5);
        let (f, arg, path, body) = match (rng >> 50) % 3 {
            0 => ("read", Value::Null, "/read", json!({"key": key})),
            1 => ("write", json!(a), "/write", json!({"key": key, "value": a})),
            _ => (
                "cas",
                json!([a, b]),
                "/cas",
                json!({"key": key, "from": a, "to": b}),
            ),
        };
        history
            .push(json!({"process": process, "type": "invoke", "f": f, "key": key, "value": arg}));
        let result = client.post(path, body);
        let (kind, value) = match &result {
            Ok((200, v)) if f == "read" => ("ok", v["value"].clone()),
            Ok((200, _)) => ("ok", arg),
            Ok((409 | 503, _)) => ("fail", arg),
            Err(e) if e.starts_with("connect:") => ("fail", arg),
            _ => ("info", arg),
        };
        history.push(json!({"process": process, "type": kind, "f": f, "key": key, "value": value}));
        if matches!(&result, Err(e) if e.starts_with("connect:")) {
            thread::sleep(Duration::from_millis(10));
        }
        if kind == "info" {
            process += CLIENTS;
        }
    }
}

/// Runs clients for `secs` while `nemesis` does its thing; returns the history file's path.
fn run(mode: &'static str, secs: u64, nemesis: fn(&mut Cluster, Instant)) -> (Cluster, String) {
    let mut c = Cluster::start(mode, 3);
    c.wait_leader(&[1, 2, 3], Duration::from_secs(5));
    let history = History::default();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..CLIENTS)
        .map(|w| {
            let mut client = c.client(w % 3 + 1);
            client.timeout = Duration::from_millis(1000);
            let (h, s) = (history.clone(), stop.clone());
            thread::spawn(move || worker(client, w, h, s))
        })
        .collect();
    let end = Instant::now() + Duration::from_secs(secs);
    nemesis(&mut c, end);
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("worker");
    }
    let path = c.dir.path().join("history.jsonl");
    let mut file = std::fs::File::create(&path).expect("history file");
    for line in history.0.lock().unwrap().iter() {
        writeln!(file, "{line}").expect("write history");
    }
    let lines = history.0.lock().unwrap();
    let count = |t: &str| {
        lines
            .iter()
            .filter(|l| l.contains(&format!("\"type\":\"{t}\"")))
            .count()
    };
    eprintln!(
        "{mode}: {} ok, {} fail, {} info",
        count("ok"),
        count("fail"),
        count("info")
    );
    drop(lines);
    (c, path.to_string_lossy().into_owned())
}

fn check(path: &str) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["check", "--model", "cas-register", path])
        .output()
        .expect("run faultline check");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), text)
}

/// Cycles through isolating a node, SIGKILL + restart, SIGSTOP/SIGCONT and a bridge partition.
fn faults(c: &mut Cluster, end: Instant) {
    let mut round = 0;
    while Instant::now() < end {
        let victim = round % 3 + 1;
        match round % 4 {
            3 => {
                // A bridge: the victim and its neighbour cannot talk; the third node sees both.
                let other = victim % 3 + 1;
                c.cut(victim, other, true);
                thread::sleep(Duration::from_millis(1500));
                c.cut(victim, other, false);
            }
            0 => {
                c.isolate(victim, true);
                thread::sleep(Duration::from_millis(1500));
                c.isolate(victim, false);
            }
            1 => {
                c.kill(victim);
                thread::sleep(Duration::from_millis(700));
                c.restart(victim);
            }
            _ => {
                c.signal(victim, "STOP");
                thread::sleep(Duration::from_millis(1000));
                c.signal(victim, "CONT");
            }
        }
        thread::sleep(Duration::from_millis(800));
        round += 1;
    }
}

#[test]
fn sync_history_under_partitions_kills_and_pauses_is_linearizable() {
    let (c, path) = run("sync", 12, faults);
    let (code, report) = check(&path);
    eprintln!("{report}");
    let text = std::fs::read_to_string(&path).unwrap();
    let oks = text
        .lines()
        .filter(|l| l.contains("\"type\":\"ok\""))
        .count();
    assert!(
        oks > 200,
        "too few successful operations ({oks}) to mean anything"
    );
    assert_eq!(code, 0, "sync mode history is not linearizable:\n{report}");
    drop(c);
}

#[test]
fn async_history_without_faults_is_caught_not_linearizable() {
    let (_c, path) = run("async", 4, |_, end| thread::sleep(end - Instant::now()));
    let (code, report) = check(&path);
    assert_eq!(code, 1, "expected stale reads to be found:\n{report}");
}
