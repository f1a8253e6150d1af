//! RFC 9728 protected-resource metadata and the other `/.well-known` files (§4, D4, D6).

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::pipeline::RequestContext;
use crate::policy::WellKnownSuffix;
use crate::state::AppState;
use crate::store::{Server, Visibility};

const INVALID_PATH: &str = "Invalid resource path format. Expected: /.well-known/oauth-protected-resource/servers/{server_id}/mcp";
const INVALID_ID: &str = "Invalid server_id format. Must be a valid UUID or server name.";
const CACHE_CONTROL: &str = "public, max-age=3600";

/// Which server a protected-resource path asks about, or why it is malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WellKnownPath<'a> {
    Server(&'a str),
    BadFormat,
    BadId,
}

/// Parse the part after `/.well-known/oauth-protected-resource/` (D6: only `servers/{x}` and
/// `servers/{x}/mcp`, unless `suffix` accepts any third segment).
pub(crate) fn parse_well_known_path(rest: &str, suffix: WellKnownSuffix) -> WellKnownPath<'_> {
    let parts: Vec<&str> = rest.trim_matches('/').split('/').collect();
    if parts.len() < 2 || parts.len() > 3 || parts[0] != "servers" {
        return WellKnownPath::BadFormat;
    }
    if parts.len() == 3 && parts[2] != "mcp" && suffix == WellKnownSuffix::McpOnly {
        return WellKnownPath::BadFormat;
    }
    let id = parts[1];
    if crate::ids::is_canonical_id(id) || crate::ids::is_valid_server_name(id) {
        WellKnownPath::Server(id)
    } else {
        WellKnownPath::BadId
    }
}

/// The metadata document for an OAuth-enabled server, or the 404 detail explaining why not.
pub(crate) fn metadata_for(server: &Server, base: &str) -> Result<Value, String> {
    if !server.oauth_enabled {
        return Err(format!("OAuth not enabled for server: {}", server.id));
    }
    let Some(cfg) = server
        .oauth_config
        .as_ref()
        .and_then(Value::as_object)
        .filter(|c| !c.is_empty())
    else {
        return Err(format!("OAuth not configured for server: {}", server.id));
    };
    let as_list = |v: &Value| -> Vec<Value> {
        match v {
            Value::String(s) => vec![json!(s)],
            Value::Array(a) => a.iter().filter(|x| x.is_string()).cloned().collect(),
            _ => Vec::new(),
        }
    };
    let servers = cfg
        .get("authorization_servers")
        .or_else(|| cfg.get("authorization_server"))
        .map(as_list)
        .unwrap_or_default();
    if servers.is_empty() {
        return Err(format!(
            "OAuth authorization_server not configured for server: {}",
            server.id
        ));
    }
    let mut doc = json!({
        "resource": format!("{base}/servers/{}/mcp", server.id),
        "authorization_servers": servers,
        "bearer_methods_supported": ["header"],
    });
    if let Some(scopes) = cfg.get("scopes_supported").or_else(|| cfg.get("scopes")) {
        let list = as_list(scopes);
        if !list.is_empty() {
            doc["scopes_supported"] = Value::Array(list);
        }
    }
    Ok(doc)
}

fn base(state: &AppState, ctx: &RequestContext, headers: &HeaderMap) -> String {
    let fallback = format!("{}:{}", state.settings.host, state.settings.port);
    ctx.public_base(headers, state.settings.root_path(), &fallback)
}

fn disabled() -> Response {
    ApiError::not_found("Not found").into_response()
}

/// `GET /.well-known/oauth-protected-resource/{*rest}`.
pub(crate) async fn protected_resource(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    headers: HeaderMap,
    Path(rest): Path<String>,
) -> Response {
    if !state.settings.well_known_enabled {
        return disabled();
    }
    let key = match parse_well_known_path(&rest, state.policy().well_known_suffix) {
        WellKnownPath::Server(k) => k,
        WellKnownPath::BadFormat => return ApiError::not_found(INVALID_PATH).into_response(),
        WellKnownPath::BadId => return ApiError::not_found(INVALID_ID).into_response(),
    };
    let server = match state.store.resolve_server(key).await {
        Ok(s) => s,
        Err(e) => return ApiError::ServiceUnavailable(e.to_string()).into_response(),
    };
    // A non-public server is described only when it is OAuth-enabled: its 401 challenge points
    // here, so the advertised URL must resolve (C-WK-16); anything else is "not found".
    let Some(server) = server
        .filter(|s| s.enabled && (s.owned.visibility == Visibility::Public || s.oauth_enabled))
    else {
        return ApiError::not_found("Server not found").into_response();
    };
    match metadata_for(&server, &base(&state, &ctx, &headers)) {
        Ok(doc) => {
            let mut r = axum::Json(doc).into_response();
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static(CACHE_CONTROL),
            );
            r
        }
        Err(detail) => ApiError::not_found(detail).into_response(),
    }
}

