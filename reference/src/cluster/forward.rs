//! The affinity layer: between the raw-path guard and authentication, it sends a request for a
//! session owned by another live worker to that worker, takes over a dead owner's session, and
//! admits requests forwarded by other workers when (and only when) their signature verifies.
//!
//! Requests that name no session (stateless mode, `/rpc`, REST, `initialize`) never touch Redis
//! on the way in; a successful answer that carries an `mcp-session-id` makes this worker the
//! session's owner (claim) or keeps it so (refresh), and a successful `DELETE` releases it.

use std::net::IpAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::json;

use super::route::{Route, route};
use super::signature::{self, Envelope};
use super::{Cluster, registry::RegistryError};
use crate::error::ApiError;
use crate::mcp::mcp_target;
use crate::mcp::session::{SESSION_HEADER, is_valid_session_id};
use crate::pipeline::{RequestContext, read_body};
use crate::rpc::json_response;
use crate::state::AppState;

/// Response header naming the worker that served a session request (diagnostics; lets a test
/// see that a request was forwarded).
pub(crate) const SERVED_BY: &str = "x-mcpgw-worker";

/// How long the owner may take to start answering a forwarded request.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting to the owner may take before it counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The HTTP client of the internal hop.
#[derive(Clone, Debug)]
pub(crate) struct ForwardClient(Client<HttpConnector, Full<Bytes>>);

impl ForwardClient {
    pub(crate) fn new() -> Self {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.set_nodelay(true);
        ForwardClient(Client::builder(TokioExecutor::new()).build(http))
    }
}

impl Default for ForwardClient {
    fn default() -> Self {
        Self::new()
    }
}

/// Headers that belong to one hop and are never relayed.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

fn unavailable(e: &RegistryError) -> Response {
    ApiError::unavailable(e).into_response()
}

/// C-AFF-04's answer to a forward whose signature does not verify.
fn integrity_failure() -> Response {
    json_response(
        403,
        &json!({"jsonrpc": "2.0", "error": {"code": -32003,
            "message": "Forwarded auth context failed integrity verification"}, "id": null}),
    )
}

/// The one well-formed `mcp-session-id` of a request, if it has exactly one.
fn session_id(headers: &HeaderMap) -> Option<String> {
    let mut values = headers.get_all(SESSION_HEADER).iter();
    let v = values.next()?.to_str().ok()?;
    (values.next().is_none() && is_valid_session_id(v)).then(|| v.to_owned())
}

fn now_secs() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// The layer (see the module docs).
pub(crate) async fn affinity_layer(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let Some(cluster) = state.cluster.clone() else {
        return next.run(req).await;
    };
    if signature::ALL
        .iter()
        .any(|h| req.headers().contains_key(*h))
    {
        return admit_forward(&state, &cluster, req, next).await;
    }
    let on_mcp = req
        .extensions()
        .get::<RequestContext>()
        .is_some_and(|c| mcp_target(c.app_path.as_str()).is_some());
    if !state.settings.use_stateful_sessions || !on_mcp {
        return next.run(req).await;
    }
    let method = req.method().clone();
    let Some(sid) = session_id(req.headers()) else {
        // `initialize`, or a malformed id the handler refuses.
        return record_ownership(&cluster, &method, None, next.run(req).await).await;
    };
    let me = cluster.worker_id().to_owned();
    let owner = match cluster.registry.owner(&sid).await {
        Ok(o) => o,
        Err(e) => return unavailable(&e),
    };
    let owner_url = match owner.as_deref() {
        Some(o) if o != me => match cluster.registry.worker_url(o).await {
            Ok(u) => u,
            Err(e) => return unavailable(&e),
        },
        _ => None,
    };
    let req = match route(&me, owner.as_deref(), owner_url.as_deref()) {
        Route::Local => req,
        Route::Forward { owner, url } => {
            tracing::info!(%sid, %owner, "forwarding the request to the session's owner");
            match forward(&state, &cluster, &url, req).await {
                Forwarded::Answer(r) => return r,
                Forwarded::Unreachable(req) => {
                    // The owner's process is gone but its heartbeat has not expired yet: the
                    // session record is in Redis, so this worker can serve it with the same scope.
                    tracing::warn!(%sid, %owner, "owner unreachable; taking the session over");
                    if let Err(r) = take_over(&state, &cluster, &sid, &owner).await {
                        return r;
                    }
                    req
                }
            }
        }
        Route::TakeOver { dead } => {
            if let Err(r) = take_over(&state, &cluster, &sid, &dead).await {
                return r;
            }
            req
        }
    };
    record_ownership(&cluster, &method, Some(&sid), next.run(req).await).await
}

