//! The path-to-permission map (§1.4 with decision D7) and what a token's permission list grants.

use std::sync::LazyLock;

use regex::RegexSet;

/// What a request needs from a permission-restricted token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Allowed whatever the permissions (`/search`).
    Open,
    /// Needs this permission.
    Permission(&'static str),
    /// No row matches: a permission-restricted token is refused.
    Unmapped,
}

/// The table compiled once: every pattern in one `RegexSet` (a single pass over the path finds
/// every matching row, where trying the rows one by one cost several thousand instructions per
/// request), with each row's methods and permission by index.
struct Rows {
    patterns: RegexSet,
    rows: Vec<(&'static [&'static str], &'static str)>,
}

const GET: &[&str] = &["GET"];
const POST: &[&str] = &["POST"];
const PUT: &[&str] = &["PUT"];
const DELETE: &[&str] = &["DELETE"];
const GET_DELETE: &[&str] = &["GET", "DELETE"];
const GET_POST_DELETE: &[&str] = &["GET", "POST", "DELETE"];

/// Rows in order; the first match wins. Patterns run on the path with root and `/v1` removed.
const TABLE: &[(&[&str], &str, &str)] = &[
    (GET, r"^/plugins(?:$|/)", "plugins.read"),
    (GET, r"^/tools(?:$|/)", "tools.read"),
    (POST, r"^/tools/?$", "tools.create"),
    (POST, r"^/tools/preview(?:$|/)", "tools.preview"),
    (POST, r"^/tools/[^/]+/", "tools.update"),
    (PUT, r"^/tools/[^/]+(?:$|/)", "tools.update"),
    (DELETE, r"^/tools/[^/]+(?:$|/)", "tools.delete"),
    (GET, r"^/servers/[^/]+/tools(?:$|/)", "tools.read"),
    (
        POST,
        r"^/servers/[^/]+/tools/[^/]+/call(?:$|/)",
        "tools.execute",
    ),
    (POST, r"^/rpc(?:$|/)", "servers.use"),
    (GET, r"^/sse(?:$|/)", "servers.use"),
    (GET_POST_DELETE, r"^/mcp(?:$|/)", "servers.use"),
    (GET, r"^/resources(?:$|/)", "resources.read"),
    (POST, r"^/resources/?$", "resources.create"),
    (POST, r"^/resources/subscribe(?:$|/)", "resources.read"),
    (POST, r"^/resources/[^/]+/", "resources.update"),
    (PUT, r"^/resources/[^/]+(?:$|/)", "resources.update"),
    (DELETE, r"^/resources/[^/]+(?:$|/)", "resources.delete"),
    (GET, r"^/servers/[^/]+/resources(?:$|/)", "resources.read"),
    (GET, r"^/prompts(?:$|/)", "prompts.read"),
    (POST, r"^/prompts/?$", "prompts.create"),
    (POST, r"^/prompts/[^/]+/", "prompts.update"),
    (POST, r"^/prompts/[^/]+$", "prompts.read"),
    (PUT, r"^/prompts/[^/]+(?:$|/)", "prompts.update"),
    (DELETE, r"^/prompts/[^/]+(?:$|/)", "prompts.delete"),
    (GET, r"^/servers/[^/]+/sse(?:$|/)", "servers.use"),
    // D7: the MCP endpoint of a server needs servers.use for every method, as `/mcp` does.
    (GET_DELETE, r"^/servers/[^/]+/mcp/?$", "servers.use"),
    (GET, r"^/servers(?:$|/)", "servers.read"),
    (POST, r"^/servers/?$", "servers.create"),
    (
        POST,
        r"^/servers/[^/]+/(?:state|toggle)(?:$|/)",
        "servers.update",
    ),
    (POST, r"^/servers/[^/]+/message(?:$|/)", "servers.use"),
    (POST, r"^/servers/[^/]+/mcp(?:$|/)", "servers.use"),
    (PUT, r"^/servers/[^/]+(?:$|/)", "servers.update"),
    (DELETE, r"^/servers/[^/]+(?:$|/)", "servers.delete"),
    (GET, r"^/gateways(?:$|/)", "gateways.read"),
    (POST, r"^/gateways/?$", "gateways.create"),
    (POST, r"^/gateways/[^/]+/", "gateways.update"),
    (PUT, r"^/gateways/[^/]+(?:$|/)", "gateways.update"),
    (DELETE, r"^/gateways/[^/]+(?:$|/)", "gateways.delete"),
    (
        GET,
        r"^/oauth/registered-clients(?:$|/)",
        "admin.oauth_clients:read",
    ),
    (
        DELETE,
        r"^/oauth/registered-clients(?:$|/)",
        "admin.oauth_clients:delete",
    ),
    (
        POST,
        r"^/mcp-servers/test(?:-handshake)?/?$",
        "gateways.read",
    ),
    (GET, r"^/catalog(?:$|/)", "servers.read"),
    (POST, r"^/catalog/[^/]+/register(?:$|/)", "servers.create"),
    (
        GET,
        r"^/observability/metrics/(?:timeseries|percentiles)(?:$|/)",
        "metrics:read",
    ),
    (GET, r"^/api/logs/activity(?:$|/)", "audit:read"),
    (GET, r"^/metrics/?$", "admin.metrics"),
    (POST, r"^/metrics/reset/?$", "admin.metrics"),
    (GET, r"^/tokens(?:$|/)", "tokens.read"),
    (POST, r"^/tokens/?$", "tokens.create"),
    (POST, r"^/tokens/teams/[^/]+/?$", "tokens.create"),
    (POST, r"^/tokens/[^/]+(?:$|/)", "tokens.update"),
    (PUT, r"^/tokens/[^/]+(?:$|/)", "tokens.update"),
    (DELETE, r"^/tokens/[^/]+(?:$|/)", "tokens.revoke"),
    (GET, r"^/compliance(?:$|/)", "admin.compliance"),
    (POST, r"^/compliance(?:$|/)", "admin.compliance"),
    (
        POST,
        r"^/a2a/(?:[^/]+/)?(?:invoke|jsonrpc)/?$",
        "a2a.invoke",
    ),
    (GET, r"^/a2a(?:$|/)", "a2a.read"),
    (POST, r"^/a2a/?$", "a2a.create"),
    (PUT, r"^/a2a/[^/]+(?:$|/)", "a2a.update"),
    (DELETE, r"^/a2a/[^/]+(?:$|/)", "a2a.delete"),
    // No other /teams rows, as in ContextForge 1.1.0: a permission-restricted token cannot
    // list or create teams.
    (
        POST,
        r"^/teams/invitations/[^/]+/(?:accept|decline)/?$",
        "teams.join",
    ),
];

