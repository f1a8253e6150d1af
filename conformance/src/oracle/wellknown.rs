//! RFC 9728 protected-resource paths (§4, D4, D6): which paths under
//! `/.well-known/oauth-protected-resource/` may name a server at all.
//!
//! D6 accepts only `servers/{id-or-name}/mcp` and the bare `servers/{id-or-name}`; any other
//! shape is 404 before a server is looked up. Like ContextForge, surrounding slashes are
//! ignored (it splits `path.strip("/")`).

use super::segments::{Seg, Shape, Tail};

const BARE: Shape = Shape::new(&[Seg::Lit("servers"), Seg::Any], Tail::End);
const MCP: Shape = Shape::new(&[Seg::Lit("servers"), Seg::Any, Seg::Lit("mcp")], Tail::End);

/// The server a protected-resource path names (`rest` is what follows
/// `/.well-known/oauth-protected-resource/`), or `None` when it must be 404 whatever exists.
pub fn protected_resource_server(rest: &str) -> Option<&str> {
    let segs: Vec<&str> = rest.trim_matches('/').split('/').collect();
    (BARE.matches(&segs) || MCP.matches(&segs)).then(|| segs[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn d6_only_the_mcp_and_bare_forms() {
        assert_eq!(protected_resource_server("servers/S/mcp"), Some("S"));
        assert_eq!(protected_resource_server("servers/S"), Some("S"));
        assert_eq!(protected_resource_server("servers/S/mcp/"), Some("S"));
        for bad in [
            "servers/S/anything",
            "servers/S/mcp/extra",
            "tools/S/mcp",
            "servers",
            "servers//mcp",
        ] {
            assert_eq!(protected_resource_server(bad), None, "{bad}");
        }
    }
}
