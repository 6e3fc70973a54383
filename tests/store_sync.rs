//! The demo store in sync mode, as real processes on 127.0.0.1: http-kv semantics, leader
//! election, forwarding, durability across SIGKILL, and no stale reads on a minority side.

mod store_support;

use std::time::{Duration, Instant};

use serde_json::json;
use store_support::Cluster;

const SECS: fn(u64) -> Duration = Duration::from_secs;

#[test]
fn sync_http_kv_semantics_on_leader_and_forwarded_from_followers() {
    let c = Cluster::start("sync", 3);
    let leader = c.wait_leader(&[1, 2, 3], SECS(5));
    let follower = if leader == 1 { 2 } else { 1 };
    let mut l = c.client(leader);
    let mut f = c.client(follower);
    assert_eq!(f.read("x").unwrap(), (200, json!({"value": null})));
    assert_eq!(f.write("x", json!(1)).unwrap(), (200, json!({})));
    assert_eq!(l.read("x").unwrap(), (200, json!({"value": 1})));
    assert_eq!(f.read("x").unwrap(), (200, json!({"value": 1})));
    let cas = |from, to| json!({"key": "x", "from": from, "to": to});
    assert_eq!(f.post("/cas", cas(1, 2)).unwrap().0, 200);
    let (status, body) = l.post("/cas", cas(1, 3)).unwrap();
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "cas-mismatch");
    assert_eq!(f.read("x").unwrap().1, json!({"value": 2}));
    for s in ["a", "b"] {
        let r = f.post("/append", json!({"key": 7, "value": s})).unwrap();
        assert_eq!(r.0, 200);
    }
    assert_eq!(
        l.post("/read", json!({"key": 7})).unwrap().1,
        json!({"value": "ab"})
    );
    let txn = json!({"ops": [["append", "l", 1], ["r", "l", null], ["append", "l", 2], ["r", "m", null]]});
    let (status, body) = f.post("/txn", txn).unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"ops": [["append", "l", 1], ["r", "l", [1]], ["append", "l", 2], ["r", "m", []]]})
    );
    let txn = json!({"ops": [["r", "l", null]]});
    assert_eq!(l.post("/txn", txn).unwrap().1["ops"][0][2], json!([1, 2]));
    assert_eq!(l.post("/read", json!({"key": [1]})).unwrap().0, 400);
    let h = c.health(follower);
    assert_eq!(h["mode"], "sync");
    assert_eq!(h["role"], "follower");
    assert_eq!(h["leader"], json!(leader));
    assert!(
        h["peers"][leader.to_string()]["last_heard_ms"]
            .as_u64()
            .unwrap()
            < 1000
    );
}

#[test]
fn sync_committed_write_survives_leader_sigkill_and_restart() {
    let mut c = Cluster::start("sync", 3);
    let old = c.wait_leader(&[1, 2, 3], SECS(5));
    assert_eq!(c.client(old).write("k", json!("v1")).unwrap().0, 200);
    c.kill(old);
    let rest: Vec<usize> = (1..=3).filter(|&i| i != old).collect();
    let new = c.wait_leader(&rest, SECS(5));
    assert_ne!(new, old);
    let mut other = c.client(rest[0]);
    assert_eq!(other.read("k").unwrap(), (200, json!({"value": "v1"})));
    other.until_ok("/write", json!({"key": "k", "value": "v2"}), SECS(5));
    c.restart(old);
    let mut back = c.client(old);
    let deadline = Instant::now() + SECS(5);
    loop {
        let h = c.health(old);
        if h["leader"].as_u64().is_some()
            && h["applied"].as_u64() >= c.health(new)["commit"].as_u64()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "restarted node never caught up: {h}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(back.read("k").unwrap(), (200, json!({"value": "v2"})));
}

#[test]
fn sync_all_three_sigkilled_and_restarted_keep_their_data() {
    let mut c = Cluster::start("sync", 3);
    let leader = c.wait_leader(&[1, 2, 3], SECS(5));
    let mut l = c.client(leader);
    for i in 0..20 {
        assert_eq!(l.write(&format!("k{i}"), json!(i)).unwrap().0, 200);
    }
    assert_eq!(
        l.post("/append", json!({"key": "s", "value": "xy"}))
            .unwrap()
            .0,
        200
    );
    for id in 1..=3 {
        c.kill(id);
    }
    for id in 1..=3 {
        c.restart(id);
    }
    c.wait_leader(&[1, 2, 3], SECS(5));
    let mut any = c.client(3);
    for i in 0..20 {
        let v = any.until_ok("/read", json!({"key": format!("k{i}")}), SECS(5));
        assert_eq!(v, json!({"value": i}));
    }
    assert_eq!(any.read("s").unwrap().1, json!({"value": "xy"}));
}

#[test]
fn sync_isolated_leader_refuses_or_times_out_and_never_serves_stale_reads() {
    let c = Cluster::start("sync", 3);
    let old = c.wait_leader(&[1, 2, 3], SECS(5));
    let mut l = c.client(old);
    l.timeout = Duration::from_millis(2500);
    assert_eq!(l.write("x", json!("before")).unwrap().0, 200);
    c.isolate(old, true);
    let rest: Vec<usize> = (1..=3).filter(|&i| i != old).collect();
    let new = c.wait_leader(&rest, SECS(5));
    let mut n = c.client(new);
    n.until_ok("/write", json!({"key": "x", "value": "after"}), SECS(5));
    // The old leader is cut off: whatever it says about x must not be the stale "before", and
    // writes there are never acknowledged.
    let deadline = Instant::now() + SECS(3);
    let mut answers = Vec::new();
    while Instant::now() < deadline {
        let read = l.read("x");
        if let Ok((200, v)) = &read {
            assert_ne!(
                v["value"], "before",
                "stale read on the isolated old leader"
            );
        }
        answers.push(read.map(|r| r.0));
        let write = l.write("y", json!(1));
        assert!(
            !matches!(write, Ok((200, _))),
            "isolated node acknowledged a write: {write:?}"
        );
        answers.push(write.map(|r| r.0));
    }
    assert!(
        answers
            .iter()
            .all(|a| matches!(a, Ok(503) | Ok(504) | Ok(500) | Err(_))),
        "{answers:?}"
    );
    assert!(
        answers.contains(&Ok(503)),
        "the minority should end up refusing: {answers:?}"
    );
    c.isolate(old, false);
    let v = l.until_ok("/read", json!({"key": "x"}), SECS(5));
    assert_eq!(v, json!({"value": "after"}));
}

#[test]
fn sync_paused_leader_resumes_without_serving_stale_reads() {
    let c = Cluster::start("sync", 3);
    let old = c.wait_leader(&[1, 2, 3], SECS(5));
    let mut l = c.client(old);
    l.timeout = Duration::from_millis(2500);
    assert_eq!(l.write("p", json!("before")).unwrap().0, 200);
    c.signal(old, "STOP");
    let rest: Vec<usize> = (1..=3).filter(|&i| i != old).collect();
    let new = c.wait_leader(&rest, SECS(5));
    c.client(new)
        .until_ok("/write", json!({"key": "p", "value": "after"}), SECS(5));
    c.signal(old, "CONT");
    // Right after resuming, the old leader still believes it leads; it must not answer from
    // its stale state.
    let deadline = Instant::now() + SECS(3);
    while Instant::now() < deadline {
        if let Ok((200, v)) = l.read("p") {
            assert_eq!(v, json!({"value": "after"}), "stale read after SIGCONT");
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the resumed node never answered a read");
}
