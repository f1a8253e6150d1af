//! Serving `app` on a socket: our own accept loop over hyper, so that the peer address reaches
//! the handlers (D3), the request-head limit answers 431 instead of dropping the connection, and
//! the connection bounds hold (header read time, idle time, connection count: `limits` decides,
//! `watch` enforces; the body's read deadline: `body`).

mod body;
mod limits;
mod watch;

pub(crate) use body::BodyReadTimedOut;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

use crate::Settings;
use limits::{Bounds, Verdict, head_bytes};
use watch::{Busy, Registry, Slot, TrackedBody, TrackedIo};

/// How the accept loop treats connections, from [`Settings`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServeLimits {
    max_header_bytes: usize,
    bounds: Bounds,
    body_read: Option<Duration>,
    max_connections: usize,
}

impl ServeLimits {
    pub(crate) fn from_settings(s: &Settings) -> Self {
        let ms = |v: u64| (v > 0).then(|| Duration::from_millis(v));
        ServeLimits {
            // Only the defect matrix lifts the head limit (to a size no test reaches).
            max_header_bytes: if s.policy.header_limit_enforced {
                s.max_header_bytes
            } else {
                16 * 1024 * 1024
            },
            bounds: Bounds {
                header_read: ms(s.header_read_timeout_ms),
                idle: ms(s.idle_timeout_ms),
            },
            body_read: ms(s.body_read_timeout_ms),
            max_connections: usize::try_from(s.max_connections).unwrap_or(usize::MAX),
        }
    }
}

/// Serve until `shutdown` completes; connections already open finish on their own.
pub(crate) async fn serve_until(
    listener: TcpListener,
    app: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let registry = Registry::new(limits.max_connections);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors below the connection cap: make room as the cap
                    // would. Either way, wait and retry rather than die.
                    if out_of_descriptors(&e) {
                        registry.shed_one();
                    }
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        match registry.admit() {
            Some(slot) => {
                tokio::spawn(serve_connection(stream, peer, app.clone(), limits, slot));
            }
            None => refuse(&stream, peer),
        }
    }
}

/// Serve forever.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServeLimits,
) -> std::io::Result<()> {
    serve_until(listener, app, limits, std::future::pending()).await
}

/// 431 for a head over `MAX_HEADER_BYTES` that hyper's buffer limit let through (RFC 6585 §5).
fn head_too_large() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        [(http::header::CONTENT_TYPE, "application/json")],
        r#"{"detail":"Request Header Fields Too Large"}"#,
    )
        .into_response()
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: ServeLimits,
    slot: Slot,
) {
    let _ = stream.set_nodelay(true);
    let shared = slot.shared();
    let io = TokioIo::new(TrackedIo::new(stream, shared.clone()));
    let max_head = limits.max_header_bytes;
    let body_read = limits.body_read;
    let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let busy = Busy::start(&shared);
        let oversized = head_bytes(&req) > max_head;
        let mut req = req.map(|b| axum::body::Body::new(body::DeadlineBody::new(b, body_read)));
        req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
        let app = app.clone();
        async move {
            let response = if oversized {
                head_too_large()
            } else {
                app.oneshot(req).await?
            };
            Ok::<_, Infallible>(response.map(|body| TrackedBody::new(body, busy)))
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // Timed by `watch` instead, which tells idle time from head time.
        .header_read_timeout(None)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true);
    let conn = builder.serve_connection(io, svc).with_upgrades();
    tokio::pin!(conn);
    loop {
        tokio::select! {
            biased;
            ended = conn.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!("connection from {peer} ended: {e}");
                }
                return;
            }
            action = slot.next_action(&limits.bounds) => match action {
                Verdict::Drain => conn.as_mut().graceful_shutdown(),
                // Dropping the connection closes the socket.
                Verdict::Close | Verdict::Wait(_) => return,
            },
        }
    }
}

/// Every connection is busy: say so at once and close. The answer fits in a new socket's send
/// buffer, so one non-blocking write is enough and the accept loop never waits.
fn refuse(stream: &TcpStream, peer: SocketAddr) {
    const BODY: &str = r#"{"detail":"Service Unavailable: too many connections"}"#;
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = stream.try_write(head.as_bytes());
    tracing::debug!("refused a connection from {peer}: every connection is busy");
}

/// EMFILE or ENFILE (the same numbers on Linux and the BSDs).
fn out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(23 | 24))
}
