//! Identifier formats: canonical 32-hex ids (ContextForge's `uuid4().hex`) and server names (D4).

use std::sync::LazyLock;

use regex::Regex;

/// A fresh canonical id: 32 lowercase hex characters.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Whether `s` is a canonical id (32 lowercase hex characters, no dashes).
pub(crate) fn is_canonical_id(s: &str) -> bool {
    s.len() == 32 && is_lowercase_hex(s)
}

/// Whether `s` is non-empty lowercase hex (of any length): the only server ids a policy with
/// issue 3891's hex-only server rule recognises.
pub(crate) fn is_lowercase_hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

static SERVER_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[a-zA-Z0-9][a-zA-Z0-9_-]{0,253}[a-zA-Z0-9]|[a-zA-Z0-9])$")
        .expect("static regex")
});

/// Whether `s` may be a server name (decision D4). Anything else is rejected before any lookup.
pub(crate) fn is_valid_server_name(s: &str) -> bool {
    SERVER_NAME.is_match(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_ids_are_32_lowercase_hex() {
        assert!(is_canonical_id(&new_id()));
        assert!(!is_canonical_id("00000000-0000-0000-0000-000000000000"));
        assert!(!is_canonical_id("AABBCCDDEEFF00112233445566778899"));
        assert!(!is_canonical_id("abc"));
    }

    #[test]
    fn server_names_follow_d4() {
        for ok in ["gdrive", "a", "my-server_2", "A1"] {
            assert!(is_valid_server_name(ok), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a.b",
            "..",
            "a b",
            "a/b",
            "é",
            &"x".repeat(256),
        ] {
            assert!(!is_valid_server_name(bad), "{bad}");
        }
    }
}
