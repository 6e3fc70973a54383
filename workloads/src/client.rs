//! Clients: how an operation reaches the system under test, and how its answer becomes `ok`,
//! `fail` or `info` in the history ("run" step).
//!
//! A [`Client`] is opened against one node, may set up state, invokes operations one at a time
//! and is closed at the end. Every invocation has a timeout. The rule that keeps histories
//! honest: an operation is `fail` only when it certainly did not take effect (a definite
//! refusal, or nothing was sent) or when it only reads (a read changes nothing, so leaving a
//! read without an answer out of the history is always sound); a timeout, a reset or any
//! unexpected answer after a write may have been sent is `info`, because the system may still
//! apply it. An answer is never invented: a 200 whose body is not what the protocol says is
//! not a result.
//!
//! Clients live with their targets (`crate::target::<name>`): e.g.
//! [`crate::target::http_kv::HttpKv`] (the http-kv protocol of `docs/http-kv.md`: the demo
//! store, or your service) and [`crate::target::local::Local`] (an in-process, linearizable
//! store). Here: the trait, and
//! - [`Noop`]: answers `ok` at once, to measure the generator and recorder alone.

use crate::error::ClientError;
use serde_json::Value;
use std::future::Future;

/// One operation to invoke: what the history records as the invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    /// The operation (`read`, `write`, `cas`, `get`, `put`, `append`, `txn`).
    pub f: &'static str,
    /// The key, for keyed workloads.
    pub key: Option<Value>,
    /// The argument (`cas`: `[old, new]`; `txn`: the micro-ops with reads as `null`).
    pub value: Value,
}

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Took effect; the result (a read's value, a txn's completed micro-ops).
    Ok(Value),
    /// Certainly did not take effect; the error.
    Fail(Value),
    /// May or may not have taken effect; the error.
    Info(Value),
}

/// Why an invocation could not reach the system at all: an answer that came too fast to mean
/// anything about the system, after which the runner backs off before the worker's next
/// attempt (see [`Client::unreachable`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreachable {
    /// The node refused the connection.
    Refused,
    /// The connection was reset before an answer.
    Reset,
    /// No connection or client could be opened.
    CannotOpen,
}

impl Unreachable {
    /// What an error says about reaching the system, from the first `std::io::Error` in its
    /// chain of sources: refused (`ECONNREFUSED`), reset (`ECONNRESET`, `ECONNABORTED`,
    /// `EPIPE`, an unexpected end of stream, not connected), cannot open (no route, address
    /// unavailable); `None` for anything else (a timeout, a protocol error): those took their
    /// time or came from the system itself, so they say nothing of an unreachable node.
    pub fn of_error(e: &(dyn std::error::Error + 'static)) -> Option<Unreachable> {
        use std::io::ErrorKind as K;
        let mut cur = Some(e);
        while let Some(err) = cur {
            if let Some(io) = err.downcast_ref::<std::io::Error>() {
                return match io.kind() {
                    K::ConnectionRefused => Some(Unreachable::Refused),
                    K::ConnectionReset
                    | K::ConnectionAborted
                    | K::BrokenPipe
                    | K::UnexpectedEof
                    | K::NotConnected => Some(Unreachable::Reset),
                    K::AddrNotAvailable | K::HostUnreachable | K::NetworkUnreachable => {
                        Some(Unreachable::CannotOpen)
                    }
                    _ => None,
                };
            }
            cur = err.source();
        }
        None
    }
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unreachable::Refused => "connection refused",
            Unreachable::Reset => "connection reset",
            Unreachable::CannotOpen => "cannot open a connection",
        })
    }
}

/// A client of the system under test, bound to one node.
///
/// The runner calls `open` once per worker process, `setup` once (first worker), `invoke`
/// for each operation (one at a time), `teardown` once, and `close` at the end. After an `info` outcome the runner gives the worker a fresh
/// process id and reopens the client (the old connection may still carry a request).
pub trait Client: Send + 'static {
    /// Connects to node `node` (index into the target's node list).
    fn open(&mut self, node: usize) -> impl Future<Output = Result<(), ClientError>> + Send;
    /// Prepares the system once per run before any operation (create tables, …); called on
    /// the first worker's client only. The default does nothing.
    fn setup(&mut self) -> impl Future<Output = Result<(), ClientError>> + Send {
        async { Ok(()) }
    }
    /// Invokes `op`, waiting at most the client's timeout.
    fn invoke(&mut self, op: &Op) -> impl Future<Output = Outcome> + Send;
    /// Cleans up once per run after the last operation; first worker's client only. The
    /// default does nothing.
    fn teardown(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
    /// Releases the connection.
    fn close(&mut self) -> impl Future<Output = ()> + Send;
    /// The node this client talks to, for the history (`n1`, …).
    fn node_name(&self) -> String;
    /// Whether the last `invoke` could not reach the system at all (refused, reset, no
    /// connection): the runner then backs off before this worker's next attempt. The outcome
    /// itself is still recorded as the outcome rules say. The default: never.
    fn unreachable(&self) -> Option<Unreachable> {
        None
    }
}

