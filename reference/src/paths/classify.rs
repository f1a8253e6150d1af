//! Pure classifications of the app-relative, decoded path: where the root path ends, which
//! server a path names, and which paths are general endpoints (D1) or skip token scoping.

use crate::policy::{EndpointMatch, GeneralEndpoints};

/// The path as every step after the guard sees it: percent-decoded once, with `APP_ROOT_PATH`
/// removed when it was present on a segment boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AppPath(pub String);

impl AppPath {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// Remove `root` (e.g. `/gw`) from the front of `path` when it ends on a segment boundary:
/// `/gw/rpc` -> `/rpc`, `/gw` -> `/`, but `/gwx/rpc` stays as it is.
pub fn strip_root<'a>(path: &'a str, root: &str) -> &'a str {
    if root.is_empty() {
        return path;
    }
    match path.strip_prefix(root) {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        _ => path,
    }
}

/// Remove a `/v1` API-version prefix on a segment boundary (`/v1/x` -> `/x`, `/v1` -> `/`).
pub fn strip_v1(path: &str) -> &str {
    strip_root(path, "/v1")
}

/// `/servers/{segment}` followed by the rest of the path (`""`, `"/"`, `"/mcp"`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ServerPath<'a> {
    pub segment: &'a str,
    pub rest: &'a str,
}

/// Split `/servers/{segment}[/rest]`. `None` for `/servers`, `/servers/` and other paths.
pub(crate) fn parse_server_path(path: &str) -> Option<ServerPath<'_>> {
    let after = path.strip_prefix("/servers/")?;
    let (segment, rest) = match after.find('/') {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, ""),
    };
    if segment.is_empty() {
        return None;
    }
    Some(ServerPath { segment, rest })
}

/// Paths a server-scoped token may use although they name no server (D1): whole paths, with one
/// optional trailing slash, never prefixes.
const GENERAL_ENDPOINTS: [&str; 8] = [
    "/health",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/redoc",
    "/rpc",
    "/mcp",
    "/sse",
];

/// Drop one trailing slash from a path that has something before it: `/rpc/` -> `/rpc`, while
/// `/` stays `/` and `//` stays `//` (it is not the root).
fn without_trailing_slash(path: &str) -> &str {
    match path.strip_suffix('/') {
        Some(rest) if !rest.is_empty() && !rest.ends_with('/') => rest,
        _ => path,
    }
}

/// Whether `path` is a general endpoint (D1), or the root `/`, or under `/.well-known/`.
pub fn is_general_endpoint(path: &str) -> bool {
    is_general_endpoint_under(path, &GeneralEndpoints::STRICT)
}

/// [`is_general_endpoint`] under `rule`.
fn is_general_endpoint_under(path: &str, rule: &GeneralEndpoints) -> bool {
    let p = without_trailing_slash(path);
    let listed = |endpoint: &&str| {
        let matches = match rule.matching {
            EndpointMatch::WholePath => p == *endpoint,
            EndpointMatch::Prefix => path.starts_with(endpoint),
        };
        matches && (rule.rpc || *endpoint != "/rpc")
    };
    p == "/" || GENERAL_ENDPOINTS.iter().any(listed) || path.starts_with("/.well-known/")
}

/// Paths token scoping does not look at: health, docs, login and the discovery documents.
const SCOPING_SKIP_PATHS: [&str; 6] = [
    "/health",
    "/openapi.json",
    "/docs",
    "/redoc",
    "/auth/email/login",
    "/auth/email/register",
];

/// Whether token scoping lets `path` through without looking at the token.
pub fn is_scoping_skip_path(path: &str) -> bool {
    let p = without_trailing_slash(path);
    if SCOPING_SKIP_PATHS.contains(&p) || path.starts_with("/.well-known/") {
        return true;
    }
    parse_server_path(path).is_some_and(|sp| sp.rest.starts_with("/.well-known/"))
}

/// What a server restriction has to say about a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestrictionTarget<'a> {
    /// The path names this server (an id or a name, still unresolved).
    Server(&'a str),
    /// A general endpoint or `/`: allowed for any server-scoped token.
    General,
    /// Neither: a server-scoped token is refused.
    Other,
}

/// Classify `path` (root and `/v1` already stripped) for the server restriction.
pub fn restriction_target(path: &str) -> RestrictionTarget<'_> {
    restriction_target_under(path, &GeneralEndpoints::STRICT)
}

