//! The request pipeline in front of the router, in its documented order: the raw-path guard
//! (D8) and request context, then authentication, then token scoping
//! (`scoping::check_caller`), then routing.
//!
//! On a single process it is one function, [`front`], one middleware around the whole router;
//! in cluster mode affinity (forwarding to a session's owner) and the store generation come
//! between the guard and authentication, so it is two ([`guard_layer`], [`checked_layer`]).
//! Either way it runs before route matching, and the router only ever sees a path the guard
//! accepted, with `APP_ROOT_PATH` removed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::auth::{self, AuthOutcome, Caller, Presented};
use crate::error::ApiError;
use crate::paths::{self, AppPath, GuardRejection};
use crate::policy::{DotSegments, ForwardedHeaders};
use crate::state::AppState;

/// Facts about the request computed once by the guard layer.
#[derive(Debug, Clone)]
pub(crate) struct RequestContext {
    /// Decoded, root-stripped path (what scoping and handlers reason about).
    pub app_path: AppPath,
    /// The client per D3: the peer, or the `X-Forwarded-For` client when the peer is trusted.
    pub client_ip: IpAddr,
    /// `X-Forwarded-Proto` / `X-Forwarded-Host`, only when the peer is a trusted proxy.
    pub forwarded_proto: Option<String>,
    pub forwarded_host: Option<String>,
    /// Cluster mode: the worker that forwarded this request here, when its signature verified
    /// (then `client_ip` is the client address that worker saw).
    pub forwarded_from: Option<Arc<str>>,
}

impl RequestContext {
    /// The public base URL of this gateway as the client addressed it:
    /// `{scheme}://{host}{root}`. Scheme and host come from forwarded headers only when a
    /// trusted proxy sent them (D3); a scheme other than http/https becomes https.
    pub(crate) fn public_base(
        &self,
        headers: &HeaderMap,
        root: &str,
        fallback_host: &str,
    ) -> String {
        let scheme = match self.forwarded_proto.as_deref().map(str::to_ascii_lowercase) {
            Some(s) if s == "http" || s == "https" => s,
            Some(_) => "https".to_owned(),
            None => "http".to_owned(),
        };
        let host = self
            .forwarded_host
            .clone()
            .or_else(|| {
                headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .map(str::to_owned)
            })
            .filter(|h| is_plausible_host(h))
            .unwrap_or_else(|| fallback_host.to_owned());
        format!("{scheme}://{host}{root}")
    }
}

/// Every address: the trusted proxies of a policy that believes anyone's forwarded headers.
const EVERY_ADDRESS: [IpNet; 2] = [
    IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::UNSPECIFIED, 0)),
    IpNet::V6(Ipv6Net::new_assert(std::net::Ipv6Addr::UNSPECIFIED, 0)),
];

/// A Host header we are willing to echo into URLs: host[:port], no spaces, quotes or slashes.
fn is_plausible_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b))
}

fn first_header(headers: &HeaderMap, name: &str) -> Option<String> {
    let v = headers.get(name)?.to_str().ok()?;
    let first = v.split(',').next()?.trim();
    (!first.is_empty()).then(|| first.to_owned())
}

/// The rejection for a path the guard refused; its shape depends on the area it aims at.
fn guard_rejection(raw_app_path: &str, why: GuardRejection) -> ApiError {
    if raw_app_path.starts_with("/servers/") || raw_app_path.starts_with("/servers\\") {
        ApiError::not_found("Invalid server identifier")
    } else if raw_app_path.starts_with("/.well-known/oauth-protected-resource/") {
        ApiError::not_found("Invalid server_id format. Must be a valid UUID or server name.")
    } else {
        ApiError::BadRequest(format!("Invalid request path: {}", why.reason()))
    }
}

