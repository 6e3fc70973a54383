//! PostgreSQL on SSH hosts (`--target postgres --ssh-nodes …`): faultline starts the primary
//! `n1` on the first host (`initdb` as the `postgres` user, trust authentication, fsync off)
//! and a hot-standby replica on each other host (`pg_basebackup -R -X stream` of the
//! primary, streaming replication, asynchronous), from the host's own PostgreSQL 15 (Debian's
//! `postgresql-15`; `--install` installs it), port 5432 on the host's address, each under
//! `/var/lib/faultline/runs/postgres-RUN/HOST/` ([`Members`]); waits until the primary has the
//! tables and every replica streams; at the end stops them and copies each `postgres.log`
//! into the store directory (`nodes/HOST/postgres.log`). Faults:
//! [`crate::remote::faults::RemoteFaults`] (iptables partitions, kill, pause).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::launcher::BIN;
use super::replicas::query;
use crate::remote::faults::{RemoteFaults, Service};
use crate::remote::members::Members;
use crate::remote::SshArgs;
use crate::runner::Progress;
use crate::target::RunError;

/// The port of every member.
pub const PORT: u16 = 5432;

/// A running PostgreSQL primary and replicas on SSH hosts.
pub struct RemotePg {
    /// The members (and the connections).
    pub members: Members,
    /// Their libpq connection strings, the primary first.
    pub conns: Vec<String>,
    /// The node profile for the fault primitives.
    pub service: Arc<Service>,
}

impl RemotePg {
    /// Connects, checks (installs with `--install`), starts the primary, then the replicas,
    /// and waits (60 s) until every replica streams.
    pub async fn start(
        ssh: &SshArgs,
        store: &Path,
        progress: &Arc<Progress>,
        faults: &[crate::nemesis::Fault],
    ) -> Result<RemotePg, RunError> {
        let members = Members::connect(ssh, "postgres", store, "postgres.log", progress).await?;
        let remote = members.remote.clone();
        let conns = remote
            .hosts
            .iter()
            .map(|h| {
                format!(
                    "host={} port={PORT} user=postgres dbname=postgres connect_timeout=2",
                    h.addr
                )
            })
            .collect();
        let cluster = RemotePg {
            service: Arc::new(members.service()),
            members,
            conns,
        };
        if let Err(e) = cluster.launch(ssh.install, faults, progress).await {
            cluster.members.shutdown().await;
            return Err(e);
        }
        Ok(cluster)
    }

    async fn launch(
        &self,
        install: bool,
        faults: &[crate::nemesis::Fault],
        progress: &Arc<Progress>,
    ) -> Result<(), RunError> {
        let remote = &self.members.remote;
        self.members
            .ensure_program(&format!("{BIN}/postgres"), "postgresql-15", install)
            .await?;
        self.members
            .ensure_program("setpriv", "util-linux", install)
            .await?;
        RemoteFaults::new("postgres", remote.clone(), Arc::new(Service::default()))
            .prepare(faults)
            .await?;
        let as_pg = "setpriv --reuid=postgres --regid=postgres --init-groups";
        let start = |i: usize| {
            let addr = remote.hosts[i].addr;
            // The primary keeps WAL for replicas whose base backup (taken at the same time as
            // the others') or connection lags.
            let standby = if i == 0 {
                " -c wal_keep_size=512MB"
            } else {
                " -c hot_standby=on -c wal_retrieve_retry_interval=200ms"
            };
            format!(
                "nohup setsid {as_pg} {BIN}/postgres -D $dir/data -p {PORT} -k $dir \
                 -c listen_addresses={addr} -c fsync=off -c max_connections=200 \
                 -c deadlock_timeout=50ms{standby} >> $dir/postgres.log 2>&1 < /dev/null &\n\
                 echo $! > $dir/pid\n"
            )
        };
        let own = "mkdir -p $dir/data && chown -R postgres: $dir && chmod 700 $dir/data \
                   || exit 1\n";
        progress.note(format!(
            "starting postgres on {} SSH hosts (primary on {})",
            remote.len(),
            remote.hosts[0].spec.label
        ));
        // The primary alone first (the replicas copy it).
        let primary = self.members.subset(&[0]);
        primary
            .launch(
                "initdb and start the postgres primary",
                |_| {
                    format!(
                        "{own}LC_ALL=C {as_pg} {BIN}/initdb -D $dir/data -U postgres \
                         --auth=trust -E UTF8 >> $dir/postgres.log 2>&1 || \
                         {{ tail -n 5 $dir/postgres.log >&2; exit 1; }}\n\
                         printf 'host all all 0.0.0.0/0 trust\\nhost replication all \
                         0.0.0.0/0 trust\\nhost all all ::/0 trust\\nhost replication all ::/0 \
                         trust\\n' >> $dir/data/pg_hba.conf"
                    )
                },
                start,
            )
            .await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let primary_conn = self.conns[0].clone();
        loop {
            if super::txn::setup(&primary_conn).await.is_ok()
                && super::kv::setup(&primary_conn).await.is_ok()
            {
                break;
            }
            self.give_up(0, deadline, "the primary does not accept queries")
                .await?;
        }
        if remote.len() > 1 {
            let addr = remote.hosts[0].addr;
            let replicas: Vec<usize> = (1..remote.len()).collect();
            let them = self.members.subset(&replicas);
            them.launch(
                "base backup and start the postgres replicas",
                |_| {
                    format!(
                        "{own}rmdir $dir/data || exit 1\nLC_ALL=C {as_pg} {BIN}/pg_basebackup \
                         -h {addr} -p {PORT} -U postgres -D $dir/data -R -X stream -c fast \
                         --no-sync >> $dir/postgres.log 2>&1 || \
                         {{ tail -n 5 $dir/postgres.log >&2; exit 1; }}"
                    )
                },
                |j| start(j + 1),
            )
            .await?;
        }
        let want = (remote.len() - 1).to_string();
        loop {
            let n = query(
                &primary_conn,
                "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
            )
            .await
            .ok();
            if n == Some(vec![want.clone()]) {
                break;
            }
            self.give_up(0, deadline, "not every replica streams from the primary")
                .await?;
        }
        progress.note(format!("postgres up: {}", self.conns.join(" | ")));
        Ok(())
    }

    /// Sleeps a little, or (past `deadline`) fails with `why` and member `i`'s log tail.
    async fn give_up(
        &self,
        i: usize,
        deadline: tokio::time::Instant,
        why: &str,
    ) -> Result<(), RunError> {
        if tokio::time::Instant::now() > deadline {
            return Err(RunError::Start(format!(
                "{}: postgres: {why} within 60 s (log {}/postgres.log there):\n{}",
                self.members.remote.hosts[i].spec.label,
                self.members.dir(i),
                self.members.tail(i).await
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok(())
    }
}