/// [`restriction_target`] with general endpoints recognised under `rule`.
pub(crate) fn restriction_target_under<'a>(
    path: &'a str,
    rule: &GeneralEndpoints,
) -> RestrictionTarget<'a> {
    if let Some(sp) = parse_server_path(path) {
        return RestrictionTarget::Server(sp.segment);
    }
    for prefix in ["/sse/", "/ws/"] {
        if let Some(id) = path.strip_prefix(prefix)
            && !id.is_empty()
            && !id.contains('/')
        {
            return RestrictionTarget::Server(id);
        }
    }
    if is_general_endpoint_under(path, rule) {
        RestrictionTarget::General
    } else {
        RestrictionTarget::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_stripped_only_on_a_segment_boundary() {
        assert_eq!(strip_root("/gw/rpc", "/gw"), "/rpc");
        assert_eq!(strip_root("/gw", "/gw"), "/");
        assert_eq!(strip_root("/gwx/rpc", "/gw"), "/gwx/rpc");
        assert_eq!(strip_root("/rpc", ""), "/rpc");
        assert_eq!(strip_v1("/v1/servers/S/tools"), "/servers/S/tools");
        assert_eq!(strip_v1("/v1"), "/");
        assert_eq!(strip_v1("/v10/x"), "/v10/x");
    }

    #[test]
    fn server_paths_split_into_segment_and_rest() {
        assert_eq!(
            parse_server_path("/servers/S/mcp"),
            Some(ServerPath {
                segment: "S",
                rest: "/mcp"
            })
        );
        assert_eq!(
            parse_server_path("/servers/S"),
            Some(ServerPath {
                segment: "S",
                rest: ""
            })
        );
        assert_eq!(
            parse_server_path("/servers/S/"),
            Some(ServerPath {
                segment: "S",
                rest: "/"
            })
        );
        assert_eq!(parse_server_path("/servers"), None);
        assert_eq!(parse_server_path("/servers/"), None);
        assert_eq!(parse_server_path("/serversX/S"), None);
    }

    #[test]
    fn d1_general_endpoints_are_whole_paths() {
        for ok in [
            "/",
            "/rpc",
            "/rpc/",
            "/mcp",
            "/mcp/",
            "/health",
            "/sse",
            "/.well-known/x",
        ] {
            assert!(is_general_endpoint(ok), "{ok}");
        }
        for bad in [
            "/mcp-servers/x",
            "/metrics/reset",
            "/rpcXYZ",
            "/docsX",
            "/healthz",
            "/mcp/sse",
            "/tools",
        ] {
            assert!(!is_general_endpoint(bad), "{bad}");
        }
    }

    #[test]
    fn looser_general_endpoint_rules() {
        let prefix = GeneralEndpoints {
            matching: EndpointMatch::Prefix,
            rpc: true,
        };
        assert_eq!(
            restriction_target_under("/mcp-servers/x", &prefix),
            RestrictionTarget::General
        );
        assert_eq!(
            restriction_target_under("/servers/S/mcp", &prefix),
            RestrictionTarget::Server("S")
        );
        let no_rpc = GeneralEndpoints {
            rpc: false,
            ..GeneralEndpoints::STRICT
        };
        for rpc in ["/rpc", "/rpc/"] {
            assert_eq!(
                restriction_target_under(rpc, &no_rpc),
                RestrictionTarget::Other
            );
        }
        assert_eq!(
            restriction_target_under("/mcp", &no_rpc),
            RestrictionTarget::General
        );
    }

    #[test]
    fn restriction_targets() {
        assert_eq!(
            restriction_target("/servers/S/mcp"),
            RestrictionTarget::Server("S")
        );
        assert_eq!(restriction_target("/sse/T"), RestrictionTarget::Server("T"));
        assert_eq!(restriction_target("/ws/T"), RestrictionTarget::Server("T"));
        assert_eq!(restriction_target("/rpc"), RestrictionTarget::General);
        assert_eq!(restriction_target("/servers"), RestrictionTarget::Other);
        assert_eq!(restriction_target("/servers/"), RestrictionTarget::Other);
        assert_eq!(restriction_target("/tools"), RestrictionTarget::Other);
        assert_eq!(restriction_target("/admin/"), RestrictionTarget::Other);
    }

    #[test]
    fn skip_paths() {
        assert!(is_scoping_skip_path("/health"));
        assert!(is_scoping_skip_path(
            "/.well-known/oauth-protected-resource/servers/T/mcp"
        ));
        assert!(is_scoping_skip_path(
            "/servers/T/.well-known/oauth-protected-resource"
        ));
        assert!(!is_scoping_skip_path("/healthz"));
        assert!(!is_scoping_skip_path("/servers/T/mcp"));
    }
}
