//! Remote clusters over SSH (issue 15), against real sshd on hosts made of network
//! namespaces ([`remote_support::Lab`]): etcd started by faultline on 3 SSH hosts and broken
//! with iptables partitions, kills and pauses; the demo store started by faultline on the SSH
//! hosts (async caught stale, sync valid under every fault); the demo's node binary run as the
//! user's service (`--target http-kv` with a node profile); leftovers of an earlier run found
//! at start-up (healed first, or refused with the heal command); `faultline heal` after
//! faultline was killed with SIGKILL mid-partition; and the bad-input errors (unreachable
//! host, changed or unknown host key, a pid command that prints nothing) — exit 254 naming the
//! host. Needs root.

mod remote_support;

use std::time::{Duration, Instant};

use remote_support::{available, run_dir, Lab};

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn head(text: &str) -> String {
    text.lines().take(60).collect::<Vec<_>>().join("\n")
}

/// Waits until some host has faultline's chain.
fn wait_for_chain(lab: &Lab, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !(1..=3).any(|i| has_chain(lab, i)) {
        assert!(Instant::now() < deadline, "no partition within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether host `i` has faultline's iptables chain.
fn has_chain(lab: &Lab, i: usize) -> bool {
    lab.on(i, "iptables -w -S FAULTLINE").status.success()
}

#[test]
fn etcd_on_ssh_hosts_partitioned_by_iptables_serializable_reads_are_caught_stale() {
    if !available() || !remote_support::which_etcd() {
        return;
    }
    let lab = Lab::new(11, 3);
    let store = tempfile::tempdir().unwrap();
    let mut a = args(&[
        "run",
        "--target",
        "etcd",
        "--workload",
        "register",
        "--etcd-serializable-reads",
        "--nemesis",
        "partition",
        "--keys",
        "2",
        "--time-limit",
        "20",
        "--seed",
        "2",
        "--nemesis-interval",
        "1",
        "--store",
    ]);
    a.push(store.path().display().to_string());
    a.extend(lab.ssh_flags());
    let (code, text) = lab.faultline(&a, Duration::from_secs(90));
    assert_eq!(code, 1, "expected a stale read:\n{}", head(&text));
    assert!(text.contains("not linearizable"), "{}", head(&text));
    let dir = run_dir(store.path());
    let log = std::fs::read_to_string(dir.join("run.log")).unwrap();
    assert!(
        log.contains("partition (iptables): exit 0"),
        "iptables rules applied over SSH:\n{log}"
    );
    assert!(log.contains("partition applied on every node"), "{log}");
    for i in 1..=3 {
        assert!(!has_chain(&lab, i), "host {i} still has faultline's chain");
        let node_log = dir
            .join("nodes")
            .join(format!("root_{}", lab.addr(i)))
            .join("etcd.log");
        let text = std::fs::read_to_string(&node_log)
            .unwrap_or_else(|e| panic!("{}: {e}", node_log.display()));
        assert!(!text.is_empty(), "{} is empty", node_log.display());
    }
}

#[test]
fn etcd_on_ssh_hosts_linearizable_reads_stay_valid_under_partition_kill_and_pause() {
    if !available() || !remote_support::which_etcd() {
        return;
    }
    let lab = Lab::new(12, 3);
    let store = tempfile::tempdir().unwrap();
    let mut a = args(&[
        "run",
        "--target",
        "etcd",
        "--workload",
        "register",
        "--nemesis",
        "partition,kill,pause",
        "--keys",
        "10",
        "--rate",
        "200",
        "--time-limit",
        "15",
        "--seed",
        "5",
        "--nemesis-interval",
        "1",
        "--nemesis-hold",
        "1",
        "--store",
    ]);
    a.push(store.path().display().to_string());
    a.extend(lab.ssh_flags());
    let (code, text) = lab.faultline(&a, Duration::from_secs(90));
    assert_eq!(code, 0, "expected valid:\n{}", head(&text));
    let dir = run_dir(store.path());
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    for f in [
        "\"start-partition\"",
        "\"kill\"",
        "\"pause\"",
        "\"restart\"",
        "\"resume\"",
    ] {
        let nemesis: Vec<&str> = history
            .lines()
            .filter(|l| l.contains("\"nemesis\""))
            .collect();
        assert!(
            history.contains(f),
            "the history records {f}:\n{}\n{}",
            nemesis.join("\n"),
            std::fs::read_to_string(dir.join("run.log")).unwrap_or_default()
        );
    }
    let log = std::fs::read_to_string(dir.join("run.log")).unwrap();
    for what in [
        "kill: exit 0",
        "restart: exit 0",
        "pause: exit 0",
        "resume: exit 0",
    ] {
        assert!(log.contains(what), "run.log has `{what}`:\n{log}");
    }
    assert!(log.contains("verify healed: exit 0"), "{log}");
    for i in 1..=3 {
        assert!(!has_chain(&lab, i));
    }
}

#[test]
fn heal_after_faultline_is_killed_mid_partition_leaves_no_rule_and_no_stopped_process() {
    if !available() || !remote_support::which_etcd() {
        return;
    }
    let lab = Lab::new(13, 3);
    let store = tempfile::tempdir().unwrap();
    let mut a = args(&[
        "run",
        "--target",
        "etcd",
        "--workload",
        "register",
        "--nemesis",
        "partition,pause",
        "--time-limit",
        "60",
        "--seed",
        "3",
        "--nemesis-interval",
        "1",
        "--store",
    ]);
    a.push(store.path().display().to_string());
    a.extend(lab.ssh_flags());
    // Ctrl-C (SIGINT) while a partition is in force: faultline heals the hosts itself.
    let child = lab.spawn_faultline(&a);
    let pid = child.id();
    wait_for_chain(&lab, Duration::from_secs(40));
    remote_support::sh(&format!("kill -INT {pid}"));
    let (code, text) = remote_support::finish(child, Duration::from_secs(60));
    assert!(code == 0 || code == 1 || code == 2, "{text}");
    assert!(text.contains("interrupted by SIGINT"), "{}", head(&text));
    for i in 1..=3 {
        assert!(
            !has_chain(&lab, i),
            "SIGINT: host {i} still has faultline's chain"
        );
    }

    // SIGKILL while a partition is in force: the hosts stay cut off until `faultline heal`.
    let store = tempfile::tempdir().unwrap();
    let at = a.iter().position(|x| x == "--store").unwrap();
    a[at + 1] = store.path().display().to_string();
    let mut child = lab.spawn_faultline(&a);
    // Wait until a partition is in force on some host, then SIGKILL faultline.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        if (1..=3).any(|i| has_chain(&lab, i)) {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "faultline ended before any partition"
        );
        assert!(Instant::now() < deadline, "no partition within 40 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    let child_pid = child.id();
    child.kill().unwrap();
    let _ = child.wait();
    assert!(
        (1..=3).any(|i| has_chain(&lab, i)),
        "the partition outlived faultline (what heal must undo)"
    );
    // Also leave a paused process behind, as a pause cut short would: stop a member and
    // record it the way faultline does.
    let pid = remote_support::sh(&format!(
        "ip netns pids {} | while read p; do grep -q etcd /proc/$p/comm && echo $p; done | head -n 1",
        lab.ns(2)
    ));
    let pid = pid.trim().to_string();
    assert!(!pid.is_empty(), "an etcd member runs on host 2");
    remote_support::sh(&format!(
        "mkdir -p /var/lib/faultline && echo {pid} >> {} && kill -STOP {pid}",
        lab.paused_file(2)
    ));

    let killed = child_pid;
    let mut h = vec!["heal".to_string()];
    h.extend(lab.ssh_flags());
    let (code, text) = lab.faultline(&h, Duration::from_secs(60));
    assert_eq!(code, 0, "heal succeeds:\n{text}");
    assert!(text.contains("removed chain"), "{text}");
    assert!(text.contains(&format!("resumed {pid}")), "{text}");
    assert!(text.contains("healed: "), "{text}");
    // The members the killed run started still run; heal names them and says how to remove
    // them, and names the killed run's ssh masters on this machine.
    assert!(text.contains("member still running: pid"), "{text}");
    assert!(text.contains("--remove-leftovers"), "{text}");
    let control = format!("faultline-ssh-{killed}");
    assert!(
        text.contains("stale ssh master pid") && text.contains(&control),
        "{text}"
    );
    for i in 1..=3 {
        assert!(!has_chain(&lab, i), "host {i} still has faultline's chain");
        assert!(
            !lab.on(i, "iptables -w -S INPUT | grep -q FAULTLINE")
                .status
                .success(),
            "host {i} still jumps to FAULTLINE"
        );
        for j in 1..=3 {
            if i != j {
                let reach = lab.on(
                    i,
                    &format!("timeout 3 bash -c '</dev/tcp/{}/22'", lab.addr(j)),
                );
                assert!(reach.status.success(), "host {i} reaches host {j}");
            }
        }
        let states = remote_support::sh(&format!(
            "for p in $(ip netns pids {}); do ps -o stat= -p $p; done",
            lab.ns(i)
        ));
        assert!(
            !states.lines().any(|s| s.trim().starts_with('T')),
            "a process on host {i} is still stopped: {states}"
        );
    }
    let state = remote_support::sh(&format!("ps -o stat= -p {pid} || true"));
    assert!(!state.trim().starts_with('T'), "pid {pid} resumed: {state}");
    // --remove-leftovers: the members are stopped, their directories removed, the masters
    // ended.
    let mut r = h.clone();
    r.push("--remove-leftovers".into());
    let (code, text) = lab.faultline(&r, Duration::from_secs(60));
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("stopped member pid"), "{text}");
    assert!(text.contains("ended stale ssh master pid"), "{text}");
    for i in 1..=3 {
        let etcd = remote_support::sh(&format!(
            "for p in $(ip netns pids {}); do cat /proc/$p/comm 2>/dev/null; done",
            lab.ns(i)
        ));
        assert!(
            !etcd.lines().any(|c| c.trim() == "etcd"),
            "an etcd member still runs on host {i}"
        );
    }
    // `[f]…`: the pattern does not match the shell running pgrep.
    let masters = remote_support::sh_any(&format!("pgrep -f '[f]{}'", &control[1..]));
    assert!(
        !masters.status.success(),
        "an ssh master of the killed run remains: {}",
        String::from_utf8_lossy(&masters.stdout)
    );
    // A third heal finds nothing.
    let (code, text) = lab.faultline(&h, Duration::from_secs(60));
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("nothing of faultline's found"), "{text}");
    assert!(!text.contains(&control), "{text}");
    // The run's directory on the hosts (faultline was killed before removing it).
    let run = run_dir(store.path());
    let name = run.file_name().unwrap().to_string_lossy().to_string();
    let _ = remote_support::sh_any(&format!("rm -rf /var/lib/faultline/runs/etcd-{name}"));
}

#[test]
fn bad_hosts_and_keys_are_refused_with_exit_254_naming_the_host() {
    if !available() {
        return;
    }
    let lab = Lab::new(14, 2);
    let run = |extra: &[String], ssh: Vec<String>| {
        let mut a = args(&[
            "run",
            "--target",
            "http-kv",
            "--nodes",
            &format!("{}:8000,{}:8000", lab.addr(1), lab.addr(2)),
            "--time-limit",
            "2",
            "--store",
            &lab.path("store"),
        ]);
        a.extend(extra.iter().cloned());
        a.extend(ssh);
        lab.faultline(&a, Duration::from_secs(60))
    };
    let with = |from: &str, to: &str| -> Vec<String> {
        lab.ssh_flags()
            .into_iter()
            .map(|f| f.replace(from, to))
            .collect()
    };
    // Unreachable: no host at .99.
    let (code, text) = run(
        &[],
        with(
            &format!("root@{}", lab.addr(2)),
            &format!("root@10.77.{}.99", lab.subnet),
        ),
    );
    assert_eq!(code, 254, "{text}");
    assert!(
        text.contains(&format!(
            "root@10.77.{}.99: cannot reach the host",
            lab.subnet
        )),
        "{text}"
    );
    // Unknown host key: an empty known_hosts.
    std::fs::write(lab.path("empty_known_hosts"), "").unwrap();
    let (code, text) = run(
        &[],
        with(&lab.path("known_hosts"), &lab.path("empty_known_hosts")),
    );
    assert_eq!(code, 254, "{text}");
    assert!(
        text.contains("the host key is not in known_hosts"),
        "{text}"
    );
    assert!(text.contains("--ssh-accept-new-host-keys"), "{text}");
    // Changed host key: host 1's entry carries host 2's key.
    let known = std::fs::read_to_string(lab.path("known_hosts")).unwrap();
    let lines: Vec<&str> = known.lines().collect();
    let key2 = lines[1].split_once(' ').unwrap().1;
    std::fs::write(
        lab.path("wrong_known_hosts"),
        format!("{} {key2}\n{}\n", lab.addr(1), lines[1]),
    )
    .unwrap();
    let (code, text) = run(
        &[],
        with(&lab.path("known_hosts"), &lab.path("wrong_known_hosts")),
    );
    assert_eq!(code, 254, "{text}");
    assert!(
        text.contains(&format!("root@{}: the host key differs", lab.addr(1))),
        "{text}"
    );
    // Wrong key: a key the hosts do not authorize.
    remote_support::sh(&format!(
        "ssh-keygen -q -t ed25519 -N '' -f {}",
        lab.path("other")
    ));
    let (code, text) = run(&[], with(&lab.path("id"), &lab.path("other")));
    assert_eq!(code, 254, "{text}");
    assert!(text.contains("login refused"), "{text}");
    // A pid command that prints nothing: refused before any fault.
    let (code, text) = run(
        &args(&["--nemesis", "pause", "--node-pid", "true"]),
        lab.ssh_flags(),
    );
    assert_eq!(code, 254, "{text}");
    assert!(
        text.contains("printed no pid") && text.contains(&format!("root@{}", lab.addr(1))),
        "{text}"
    );
    // The same profile as a TOML file: read and used (its pid command prints nothing).
    std::fs::write(
        lab.path("profile.toml"),
        "pid = \"true\"\nstart = \"true\"\n",
    )
    .unwrap();
    let (code, text) = run(
        &args(&[
            "--nemesis",
            "pause",
            "--node-profile",
            &lab.path("profile.toml"),
        ]),
        lab.ssh_flags(),
    );
    assert_eq!(code, 254, "{text}");
    assert!(text.contains("printed no pid"), "{text}");
    // A profile file with a misspelt key: FILE:LINE and the key, before any connection.
    std::fs::write(lab.path("bad.toml"), "pid = \"true\"\npdi = \"x\"\n").unwrap();
    let (code, text) = run(
        &args(&[
            "--nemesis",
            "pause",
            "--node-profile",
            &lab.path("bad.toml"),
        ]),
        lab.ssh_flags(),
    );
    assert_eq!(code, 254, "{text}");
    assert!(
        text.contains(&format!("{}:2:", lab.path("bad.toml"))) && text.contains("pdi"),
        "{text}"
    );
    // Without --node-pid, pause is refused at planning.
    let (code, text) = run(&args(&["--nemesis", "pause"]), lab.ssh_flags());
    assert_eq!(code, 254, "{text}");
    assert!(text.contains("needs --node-pid"), "{text}");
    // --ssh-sudo where there is no sudo (these hosts have none, or it refuses).
    let mut sudo = lab.ssh_flags();
    sudo.push("--ssh-sudo".into());
    let (code, text) = run(&args(&["--nemesis", "partition"]), sudo);
    assert_eq!(code, 254, "{text}");
    assert!(text.contains("--ssh-sudo: `sudo -n true` failed"), "{text}");
}

/// Starts the demo store's node binary in `mode` on each of the lab's 3 hosts (as the user's
/// service would run: by a script the node profile reuses to restart it, pid in a file), waits
/// until each listens; returns the directory of the scripts and pid files.
fn start_demo_nodes(lab: &Lab, mode: &str) -> String {
    let bin = env!("CARGO_BIN_EXE_faultline");
    let dir = lab.dir.path().display().to_string();
    for i in 1..=3 {
        let label = format!("root_{}", lab.addr(i));
        let peers: String = (1..=3)
            .filter(|&j| j != i)
            .map(|j| format!(" --peer {j}={}:8001", lab.addr(j)))
            .collect();
        let script = format!(
            "nohup setsid {bin} serve-demo-node --id {i} --mode {mode} --http {a}:8000 \
             --peer-listen {a}:8001{peers} --data-dir {dir}/{label}.data \
             >> {dir}/{label}.log 2>&1 < /dev/null &\necho $! > {dir}/{label}.pid\n",
            a = lab.addr(i)
        );
        std::fs::write(format!("{dir}/{label}.start.sh"), script).unwrap();
        let o = lab.on(i, &format!("sh {dir}/{label}.start.sh"));
        assert!(o.status.success(), "{o:?}");
    }
    for i in 1..=3 {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !remote_support::sh_any(&format!(
            "ip netns exec {} timeout 1 bash -c '</dev/tcp/{}/8000'",
            lab.ctl(),
            lab.addr(i)
        ))
        .status
        .success()
        {
            assert!(Instant::now() < deadline, "demo node {i} did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    dir
}

#[test]
fn users_service_on_ssh_hosts_is_killed_paused_and_partitioned_through_a_node_profile() {
    if !available() {
        return;
    }
    let lab = Lab::new(15, 3);
    let dir = start_demo_nodes(&lab, "sync");
    let store = tempfile::tempdir().unwrap();
    let nodes = (1..=3)
        .map(|i| format!("{}:8000", lab.addr(i)))
        .collect::<Vec<_>>()
        .join(",");
    let mut a = args(&[
        "run",
        "--target",
        "http-kv",
        "--workload",
        "register",
        "--nemesis",
        "partition,kill,pause",
        "--time-limit",
        "20",
        "--seed",
        "5",
        "--nemesis-interval",
        "0.5",
        "--nemesis-hold",
        "1",
        "--node-pid",
        &format!("cat {dir}/{{host}}.pid"),
        "--node-start",
        &format!("sh {dir}/{{host}}.start.sh"),
        "--store",
    ]);
    a.push(store.path().display().to_string());
    a.push("--nodes".into());
    a.push(nodes);
    a.extend(lab.ssh_flags());
    let (code, text) = lab.faultline(&a, Duration::from_secs(90));
    let run = run_dir(store.path());
    let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    let log = std::fs::read_to_string(run.join("run.log")).unwrap();
    for f in [
        "\"start-partition\"",
        "\"kill\"",
        "\"restart\"",
        "\"pause\"",
        "\"resume\"",
    ] {
        assert!(history.contains(f), "the history records {f}:\n{log}");
    }
    for what in [
        "partition (iptables): exit 0",
        "kill: exit 0",
        "restart: exit 0",
        "pause: exit 0",
        "resume: exit 0",
        "verify healed: exit 0",
    ] {
        assert!(log.contains(what), "run.log has `{what}`:\n{log}");
    }
    assert_eq!(code, 0, "the sync store stays valid:\n{}", head(&text));
    for i in 1..=3 {
        assert!(!has_chain(&lab, i));
    }
}

/// Not a check: measures how long applying and healing a partition takes on 5 SSH hosts
/// (all rules active on every host it changes), p50/p99 over one run. Run with
/// `cargo test --release --test remote_ssh -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure_partition_apply_and_heal_on_five_hosts() {
    if !available() || !remote_support::which_etcd() {
        return;
    }
    let lab = Lab::new(16, 5);
    let store = tempfile::tempdir().unwrap();
    let mut a = args(&[
        "run",
        "--target",
        "etcd",
        "--workload",
        "register",
        "--nemesis",
        "partition",
        "--time-limit",
        "60",
        "--rate",
        "50",
        "--nemesis-interval",
        "0.5",
        "--nemesis-hold",
        "0.5",
        "--store",
    ]);
    a.push(store.path().display().to_string());
    a.extend(lab.ssh_flags());
    let (code, text) = lab.faultline(&a, Duration::from_secs(180));
    assert!(code == 0 || code == 1, "{text}");
    let log = std::fs::read_to_string(run_dir(store.path()).join("run.log")).unwrap();
    let times = |what: &str| {
        let mut v: Vec<f64> = log
            .lines()
            .filter_map(|l| l.split_once(what))
            .filter_map(|(_, rest)| rest.trim().strip_suffix(" ms")?.parse().ok())
            .collect();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v
    };
    for (name, v) in [
        ("apply", times("partition applied on every node in")),
        ("heal", times("partition healed on every node in")),
    ] {
        assert!(!v.is_empty(), "no {name} times in run.log");
        let p = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        println!(
            "{name}: n={} p50={:.1} ms p99={:.1} ms max={:.1} ms",
            v.len(),
            p(0.5),
            p(0.99),
            v[v.len() - 1]
        );
    }
}

/// `faultline run --target demo --ssh-nodes …` in `mode` on a 3-host lab (subnet `subnet`)
/// with `extra` flags; (exit code, output, run directory).
fn demo_on_lab(
    lab: &Lab,
    store: &std::path::Path,
    mode: &str,
    extra: &[&str],
) -> (i32, String, std::path::PathBuf) {
    let mut a = args(&["run", "--target", "demo", "--mode", mode, "--store"]);
    a.push(store.display().to_string());
    a.extend(args(extra));
    a.extend(lab.ssh_flags());
    let (code, text) = lab.faultline(&a, Duration::from_secs(120));
    (code, text, run_dir(store))
}

/// After a run of the demo store on the lab: no node process left in any host, no
/// faultline chain, every node's log in the store, faultline's directory on the hosts gone.
fn assert_demo_cleaned_up(lab: &Lab, run: &std::path::Path) {
    for i in 1..=3 {
        assert!(!has_chain(lab, i), "host {i} still has faultline's chain");
        let left = lab.on(i, "pgrep -a -f 'serve-demo-node' || true");
        let left = String::from_utf8_lossy(&left.stdout).to_string();
        assert!(
            !left.contains(&lab.addr(i)),
            "a demo node is still running on host {i}: {left}"
        );
        let node_log = run
            .join("nodes")
            .join(format!("root_{}", lab.addr(i)))
            .join("node.log");
        let text = std::fs::read_to_string(&node_log)
            .unwrap_or_else(|e| panic!("{}: {e}", node_log.display()));
        assert!(!text.is_empty(), "{} is empty", node_log.display());
        let dirs = lab.on(
            i,
            &format!(
                "ls -d /var/lib/faultline/runs/demo-*/root_{} 2>/dev/null || true",
                lab.addr(i)
            ),
        );
        assert!(
            String::from_utf8_lossy(&dirs.stdout).trim().is_empty(),
            "faultline's directory is left on host {i}"
        );
    }
}

#[test]
fn async_demo_store_started_on_ssh_hosts_is_caught_with_a_stale_read_under_iptables_partitions() {
    if !available() {
        return;
    }
    let lab = Lab::new(17, 3);
    let store = tempfile::tempdir().unwrap();
    let (code, text, run) = demo_on_lab(
        &lab,
        store.path(),
        "async",
        &[
            "--workload",
            "register",
            "--nemesis",
            "partition",
            "--keys",
            "2",
            "--time-limit",
            "10",
            "--seed",
            "3",
            "--nemesis-interval",
            "1",
            "--nemesis-hold",
            "2",
        ],
    );
    assert_eq!(code, 1, "expected a stale read:\n{}", head(&text));
    assert!(text.contains("not linearizable"), "{}", head(&text));
    let log = std::fs::read_to_string(run.join("run.log")).unwrap();
    for what in [
        "copy faultline: exit 0",
        "start the demo node: exit 0",
        "demo store up: n1=http://",
        "partition (iptables): exit 0",
        "verify healed: exit 0",
    ] {
        assert!(log.contains(what), "run.log has `{what}`:\n{log}");
    }
    assert!(!log.contains("proxies"), "no proxies on SSH hosts:\n{log}");
    // The time the copies of faultline took (shown with --nocapture).
    for l in log.lines().filter(|l| l.contains("copy faultline")) {
        eprintln!("{l}");
    }
    assert_demo_cleaned_up(&lab, &run);
}

#[test]
fn sync_demo_store_started_on_ssh_hosts_stays_valid_under_partition_kill_and_pause() {
    if !available() {
        return;
    }
    let lab = Lab::new(20, 3);
    let store = tempfile::tempdir().unwrap();
    // The node binary named with --demo-bin (these hosts share this machine's files).
    let (code, text, run) = demo_on_lab(
        &lab,
        store.path(),
        "sync",
        &[
            "--workload",
            "register",
            "--nemesis",
            "partition,kill,pause",
            "--time-limit",
            "15",
            "--seed",
            "5",
            "--nemesis-interval",
            "0.5",
            "--nemesis-hold",
            "1",
            "--demo-bin",
            env!("CARGO_BIN_EXE_faultline"),
        ],
    );
    let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    let log = std::fs::read_to_string(run.join("run.log")).unwrap();
    for f in [
        "\"start-partition\"",
        "\"kill\"",
        "\"restart\"",
        "\"pause\"",
    ] {
        assert!(history.contains(f), "the history records {f}:\n{log}");
    }
    for what in [
        "partition (iptables): exit 0",
        "kill: exit 0",
        "restart: exit 0",
        "pause: exit 0",
        "verify healed: exit 0",
    ] {
        assert!(log.contains(what), "run.log has `{what}`:\n{log}");
    }
    assert!(
        !log.contains("copy faultline"),
        "--demo-bin: nothing copied:\n{log}"
    );
    assert_eq!(code, 0, "the sync store stays valid:\n{}", head(&text));
    assert_demo_cleaned_up(&lab, &run);
}

#[test]
fn run_heals_a_leftover_chain_first_and_refuses_leftover_members_with_the_heal_command() {
    if !available() {
        return;
    }
    let lab = Lab::new(21, 3);
    let quick = [
        "--workload",
        "register",
        "--time-limit",
        "2",
        "--demo-bin",
        env!("CARGO_BIN_EXE_faultline"),
    ];
    // An earlier run's partition left behind on host 2: it cannot hear host 3.
    let o = lab.on(
        2,
        &format!(
            "iptables -w -N FAULTLINE && iptables -w -A FAULTLINE -s {} -j DROP && \
             iptables -w -I INPUT 1 -j FAULTLINE",
            lab.addr(3)
        ),
    );
    assert!(o.status.success(), "{o:?}");
    let store = tempfile::tempdir().unwrap();
    let (code, text, run) = demo_on_lab(&lab, store.path(), "sync", &quick);
    assert_eq!(code, 0, "healed first, then a valid run:\n{}", head(&text));
    assert!(
        text.contains("leftovers of an earlier run found and healed first: chain 1"),
        "the output says so:\n{}",
        head(&text)
    );
    let log = std::fs::read_to_string(run.join("run.log")).unwrap();
    assert!(
        log.contains("leftovers of an earlier run found and healed first: chain 1"),
        "run.log says so:\n{log}"
    );
    assert!(!has_chain(&lab, 2));

    // An earlier run's member still running on host 3 (its directory, its pid, its working
    // directory there): the run refuses, naming the host and the command to run.
    let dir = format!(
        "/var/lib/faultline/runs/demo-killed-run/root_{}",
        lab.addr(3)
    );
    let o = lab.on(
        3,
        &format!(
            "mkdir -p {dir} && cd {dir} && {{ setsid sleep 300 >/dev/null 2>&1 </dev/null & \
             echo $! > {dir}/pid; }}"
        ),
    );
    assert!(o.status.success(), "{o:?}");
    let store = tempfile::tempdir().unwrap();
    let (code, text, _) = demo_on_lab(&lab, store.path(), "sync", &quick);
    assert_eq!(code, 254, "refused:\n{}", head(&text));
    assert!(
        text.contains(&format!(
            "root@{}: an earlier faultline run left database members running there",
            lab.addr(3)
        )),
        "names the host:\n{}",
        head(&text)
    );
    let command = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("faultline heal --ssh-nodes"))
        .unwrap_or_else(|| panic!("no heal command in:\n{}", head(&text)))
        .to_string();
    assert!(command.ends_with("--remove-leftovers"), "{command}");
    // The command as printed works: it stops the member and removes its directory.
    let heal: Vec<String> = command
        .split_whitespace()
        .skip(1)
        .map(String::from)
        .collect();
    let (code, text) = lab.faultline(&heal, Duration::from_secs(60));
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("stopped member pid"), "{text}");
    let o = lab.on(3, &format!("test -d {dir}"));
    assert!(!o.status.success(), "{dir} removed");
    // And now the run goes ahead.
    let store = tempfile::tempdir().unwrap();
    let (code, text, _) = demo_on_lab(&lab, store.path(), "sync", &quick);
    assert_eq!(code, 0, "{}", head(&text));
}

#[test]
fn redis_on_ssh_hosts_replica_reads_under_iptables_partition_are_caught_stale() {
    if !available() || !std::path::Path::new("/usr/bin/redis-server").exists() {
        return;
    }
    let lab = Lab::new(18, 3);
    let store = tempfile::tempdir().unwrap();
    let mut a = args(&[
        "run",
        "--target",
        "redis",
        "--workload",
        "register",
        "--read-from",
        "replica",
        "--nemesis",
        "partition",
        "--keys",
        "1",
        "--rate",
        "100",
        "--time-limit",
        "8",
        "--seed",
        "2",
        "--nemesis-interval",
        "1",
        "--nemesis-hold",
        "2",
        "--store",
    ]);
    a.push(store.path().display().to_string());
    a.extend(lab.ssh_flags());
    let (code, text) = lab.faultline(&a, Duration::from_secs(90));
    assert_eq!(code, 1, "expected a stale read:\n{}", head(&text));
    assert!(text.contains("not linearizable"), "{}", head(&text));
    let dir = run_dir(store.path());
    let log = std::fs::read_to_string(dir.join("run.log")).unwrap();
    assert!(log.contains("partition (iptables): exit 0"), "{log}");
    for i in 1..=3 {
        assert!(!has_chain(&lab, i), "host {i} still has faultline's chain");
        let node_log = dir
            .join("nodes")
            .join(format!("root_{}", lab.addr(i)))
            .join("redis.log");
        let text = std::fs::read_to_string(&node_log)
            .unwrap_or_else(|e| panic!("{}: {e}", node_log.display()));
        assert!(!text.is_empty(), "{} is empty", node_log.display());
    }
    assert!(
        !std::path::Path::new(&format!(
            "/var/lib/faultline/runs/redis-{}",
            dir.file_name().unwrap().to_string_lossy()
        ))
        .exists(),
        "the members' directory is removed"
    );
}

#[test]
fn postgres_on_ssh_hosts_primary_and_streaming_replicas_stay_valid_under_kill() {
    if !available() || !std::path::Path::new("/usr/lib/postgresql/15/bin/postgres").exists() {
        return;
    }
    let lab = Lab::new(19, 3);
    let store = tempfile::tempdir().unwrap();
    let mut a = args(&[
        "run",
        "--target",
        "postgres",
        "--workload",
        "register",
        "--nemesis",
        "kill",
        "--time-limit",
        "10",
        "--seed",
        "4",
        "--nemesis-interval",
        "2",
        "--store",
    ]);
    a.push(store.path().display().to_string());
    a.extend(lab.ssh_flags());
    let (code, text) = lab.faultline(&a, Duration::from_secs(120));
    let dir = run_dir(store.path());
    let log = std::fs::read_to_string(dir.join("run.log")).unwrap_or_default();
    assert_eq!(code, 0, "expected valid:\n{}\n{log}", head(&text));
    assert!(log.contains("kill: exit 0"), "{log}");
    assert!(log.contains("restart: exit 0"), "{log}");
    for i in 1..=3 {
        let node_log = dir
            .join("nodes")
            .join(format!("root_{}", lab.addr(i)))
            .join("postgres.log");
        let text = std::fs::read_to_string(&node_log)
            .unwrap_or_else(|e| panic!("{}: {e}", node_log.display()));
        assert!(!text.is_empty(), "{} is empty", node_log.display());
    }
}

/// The lease demo's timing on the lab (as tests/store_lease.rs): short faults, many of them;
/// clients that give up on an isolated leader quickly, so some are free to read from it while
/// its lease is stretched.
const LEASE_FAST: &[&str] = &[
    "--workload",
    "register",
    "--keys",
    "6",
    "--concurrency",
    "15",
    "--op-timeout",
    "0.3",
    "--nemesis-interval",
    "0.3",
    "--nemesis-hold",
    "1.2",
];

/// libfaketime's `/dev/shm/faketime_shm_PID` entries whose process no longer runs (the lab's
/// hosts share this machine's /dev/shm).
fn dead_faketime_shm() -> std::collections::BTreeSet<String> {
    std::fs::read_dir("/dev/shm")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let pid = name.strip_prefix("faketime_shm_")?.to_string();
            (!std::path::Path::new(&format!("/proc/{pid}")).exists()).then_some(name)
        })
        .collect()
}

