//! Nemesis planning (fault lists, partition shapes, determinism) and applying faults to a
//! cluster of fake nodes (python3, `tests/support/fake_node.py`), always healed afterwards.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use checkers::Rng;
use serde_json::json;
use support::{fake_spec, TestDir};
use workloads::nemesis::{Fault, Partition, PartitionKind, Schedule};
use workloads::target::demo::cluster::Cluster;
use workloads::target::demo::DemoFaults;

/// The one nemesis schedule over the demo cluster's primitives.
fn nemesis(
    cluster: &std::sync::Arc<Cluster>,
    faults: Vec<Fault>,
    seed: u64,
) -> Schedule<DemoFaults> {
    Schedule::new(DemoFaults::new(cluster.clone()), faults, seed)
}

const CONNECT: Duration = Duration::from_secs(5);

#[test]
fn parse_list_accepts_names_none_and_all() {
    assert_eq!(
        Fault::parse_list("partition,kill,pause").unwrap(),
        vec![Fault::Partition, Fault::Kill, Fault::Pause]
    );
    assert_eq!(
        Fault::parse_list("pause, kill,pause").unwrap(),
        vec![Fault::Pause, Fault::Kill]
    );
    assert_eq!(Fault::parse_list("none").unwrap(), vec![]);
    assert_eq!(Fault::parse_list("all").unwrap(), Fault::ALL.to_vec());
    let err = Fault::parse_list("partition,crash")
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"crash\""), "{err}");
    assert!(Fault::parse_list("").is_err());
}

/// All pairs `(a, b)`, `a < b`, between two groups.
fn cross(a: &[usize], b: &[usize]) -> Vec<(usize, usize)> {
    let mut pairs: Vec<_> = a
        .iter()
        .flat_map(|&x| b.iter().map(move |&y| (x.min(y), x.max(y))))
        .collect();
    pairs.sort_unstable();
    pairs
}