/// The defect matrix's gateway that believes RFC 7239 `Forwarded: host=...;proto=...` from
/// anyone (the strict one never reads the header).
fn believe_forwarded(ctx: &mut RequestContext, headers: &HeaderMap) {
    let Some(value) = first_header(headers, "forwarded") else {
        return;
    };
    for pair in value.split([';', ',']) {
        match pair.trim().split_once('=') {
            Some((k, v)) if k.trim().eq_ignore_ascii_case("host") => {
                ctx.forwarded_host = Some(v.trim().trim_matches('"').to_owned());
            }
            Some((k, v)) if k.trim().eq_ignore_ascii_case("proto") => {
                ctx.forwarded_proto = Some(v.trim().trim_matches('"').to_owned());
            }
            _ => {}
        }
    }
}

/// The whole pipeline on a single process: [`guard`], then [`checked`].
pub(crate) async fn front(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match guard(&state, req) {
        Ok(req) => checked(&state, req, next).await,
        Err(refused) => refused,
    }
}

/// Cluster mode, outermost: [`guard`] alone (affinity and the store generation follow).
pub(crate) async fn guard_layer(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    match guard(&state, req) {
        Ok(req) => next.run(req).await,
        Err(refused) => refused,
    }
}

/// Cluster mode, after affinity: [`checked`].
pub(crate) async fn checked_layer(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    checked(&state, req, next).await
}

/// Authentication (its outcome recorded for the handlers), token scoping, then the router.
async fn checked(state: &AppState, req: Request, next: Next) -> Response {
    // The head alone is looked at (and held across the awaits: a body is not `Sync`).
    let (mut parts, body) = req.into_parts();
    let outcome = authenticate_request(state, &parts).await;
    let ctx = parts.extensions.get::<RequestContext>();
    if let (Some(ctx), AuthOutcome::Authenticated { caller, .. }) = (ctx, &outcome)
        && let Err(e) =
            crate::scoping::check_caller(state, caller, parts.method.as_str(), ctx).await
    {
        return e.into_response();
    }
    parts.extensions.insert(outcome);
    // Only the defect matrix routes by an override header (after scoping saw the real method).
    if !state.policy().method_override_ignored {
        override_method(&mut parts);
    }
    next.run(Request::from_parts(parts, body)).await
}

/// Refuse crafted paths, strip the root path, record the request context: the request the
/// router is to see, or the refusal.
#[allow(clippy::result_large_err)] // a refusal is a whole response, built once
fn guard(state: &AppState, mut req: Request) -> Result<Request, Response> {
    let raw = req.uri().path().to_owned();
    let raw_app = paths::strip_root(&raw, state.settings.root_path()).to_owned();

    let policy = state.policy();
    // The matrix's gateway whose guard reads only origin-form targets.
    let unguarded = !policy.absolute_form_guarded && req.uri().scheme().is_some();
    // A path with dot segments is refused, unless the policy normalises them (then the result
    // is what gets routed).
    let routed_path = match paths::check_raw_path(&raw_app) {
        Ok(()) => raw_app,
        Err(GuardRejection::DotSegment)
            if policy.dot_segments == DotSegments::Normalise || unguarded =>
        {
            paths::normalise_dot_segments(&raw_app)
        }
        Err(why) => return Err(guard_rejection(&raw_app, why).into_response()),
    };
    let Some(decoded) = paths::decode_path(&routed_path) else {
        return Err(
            ApiError::BadRequest("Invalid request path: path is not UTF-8".to_owned())
                .into_response(),
        );
    };

    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |c| c.0.ip());
    let proxies: &[IpNet] = match policy.forwarded_headers {
        ForwardedHeaders::FromTrustedProxies => &state.settings.trusted_proxies,
        ForwardedHeaders::FromAnyPeer => &EVERY_ADDRESS,
    };
    let peer_trusted = proxies.iter().any(|n| n.contains(&peer));
    let xff = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    let client_ip = crate::scoping::ip::client_ip(peer, xff, proxies);
    let mut ctx = RequestContext {
        app_path: AppPath(decoded.into_owned()),
        client_ip,
        forwarded_proto: peer_trusted
            .then(|| first_header(req.headers(), "x-forwarded-proto"))
            .flatten(),
        forwarded_host: peer_trusted
            .then(|| first_header(req.headers(), "x-forwarded-host"))
            .flatten(),
        forwarded_from: None,
    };
    if !policy.forwarded_header_ignored {
        believe_forwarded(&mut ctx, req.headers());
    }

    if routed_path != raw {
        let pq = match req.uri().query() {
            Some(q) => format!("{routed_path}?{q}"),
            None => routed_path.clone(),
        };
        match pq.parse::<Uri>() {
            Ok(uri) => *req.uri_mut() = uri,
            Err(_) => {
                return Err(ApiError::BadRequest("Invalid request path".to_owned()).into_response());
            }
        }
    }
    req.extensions_mut().insert(ctx);
    Ok(req)
}