/// Take `sid` over from `dead`. Losing the race to another worker is fine: the request is
/// still served here from the shared record, and the winner owns the session from now on.
async fn take_over(
    state: &AppState,
    cluster: &Cluster,
    sid: &str,
    dead: &str,
) -> Result<(), Response> {
    if !state.policy().take_over_dead_owners {
        return Err(ApiError::unavailable("the session owner is not reachable").into_response());
    }
    match cluster.registry.take_over(sid, dead).await {
        Ok(_) => Ok(()),
        Err(e) => Err(unavailable(&e)),
    }
}

/// After a request was served here: stamp the answer with this worker's id, claim or refresh
/// the session the answer names, release the one a successful `DELETE` ended (`requested`: the
/// session the request named). A registry failure here is logged, not answered: the request was
/// served correctly, and an unowned session is claimed by whichever worker serves it next.
async fn record_ownership(
    cluster: &Cluster,
    method: &Method,
    requested: Option<&str>,
    mut response: Response,
) -> Response {
    if let Ok(v) = axum::http::HeaderValue::from_str(cluster.worker_id()) {
        response.headers_mut().insert(SERVED_BY, v);
    }
    if !response.status().is_success() {
        return response;
    }
    let result = if *method == Method::DELETE {
        match requested {
            Some(sid) => cluster.registry.release(sid).await,
            None => Ok(()),
        }
    } else if let Some(sid) = session_id(response.headers()) {
        cluster.registry.claim_or_refresh(&sid).await.map(|_| ())
    } else {
        Ok(())
    };
    if let Err(e) = result {
        tracing::warn!("failed to record session ownership: {e}");
    }
    response
}

/// The parts of a request a forward's signature covers, read the same way on both sides.
struct Signed {
    /// Path and query without the root path: the guard removed it on the forwarding worker,
    /// and the owner's guard removes it again before the owner verifies.
    routed: String,
    session_id: String,
    authorization: Vec<u8>,
    method: Method,
}

impl Signed {
    fn of(parts: &axum::http::request::Parts) -> Signed {
        Signed {
            routed: parts
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned(),
            session_id: parts
                .headers
                .get(SESSION_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            authorization: parts
                .headers
                .get(axum::http::header::AUTHORIZATION)
                .map_or(Vec::new(), |v| v.as_bytes().to_vec()),
            method: parts.method.clone(),
        }
    }

    fn envelope<'a>(
        &'a self,
        from: &'a str,
        timestamp: i64,
        client: &'a str,
        body: &'a [u8],
    ) -> Envelope<'a> {
        Envelope {
            from,
            timestamp,
            method: self.method.as_str(),
            path_and_query: &self.routed,
            session_id: &self.session_id,
            client,
            authorization: &self.authorization,
            body,
        }
    }
}

/// What became of a forward.
enum Forwarded {
    /// The owner's answer (or an error answer about the hop itself).
    Answer(Response),
    /// The owner could not be connected to; the request, intact, to serve here.
    Unreachable(Request),
}

