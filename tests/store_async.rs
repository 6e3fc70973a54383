//! The demo store in async mode, as real processes on 127.0.0.1: http-kv semantics, stale
//! reads on followers without any fault, and split brain losing acknowledged writes.

mod store_support;

use std::time::{Duration, Instant};

use serde_json::json;
use store_support::Cluster;

const SECS: fn(u64) -> Duration = Duration::from_secs;

#[test]
fn async_http_kv_semantics_with_writes_forwarded_to_the_primary() {
    let c = Cluster::start("async", 3);
    assert_eq!(
        c.wait_leader(&[1, 2, 3], SECS(5)),
        1,
        "node 1 starts as primary"
    );
    let mut p = c.client(1);
    let mut f = c.client(2);
    assert_eq!(f.write("x", json!(1)).unwrap(), (200, json!({})));
    assert_eq!(p.read("x").unwrap(), (200, json!({"value": 1})));
    let cas = |from, to| json!({"key": "x", "from": from, "to": to});
    assert_eq!(f.post("/cas", cas(1, 2)).unwrap().0, 200);
    assert_eq!(p.post("/cas", cas(1, 3)).unwrap().0, 409);
    assert_eq!(
        p.post("/append", json!({"key": 5, "value": "a"}))
            .unwrap()
            .0,
        200
    );
    assert_eq!(
        f.post("/append", json!({"key": 5, "value": "b"}))
            .unwrap()
            .0,
        200
    );
    assert_eq!(
        p.post("/read", json!({"key": 5})).unwrap().1,
        json!({"value": "ab"})
    );
    let txn = json!({"ops": [["append", "l", 1], ["r", "l", null]]});
    assert_eq!(
        f.post("/txn", txn).unwrap().1,
        json!({"ops": [["append", "l", 1], ["r", "l", [1]]]})
    );
    // Replication catches up within a few batches.
    let mut f3 = c.client(3);
    let deadline = Instant::now() + SECS(2);
    while f3.read("x").unwrap().1 != json!({"value": 2}) {
        assert!(Instant::now() < deadline, "follower never caught up");
        std::thread::sleep(Duration::from_millis(20));
    }
    let h = c.health(3);
    assert_eq!(
        (h["mode"].clone(), h["role"].clone()),
        (json!("async"), json!("follower"))
    );
}

#[test]
fn async_follower_read_right_after_acknowledged_write_is_usually_stale() {
    let c = Cluster::start("async", 3);
    c.wait_leader(&[1, 2, 3], SECS(5));
    let mut p = c.client(1);
    let mut f = c.client(2);
    let mut stale = 0;
    for i in 0..20 {
        assert_eq!(p.write("cup", json!(i)).unwrap().0, 200);
        if f.read("cup").unwrap().1["value"] != json!(i) {
            stale += 1;
        }
        std::thread::sleep(Duration::from_millis(40));
    }
    assert!(stale >= 10, "only {stale} of 20 follower reads were stale");
}

#[test]
fn async_split_brain_loses_the_minority_primarys_acknowledged_writes() {
    let c = Cluster::start("async", 3);
    c.wait_leader(&[1, 2, 3], SECS(5));
    let mut p1 = c.client(1);
    assert_eq!(p1.write("x", json!("base")).unwrap().0, 200);
    std::thread::sleep(Duration::from_millis(200));
    c.isolate(1, true);
    // The majority side fails over to n2 without a quorum check; n1 keeps accepting writes.
    let new = c.wait_leader(&[2, 3], SECS(5));
    assert_eq!(new, 2);
    assert_eq!(p1.write("x", json!("lost")).unwrap().0, 200);
    assert_eq!(p1.read("x").unwrap().1, json!({"value": "lost"}));
    let mut p2 = c.client(2);
    assert_eq!(p2.write("z", json!("kept")).unwrap().0, 200);
    c.isolate(1, false);
    // The higher epoch wins: n1 steps down and takes n2's state, so its write is gone.
    let deadline = Instant::now() + SECS(5);
    loop {
        let h = c.health(1);
        if h["leader"] == json!(2) && h["synced"] == json!(true) {
            break;
        }
        assert!(Instant::now() < deadline, "n1 never rejoined: {h}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(p1.read("x").unwrap().1, json!({"value": "base"}));
    assert_eq!(p1.read("z").unwrap().1, json!({"value": "kept"}));
}