/// Authenticate whatever credential the request presents (nothing on the skip paths).
async fn authenticate_request(state: &AppState, head: &Parts) -> AuthOutcome {
    let skip = head
        .extensions
        .get::<RequestContext>()
        .is_some_and(|c| paths::is_scoping_skip_path(c.app_path.as_str()));
    if skip {
        AuthOutcome::Missing
    } else if let Some(headers) = with_query_token(state, head) {
        authenticate(state, &headers).await
    } else {
        authenticate(state, &head.headers).await
    }
}

/// The defect matrix's gateway that takes `?access_token=` as a bearer token when no header
/// carries one: the request's headers with that credential added. `None` under the strict
/// policy (a query-string token is no credential: MCP authorization, RFC 6750 §2.3).
fn with_query_token(state: &AppState, head: &Parts) -> Option<HeaderMap> {
    if state.policy().query_tokens_ignored || head.headers.contains_key(header::AUTHORIZATION) {
        return None;
    }
    let token = head
        .uri
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("access_token="))?;
    let mut headers = head.headers.clone();
    let value = format!("Bearer {token}").parse().ok()?;
    headers.insert(header::AUTHORIZATION, value);
    Some(headers)
}

/// The defect matrix's router that takes its method from `X-HTTP-Method-Override` (or an alias)
/// after the permission check saw the request's own; the strict gateway never calls it.
fn override_method(head: &mut Parts) {
    let overridden = [
        "x-http-method-override",
        "x-http-method",
        "x-method-override",
    ]
    .iter()
    .find_map(|name| {
        head.headers
            .get(*name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<axum::http::Method>().ok())
    });
    if let Some(method) = overridden {
        head.method = method;
    }
}

/// How this gateway finds out that a token was revoked: from the store on every request, unless
/// the defect matrix loosened it.
fn revocation_check(state: &AppState) -> auth::RevocationCheck<'_> {
    let policy = state.policy();
    if !policy.revocations_checked {
        auth::RevocationCheck::Never
    } else if !policy.revocation_read_per_request {
        auth::RevocationCheck::RememberedPerWorker(&state.unrevoked_seen)
    } else {
        auth::RevocationCheck::EveryRequest
    }
}

/// Turn the presented credential into an outcome.
pub(crate) async fn authenticate(state: &AppState, headers: &HeaderMap) -> AuthOutcome {
    let (token, cookie_only) = match auth::presented_token(headers) {
        Presented::Missing => return AuthOutcome::Missing,
        Presented::OtherScheme => {
            return AuthOutcome::Rejected("Invalid authentication credentials".to_owned());
        }
        Presented::Bearer(t) if t.is_empty() => return AuthOutcome::EmptyBearer,
        Presented::Bearer(t) => (t, false),
        Presented::Cookie { token, with_header } => (token, !with_header),
    };
    match auth::authenticate_token(
        &token,
        &state.jwt,
        &state.verified,
        &state.store,
        state.now_secs(),
        revocation_check(state),
    )
    .await
    {
        Ok(caller) => AuthOutcome::Authenticated {
            caller: Arc::new(caller),
            cookie_only,
        },
        Err(auth::AuthError::Token(detail)) => AuthOutcome::Rejected(detail),
        Err(auth::AuthError::Store(e)) => AuthOutcome::Unavailable(e),
    }
}