static ROWS: LazyLock<Rows> = LazyLock::new(|| Rows {
    patterns: RegexSet::new(TABLE.iter().map(|(_, pattern, _)| *pattern))
        .expect("static permission patterns"),
    rows: TABLE
        .iter()
        .map(|(methods, _, permission)| (*methods, *permission))
        .collect(),
});

/// The permission `method path` needs. `path` has the root path and `/v1` removed.
pub fn required_permission(method: &str, path: &str) -> Requirement {
    if path == "/search" || path.starts_with("/search/") {
        return Requirement::Open;
    }
    // Matches come in table order, so the first row that takes the method wins, as before.
    ROWS.patterns
        .matches(path)
        .iter()
        .map(|i| ROWS.rows[i])
        .find(|(methods, _)| methods.contains(&method))
        .map_or(Requirement::Unmapped, |(_, permission)| {
            Requirement::Permission(permission)
        })
}

/// Whether a permission list grants `required` (`token_scope_grants`): `*`, an exact match, a
/// `category.*` entry; `servers.use` is also granted by any tools/resources/prompts permission.
pub fn grants(permissions: &[String], required: &str) -> bool {
    if permissions.is_empty() {
        return true;
    }
    let category = |p: &str| p.split(['.', ':']).next().unwrap_or("").to_owned();
    permissions.iter().any(|p| {
        p == "*"
            || p == required
            || p.strip_suffix(".*")
                .is_some_and(|cat| cat == category(required))
            || (required == "servers.use"
                && ["tools.", "resources.", "prompts."]
                    .iter()
                    .any(|c| p.starts_with(c)))
    })
}

