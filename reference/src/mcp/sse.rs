//! Server-Sent Events on the MCP transport: the one-shot stream that answers a POST in SSE
//! response mode (`JSON_RESPONSE_ENABLED=false`), and the long-lived `GET` stream a stateful
//! session may open for server-initiated messages.
//!
//! The gateway sends no server-initiated requests or notifications, so a `GET` stream carries
//! only keep-alive comments; it ends when its session ends (`DELETE`, D10) or the client leaves.
//! One stream per session at a time (a second gets 409), as the transport rules allow.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::BodyExt;
use tokio::sync::oneshot;

use super::replay::{Audience, EventLog};

/// The SSE media type.
pub(crate) const EVENT_STREAM: &str = "text/event-stream";
/// How often an idle `GET` stream sends a comment, so proxies and clients keep it open.
pub(crate) const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);
const KEEPALIVE: &[u8] = b": keep-alive\n\n";

/// One `message` event whose data is `data` (one `data:` line per line of it).
pub(crate) fn message_event(data: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(data.len() + 24);
    out.put_slice(b"event: message\n");
    for line in data.split(|b| *b == b'\n') {
        out.put_slice(b"data: ");
        out.put_slice(line.strip_suffix(b"\r").unwrap_or(line));
        out.put_u8(b'\n');
    }
    out.put_u8(b'\n');
    out.freeze()
}

fn set_stream_headers(headers: &mut axum::http::HeaderMap) {
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(EVENT_STREAM));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.remove(header::CONTENT_LENGTH);
}

/// Re-frame a JSON-RPC answer (a complete JSON response) as a one-shot SSE stream holding one
/// `message` event, after one event for each notification in `before` (what upstreams sent
/// while answering: progress, logging). Only 200 answers are re-framed: an HTTP-level refusal
/// stays plain JSON. In a session (`resumable`: the session's event log and its id) every event
/// gets an id and is kept for a `GET` with `Last-Event-ID`.
pub(crate) async fn into_one_shot(
    response: Response,
    before: &[serde_json::Value],
    resumable: Option<(&EventLog, &str, &Audience)>,
) -> Response {
    if response.status() != StatusCode::OK {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // The answer is an in-memory JSON body; collecting it cannot fail or wait.
    let json = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    set_stream_headers(&mut parts.headers);
    let mut events = BytesMut::new();
    let mut push = |event: Bytes| match resumable {
        Some((log, session, audience)) => events.put_slice(&log.record(session, audience, &event)),
        None => events.put_slice(&event),
    };
    for n in before {
        push(message_event(n.to_string().as_bytes()));
    }
    push(message_event(&json));
    Response::from_parts(parts, Body::from(events.freeze()))
}

/// The open `GET` streams of this process, by session id.
#[derive(Debug, Default, Clone)]
pub(crate) struct Listeners {
    inner: Arc<Mutex<ListenerMap>>,
}

#[derive(Debug, Default)]
struct ListenerMap {
    next_ticket: u64,
    /// Session id -> (ticket of the claim holding it, the switch that ends its stream).
    open: HashMap<String, (u64, oneshot::Sender<()>)>,
}

impl Listeners {
    fn map(&self) -> std::sync::MutexGuard<'_, ListenerMap> {
        // Every change is a single insert or remove, so a poisoned map is still consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Claim the session's stream; `None` when one is already open.
    pub(crate) fn claim(&self, session_id: &str) -> Option<ListenerClaim> {
        let mut map = self.map();
        if map.open.contains_key(session_id) {
            return None;
        }
        map.next_ticket += 1;
        let ticket = map.next_ticket;
        let (tx, rx) = oneshot::channel();
        map.open.insert(session_id.to_owned(), (ticket, tx));
        Some(ListenerClaim {
            listeners: self.clone(),
            session_id: session_id.to_owned(),
            ticket,
            closed: rx,
        })
    }

    /// End the session's stream, if one is open. `true` when there was one.
    pub(crate) fn close(&self, session_id: &str) -> bool {
        let Some((_, tx)) = self.map().open.remove(session_id) else {
            return false;
        };
        let _ = tx.send(());
        true
    }

    /// Whether the session has an open stream (tests look; the gateway only claims and closes).
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn is_open(&self, session_id: &str) -> bool {
        self.map().open.contains_key(session_id)
    }
}

/// The right to hold a session's stream; released when the stream is dropped.
#[derive(Debug)]
pub(crate) struct ListenerClaim {
    listeners: Listeners,
    session_id: String,
    ticket: u64,
    closed: oneshot::Receiver<()>,
}

impl Drop for ListenerClaim {
    fn drop(&mut self) {
        let mut map = self.listeners.map();
        if map
            .open
            .get(&self.session_id)
            .is_some_and(|(t, _)| *t == self.ticket)
        {
            map.open.remove(&self.session_id);
        }
    }
}

/// The `GET` stream: the `replayed` events first (a resumption, `Last-Event-ID`), then
/// keep-alive comments until the claim is closed. A response built on it.
pub(crate) fn listen(claim: ListenerClaim, replayed: Vec<Bytes>) -> Response {
    use futures_util::StreamExt;
    let interval = tokio::time::interval(KEEPALIVE_INTERVAL);
    let replayed = futures_util::stream::iter(replayed.into_iter().map(Ok::<_, Infallible>));
    let events =
        futures_util::stream::unfold((claim, interval), |(mut claim, mut interval)| async move {
            tokio::select! {
                biased;
                _ = &mut claim.closed => None,
                _ = interval.tick() => {
                    Some((Ok::<_, Infallible>(Bytes::from_static(KEEPALIVE)), (claim, interval)))
                }
            }
        });
    let mut response = Response::new(Body::from_stream(replayed.chain(events)));
    set_stream_headers(response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_framed_line_by_line() {
        assert_eq!(
            &message_event(br#"{"a":1}"#)[..],
            b"event: message\ndata: {\"a\":1}\n\n"
        );
        assert_eq!(
            &message_event(b"x\r\ny")[..],
            b"event: message\ndata: x\ndata: y\n\n"
        );
    }

    #[test]
    fn one_stream_per_session_released_on_drop_or_close() {
        let l = Listeners::default();
        let first = l.claim("s").expect("free");
        assert!(l.claim("s").is_none(), "second listener refused");
        drop(first);
        assert!(!l.is_open("s"));
        let again = l.claim("s").expect("free again");
        assert!(l.close("s"));
        assert!(!l.is_open("s"));
        let third = l.claim("s").expect("free after close");
        // Dropping the closed claim must not release the newer one.
        drop(again);
        assert!(l.is_open("s"));
        drop(third);
        assert!(!l.close("s"));
    }

    #[tokio::test]
    async fn the_stream_ends_when_closed() {
        let l = Listeners::default();
        let response = listen(l.claim("s").unwrap(), Vec::new());
        assert_eq!(response.headers()[header::CONTENT_TYPE], EVENT_STREAM);
        let mut body = response.into_body();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&first[..], KEEPALIVE);
        assert!(l.close("s"));
        assert!(body.frame().await.is_none());
    }
}
