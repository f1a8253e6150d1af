//! The method + path → permission map (§1.4, with D7) and what a token's permission list
//! grants (§1.1, layer 1).
//!
//! The map is a list of rows tried in order; the first row whose methods and [`Shape`] match
//! decides. The spec lists the rows of the MCP-facing families (tools, resources, prompts,
//! servers, `/rpc`, `/sse`, `/mcp`, plugins, gateways); in those an unmatched path is denied,
//! except PUT/DELETE on a prompt, which the spec seems to have left out. For other families it
//! gives single rows (tokens, metrics, ...), so the oracle decides only those rows and leaves the
//! rest of each family undecided, as it does for families the spec never mentions (`/teams`).
//! A first segment that belongs to no family at all is denied (an unmatched path).

use super::Verdict;
use super::classify::normalise;
use super::segments::{Seg, Shape, Tail, split};

/// What the map says a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Required {
    /// Allowed at this layer whatever the token's permissions (`/search`).
    Always,
    Needs(&'static str),
    /// No row matched in a family the spec lists completely: denied.
    Unmatched,
    Unspecified(&'static str),
}

use Seg::{Any, Lit};
use Tail::{Deeper, End, Open, OptSlash};

const GET: &[&str] = &["GET"];
const POST: &[&str] = &["POST"];
const PUT: &[&str] = &["PUT"];
const DELETE: &[&str] = &["DELETE"];
const GET_POST_DELETE: &[&str] = &["GET", "POST", "DELETE"];
const GET_DELETE: &[&str] = &["GET", "DELETE"];

/// One row of the map.
struct Row(&'static [&'static str], Shape, &'static str);

const fn row(
    methods: &'static [&'static str],
    segs: &'static [Seg],
    tail: Tail,
    perm: &'static str,
) -> Row {
    Row(methods, Shape::new(segs, tail), perm)
}

/// §1.4's rows, in the spec's order, with D7's row placed before the generic `/servers` rows
/// it overrides.
#[rustfmt::skip]
const ROWS: &[Row] = &[
    row(GET, &[Lit("plugins")], Open, "plugins.read"),
    row(GET, &[Lit("tools")], Open, "tools.read"),
    row(POST, &[Lit("tools")], OptSlash, "tools.create"),
    row(POST, &[Lit("tools"), Lit("preview")], Open, "tools.preview"),
    row(POST, &[Lit("tools"), Any], Deeper, "tools.update"),
    row(PUT, &[Lit("tools"), Any], Open, "tools.update"),
    row(DELETE, &[Lit("tools"), Any], Open, "tools.delete"),
    row(GET, &[Lit("servers"), Any, Lit("tools")], Open, "tools.read"),
    row(POST, &[Lit("servers"), Any, Lit("tools"), Any, Lit("call")], Open, "tools.execute"),
    row(POST, &[Lit("rpc")], Open, "servers.use"),
    row(GET, &[Lit("sse")], Open, "servers.use"),
    row(GET_POST_DELETE, &[Lit("mcp")], Open, "servers.use"),
    row(GET, &[Lit("resources")], Open, "resources.read"),
    row(POST, &[Lit("resources")], OptSlash, "resources.create"),
    row(POST, &[Lit("resources"), Lit("subscribe")], Open, "resources.read"),
    row(POST, &[Lit("resources"), Any], Deeper, "resources.update"),
    row(PUT, &[Lit("resources"), Any], Open, "resources.update"),
    row(DELETE, &[Lit("resources"), Any], Open, "resources.delete"),
    row(GET, &[Lit("servers"), Any, Lit("resources")], Open, "resources.read"),
    row(GET, &[Lit("prompts")], Open, "prompts.read"),
    row(POST, &[Lit("prompts")], OptSlash, "prompts.create"),
    row(POST, &[Lit("prompts"), Any], Deeper, "prompts.update"),
    row(POST, &[Lit("prompts"), Any], End, "prompts.read"),
    // §1.4 lists prompts only in part; ContextForge 1.1.0's map (checked live) has PUT and
    // DELETE rows like the tools and resources families.
    row(PUT, &[Lit("prompts"), Any], Open, "prompts.update"),
    row(DELETE, &[Lit("prompts"), Any], Open, "prompts.delete"),
    row(GET, &[Lit("servers"), Any, Lit("sse")], Open, "servers.use"),
    // D7: GET and DELETE on /servers/{id}/mcp need servers.use, as POST does. D7 names the
    // endpoint itself (C-MCP-28 adds the trailing slash); deeper paths fall through to the
    // generic rows, as in ContextForge. (The first version of this row was `Open`; the
    // differential test showed that reading went beyond D7.)
    row(GET_DELETE, &[Lit("servers"), Any, Lit("mcp")], OptSlash, "servers.use"),
    row(GET, &[Lit("servers")], Open, "servers.read"),
    row(POST, &[Lit("servers")], OptSlash, "servers.create"),
    row(POST, &[Lit("servers"), Any, Seg::OneOf(&["state", "toggle"])], Open, "servers.update"),
    row(POST, &[Lit("servers"), Any, Lit("message")], Open, "servers.use"),
    row(POST, &[Lit("servers"), Any, Lit("mcp")], Open, "servers.use"),
    row(PUT, &[Lit("servers"), Any], Open, "servers.update"),
    row(DELETE, &[Lit("servers"), Any], Open, "servers.delete"),
    // The gateways family, read as the tools rows ("read / create (exact) / update
    // (sub-resources) / update / delete").
    row(GET, &[Lit("gateways")], Open, "gateways.read"),
    row(POST, &[Lit("gateways")], OptSlash, "gateways.create"),
    row(POST, &[Lit("gateways"), Any], Deeper, "gateways.update"),
    row(PUT, &[Lit("gateways"), Any], Open, "gateways.update"),
    row(DELETE, &[Lit("gateways"), Any], Open, "gateways.delete"),
    // Single rows the spec gives from families it does not list completely.
    row(POST, &[Lit("mcp-servers"), Seg::OneOf(&["test", "test-handshake"])], End, "gateways.read"),
    row(GET, &[Lit("metrics")], End, "admin.metrics"),
    row(POST, &[Lit("metrics"), Lit("reset")], End, "admin.metrics"),
    row(GET, &[Lit("tokens")], Open, "tokens.read"),
    row(POST, &[Lit("tokens")], OptSlash, "tokens.create"),
    row(POST, &[Lit("tokens"), Lit("teams"), Any], End, "tokens.create"),
];

