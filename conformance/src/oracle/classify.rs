//! Path normalisation, general endpoints (D1), the server a path targets, and a token's server
//! restriction (§1.3).
//!
//! All functions here take the *decoded* path (what a framework hands to middleware, after the
//! raw-path guard has let it through). The rules, from the spec:
//! - normalise: strip the configured root path on a segment boundary (`/gw` is not stripped
//!   from `/gwx`), then one `/v1` prefix (`/v1/x` → `/x`, `/v1` → `/`);
//! - the first server shape that matches decides: `/servers/S[/...]`, `/sse/S`, `/ws/S`, with
//!   the id compared exactly and case-sensitively;
//! - otherwise `/` and the general endpoints are open to a server-scoped token; general
//!   endpoints are whole paths with an optional trailing slash (D1), never prefixes;
//! - anything else is denied to a server-scoped token.

use super::Verdict;
use super::segments::{Seg, Shape, Tail, split};

/// D1's general endpoints, as single segments. `/.well-known/...` is handled apart: it is a
/// family, not a single path.
pub const GENERAL_ENDPOINTS: [&str; 8] = [
    "health",
    "metrics",
    "openapi.json",
    "docs",
    "redoc",
    "rpc",
    "mcp",
    "sse",
];

/// What a path targets, as far as the server restriction is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A server path; the id (or name) as written in the path.
    Server(String),
    /// `/` or a general endpoint: open to any server-scoped token.
    General,
    /// Neither: denied to a server-scoped token.
    Other,
    Unspecified(&'static str),
}

impl Target {
    /// Replace a server path's id by what `resolve` makes of it (e.g. name → canonical id, D4).
    pub fn resolved(self, resolve: impl Fn(&str) -> Option<String>) -> Target {
        match self {
            Target::Server(s) => Target::Server(resolve(&s).unwrap_or(s)),
            t => t,
        }
    }
}

/// Strip the root path (on a segment boundary) and one `/v1` prefix. `root` is like `/gw`;
/// `None`, `""` and `"/"` mean no root path.
pub fn normalise(path: &str, root: Option<&str>) -> String {
    let root = root.map(|r| r.trim_end_matches('/')).unwrap_or("");
    let path = strip_prefix_segment(path, root);
    strip_prefix_segment(path, "/v1").to_owned()
}

fn strip_prefix_segment<'a>(path: &'a str, prefix: &str) -> &'a str {
    if prefix.is_empty() {
        return path;
    }
    match path.strip_prefix(prefix) {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        _ => path,
    }
}

const SERVERS: Shape = Shape::new(&[Seg::Lit("servers"), Seg::Any], Tail::Open);
const SSE_OR_WS: Shape = Shape::new(&[Seg::OneOf(&["sse", "ws"]), Seg::Any], Tail::End);

/// What a normalised, decoded path targets.
pub fn target(path: &str) -> Target {
    let Some(segs) = split(path) else {
        return Target::Unspecified("not an absolute path");
    };
    if SERVERS.matches(&segs) {
        return Target::Server(segs[1].to_owned());
    }
    if matches!(segs.first(), Some(&"sse" | &"ws")) && segs.get(1).is_some_and(|s| s.contains('?'))
    {
        // The spec's `/sse/([^/?]+)(?:$|\?)` expects a query that can only be in the path
        // when a `%3f` was decoded into it; what that means is not decided.
        return Target::Unspecified("a decoded `?` in an /sse/ or /ws/ server segment");
    }
    if SSE_OR_WS.matches(&segs) {
        return Target::Server(segs[1].to_owned());
    }
    if segs == [""] {
        return Target::General;
    }
    match is_general_endpoint(path) {
        Verdict::Yes => Target::General,
        Verdict::No => Target::Other,
        Verdict::Unspecified(why) => Target::Unspecified(why),
    }
}

/// Whether a normalised, decoded path is one of D1's general endpoints.
pub fn is_general_endpoint(path: &str) -> Verdict {
    let Some(segs) = split(path) else {
        return Verdict::Unspecified("not an absolute path");
    };
    if segs == [""] {
        return Verdict::Unspecified("`/` is open to scoped tokens but is not in D1's list");
    }
    let single = matches!(segs.as_slice(), [one] | [one, ""] if GENERAL_ENDPOINTS.contains(one));
    if single {
        return Verdict::Yes;
    }
    if segs[0] == ".well-known" {
        return match segs.get(1) {
            Some(s) if !s.is_empty() => Verdict::Yes,
            _ => Verdict::Unspecified("`/.well-known` itself, with nothing under it"),
        };
    }
    Verdict::No
}

/// Paths token scoping lets through without looking at the token (§1.2 step 5).
const SKIPPED: [&[&str]; 6] = [
    &["health"],
    &["openapi.json"],
    &["docs"],
    &["redoc"],
    &["auth", "email", "login"],
    &["auth", "email", "register"],
];

