//! Real databases as targets of `faultline run` ("run" step): clients for etcd, Redis and
//! PostgreSQL, launchers that start them on loopback from the Debian packages, and the
//! process-level nemesis (kill, pause) over the servers faultline started.
//!
//! - [`etcd`]: etcd v3 client over its JSON gRPC gateway; [`etcd_grpc`] the same over native
//!   gRPC ([`etcd_grpc_proto`]: its messages); [`local_etcd`] starts 3 members.
//! - [`redis`]: register client on the primary, reads optionally on a replica;
//!   [`local_redis`] starts one primary and replicas.
//! - [`postgres`]: list-append and rw-register transactions at a chosen isolation level;
//!   [`local_postgres`] starts one server.
//! - [`postgres_kv`]: register and kv operations as autocommit statements, reads on the primary
//!   or a hot-standby replica; [`postgres_replicas`] starts a primary and N replicas;
//!   [`postgres_faults`] kills, pauses and partitions them.
//! - [`rabbitmq`]: queue client over AMQP (publisher confirms, manual acks);
//!   [`local_rabbitmq`] starts one broker; [`rabbitmq_faults`] kills, pauses and partitions it.
//! - [`server`]: one started server process (kill, restart, pause, resume, stop).
//! - [`faults`]: the seeded kill/pause nemesis over [`server::Server`]s, as the runner drives it.

pub mod drive;
pub mod etcd;
pub mod etcd_grpc;
pub mod etcd_grpc_proto;
pub mod faults;
pub mod local_etcd;
pub mod local_postgres;
pub mod local_rabbitmq;
pub mod local_redis;
pub mod netns;
pub mod postgres;
pub mod postgres_faults;
pub mod postgres_kv;
pub mod postgres_replicas;
pub mod rabbitmq;
pub mod rabbitmq_faults;
pub mod redis;
pub mod server;

use std::net::{SocketAddr, TcpListener};

/// A free loopback port (bound then released; the server binds it a moment later).
pub fn free_port() -> std::io::Result<u16> {
    let l = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    Ok(l.local_addr()?.port())
}

/// Finds an executable: `name` on `PATH`, else the first existing path in `fallbacks`.
pub fn find_program(name: &str, fallbacks: &[&str]) -> Option<std::path::PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    fallbacks
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.is_file())
}