/// Whether a token restricted to `permissions` may make this request at this layer.
pub fn permission_allows(permissions: Option<&[String]>, method: &str, path: &str) -> bool {
    let Some(perms) = permissions.filter(|p| !p.is_empty()) else {
        return true;
    };
    if perms.iter().any(|p| p == "*") {
        return true;
    }
    match required_permission(method, path) {
        Requirement::Open => true,
        Requirement::Unmapped => false,
        Requirement::Permission(p) => grants(perms, p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn allows(list: &[&str], method: &str, path: &str) -> bool {
        permission_allows(Some(&p(list)), method, path)
    }

    #[test]
    fn c_scope_16_tools_read_may_read_not_create() {
        assert!(!allows(&["tools.read"], "POST", "/tools"));
        assert!(allows(&["tools.read"], "GET", "/tools"));
    }

    #[test]
    fn c_scope_17_tool_permissions_imply_servers_use() {
        assert!(allows(&["tools.execute"], "POST", "/rpc"));
        assert!(allows(&["tools.execute"], "POST", "/mcp"));
    }

    #[test]
    fn c_scope_18_unrelated_permissions_refuse_transports() {
        for (m, path) in [("POST", "/rpc"), ("POST", "/mcp"), ("GET", "/sse")] {
            assert!(!allows(&["a2a.read"], m, path), "{m} {path}");
        }
    }

    #[test]
    fn c_scope_19_unmapped_refused_search_open() {
        assert!(!allows(&["tools.read"], "GET", "/roots"));
        assert!(allows(&["tools.read"], "GET", "/search"));
        assert!(allows(&["tools.read"], "GET", "/search/x"));
    }

    #[test]
    fn c_scope_20_star_and_empty_are_unrestricted() {
        assert!(allows(&["*"], "DELETE", "/anything"));
        assert!(permission_allows(Some(&[]), "DELETE", "/anything"));
        assert!(permission_allows(None, "DELETE", "/anything"));
    }

    #[test]
    fn c_scope_21_preview_needs_its_own_permission() {
        assert!(!allows(&["tools.read"], "POST", "/tools/preview"));
        assert!(!allows(&["tools.update"], "POST", "/tools/preview"));
        assert!(allows(&["tools.preview"], "POST", "/tools/preview"));
    }

    #[test]
    fn c_scope_22_and_d7_server_mcp_needs_servers_use_for_every_method() {
        let s = "/servers/0123456789abcdef0123456789abcdef/mcp";
        for m in ["POST", "GET", "DELETE"] {
            assert!(allows(&["servers.use"], m, s), "{m}");
            assert!(
                allows(&["servers.use"], m, &format!("{s}/")),
                "{m} trailing slash"
            );
        }
        assert!(allows(&["servers.use"], "GET", "/mcp"));
        assert!(allows(&["servers.use"], "DELETE", "/mcp"));
        // Other GETs below a server still need servers.read.
        assert!(!allows(&["servers.use"], "GET", "/servers/x/prompts"));
    }

    #[test]
    fn c_scope_23_patch_is_never_mapped() {
        assert!(!allows(&["tools.read"], "PATCH", "/tools/x"));
        assert!(!allows(&["tools.update"], "PATCH", "/tools/x"));
    }

    #[test]
    fn c_scope_13_mcp_servers_test_needs_gateways_read() {
        assert!(!allows(&["tools.read"], "POST", "/mcp-servers/test"));
        assert!(allows(&["gateways.read"], "POST", "/mcp-servers/test"));
    }

    #[test]
    fn c_auth_13_tokens_create_needs_tokens_create() {
        assert!(!allows(&["tools.read"], "POST", "/tokens"));
        assert!(allows(&["tokens.create"], "POST", "/tokens"));
    }

    #[test]
    fn category_wildcards_grant_their_category_only() {
        assert!(grants(&p(&["tools.*"]), "tools.execute"));
        assert!(!grants(&p(&["tools.*"]), "resources.read"));
        assert!(grants(&p(&["resources.read"]), "servers.use"));
    }
}
