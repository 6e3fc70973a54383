//! A cluster of three fake nodes (python3, `tests/support/fake_node.py`) whose heartbeats pass
//! through faultline's link proxies: partition, kill/restart, pause/resume, heal_all, cleanup.

mod support;

use std::time::{Duration, Instant};

use support::{alive, fake_spec, TestDir};
use workloads::target::demo::cluster::{Cluster, ClusterError, Healed};

/// Generous bound for "the nodes talk again".
const CONNECT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn start_wires_every_node_through_the_proxies() {
    let dir = TestDir::new("cluster-start");
    let cluster = Cluster::start(fake_spec(&dir, 3, &["--mode", "sync"]))
        .await
        .unwrap();
    assert_eq!(cluster.nodes(), 3);
    assert_eq!(cluster.node_names(), vec!["n1", "n2", "n3"]);
    assert_eq!(cluster.http_addrs().len(), 3);
    cluster.wait_connected(CONNECT).await.unwrap();
    assert_eq!(cluster.leader(Duration::from_secs(1)).await, Some(1));
    cluster.shutdown().await;
}

#[tokio::test]
async fn partition_halves_breaks_wait_connected_until_healed() {
    let dir = TestDir::new("cluster-partition");
    let cluster = Cluster::start(fake_spec(&dir, 3, &[])).await.unwrap();
    cluster.wait_connected(CONNECT).await.unwrap();

    cluster.partition(&[(1, 2), (1, 3)]).unwrap();
    // Right after the cut the nodes still heard each other < 500 ms ago.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let err = cluster
        .wait_connected(Duration::from_millis(1500))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("n1 last heard n2"), "{err}");
    assert!(err.contains("n3 last heard n1"), "{err}");
    assert!(!err.contains("n2 last heard n3"), "{err}");

    cluster.heal_network();
    assert!(cluster.blocked().is_empty());
    cluster.wait_connected(CONNECT).await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test]
async fn kill_then_restart_reuses_the_same_ports() {
    let dir = TestDir::new("cluster-kill");
    let cluster = Cluster::start(fake_spec(&dir, 3, &[])).await.unwrap();
    let addrs = (cluster.http_addrs(), cluster.peer_addrs());
    let old = cluster.pid(2).unwrap();

    cluster.kill(2).await.unwrap();
    assert!(!alive(old), "killed node reaped");
    assert_eq!(cluster.pid(2), None);
    assert!(cluster.health(2, Duration::from_millis(500)).await.is_err());
    cluster.kill(2).await.unwrap(); // killing a killed node is a no-op
    tokio::time::sleep(Duration::from_millis(600)).await;
    let err = cluster
        .wait_connected(Duration::from_millis(300))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("n2 /health refused the connection"), "{err}");
    assert!(err.contains("n1 last heard n2"), "{err}");

    cluster.restart(2).await.unwrap();
    let new = cluster.pid(2).unwrap();
    assert_ne!(old, new);
    assert_eq!((cluster.http_addrs(), cluster.peer_addrs()), addrs);
    cluster.health(2, Duration::from_secs(1)).await.unwrap();
    cluster.wait_connected(CONNECT).await.unwrap();
    let starts = std::fs::read_to_string(dir.0.join("cluster/n2/starts")).unwrap();
    assert_eq!(starts.lines().count(), 2, "same data dir on restart");
    cluster.shutdown().await;
}

#[tokio::test]
async fn paused_node_stops_answering_until_resumed() {
    let dir = TestDir::new("cluster-pause");
    let cluster = Cluster::start(fake_spec(&dir, 3, &[])).await.unwrap();
    cluster.pause(2).unwrap();
    assert!(cluster.is_paused(2));
    let err = cluster
        .health(2, Duration::from_millis(500))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("timed out"), "{err}");
    cluster.resume(2).unwrap();
    assert!(!cluster.is_paused(2));
    cluster.health(2, Duration::from_secs(2)).await.unwrap();
    cluster.wait_connected(CONNECT).await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test]
async fn heal_all_undoes_every_fault_and_is_idempotent() {
    let dir = TestDir::new("cluster-heal-all");
    let cluster = Cluster::start(fake_spec(&dir, 3, &[])).await.unwrap();
    cluster.partition(&[(2, 3)]).unwrap();
    cluster.kill(1).await.unwrap();
    cluster.pause(2).unwrap();

    let healed = cluster.heal_all().await;
    assert_eq!(
        healed,
        Healed {
            partition: vec![(2, 3)],
            resumed: vec![2],
            restarted: vec![1],
            errors: vec![],
        }
    );
    cluster.wait_connected(CONNECT).await.unwrap();
    assert_eq!(cluster.heal_all().await, Healed::default());
    cluster.shutdown().await;
}

#[tokio::test]
async fn heal_all_concurrent_with_a_kill_restarts_the_node() {
    let dir = TestDir::new("cluster-heal-race");
    let cluster = Cluster::start(fake_spec(&dir, 3, &[])).await.unwrap();
    let killer = {
        let cluster = cluster.clone();
        tokio::spawn(async move { cluster.kill(3).await })
    };
    let healer = {
        let cluster = cluster.clone();
        tokio::spawn(async move { cluster.heal_all().await })
    };
    killer.await.unwrap().unwrap();
    healer.await.unwrap();
    // Whichever ran first, one more heal_all leaves every node up.
    cluster.heal_all().await;
    assert!(cluster.pid(3).is_some());
    cluster.wait_connected(CONNECT).await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test]