/// The authenticated caller of a REST or `/rpc` request. Missing credentials get 401
/// "Authorization token required" (302 to the login page for browsers), unless
/// `AUTH_REQUIRED=false`, which admits the anonymous, public-only caller.
#[derive(Debug, Clone)]
pub(crate) struct RestCaller(pub Arc<Caller>);

impl FromRequestParts<AppState> for RestCaller {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let outcome = parts
            .extensions
            .get::<AuthOutcome>()
            .cloned()
            .unwrap_or(AuthOutcome::Missing);
        match outcome {
            AuthOutcome::Authenticated {
                caller,
                cookie_only,
            } => {
                if cookie_only && !auth::is_browser_request(&parts.headers) {
                    return Err(ApiError::unauthorized(
                        "Cookie authentication not allowed for API requests. Use Authorization header.",
                    )
                    .into_response());
                }
                Ok(RestCaller(caller))
            }
            AuthOutcome::Missing | AuthOutcome::EmptyBearer if !state.settings.auth_required => {
                Ok(RestCaller(Arc::new(Caller::anonymous())))
            }
            AuthOutcome::Missing if auth::is_browser_request(&parts.headers) => {
                // ContextForge answers 302 Found (C-RPC-19); axum's `Redirect::to` would be 303.
                let to = format!("{}/admin/login", state.settings.root_path());
                Err((StatusCode::FOUND, [(header::LOCATION, to)]).into_response())
            }
            AuthOutcome::Missing | AuthOutcome::EmptyBearer => {
                Err(ApiError::unauthorized("Authorization token required").into_response())
            }
            AuthOutcome::Rejected(detail) => Err(ApiError::unauthorized(detail).into_response()),
            AuthOutcome::Unavailable(e) => Err(ApiError::unavailable(e).into_response()),
        }
    }
}

/// Read a request body up to `limit` bytes: 413 beyond it, 408 when its read deadline passed
/// (`server::body`).
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ApiError::PayloadTooLarge)
        }
        Err(e) => {
            // axum wraps the body's own error: look along the chain.
            let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&*e);
            while let Some(c) = cause {
                if let Some(t) = c.downcast_ref::<crate::server::BodyReadTimedOut>() {
                    return Err(ApiError::RequestTimeout(t.to_string()));
                }
                cause = c.source();
            }
            Err(ApiError::BadRequest(
                "Failed to read request body".to_owned(),
            ))
        }
    }
}

/// The answer of the defect matrix's handler that fails on JSON nested past the parser's depth
/// limit (500); `None` under the strict policy, and for any other body.
pub(crate) fn fails_on_deep_json(state: &AppState, bytes: &[u8]) -> Option<Response> {
    if state.policy().deep_json_is_parse_error {
        return None;
    }
    let e = serde_json::from_slice::<serde_json::Value>(bytes).err()?;
    e.to_string()
        .contains("recursion limit")
        .then(|| (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response())
}

/// A JSON body parsed into `T`, with 413 for size, 400 for malformed JSON and 422 for the wrong
/// shape (FastAPI's split, which ContextForge clients expect).
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub T);

impl<T: serde::de::DeserializeOwned> axum::extract::FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req.into_body(), state.body_limit()).await?;
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::BadRequest(format!("Malformed JSON body: {e}")))?;
        serde_json::from_value(value)
            .map(JsonBody)
            .map_err(|e| ApiError::Unprocessable(format!("Invalid request body: {e}")))
    }
}

/// 404 for anything no route matched.
pub(crate) async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({"detail": "Not found"})),
    )
        .into_response()
}
