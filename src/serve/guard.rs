//! How `faultline serve` stays up under hostile clients (the store browser of the "report"
//! step): its own accept loop over hyper instead of `axum::serve`, so that every connection
//! has limits a slow or greedy client cannot lift.
//!
//! - At most [`MAX_CONNECTIONS`] connections at once; past it a new connection is closed at
//!   once (it costs nothing to hold the rest up).
//! - The request head (line and headers) must arrive within [`HEADER_TIMEOUT`], however it is
//!   trickled (slowloris), and fit in [`MAX_HEAD`] bytes (a giant URI or header gets 431/414).
//! - A request with a body (`Content-Length` > 0 or `Transfer-Encoding`) gets 413 before any
//!   of the body is read, and anything but GET or HEAD gets 405; both close the connection.
//! - A connection lives at most [`MAX_LIFETIME`], keep-alive included.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 512;

/// Time a client has to send a request's line and headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest request head (request line plus headers) in bytes.
pub const MAX_HEAD: usize = 16 * 1024;

/// Longest a connection may stay open.
pub const MAX_LIFETIME: Duration = Duration::from_secs(120);

/// Serves `router` on `listener` with the limits above until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let router = router.layer(axum::middleware::from_fn(refuse_bodies));
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors and the like: wait a moment instead of spinning.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(MAX_HEAD.max(8192))
                .max_headers(64);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(MAX_LIFETIME, conn).await;
            drop(slot);
        });
    }
}

/// Refuses what the store browser never needs before reading any of it: request bodies
/// (413) and methods other than GET and HEAD (405), closing the connection.
async fn refuse_bodies(request: Request, next: Next) -> Response {
    let headers = request.headers();
    let length = headers
        .get(header::CONTENT_LENGTH)
        .map(|v| v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()));
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || matches!(length, Some(None) | Some(Some(1..)));
    let refusal = if has_body {
        Some((
            StatusCode::PAYLOAD_TOO_LARGE,
            "refused: requests have no body here\n",
        ))
    } else if request.method() != Method::GET && request.method() != Method::HEAD {
        Some((
            StatusCode::METHOD_NOT_ALLOWED,
            "refused: only GET and HEAD\n",
        ))
    } else {
        None
    };
    match refusal {
        Some((status, text)) => {
            (status, [(header::CONNECTION, "close")], Body::from(text)).into_response()
        }
        None => next.run(request).await,
    }
}