#[test]
fn partition_shapes_cut_what_their_kind_promises() {
    for n in 3..=7 {
        for seed in 0..40 {
            let mut rng = Rng::new(seed);
            let all: BTreeSet<usize> = (1..=n).collect();
            for kind in PartitionKind::ALL {
                let p = Partition::plan(kind, n, &mut rng);
                assert_eq!(p.kind, kind, "n={n}");
                match kind {
                    PartitionKind::Halves | PartitionKind::Isolate => {
                        let [a, b] = &p.groups[..] else {
                            panic!("{p:?}")
                        };
                        assert!(a.len() < b.len() || (n % 2 == 0 && a.len() == b.len()));
                        if kind == PartitionKind::Isolate {
                            assert_eq!(a.len(), 1);
                        }
                        let union: BTreeSet<usize> = a.iter().chain(b).copied().collect();
                        assert_eq!(union, all);
                        assert_eq!(p.blocked, cross(a, b));
                    }
                    PartitionKind::Bridge => {
                        let [a, b] = &p.groups[..] else {
                            panic!("{p:?}")
                        };
                        let bridge = p.bridge.unwrap();
                        assert!(!a.contains(&bridge) && !b.contains(&bridge));
                        assert_eq!(a.len() + b.len() + 1, n);
                        assert_eq!(p.blocked, cross(a, b));
                    }
                    PartitionKind::MajoritiesRing => {
                        let views: BTreeSet<&Vec<usize>> = p.groups.iter().collect();
                        for (k, view) in p.groups.iter().enumerate() {
                            assert!(view.contains(&(k + 1)));
                            assert!(view.len() > n / 2, "n={n} view {view:?} is no majority");
                        }
                        if n == 3 {
                            assert_eq!(p.blocked.len(), 1);
                        } else {
                            assert_eq!(views.len(), n, "n={n}: two nodes share a view");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn partition_values_and_summaries_name_nodes() {
    let p = Partition::plan(PartitionKind::Isolate, 3, &mut Rng::new(1));
    let alone = p.groups[0][0];
    let value = p.value();
    assert_eq!(value["kind"], json!("isolate"));
    assert_eq!(value["groups"][0], json!([format!("n{alone}")]));
    assert_eq!(value["blocked"].as_array().unwrap().len(), 2);
    assert!(p.summary().starts_with(&format!("partition n{alone} | ")));
    let b = Partition::plan(PartitionKind::Bridge, 5, &mut Rng::new(2));
    assert_eq!(
        b.value()["bridge"],
        json!(format!("n{}", b.bridge.unwrap()))
    );
    assert!(b.summary().contains("(bridge n"));
}

#[test]
fn too_few_nodes_fall_back_to_halves() {
    let mut rng = Rng::new(3);
    for kind in [PartitionKind::MajoritiesRing, PartitionKind::Bridge] {
        assert_eq!(
            Partition::plan(kind, 2, &mut rng).kind,
            PartitionKind::Halves
        );
    }
    assert_eq!(
        Partition::plan(PartitionKind::Halves, 2, &mut rng).blocked,
        vec![(1, 2)]
    );
    assert!(Partition::plan(PartitionKind::Isolate, 1, &mut rng)
        .blocked
        .is_empty());
}

#[tokio::test]
async fn same_seed_same_plans_and_every_fault_heals() {
    let dir = TestDir::new("nemesis-cycle");
    let cluster = Cluster::start(fake_spec(&dir, 3, &["--mode", "sync"]))
        .await
        .unwrap();
    let plans = |seed| {
        let mut nemesis = nemesis(&cluster, Fault::ALL.to_vec(), seed);
        (0..20).map(|_| nemesis.plan_fault()).collect::<Vec<_>>()
    };
    assert_eq!(plans(7), plans(7));
    assert_ne!(plans(7), plans(8));

    let mut nemesis = nemesis(&cluster, Fault::ALL.to_vec(), 11);
    let mut seen = BTreeSet::new();
    for _ in 0..6 {
        let start = nemesis.plan_fault().unwrap();
        assert_eq!(nemesis.perform(&start).await.unwrap(), start.value());
        assert_eq!(nemesis.current(), Some(start.summary()));
        seen.insert(start.f().to_string());
        // Planned nodes count from 0, the cluster's ids from 1.
        match start.f() {
            "start-partition" => assert!(nemesis.target().is_partitioned()),
            "kill" => assert_eq!(cluster.pid(start.node().unwrap() + 1), None),
            "pause" => assert!(cluster.is_paused(start.node().unwrap() + 1)),
            other => panic!("unexpected start {other}"),
        }
        // One fault at a time: planning again yields the stop.
        let stop = nemesis.plan_heal().unwrap();
        assert_eq!(nemesis.plan_fault(), Some(stop.clone()));
        nemesis.perform(&stop).await.unwrap();
        assert_eq!(nemesis.current(), None);
        assert!(!nemesis.target().is_partitioned());
        cluster.wait_connected(CONNECT).await.unwrap();
    }
    assert!(seen.len() >= 2, "only {seen:?} in 6 draws");
    assert_eq!(nemesis.target().leader(), Some(1));
    cluster.shutdown().await;
}

#[tokio::test]
async fn heal_all_reports_the_ops_it_performed() {
    let dir = TestDir::new("nemesis-heal");
    let cluster = Cluster::start(fake_spec(&dir, 3, &[])).await.unwrap();
    let mut nemesis = nemesis(&cluster, vec![Fault::Kill], 5);
    let kill = nemesis.plan_fault().unwrap();
    nemesis.perform(&kill).await.unwrap();
    cluster.partition(&[(1, 2)]).unwrap(); // a cut the nemesis did not make
    let healed = nemesis.heal_everything().await;
    assert!(healed.iter().all(|(_, r)| r.is_ok()), "{healed:?}");
    let ops: Vec<(String, serde_json::Value)> = healed
        .iter()
        .map(|(p, _)| (p.f().to_string(), p.value()))
        .collect();
    // The stop of its own fault first, then what the target found broken besides.
    assert_eq!(
        ops,
        vec![
            ("restart".to_string(), kill.value()),
            ("stop-partition".to_string(), serde_json::Value::Null),
        ]
    );
    assert_eq!(nemesis.current(), None);
    cluster.wait_connected(CONNECT).await.unwrap();
    assert!(nemesis.heal_everything().await.is_empty());
    cluster.shutdown().await;
}

#[tokio::test]
async fn no_faults_plans_noops() {
    let dir = TestDir::new("nemesis-none");
    let cluster = Cluster::start(fake_spec(&dir, 2, &[])).await.unwrap();
    let mut nemesis = nemesis(&cluster, vec![], 1);
    let p = nemesis.plan_fault().unwrap();
    assert_eq!(p.f(), "noop");
    assert_eq!(nemesis.perform(&p).await.unwrap(), serde_json::Value::Null);
    assert_eq!(nemesis.plan_heal(), None);
    cluster.shutdown().await;
}
