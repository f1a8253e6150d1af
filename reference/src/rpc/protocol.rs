//! MCP protocol versions: which ones the gateway speaks, negotiation, and the
//! `MCP-Protocol-Version` header rule (C-RPC-23).

use axum::http::HeaderMap;
use serde_json::{Value, json};

/// Versions the gateway speaks, oldest first.
pub const SUPPORTED_VERSIONS: [&str; 3] = ["2025-03-26", "2025-06-18", "2025-11-25"];
/// What the gateway answers when a client asks for a version it does not speak.
pub const LATEST_VERSION: &str = "2025-11-25";

/// The version to answer an `initialize` asking for `requested`.
pub(crate) fn negotiate(requested: Option<&str>) -> &'static str {
    requested
        .and_then(|r| SUPPORTED_VERSIONS.iter().find(|v| **v == r).copied())
        .unwrap_or(LATEST_VERSION)
}

/// `Err(body)` (for a 400) when the request names an unsupported `MCP-Protocol-Version`.
/// A missing header means the latest version. `exact` is the strict rule; without it (the
/// defect matrix) a version is admitted when it sorts after the oldest supported one.
pub(crate) fn check_version_header(headers: &HeaderMap, exact: bool) -> Result<(), Value> {
    let Some(v) = headers.get("mcp-protocol-version") else {
        return Ok(());
    };
    let text = v.to_str().unwrap_or("<not text>");
    if SUPPORTED_VERSIONS.contains(&text) || (!exact && text >= SUPPORTED_VERSIONS[0]) {
        return Ok(());
    }
    Err(json!({
        "error": "Bad Request",
        "message": format!("Unsupported protocol version: {text}. Supported versions: {}", SUPPORTED_VERSIONS.join(", ")),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn negotiation_echoes_known_versions_only() {
        assert_eq!(negotiate(Some("2025-06-18")), "2025-06-18");
        assert_eq!(negotiate(Some("1999-01-01")), LATEST_VERSION);
        assert_eq!(negotiate(None), LATEST_VERSION);
    }

    #[test]
    fn c_rpc_23_unsupported_header_is_refused() {
        let mut h = HeaderMap::new();
        assert!(check_version_header(&h, true).is_ok());
        h.insert(
            "mcp-protocol-version",
            HeaderValue::from_static("2025-03-26"),
        );
        assert!(check_version_header(&h, true).is_ok());
        h.insert(
            "mcp-protocol-version",
            HeaderValue::from_static("1999-01-01"),
        );
        let body = check_version_header(&h, true).unwrap_err();
        assert_eq!(body["error"], "Bad Request");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .starts_with("Unsupported protocol version: 1999-01-01. Supported versions: ")
        );
    }
}