/// `GET /.well-known/oauth-protected-resource` (the deprecated query form).
pub(crate) async fn protected_resource_query(State(state): State<AppState>) -> Response {
    if !state.settings.well_known_enabled {
        return disabled();
    }
    ApiError::not_found(
        "This endpoint is deprecated and non-compliant with RFC 9728. Use the path-based endpoint: /.well-known/oauth-protected-resource/servers/{server_id}/mcp",
    )
    .into_response()
}

fn encode_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `GET /servers/{id}/.well-known/{file}`: the old per-server form. The protected-resource
/// document moved (301); nothing else is served there.
pub(crate) async fn server_well_known(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    headers: HeaderMap,
    Path((key, file)): Path<(String, String)>,
) -> Response {
    if !state.settings.well_known_enabled || file != "oauth-protected-resource" {
        return disabled();
    }
    let canonical = match state.store.resolve_server(&key).await {
        Ok(Some(s)) => s.id.clone(),
        Ok(None) => encode_segment(&key),
        Err(e) => return ApiError::ServiceUnavailable(e.to_string()).into_response(),
    };
    let location = format!(
        "{}/.well-known/oauth-protected-resource/servers/{canonical}/mcp",
        base(&state, &ctx, &headers)
    );
    let mut r = (
        StatusCode::MOVED_PERMANENTLY,
        axum::Json(json!({"detail": "Moved Permanently"})),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// `GET /.well-known/{file}`: robots.txt always; nothing else is configured.
pub(crate) async fn well_known_file(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> Response {
    if !state.settings.well_known_enabled || file != "robots.txt" {
        return disabled();
    }
    let mut r = (StatusCode::OK, "User-agent: *\nDisallow: /\n").into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        "x-robots-tag",
        HeaderValue::from_static("noindex, nofollow"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    const O: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn c_wk_01_03_04_06_path_forms() {
        assert_eq!(
            parse_well_known_path(&format!("servers/{O}/mcp"), WellKnownSuffix::McpOnly),
            WellKnownPath::Server(O)
        );
        assert_eq!(
            parse_well_known_path(&format!("servers/{O}"), WellKnownSuffix::McpOnly),
            WellKnownPath::Server(O)
        );
        assert_eq!(
            parse_well_known_path(&format!("servers/{O}/mcp/extra"), WellKnownSuffix::McpOnly),
            WellKnownPath::BadFormat
        );
        assert_eq!(
            parse_well_known_path(&format!("tools/{O}/mcp"), WellKnownSuffix::McpOnly),
            WellKnownPath::BadFormat
        );
        assert_eq!(
            parse_well_known_path("servers", WellKnownSuffix::McpOnly),
            WellKnownPath::BadFormat
        );
    }

    #[test]
    fn d6_third_segment_must_be_mcp() {
        assert_eq!(
            parse_well_known_path(&format!("servers/{O}/anything"), WellKnownSuffix::McpOnly),
            WellKnownPath::BadFormat
        );
        assert_eq!(
            parse_well_known_path(&format!("servers/{O}/anything"), WellKnownSuffix::Any),
            WellKnownPath::Server(O)
        );
    }

    #[test]
    fn c_wk_05_and_d4_ids_and_names() {
        assert_eq!(
            parse_well_known_path("servers/gdrive/mcp", WellKnownSuffix::McpOnly),
            WellKnownPath::Server("gdrive")
        );
        assert_eq!(
            parse_well_known_path("servers/a.b/mcp", WellKnownSuffix::McpOnly),
            WellKnownPath::BadId
        );
        assert_eq!(
            parse_well_known_path("servers/hello world/mcp", WellKnownSuffix::McpOnly),
            WellKnownPath::BadId
        );
    }
}
