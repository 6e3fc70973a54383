//! `faultline heal` (no `--ssh-nodes`): undoes on this machine what local runs left when
//! faultline was killed before it could heal ([`workloads::leftovers`]): processes the dead
//! faultline started that still run, clock-fault timestamp files not at `+0`, libfaketime's orphaned
//! `/dev/shm` files; then detaches the FUSE mounts of `lose-unfsynced`
//! ([`workloads::nemesis::lazyfs`]) whose faultline is dead (found in `/proc/self/mountinfo` by
//! their file-system name; a live run's mounts answer `stat` and are left alone). Local runs add
//! no tc qdisc or iptables rule, so there are none to remove.
//!
//! `faultline heal --ssh-nodes …`: undoes on remote hosts whatever faultline may have left
//! there when a run could not heal itself (faultline killed with SIGKILL, the control node
//! lost): faultline's iptables chain and the processes it paused
//! ([`workloads::remote::faults::HEAL_SCRIPT`]). Then verifies that every host reaches every
//! other host's SSH port. Prints, per host, what it found — also the database members earlier
//! runs left running under `/var/lib/faultline/runs/` and, on this machine, the `ssh -M`
//! masters of dead faultline runs; `--remove-leftovers` stops and removes those.
//!
//! Exit 0 when every host is clean afterwards; 254 when a host cannot be reached or healed
//! (the message names it).

use std::sync::Arc;

use anyhow::Result;

use crate::cli::HealArgs;
use workloads::remote::faults::{self, RemoteFaults, Service};
use workloads::remote::Remote;
use workloads::runner::Progress;

/// Runs `faultline heal`.
pub fn run(args: HealArgs) -> Result<u8> {
    if args.ssh.ssh_nodes.is_empty() {
        return Ok(local());
    }
    let local = heal_local_mounts();
    let runtime = crate::run::runtime()?;
    runtime.block_on(async move {
        let progress = Progress::new();
        let remote = match Remote::connect(&args.ssh, true, progress.clone()).await {
            Ok(r) => r,
            Err(e) => return Ok(crate::exit::of_error(&anyhow::Error::new(e))),
        };
        let mut code = crate::exit::VALID;
        for (host, r) in faults::heal_all(&remote, args.remove_leftovers).await {
            match r {
                Ok(what) => println!("{host}: {what}"),
                Err(e) => {
                    eprintln!("faultline heal: {e}");
                    code = crate::exit::BAD_INPUT;
                }
            }
        }
        if code == crate::exit::VALID {
            use workloads::nemesis::Primitives;
            let mut check = RemoteFaults::new("heal", remote.clone(), Arc::new(Service::default()));
            match check.check_healed().await {
                Ok(msg) => println!("healed: {msg}"),
                Err(e) => {
                    eprintln!("faultline heal: not healed: {e}");
                    code = crate::exit::BAD_INPUT;
                }
            }
        }
        remote.close().await;
        for line in workloads::remote::stale_masters(args.remove_leftovers) {
            println!("this machine: {line}");
        }
        Ok(code.max(local))
    })
}

/// `faultline heal` without `--ssh-nodes`: sweeps what dead local runs left, then verifies;
/// then detaches dead FUSE mounts (after the sweep: a dead run's nodes may still use them).
fn local() -> u8 {
    let processes = local_processes();
    let mounts = heal_local_mounts();
    if processes != crate::exit::VALID {
        processes
    } else {
        mounts
    }
}

/// Sweeps the processes and clock files dead local runs left, then verifies.
fn local_processes() -> u8 {
    let swept = workloads::leftovers::sweep();
    for line in swept.lines() {
        println!("this machine: {line}");
    }
    match workloads::leftovers::verify(&swept) {
        Ok(msg) => {
            println!("healed: {msg}");
            crate::exit::VALID
        }
        Err(e) => {
            eprintln!("faultline heal: not healed: {e}");
            crate::exit::BAD_INPUT
        }
    }
}

/// Detaches every dead faultline FUSE mount on this machine; prints what it found. Exit code:
/// 0 when none is left, 254 when one could not be detached or mountinfo could not be read.
fn heal_local_mounts() -> u8 {
    use workloads::nemesis::lazyfs;
    let found = match lazyfs::leftover_mounts() {
        Ok(found) => found,
        Err(e) => {
            eprintln!("faultline heal: cannot read /proc/self/mountinfo: {e}");
            return crate::exit::BAD_INPUT;
        }
    };
    if found.is_empty() {
        println!("this machine: no faultline FUSE mounts");
        return crate::exit::VALID;
    }
    let mut code = crate::exit::VALID;
    for m in found {
        let shown = m.mountpoint.display();
        match std::fs::metadata(&m.mountpoint) {
            // Answered: a running faultline serves it.
            Ok(_) => println!("this machine: {shown}: in use by a running faultline, left alone"),
            Err(_) => match lazyfs::unmount(&m.mountpoint) {
                Ok(()) => println!("this machine: {shown}: dead faultline FUSE mount detached"),
                Err(e) => {
                    eprintln!("faultline heal: cannot detach the FUSE mount {shown}: {e}");
                    code = crate::exit::BAD_INPUT;
                }
            },
        }
    }
    code
}