/// After a lease run with clock faults on the lab: the nodes ran under libfaketime with their
/// own timestamp file (run.log), the clocks were reset and the reset verified, no timestamp
/// file is left on any host, and the killed nodes left nothing of libfaketime's in /dev/shm
/// (`before`: the dead entries there before the run).
fn assert_remote_clocks_healed(
    lab: &Lab,
    run: &std::path::Path,
    text: &str,
    before: &std::collections::BTreeSet<String>,
) {
    let log = std::fs::read_to_string(run.join("run.log")).unwrap();
    for what in [
        "find libfaketime: exit 0",
        "node clocks under libfaketime:",
        "clock file: exit 0",
        "every clock file reads +0 again",
    ] {
        assert!(
            log.contains(what) || text.contains(what),
            "run.log has `{what}`:\n{}",
            head(text)
        );
    }
    for i in 1..=3 {
        let left = lab.on(
            i,
            "for f in /var/lib/faultline/runs/*/*/faketime; do [ -f \"$f\" ] && echo \"$f\"; \
             done; true",
        );
        let left = String::from_utf8_lossy(&left.stdout).to_string();
        assert!(
            !left.contains(&lab.addr(i)),
            "host {i} keeps a timestamp file: {left}"
        );
    }
    let left: Vec<String> = dead_faketime_shm().difference(before).cloned().collect();
    assert!(
        left.is_empty(),
        "libfaketime's /dev/shm entries left: {left:?}"
    );
}

