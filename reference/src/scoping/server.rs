//! The server restriction of a token (`scopes.server_id`): which paths it may use.

use crate::paths::RestrictionTarget;

/// Whether a token restricted to `token_server` may use a path of this target. For a path that
/// names a server, `canonical` is the id the segment resolved to (by id or by name, D4); an
/// unresolvable segment is compared as it is, so it only passes when it *is* the token's id.
/// Comparison is exact and case-sensitive.
pub fn check_server_restriction(
    token_server: Option<&str>,
    target: RestrictionTarget<'_>,
    canonical: Option<&str>,
) -> bool {
    let Some(allowed) = token_server else {
        return true;
    };
    match target {
        RestrictionTarget::General => true,
        RestrictionTarget::Other => false,
        RestrictionTarget::Server(segment) => canonical.unwrap_or(segment) == allowed,
    }
}

/// `validate_server_access`: may a token with this restriction act on server `server_id`?
pub fn validate_server_access(token_server: Option<&str>, server_id: &str) -> bool {
    token_server.is_none_or(|s| s == server_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::restriction_target;

    const S: &str = "0123456789abcdef0123456789abcdef";
    const T: &str = "fedcba9876543210fedcba9876543210";

    fn allows(path: &str, canonical: Option<&str>) -> bool {
        check_server_restriction(Some(S), restriction_target(path), canonical)
    }

    #[test]
    fn c_scope_01_server_scoped_token_may_post_rpc() {
        assert!(allows("/rpc", None));
        assert!(allows("/rpc/", None));
    }

    #[test]
    fn c_scope_02_and_03_own_server_yes_other_server_no() {
        assert!(allows(&format!("/servers/{S}/mcp"), Some(S)));
        assert!(!allows(&format!("/servers/{T}/mcp"), Some(T)));
    }

    #[test]
    fn c_scope_04_and_10_sse_and_ws_paths_name_a_server() {
        assert!(!allows(&format!("/servers/{T}/sse"), Some(T)));
        assert!(!allows(&format!("/sse/{T}"), None));
        assert!(!allows(&format!("/ws/{T}"), None));
        assert!(allows(&format!("/sse/{S}"), None));
    }

    #[test]
    fn c_scope_05_06_12_non_general_paths_are_refused() {
        for p in [
            "/tools",
            "/servers",
            "/servers/",
            "/admin/",
            "/gateways",
            "/tokens",
            "/a2a",
            "/search",
        ] {
            assert!(!allows(p, None), "{p}");
        }
    }

    #[test]
    fn c_scope_07_11_general_endpoints_pass() {
        for p in ["/health", "/openapi.json", "/docs", "/mcp", "/mcp/", "/"] {
            assert!(allows(p, None), "{p}");
        }
    }

    #[test]
    fn c_scope_09_comparison_is_case_sensitive() {
        let upper = S.to_uppercase();
        assert!(!allows(&format!("/servers/{upper}/mcp"), None));
    }

    #[test]
    fn d1_prefixes_of_general_endpoints_are_refused() {
        for p in [
            "/mcp-servers/test",
            "/metrics/reset",
            "/rpcXYZ",
            "/healthz",
            "/mcp/sse",
        ] {
            assert!(!allows(p, None), "{p}");
        }
    }

    #[test]
    fn d4_scoping_compares_canonical_ids_after_resolution() {
        // S by its name resolves to S: allowed; T by its name resolves to T: refused.
        assert!(allows("/servers/alpha/mcp", Some(S)));
        assert!(!allows("/servers/beta/mcp", Some(T)));
        // A name that resolves to nothing is compared as is, and is not S.
        assert!(!allows("/servers/ghost/mcp", None));
    }

    #[test]
    fn unrestricted_tokens_pass_everywhere() {
        assert!(check_server_restriction(
            None,
            restriction_target("/tools"),
            None
        ));
    }

    #[test]
    fn c_scope_39_validate_server_access() {
        assert!(validate_server_access(Some("S"), "S"));
        assert!(!validate_server_access(Some("S"), "T"));
        assert!(validate_server_access(None, "T"));
    }
}