/// First segments of families the spec summarises: only the rows above are decided.
const PARTIAL_FAMILIES: &[&str] = &[
    "oauth",
    "mcp-servers",
    "catalog",
    "observability",
    "api",
    "metrics",
    "tokens",
    "compliance",
    "a2a",
    "chat",
    "models",
];

/// Families the gateway serves that §1.4 does not mention at all: unmatched by the letter of
/// the spec, but its table is only "main entries". (`/teams` is not among them: ContextForge
/// 1.1.0's map, checked live, has no `/teams` rows but team invitations, so a
/// permission-restricted token is refused there.)
const UNMENTIONED_FAMILIES: &[&str] = &["users", "auth"];

/// Paths token scoping skips before it reaches the map (§1.2 step 5).
const SKIPPED: &[&str] = &["health", "openapi.json", "docs", "redoc", ".well-known"];

/// What `method` on the normalised, decoded `path` needs.
pub fn required(method: &str, path: &str) -> Required {
    let Some(segs) = split(path) else {
        return Required::Unspecified("not an absolute path");
    };
    if segs == [""] {
        return Required::Unspecified("§1.2 step 3: the root passes before the map");
    }
    let first = segs[0];
    if first == "search" {
        return Required::Always;
    }
    if first.starts_with("admin") {
        return Required::Unspecified("/admin* has its own table, which the spec does not give");
    }
    if SKIPPED.contains(&first)
        || segs.starts_with(&["auth", "email"])
        || (first == "servers" && segs.get(2) == Some(&".well-known"))
    {
        return Required::Unspecified("token scoping skips this path before the map");
    }
    if let Some(Row(_, _, perm)) = ROWS
        .iter()
        .find(|Row(methods, shape, _)| methods.contains(&method) && shape.matches(&segs))
    {
        return Required::Needs(perm);
    }
    if UNMENTIONED_FAMILIES.contains(&first) {
        return Required::Unspecified("a family the gateway serves that §1.4 does not mention");
    }
    if PARTIAL_FAMILIES.contains(&first) {
        return Required::Unspecified("a family the spec lists only in part");
    }
    Required::Unmatched
}