/// Whether token scoping skips the decoded path with the root path stripped (`/v1` not yet
/// stripped: ContextForge checks skip paths before it strips `/v1`). ContextForge matches these
/// as prefixes; D1 makes general endpoints whole paths but says nothing of skip paths, so the
/// prefix-only matches are undecided.
pub fn scoping_skipped(path: &str) -> Verdict {
    let Some(segs) = split(path) else {
        return Verdict::Unspecified("not an absolute path");
    };
    let body = match segs.as_slice() {
        [rest @ .., ""] if !rest.is_empty() => rest,
        all => all,
    };
    if SKIPPED.contains(&body) {
        return Verdict::Yes;
    }
    let under_well_known = |s: &[&str]| s.len() >= 2 && s[0] == ".well-known" && !s[1].is_empty();
    let server_well_known = segs.len() >= 4
        && SERVERS.matches(&segs)
        && segs[2] == ".well-known"
        && !segs[3].is_empty();
    if under_well_known(&segs) || server_well_known {
        return Verdict::Yes;
    }
    if segs.first() == Some(&"v1") && scoping_skipped(&normalise(path, None)) != Verdict::No {
        return Verdict::Unspecified("a skip path behind /v1 (ContextForge strips /v1 later)");
    }
    let prefix_of_skip = [
        "/health",
        "/openapi.json",
        "/docs",
        "/redoc",
        "/auth/email/login",
        "/auth/email/register",
        "/.well-known",
    ]
    .iter()
    .any(|p| path.starts_with(p));
    if prefix_of_skip || segs.get(2) == Some(&".well-known") {
        return Verdict::Unspecified(
            "a skip path matched only as a prefix (ContextForge's startswith)",
        );
    }
    Verdict::No
}

/// Whether a token restricted to `token_server` may reach `target` (§1.3). `None` and `""`
/// mean no restriction (C-SCOPE-15).
pub fn server_restriction(target: &Target, token_server: Option<&str>) -> Verdict {
    let Some(token_server) = token_server.filter(|s| !s.is_empty()) else {
        return Verdict::Yes;
    };
    match target {
        Target::Server(s) => Verdict::from_bool(s == token_server),
        Target::General => Verdict::Yes,
        Target::Other => Verdict::No,
        Target::Unspecified(why) => Verdict::Unspecified(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(p: &str) -> Target {
        target(&normalise(p, None))
    }

    #[test]
    fn c_scope_server_shapes() {
        assert_eq!(t("/servers/S/mcp"), Target::Server("S".into()));
        assert_eq!(t("/servers/S"), Target::Server("S".into()));
        assert_eq!(t("/servers/S/"), Target::Server("S".into()));
        assert_eq!(t("/v1/servers/T/tools"), Target::Server("T".into()));
        assert_eq!(t("/sse/T"), Target::Server("T".into()));
        assert_eq!(t("/ws/T"), Target::Server("T".into()));
        assert_eq!(t("/sse/T/"), Target::Other);
        assert_eq!(t("/servers"), Target::Other);
        assert_eq!(t("/servers/"), Target::Other);
        assert_eq!(t("//servers/S"), Target::Other);
        assert_eq!(t("/Servers/S/mcp"), Target::Other);
    }

    #[test]
    fn d1_general_endpoints_are_whole_paths() {
        for p in [
            "/", "/rpc", "/rpc/", "/mcp", "/sse", "/health/", "/v1", "/v1/rpc",
        ] {
            assert_eq!(t(p), Target::General, "{p}");
        }
        for p in [
            "/mcp-servers/x",
            "/metrics/reset",
            "/rpcx",
            "/mcp/sse",
            "/rpc//",
            "/RPC",
            "/tools",
            "/admin/",
            "/v1/v1/rpc",
        ] {
            assert_eq!(t(p), Target::Other, "{p}");
        }
        assert_eq!(
            t("/.well-known/oauth-protected-resource/servers/T/mcp"),
            Target::General
        );
    }

    #[test]
    fn c_scope_14_root_path_on_segment_boundary() {
        assert_eq!(
            normalise("/gw/servers/T/mcp", Some("/gw")),
            "/servers/T/mcp"
        );
        assert_eq!(normalise("/gw", Some("/gw/")), "/");
        assert_eq!(normalise("/gwx/servers/T", Some("/gw")), "/gwx/servers/T");
    }

    #[test]
    fn skip_paths_are_whole_paths_or_discovery_documents() {
        for p in [
            "/health",
            "/health/",
            "/docs",
            "/.well-known/x",
            "/servers/S/.well-known/x",
        ] {
            assert_eq!(scoping_skipped(p), Verdict::Yes, "{p}");
        }
        for p in ["/rpc", "/servers/S/mcp", "/tools", "/"] {
            assert_eq!(scoping_skipped(p), Verdict::No, "{p}");
        }
        for p in ["/healthz", "/docs/x", "/v1/health", "/.well-known"] {
            assert!(matches!(scoping_skipped(p), Verdict::Unspecified(_)), "{p}");
        }
    }

    #[test]
    fn restriction_is_exact_and_case_sensitive() {
        let s = Target::Server("abc".into());
        assert_eq!(server_restriction(&s, Some("abc")), Verdict::Yes);
        assert_eq!(server_restriction(&s, Some("ABC")), Verdict::No);
        assert_eq!(server_restriction(&Target::Other, Some("abc")), Verdict::No);
        assert_eq!(server_restriction(&Target::Other, Some("")), Verdict::Yes);
        assert_eq!(server_restriction(&Target::Other, None), Verdict::Yes);
    }
}