/// Send `req` to the owner at `url`, signed; relay its answer (streamed, so a `GET` event stream
/// flows through).
async fn forward(state: &AppState, cluster: &Cluster, url: &str, req: Request) -> Forwarded {
    let (parts, body) = req.into_parts();
    let bytes = match read_body(body, state.body_limit()).await {
        Ok(b) => b,
        Err(e) => return Forwarded::Answer(e.into_response()),
    };
    let client = parts
        .extensions
        .get::<RequestContext>()
        .map_or_else(|| IpAddr::from([127, 0, 0, 1]), |c| c.client_ip)
        .to_string();
    let timestamp = now_secs();
    let signed = Signed::of(&parts);
    let sig = signature::sign(
        &cluster.secret,
        &signed.envelope(cluster.worker_id(), timestamp, &client, &bytes),
    );
    let routed = signed.routed;

    let uri = format!("{url}{}{routed}", state.settings.root_path());
    let mut builder = axum::http::Request::builder()
        .method(parts.method.clone())
        .uri(&uri);
    for (name, value) in &parts.headers {
        if !hop_by_hop(name) && !signature::ALL.contains(&name.as_str()) {
            builder = builder.header(name, value);
        }
    }
    let hop = [
        (signature::FROM, cluster.worker_id().to_owned()),
        (signature::TIMESTAMP, timestamp.to_string()),
        (signature::CLIENT, client),
        (signature::SIGNATURE, sig),
    ];
    for (name, value) in hop {
        builder = builder.header(name, value);
    }
    let outgoing = match builder.body(Full::new(bytes.clone())) {
        Ok(r) => r,
        Err(e) => {
            return Forwarded::Answer(
                ApiError::BadGateway(format!("failed to forward to the session owner: {e}"))
                    .into_response(),
            );
        }
    };
    match tokio::time::timeout(FORWARD_TIMEOUT, cluster.client.0.request(outgoing)).await {
        Ok(Ok(resp)) => {
            let (mut head, incoming) = resp.into_parts();
            drop_hop_by_hop(&mut head.headers);
            Forwarded::Answer(Response::from_parts(head, Body::new(incoming)))
        }
        Ok(Err(e)) if e.is_connect() => {
            Forwarded::Unreachable(Request::from_parts(parts, Body::from(bytes)))
        }
        Ok(Err(e)) => Forwarded::Answer(
            ApiError::BadGateway(format!("failed to forward to the session owner: {e}"))
                .into_response(),
        ),
        Err(_) => Forwarded::Answer(
            ApiError::unavailable("the session owner did not answer in time").into_response(),
        ),
    }
}

/// Drop hop-by-hop headers of the owner's answer (the length is set again for this hop).
fn drop_hop_by_hop(headers: &mut HeaderMap) {
    let names: Vec<HeaderName> = headers.keys().filter(|n| hop_by_hop(n)).cloned().collect();
    for n in names {
        headers.remove(n);
    }
}

/// A request another worker forwarded: verify its signature, then serve it here as if the
/// client had sent it directly (same pipeline, the client address the forwarder saw), never
/// forwarding it again.
async fn admit_forward(state: &AppState, cluster: &Cluster, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let bytes = match read_body(body, state.body_limit()).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let text = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (Some(from), Some(ts), Some(client), Some(sig)) = (
        text(signature::FROM),
        text(signature::TIMESTAMP),
        text(signature::CLIENT),
        text(signature::SIGNATURE),
    ) else {
        return integrity_failure();
    };
    let (Ok(timestamp), Ok(client_ip)) = (ts.parse::<i64>(), client.parse::<IpAddr>()) else {
        return integrity_failure();
    };
    let signed = Signed::of(&parts);
    let envelope = signed.envelope(&from, timestamp, &client, &bytes);
    if state.policy().hop_needs_signature
        && signature::verify(&cluster.secret, &envelope, &sig, now_secs()).is_err()
    {
        return integrity_failure();
    }
    for h in signature::ALL {
        parts.headers.remove(h);
    }
    if let Some(ctx) = parts.extensions.get_mut::<RequestContext>() {
        ctx.client_ip = client_ip;
        ctx.forwarded_from = Some(from.into());
    }
    let method = parts.method.clone();
    let requested = session_id(&parts.headers);
    let req = Request::from_parts(parts, Body::from(bytes));
    record_ownership(cluster, &method, requested.as_deref(), next.run(req).await).await
}
