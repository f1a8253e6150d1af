//! Keep-alive connections for a caller that sends many requests to the same gateway (a fuzz
//! campaign): opening and closing a TCP connection per request costs more than the rest of a
//! case together, on both sides.
//!
//! Only a request hyper can send travels on a pooled connection; one written by hand gets a
//! connection of its own, as with [`super::send_within`]. A connection goes back to the pool
//! only after its response was read to the end within every limit; one cut at a limit, an
//! SSE stream, or one the gateway closes is dropped. A connection idle longer than
//! [`MAX_IDLE`] is not reused (gateways close idle keep-alive connections after a few
//! seconds), and a request on a reused connection that the gateway closed before any response
//! came goes once more on a new one (the gateway may close a kept-alive connection just as a
//! request goes out: that is no answer of its to the request).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{
    ClientError, Exchange, HyperConn, LimitHit, Received, RequestLimits, Transport, WireRequest,
    connect, finish, hyper_can_send, hyper_request, receive_hyper, send_within,
};

/// How long a connection may have been idle and still be reused.
const MAX_IDLE: Duration = Duration::from_secs(1);

/// Idle connections kept per authority; more are closed.
const MAX_IDLE_PER_AUTHORITY: usize = 256;

/// Idle keep-alive connections, by authority (`host:port`).
#[derive(Default)]
pub struct Pool {
    idle: Mutex<HashMap<String, Vec<Idle>>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let idle = self
            .idle
            .lock()
            .map_or(0, |m| m.values().map(Vec::len).sum());
        f.debug_struct("Pool").field("idle", &idle).finish()
    }
}

struct Idle {
    conn: HyperConn,
    since: Instant,
}

impl Pool {
    pub fn new() -> Pool {
        Pool::default()
    }

    /// Send `req` to `authority` within `limits`, on an idle connection when one is ready;
    /// otherwise as [`super::send_within`] does.
    pub async fn send(
        &self,
        authority: &str,
        req: WireRequest,
        limits: &RequestLimits,
    ) -> (Exchange, Option<LimitHit>) {
        if !hyper_can_send(&req) {
            return send_within(authority, req, limits).await;
        }
        let started = Instant::now();
        let mut got = Received::default();
        let mut reusable = None;
        let result = tokio::time::timeout(limits.deadline, async {
            let idle = self.take(authority);
            let reused = idle.is_some();
            match exchange(authority, idle, &req, limits, &mut got).await {
                // A kept-alive connection the gateway closed as the request went out (it may
                // or may not have read it): the request once more, on a new connection.
                Err(ClientError::Http(_)) if reused && got.head.is_none() => {
                    got = Received::default();
                    exchange(authority, None, &req, limits, &mut got).await
                }
                done => done,
            }
            .map(|conn| reusable = conn)
        })
        .await
        .unwrap_or_else(|_| Err(got.deadline_passed(&limits.deadline_name)));
        if result.is_ok()
            && got.too_large.is_none()
            && let Some(conn) = reusable
        {
            self.put(authority, conn);
        }
        finish(started, req, Transport::Hyper, got, result)
    }

    /// An idle connection to `authority` that can take a request now.
    fn take(&self, authority: &str) -> Option<HyperConn> {
        let mut idle = self.idle.lock().ok()?;
        let list = idle.get_mut(authority)?;
        while let Some(i) = list.pop() {
            if i.since.elapsed() <= MAX_IDLE && i.conn.sender.is_ready() {
                return Some(i.conn);
            }
        }
        None
    }

    fn put(&self, authority: &str, conn: HyperConn) {
        if let Ok(mut idle) = self.idle.lock() {
            let list = idle.entry(authority.to_owned()).or_default();
            if list.len() < MAX_IDLE_PER_AUTHORITY {
                list.push(Idle {
                    conn,
                    since: Instant::now(),
                });
            }
        }
    }
}

/// Send `req` on `idle`, or on a new connection to `authority`, and read its response into
/// `got`; the connection back when it can carry another request.
async fn exchange(
    authority: &str,
    idle: Option<HyperConn>,
    req: &WireRequest,
    limits: &RequestLimits,
    got: &mut Received,
) -> Result<Option<HyperConn>, ClientError> {
    let request = hyper_request(req)?;
    // A reused connection that fails here is the caller's to retry on a new one.
    let mut conn = match idle {
        Some(conn) => conn,
        None => HyperConn::open(connect(authority).await?).await?,
    };
    got.connected = true;
    let response = conn.send(request).await?;
    let keep_alive = !closes(&response);
    let whole = receive_hyper(response, limits.max_response_bytes, limits.stream_wait, got).await?;
    // Ready once hyper has seen the message end; a moment at most.
    Ok((whole && keep_alive && conn.sender.ready().await.is_ok()).then_some(conn))
}

/// Whether a response says its connection ends with it.
fn closes<B>(response: &http::Response<B>) -> bool {
    response
        .headers()
        .get_all(http::header::CONNECTION)
        .iter()
        .any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
        })
}