/// True for operations that cannot change the store: `read`, `get`, and a `txn` whose
/// micro-ops are all reads (`r`).
pub fn read_only(op: &Op) -> bool {
    match op.f {
        "read" | "get" => true,
        "txn" => op.value.as_array().is_some_and(|micro| {
            micro
                .iter()
                .all(|m| m.get(0).and_then(Value::as_str) == Some("r"))
        }),
        _ => false,
    }
}

/// A client that does nothing: every operation is `ok` at once (reads return `null`). Measures
/// the runner's own overhead; its histories are not meaningful to check.
#[derive(Debug, Clone, Copy, Default)]
pub struct Noop;

impl Client for Noop {
    async fn open(&mut self, _node: usize) -> Result<(), ClientError> {
        Ok(())
    }

    async fn invoke(&mut self, op: &Op) -> Outcome {
        match op.f {
            "read" => Outcome::Ok(Value::Null),
            _ => Outcome::Ok(op.value.clone()),
        }
    }

    async fn close(&mut self) {}

    fn node_name(&self) -> String {
        "noop".into()
    }
}

/// One of two clients, for a target whose flags choose its client (etcd's JSON or gRPC API,
/// PostgreSQL's transactions or autocommit statements).
#[derive(Debug, Clone)]
pub enum Either<A, B> {
    /// The first.
    A(A),
    /// The second.
    B(B),
}

impl<A: Client, B: Client> Client for Either<A, B> {
    async fn open(&mut self, node: usize) -> Result<(), ClientError> {
        match self {
            Either::A(c) => c.open(node).await,
            Either::B(c) => c.open(node).await,
        }
    }
    async fn setup(&mut self) -> Result<(), ClientError> {
        match self {
            Either::A(c) => c.setup().await,
            Either::B(c) => c.setup().await,
        }
    }
    async fn invoke(&mut self, op: &Op) -> Outcome {
        match self {
            Either::A(c) => c.invoke(op).await,
            Either::B(c) => c.invoke(op).await,
        }
    }
    async fn teardown(&mut self) {
        match self {
            Either::A(c) => c.teardown().await,
            Either::B(c) => c.teardown().await,
        }
    }
    async fn close(&mut self) {
        match self {
            Either::A(c) => c.close().await,
            Either::B(c) => c.close().await,
        }
    }
    fn node_name(&self) -> String {
        match self {
            Either::A(c) => c.node_name(),
            Either::B(c) => c.node_name(),
        }
    }
    fn unreachable(&self) -> Option<Unreachable> {
        match self {
            Either::A(c) => c.unreachable(),
            Either::B(c) => c.unreachable(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error, ErrorKind};

    /// An error whose source is `inner`, as reqwest, tonic and tokio-postgres wrap theirs.
    #[derive(Debug)]
    struct Wrapped(Error);
    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("request failed")
        }
    }
    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn unreachable_is_read_from_the_io_error_underneath() {
        let of = |kind| Unreachable::of_error(&Wrapped(Error::from(kind)));
        assert_eq!(of(ErrorKind::ConnectionRefused), Some(Unreachable::Refused));
        assert_eq!(of(ErrorKind::ConnectionReset), Some(Unreachable::Reset));
        assert_eq!(of(ErrorKind::BrokenPipe), Some(Unreachable::Reset));
        assert_eq!(of(ErrorKind::UnexpectedEof), Some(Unreachable::Reset));
        assert_eq!(
            of(ErrorKind::AddrNotAvailable),
            Some(Unreachable::CannotOpen)
        );
        // A timeout took its time: no back-off.
        assert_eq!(of(ErrorKind::TimedOut), None);
        assert_eq!(
            Unreachable::of_error(&Error::from(ErrorKind::ConnectionRefused)),
            Some(Unreachable::Refused)
        );
    }
}