async fn shutdown_kills_every_node_and_refuses_faults() {
    let dir = TestDir::new("cluster-shutdown");
    let cluster = Cluster::start(fake_spec(&dir, 3, &[])).await.unwrap();
    let pids: Vec<u32> = (1..=3).map(|i| cluster.pid(i).unwrap()).collect();
    cluster.pause(3).unwrap();
    cluster.shutdown().await;
    assert!(pids.iter().all(|&pid| !alive(pid)));
    assert!(matches!(cluster.kill(1).await, Err(ClusterError::Closed)));
    assert!(matches!(
        cluster.partition(&[(1, 2)]),
        Err(ClusterError::Closed)
    ));
    assert_eq!(cluster.heal_all().await.restarted, Vec::<usize>::new());
}

#[tokio::test]
async fn dropping_the_cluster_kills_every_child() {
    let dir = TestDir::new("cluster-drop");
    let cluster = Cluster::start(fake_spec(&dir, 3, &[])).await.unwrap();
    cluster.pause(1).unwrap();
    let pids: Vec<u32> = (1..=3).map(|i| cluster.pid(i).unwrap()).collect();
    assert!(pids.iter().all(|&pid| alive(pid)));
    drop(cluster);
    for pid in pids {
        assert!(!alive(pid), "pid {pid} outlived the cluster");
    }
}

#[tokio::test]
async fn node_exiting_before_ready_is_named_with_its_log() {
    let dir = TestDir::new("cluster-fail");
    let started = Instant::now();
    let err = match Cluster::start(fake_spec(&dir, 3, &["--fail-node", "2"])).await {
        Ok(_) => panic!("start should fail"),
        Err(err) => err,
    };
    assert!(matches!(err, ClusterError::Exited { node: 2, .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("n2.log") && text.contains("boom"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn bad_node_ids_are_errors() {
    let dir = TestDir::new("cluster-bad-id");
    let cluster = Cluster::start(fake_spec(&dir, 2, &[])).await.unwrap();
    assert!(matches!(
        cluster.kill(0).await,
        Err(ClusterError::NoSuchNode(0))
    ));
    assert!(matches!(cluster.pause(3), Err(ClusterError::NoSuchNode(3))));
    assert!(cluster.partition(&[(1, 3)]).is_err());
    cluster.shutdown().await;
}

/// When `FAULTLINE_TEST_ORPHAN_DIR` is set (only by the test below, in a child process), starts
/// a cluster, writes its pids to `pids` in that directory and waits to be SIGKILLed.
#[tokio::test]
async fn orphan_helper_starts_a_cluster_and_waits() {
    let Some(dir) = std::env::var_os("FAULTLINE_TEST_ORPHAN_DIR") else {
        return;
    };
    let dir = TestDir(dir.into());
    let cluster = Cluster::start(fake_spec(&dir, 3, &[])).await.unwrap();
    let pids: Vec<String> = (1..=3)
        .map(|i| cluster.pid(i).unwrap().to_string())
        .collect();
    std::fs::write(dir.0.join("pids.tmp"), pids.join("\n")).unwrap();
    std::fs::rename(dir.0.join("pids.tmp"), dir.0.join("pids")).unwrap();
    tokio::time::sleep(Duration::from_secs(30)).await;
    std::mem::forget(cluster);
}

#[tokio::test]
async fn nodes_die_with_a_sigkilled_faultline() {
    let dir = TestDir::new("cluster-orphan");
    let mut parent = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "orphan_helper_starts_a_cluster_and_waits"])
        .env("FAULTLINE_TEST_ORPHAN_DIR", &dir.0)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pids_file = dir.0.join("pids");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pids_file.exists() {
        assert!(
            Instant::now() < deadline,
            "helper did not start its cluster"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pids: Vec<u32> = std::fs::read_to_string(&pids_file)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert!(pids.iter().all(|&pid| alive(pid)));
    parent.kill().unwrap(); // SIGKILL: no destructor runs in the helper
    parent.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while pids.iter().any(|&pid| alive(pid)) {
        assert!(
            Instant::now() < deadline,
            "nodes outlived faultline: {pids:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn nodes_outlive_the_thread_that_started_them() {
    let dir = TestDir::new("cluster-thread");
    let spec = fake_spec(&dir, 2, &[]);
    // Start the cluster on a runtime driven by a short-lived thread, then let the thread end.
    let (runtime, cluster) = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let cluster = runtime.block_on(Cluster::start(spec)).unwrap();
        (runtime, cluster)
    })
    .join()
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let pids: Vec<u32> = (1..=2).map(|i| cluster.pid(i).unwrap()).collect();
    assert!(
        pids.iter().all(|&pid| alive(pid)),
        "PR_SET_PDEATHSIG fired when the starting thread exited"
    );
    runtime.block_on(async {
        cluster.kill(1).await.unwrap();
        cluster.restart(1).await.unwrap();
        cluster.shutdown().await;
    });
}

#[tokio::test]
async fn restart_retries_while_the_port_is_taken() {
    let dir = TestDir::new("cluster-port-taken");
    let cluster = Cluster::start(fake_spec(&dir, 2, &[])).await.unwrap();
    cluster.kill(2).await.unwrap();
    let squatter = std::net::TcpListener::bind(cluster.http_addrs()[1]).unwrap();
    let restart = {
        let cluster = cluster.clone();
        tokio::spawn(async move { cluster.restart(2).await })
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(!restart.is_finished(), "restart should wait for the port");
    drop(squatter);
    restart.await.unwrap().unwrap();
    cluster.health(2, Duration::from_secs(1)).await.unwrap();
    let log = std::fs::read_to_string(cluster.log_path(2)).unwrap();
    assert!(
        log.matches("--- faultline: starting n2").count() >= 3,
        "{log}"
    );
    cluster.shutdown().await;
}
