//! The runner end to end against the in-process linearizable store: the recorded history reads
//! back, pairs, and checks valid; a stop request ends the run early with a complete history.

use checkers::history::{pair, read_history};
use checkers::CheckOptions;
use checkers::Validity;
use std::time::Duration;
use workloads::generator::WorkloadKind;
use workloads::recorder::Recorder;
use workloads::runner::{run, NoNemesis, Progress, RunConfig};
use workloads::target::local::Local;

fn config(workload: WorkloadKind, time_limit: Duration) -> RunConfig {
    RunConfig {
        workload,
        keys: 3,
        key_base: 0,
        concurrency: 6,
        nodes: 1,
        time_limit,
        op_limit: Some(3000),
        rate: None,
        seed: 42,
        nemesis_interval: Duration::from_secs(1),
        nemesis_hold: Duration::from_secs(1),
        quiet: Duration::from_millis(10),
        final_reads: true,
        max_history: None,
    }
}

fn run_local(workload: WorkloadKind, stop_after: Option<Duration>) -> (Vec<u8>, bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    let recorder = Recorder::create(&path).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let store = Local::new();
    let summary = rt.block_on(async {
        if let Some(d) = stop_after {
            tokio::spawn(async move {
                tokio::time::sleep(d).await;
                let _ = tx.send(true);
            });
        }
        let limit = if stop_after.is_some() {
            Duration::from_secs(30)
        } else {
            Duration::from_secs(2)
        };
        let mut config = config(workload, limit);
        if stop_after.is_some() {
            config.op_limit = None;
        }
        run(
            config,
            |_| store.clone(),
            NoNemesis,
            recorder.clone(),
            Progress::new(),
            rx,
        )
        .await
    });
    recorder.close().unwrap();
    (std::fs::read(&path).unwrap(), summary.interrupted)
}

fn check(bytes: &[u8], model: &str) -> Validity {
    let history = read_history("history.jsonl", bytes, None).unwrap();
    let ops = pair(&history).unwrap();
    let entry = checkers::registry::find(checkers::CheckerKind::Model, model).unwrap();
    entry
        .check_within_options(
            "history.jsonl",
            history.format,
            &ops,
            &CheckOptions::default(),
        )
        .unwrap()
        .valid
}

#[test]
fn register_history_of_a_linearizable_store_is_valid() {
    let (bytes, interrupted) = run_local(WorkloadKind::Register, None);
    assert!(!interrupted);
    let lines = bytes.iter().filter(|b| **b == b'\n').count();
    assert!(lines >= 2 * 3000, "{lines} lines");
    assert_eq!(check(&bytes, "cas-register"), Validity::Valid);
}

#[test]
fn kv_history_of_a_linearizable_store_is_valid() {
    let (bytes, _) = run_local(WorkloadKind::Kv, None);
    assert_eq!(check(&bytes, "kv"), Validity::Valid);
}

#[test]
fn stop_request_ends_the_run_with_a_checkable_history() {
    let (bytes, interrupted) = run_local(WorkloadKind::Register, Some(Duration::from_millis(1)));
    assert!(interrupted);
    assert_eq!(check(&bytes, "cas-register"), Validity::Valid);
}