/// Whether a token holding `perms` is granted `required` (§1.1 layer 1).
pub fn grants(perms: &[String], required: &str) -> Verdict {
    if perms.is_empty() || perms.iter().any(|p| p == "*" || p == required) {
        return Verdict::Yes;
    }
    let category = required.split_once('.').map(|(c, _)| c);
    let mut undecided = None;
    for p in perms {
        let Some(prefix) = p.strip_suffix(".*") else {
            continue;
        };
        if Some(prefix) == category && !prefix.is_empty() && !prefix.contains(['.', '*']) {
            return Verdict::Yes;
        }
        if prefix.is_empty() || prefix.contains(['.', '*']) || required.starts_with(prefix) {
            // `tools.read.*`, `.*`, `*.*`, or `metrics.*` against `metrics:read`: the spec's
            // "<category>.*" does not say what these mean.
            undecided = Some("a wildcard that is not a plain `<category>.*`");
        }
    }
    if required == "servers.use"
        && perms.iter().any(|p| {
            ["tools.", "resources.", "prompts."]
                .iter()
                .any(|c| p.starts_with(c))
        })
    {
        return Verdict::Yes;
    }
    match undecided {
        Some(why) => Verdict::Unspecified(why),
        None => Verdict::No,
    }
}

/// Whether a token holding `perms` passes the permission map for `method` on the decoded
/// `path` (root path and `/v1` are stripped here).
pub fn allows(perms: &[String], method: &str, path: &str, root: Option<&str>) -> Verdict {
    if perms.is_empty() || perms.iter().any(|p| p == "*") {
        return Verdict::Yes;
    }
    match required(method, &normalise(path, root)) {
        Required::Always => Verdict::Yes,
        Required::Needs(p) => grants(perms, p),
        Required::Unmatched => Verdict::No,
        Required::Unspecified(why) => Verdict::Unspecified(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn c_scope_permission_rows() {
        assert_eq!(required("POST", "/tools"), Required::Needs("tools.create"));
        assert_eq!(required("GET", "/tools"), Required::Needs("tools.read"));
        assert_eq!(
            required("POST", "/tools/preview"),
            Required::Needs("tools.preview")
        );
        assert_eq!(
            required("POST", "/tools/preview/"),
            Required::Needs("tools.preview")
        );
        assert_eq!(
            required("POST", "/tools/x/"),
            Required::Needs("tools.update")
        );
        assert_eq!(required("POST", "/tools/x"), Required::Unmatched);
        assert_eq!(required("PATCH", "/tools/x"), Required::Unmatched);
        assert_eq!(required("GET", "/roots"), Required::Unmatched);
        assert_eq!(required("GET", "/search/x"), Required::Always);
        assert_eq!(
            required("POST", "/prompts/x"),
            Required::Needs("prompts.read")
        );
        assert_eq!(
            required("GET", "/servers/S/prompts"),
            Required::Needs("servers.read")
        );
        assert_eq!(
            required("POST", "/mcp-servers/test"),
            Required::Needs("gateways.read")
        );
    }

    #[test]
    fn d7_server_mcp_needs_servers_use_for_every_method() {
        for m in ["GET", "POST", "DELETE"] {
            assert_eq!(
                required(m, "/servers/S/mcp"),
                Required::Needs("servers.use"),
                "{m}"
            );
        }
        assert_eq!(
            required("PUT", "/servers/S/mcp"),
            Required::Needs("servers.update")
        );
    }

    #[test]
    fn layer_one_grants() {
        assert_eq!(grants(&p(&[]), "tools.read"), Verdict::Yes);
        assert_eq!(grants(&p(&["*"]), "admin.metrics"), Verdict::Yes);
        assert_eq!(grants(&p(&["tools.*"]), "tools.execute"), Verdict::Yes);
        assert_eq!(grants(&p(&["tools.*"]), "resources.read"), Verdict::No);
        assert_eq!(grants(&p(&["tools.execute"]), "servers.use"), Verdict::Yes);
        assert_eq!(grants(&p(&["a2a.read"]), "servers.use"), Verdict::No);
        assert_eq!(grants(&p(&["Tools.read"]), "tools.read"), Verdict::No);
        assert!(matches!(
            grants(&p(&["metrics.*"]), "metrics:read"),
            Verdict::Unspecified(_)
        ));
    }

    #[test]
    fn c_scope_17_18_rpc_compensation() {
        let allows = |perms: &[&str], m, path| allows(&p(perms), m, path, None);
        assert_eq!(allows(&["tools.execute"], "POST", "/rpc"), Verdict::Yes);
        assert_eq!(allows(&["a2a.read"], "POST", "/rpc"), Verdict::No);
        assert_eq!(allows(&["a2a.read"], "GET", "/sse"), Verdict::No);
        assert_eq!(
            allows(&["servers.use"], "GET", "/v1/servers/S/mcp"),
            Verdict::Yes
        );
    }
}
