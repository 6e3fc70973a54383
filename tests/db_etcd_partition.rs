//! The etcd partition really partitions: members in their own network namespaces, peer links
//! relayed through faultline; isolating the leader makes the other two elect a new leader in
//! a higher term and keep accepting writes, while a linearizable read on the isolated old
//! leader cannot complete; after healing, all three agree again. Needs root (namespaces).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use workloads::client::{Client, Op, Outcome};
use workloads::target::etcd::json::Etcd;
use workloads::target::etcd::launcher::LocalEtcd;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_isolated_leader_loses_quorum_and_majority_elects_a_new_one() {
    if !std::path::Path::new("/usr/bin/etcd").exists() || unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: needs /usr/bin/etcd and root (network namespaces)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let etcd = LocalEtcd::start_partitionable(dir.path(), 3)
        .await
        .expect("etcd starts");
    let t = Duration::from_secs(1);
    let mut old = None;
    for _ in 0..50 {
        old = etcd.leader(t).await;
        if old.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let old = old.expect("a leader");
    let (_, _, old_term) = etcd.status(old, t).await.unwrap();
    let cuts = etcd.cuts.clone().unwrap();
    cuts.isolate(old, 3);
    tokio::time::sleep(Duration::from_secs(4)).await;

    let others: Vec<usize> = (0..3).filter(|&i| i != old).collect();
    let a = etcd
        .status(others[0], t)
        .await
        .expect("majority member answers");
    let b = etcd
        .status(others[1], t)
        .await
        .expect("majority member answers");
    assert_eq!(a.1, b.1, "the majority agrees on a leader");
    assert!(
        a.2 > old_term,
        "a new term on the majority side ({} > {old_term})",
        a.2
    );
    let new = etcd.status(old, t).await.map(|v| v.0);
    assert_ne!(
        Some(a.1.clone()),
        new,
        "the new leader is not the isolated one"
    );

    let endpoints = Arc::new(etcd.endpoints.clone());
    let mut majority = Etcd::new(endpoints.clone(), Duration::from_secs(2), false);
    majority.open(others[0]).await.unwrap();
    let w = Op {
        f: "write",
        key: Some(json!(0)),
        value: json!(7),
    };
    assert_eq!(
        majority.invoke(&w).await,
        Outcome::Ok(json!(7)),
        "majority accepts writes"
    );
    let mut isolated = Etcd::new(endpoints, Duration::from_secs(2), false);
    isolated.open(old).await.unwrap();
    let r = Op {
        f: "read",
        key: Some(json!(0)),
        value: json!(null),
    };
    assert!(
        !matches!(isolated.invoke(&r).await, Outcome::Ok(_)),
        "a linearizable read on the isolated member must not complete"
    );

    cuts.heal();
    let mut agreed = None;
    for _ in 0..50 {
        agreed = etcd.leader(t).await;
        if agreed.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        agreed.is_some(),
        "after healing all three agree on a leader"
    );
    etcd.shutdown().await;
}