/// Not in the suite: on SSH hosts partitions and clock bumps hit random nodes (the remote demo
/// does not aim them at the leader as the loopback demo does), so whether a run catches the
/// stale read depends on timing — it did in 2 of 3 runs of seed 1 (valid in the third, which is
/// a correct verdict for that history). The loopback lease tests (tests/store_lease.rs) catch
/// it every time. Run by hand: `cargo test --release --test remote_ssh -- --ignored lease_demo`.
#[test]
#[ignore = "timing-dependent on SSH hosts (random partition targets); see the doc comment"]
fn lease_demo_on_ssh_hosts_serves_a_stale_read_under_partitions_and_clock_bump_then_heals() {
    if !available() {
        return;
    }
    let lab = Lab::new(22, 3);
    let store = tempfile::tempdir().unwrap();
    let mut extra = LEASE_FAST.to_vec();
    extra.extend([
        "--nemesis",
        "partition,clock-bump",
        "--time-limit",
        "12",
        "--seed",
        "1",
        "--demo-bin",
        env!("CARGO_BIN_EXE_faultline"),
    ]);
    let before = dead_faketime_shm();
    let started = Instant::now();
    let (code, text, run) = demo_on_lab(&lab, store.path(), "lease", &extra);
    eprintln!(
        "lease + partition,clock-bump on 3 SSH hosts: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(code, 1, "expected a stale read:\n{}", head(&text));
    assert!(text.contains("not linearizable"), "{}", head(&text));
    let named = text
        .lines()
        .any(|l| l.contains("could not linearize") && l.contains("read"));
    assert!(named, "no stale read named:\n{}", head(&text));
    let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    for f in ["\"bump-clock\"", "\"reset-clock\"", "\"start-partition\""] {
        assert!(history.contains(f), "the history records {f}");
    }
    assert_remote_clocks_healed(&lab, &run, &text, &before);
    assert_demo_cleaned_up(&lab, &run);
}

#[test]
fn lease_demo_on_ssh_hosts_stays_valid_under_partitions_alone() {
    if !available() {
        return;
    }
    let lab = Lab::new(23, 3);
    let store = tempfile::tempdir().unwrap();
    let mut extra = LEASE_FAST.to_vec();
    extra.extend([
        "--nemesis",
        "partition",
        "--time-limit",
        "8",
        "--seed",
        "1",
        "--demo-bin",
        env!("CARGO_BIN_EXE_faultline"),
    ]);
    let (code, text, run) = demo_on_lab(&lab, store.path(), "lease", &extra);
    assert_eq!(code, 0, "lease reads stay linearizable:\n{}", head(&text));
    let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    assert!(history.contains("\"start-partition\""), "no partition");
    assert_demo_cleaned_up(&lab, &run);
}

#[test]
fn heal_resets_a_faketime_file_an_earlier_run_left_with_an_offset() {
    if !available() {
        return;
    }
    // Alone: any other lab's heal would reset the planted file first (one shared file system).
    let lab = Lab::new_alone(24, 2);
    let dir = format!(
        "/var/lib/faultline/runs/demo-healtest-{}/root_{}",
        std::process::id(),
        lab.addr(1)
    );
    lab.on(
        1,
        &format!("mkdir -p {dir} && printf '%s\\n' -7.500 > {dir}/faketime"),
    );
    let mut h = vec!["heal".to_string()];
    h.extend(lab.ssh_flags());
    let (code, text) = lab.faultline(&h, Duration::from_secs(60));
    let after = std::fs::read_to_string(format!("{dir}/faketime")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(std::path::Path::new(&dir).parent().unwrap());
    assert_eq!(code, 0, "heal succeeds:\n{text}");
    assert!(
        text.contains(&format!("clock reset {dir}/faketime (was -7.500)")),
        "{text}"
    );
    assert_eq!(after.trim(), "+0", "the file is reset");
}
