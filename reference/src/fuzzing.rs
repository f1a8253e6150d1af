//! Fuzz target bodies: one plain function per cargo-fuzz target, so that every corpus and crash
//! file also replays as an ordinary `cargo test` on stable (`tests/fuzz_corpus_replay.rs`).
//!
//! Each body feeds arbitrary bytes to the pure parsers and decisions and checks the invariants
//! the spec gives them; a violated invariant panics, which is what a fuzzer reports. The
//! invariants are stated here independently of the code under test where that is cheap (the id
//! and name formats, what injection may change), and otherwise as cross-checks between modules
//! (a path the guard accepts is a fixed point of dot-segment removal; a valid server reference
//! survives the path pipeline unchanged).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::LazyLock;

use hmac::{Hmac, Mac};
use jiff::Timestamp;
use serde_json::{Map, Value, json};
use sha2::Sha256;

use crate::auth::claims::{Scopes, TeamScope};
use crate::auth::{Caller, JwtConfig, jwt};
use crate::ids;
use crate::paths::{self, RestrictionTarget, classify};
use crate::policy::WellKnownSuffix;
use crate::rpc::envelope::{self, EnvelopeError};
use crate::rpc::inject::inject_server_id;
use crate::scoping::{self, ScopeInput, permissions};
use crate::wellknown::{WellKnownPath, parse_well_known_path};

/// A target body: arbitrary bytes in, a panic on a violated invariant.
pub type TargetFn = fn(&[u8]);

/// Every target: its cargo-fuzz name and body.
pub const TARGETS: &[(&str, TargetFn)] = &[
    ("raw_server_path", raw_server_path),
    ("server_id_or_name", server_id_or_name),
    ("well_known_path", well_known_path),
    ("rpc_injection", rpc_injection),
    ("jwt_claims", jwt_claims),
];

/// The input files of a corpus or regression folder, sorted, without dotfiles (`.gitkeep`);
/// empty when the folder does not exist. For the replay tests of every crate's targets.
pub fn inputs(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<std::path::PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

/// Run `body` on each file as a fuzzer would; the files it panics on (or that cannot be read).
pub fn panicking_inputs(body: TargetFn, files: &[std::path::PathBuf]) -> Vec<String> {
    files
        .iter()
        .filter(|file| {
            std::fs::read(file)
                .map(|data| std::panic::catch_unwind(|| body(&data)).is_err())
                .unwrap_or(true)
        })
        .map(|file| file.display().to_string())
        .collect()
}

const METHODS: [&str; 6] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"];

/// A raw request target through the guard (D8) and every classification after it.
pub fn raw_server_path(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let path = raw.split_once('?').map_or(raw, |(p, _)| p);
    // The looser alternative a policy may choose must not panic either: it runs on the same
    // inputs.
    let normalised = paths::normalise_dot_segments(path);
    if paths::check_raw_path(path).is_err() {
        return;
    }
    let decoded = paths::decode_path(path).expect("a path the guard accepts decodes");
    assert!(
        !decoded.split('/').any(|s| s == "." || s == ".."),
        "the guard let a dot segment through: {path:?} decodes to {decoded:?}"
    );
    assert!(
        !decoded.bytes().any(|b| b < 0x20 || b == 0x7f),
        "the guard let a control byte through: {path:?}"
    );
    // D8: an accepted path is never normalised into another route. (Request targets that are
    // not absolute paths, `""` or `*`, never reach the gateway as such.)
    if path.starts_with('/') {
        assert_eq!(
            normalised, path,
            "dot-segment removal changes a path the guard accepts"
        );
    }
    let app = classify::strip_v1(&decoded);
    classify_app_path(app);
    // Under the root path `/gw`: when it strips nothing, the classifications would see the very
    // same string again, and they are pure functions, so only a path that changes runs twice.
    let under_root = classify::strip_v1(classify::strip_root(&decoded, "/gw"));
    if under_root != app {
        classify_app_path(under_root);
    }
}

fn classify_app_path(app: &str) {
    match paths::restriction_target(app) {
        RestrictionTarget::Server(s) => {
            assert!(
                !s.is_empty() && !s.contains('/'),
                "server segment {s:?} of {app:?}"
            );
            if let Some(sp) = paths::parse_server_path(app) {
                assert_eq!(
                    sp.segment, s,
                    "parse_server_path and restriction_target differ"
                );
            }
        }
        RestrictionTarget::General => {
            assert!(
                paths::is_general_endpoint(app),
                "{app:?} is General but not general"
            );
        }
        RestrictionTarget::Other => {}
    }
    let _ = paths::is_scoping_skip_path(app);
    let _ = scoping::ownership_target(app);
    for m in METHODS {
        let _ = permissions::required_permission(m, app);
    }
}

/// A server id or name (D4): the formats, and how a valid one travels through the path pipeline.
pub fn server_id_or_name(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let canonical = ids::is_canonical_id(s);
    let name = ids::is_valid_server_name(s);
    assert_eq!(canonical, is_32_lower_hex(s), "is_canonical_id({s:?})");
    assert_eq!(name, is_d4_name(s), "is_valid_server_name({s:?})");
    if canonical || name {
        let raw = format!("/servers/{s}/mcp");
        assert_eq!(
            paths::check_raw_path(&raw),
            Ok(()),
            "a valid reference is refused: {raw:?}"
        );
        let decoded = paths::decode_path(&raw).expect("decodes");
        assert_eq!(
            decoded,
            raw.as_str(),
            "a valid reference is changed by decoding"
        );
        assert_eq!(
            paths::restriction_target(&decoded),
            RestrictionTarget::Server(s)
        );
        let owned = scoping::ownership_target(&decoded).expect("a server path names a server");
        assert_eq!(owned.key, s);
        for rest in [format!("servers/{s}/mcp"), format!("servers/{s}")] {
            assert_eq!(
                parse_well_known_path(&rest, WellKnownSuffix::McpOnly),
                WellKnownPath::Server(s)
            );
        }
    }
    // Spelling every byte as an escape never makes the path name another server.
    // Written into one buffer: a `format!` per byte was an allocation per byte of input.
    let mut raw = String::with_capacity(13 + 3 * s.len());
    raw.push_str("/servers/");
    for b in s.bytes() {
        let _ = write!(raw, "%{b:02X}");
    }
    raw.push_str("/mcp");
    if paths::check_raw_path(&raw).is_ok() {
        let decoded = paths::decode_path(&raw).expect("decodes");
        assert_eq!(
            paths::restriction_target(&decoded),
            RestrictionTarget::Server(s),
            "{raw:?}"
        );
    }
}

/// The part of an RFC 9728 path after `/.well-known/oauth-protected-resource/` (D6).
pub fn well_known_path(data: &[u8]) {
    let Ok(rest) = std::str::from_utf8(data) else {
        return;
    };
    let strict = parse_well_known_path(rest, WellKnownSuffix::McpOnly);
    let lenient = parse_well_known_path(rest, WellKnownSuffix::Any);
    if let WellKnownPath::Server(id) = strict {
        assert!(
            ids::is_canonical_id(id) || ids::is_valid_server_name(id),
            "{id:?}"
        );
        let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
        assert!(
            parts == ["servers", id] || parts == ["servers", id, "mcp"],
            "D6: only servers/{{x}} and servers/{{x}}/mcp, got {rest:?}"
        );
        assert_eq!(lenient, strict, "the lenient parser names another server");
    }
    if let WellKnownPath::Server(id) = lenient {
        assert!(
            strict == lenient || strict == WellKnownPath::BadFormat,
            "lenient {id:?}, strict {strict:?}"
        );
    }
    // Through the guard, as the gateway sees it.
    let full = format!("/.well-known/oauth-protected-resource/{rest}");
    if paths::check_raw_path(&full).is_ok()
        && let Some(decoded) = paths::decode_path(&full)
        && let Some(after) = decoded.strip_prefix("/.well-known/oauth-protected-resource/")
    {
        let _ = parse_well_known_path(after, WellKnownSuffix::McpOnly);
        assert!(paths::is_scoping_skip_path(&decoded));
    }
}

/// A JSON-RPC body with server-id injection (issue 3018, D11). The first line of the input is the
/// server id when there is more than one line.
pub fn rpc_injection(data: &[u8]) {
    let (server, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (
            String::from_utf8_lossy(&data[..i]).into_owned(),
            &data[i + 1..],
        ),
        None => ("0123456789abcdef0123456789abcdef".to_owned(), data),
    };
    let parsed = envelope::parse_request(body);
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        assert_eq!(
            parsed,
            Err(EnvelopeError::Parse),
            "not JSON but not a parse error"
        );
        return;
    };
    let injected = inject_server_id(&value, &server);
    check_injection(&value, &injected, &server);
    let bytes = serde_json::to_vec(&injected).expect("a JSON value serialises");
    let reparsed: Value = serde_json::from_slice(&bytes).expect("the injected body re-parses");
    assert_eq!(reparsed, injected, "the injected body does not round-trip");
    let Ok(request) = parsed else { return };
    if body.len() > envelope::MAX_PARAMS_BYTES / 2 {
        return; // injection could push params over the size limit
    }
    let again = envelope::parse_request(&bytes).expect("an injected valid request stays valid");
    assert_eq!(again.method, request.method);
    assert_eq!(again.id, request.id);
    let mut expected = request.params.clone();
    expected.insert("server_id".to_owned(), Value::String(server.clone()));
    assert_eq!(
        again.params, expected,
        "params other than server_id changed"
    );
}

/// Only `params.server_id` may change, and key order is kept (`params` appended when new).
fn check_injection(before: &Value, after: &Value, server: &str) {
    let (Value::Object(b), Value::Object(a)) = (before, after) else {
        assert_eq!(before, after, "a non-object body changed");
        return;
    };
    let mut expected_keys: Vec<&String> = b.keys().collect();
    let params_key = "params".to_owned();
    if !b.contains_key("params") {
        expected_keys.push(&params_key);
    }
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        expected_keys,
        "top-level keys or order changed"
    );
    for (k, v) in b {
        if k != "params" {
            assert_eq!(a.get(k), Some(v), "{k:?} changed");
        }
    }
    let Some(Value::Object(p)) = a.get("params") else {
        panic!("params is not an object after injection: {after}");
    };
    assert_eq!(p.get("server_id"), Some(&Value::String(server.to_owned())));
    let old: Map<String, Value> = match b.get("params") {
        Some(Value::Object(o)) => o.clone(),
        _ => Map::new(),
    };
    let expected: Vec<(&String, &Value)> = old.iter().filter(|(k, _)| *k != "server_id").collect();
    let got: Vec<(&String, &Value)> = p.iter().filter(|(k, _)| *k != "server_id").collect();
    assert_eq!(got, expected, "other params changed or moved");
}

/// The key the JWT target signs with.
const FUZZ_KEY: &[u8] = b"fuzzing-key-fuzzing-key-fuzzing-key";
const FUZZ_ISSUER: &str = "mcpgateway";
const FUZZ_AUDIENCE: &str = "mcpgateway-api";
/// 2026-11-04T12:00:00Z, a Wednesday, seconds since the epoch.
const FUZZ_NOW: i64 = 1_793_880_000;

/// Built once: the configuration is the same for every input.
static FUZZ_JWT_CONFIG: LazyLock<JwtConfig> = LazyLock::new(fuzz_jwt_config);

fn fuzz_jwt_config() -> JwtConfig {
    JwtConfig {
        secret: FUZZ_KEY.to_vec(),
        audience: FUZZ_AUDIENCE.to_owned(),
        issuer: FUZZ_ISSUER.to_owned(),
        environment: "development".to_owned(),
        require_exp: true,
        require_jti: true,
    }
}

/// JWT claims and scopes: arbitrary claim bytes signed with the fixed key never make
/// verification panic; a `scopes` value from the input round-trips through signing,
/// `jwt::verify` and `scoping::decide`, and a server-scoped token never passes on another
/// server's path.
pub fn jwt_claims(data: &[u8]) {
    let cfg = &*FUZZ_JWT_CONFIG;
    // 1. The input as the raw claims segment.
    let token = sign_raw(br#"{"alg":"HS256","typ":"JWT"}"#, data);
    if let Ok(claims) = jwt::verify(&token, cfg, FUZZ_NOW) {
        assert!(serde_json::from_slice::<Map<String, Value>>(data).is_ok());
        let _ = claims.scopes_or_default();
    }
    // 2. The input as the `scopes` claim of an otherwise valid token.
    let Ok(scopes_value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let claims = json!({
        "sub": "fuzz@example.com", "jti": "fuzz", "iss": FUZZ_ISSUER, "aud": FUZZ_AUDIENCE,
        "exp": FUZZ_NOW + 3600, "teams": null,
        "user": {"email": "fuzz@example.com", "is_admin": true},
        "scopes": scopes_value,
    });
    if depth(&claims) > 100 {
        return; // near serde_json's recursion limit, which the token's claims parse hits first
    }
    let verified = jwt::verify(&jwt::sign(&claims, FUZZ_KEY), cfg, FUZZ_NOW);
    let Ok(expected) = serde_json::from_value::<Option<Scopes>>(scopes_value) else {
        assert!(
            verified.is_err(),
            "scopes that do not deserialise were accepted"
        );
        return;
    };
    let verified = verified.expect("a valid token with well-formed scopes verifies");
    assert_eq!(verified.scopes, expected, "scopes do not round-trip");
    let caller = Caller {
        email: Some("fuzz@example.com".to_owned()),
        is_admin: true,
        teams: TeamScope::AdminBypass,
        scopes: verified.scopes_or_default(),
        jti: verified.jti.clone(),
        token_use: None,
    };
    decide_everywhere(&caller, data.first().copied().unwrap_or(0));
}

/// The moments `decide_everywhere` decides at (inside and outside the time windows a scopes
/// value may set), parsed once rather than for every input.
static DECISION_TIMES: LazyLock<[Timestamp; 3]> = LazyLock::new(|| {
    [
        "2026-11-04T12:00:00Z",
        "2026-11-07T03:00:00Z",
        "2026-11-09T16:59:59Z",
    ]
    .map(|t| t.parse().expect("a timestamp"))
});

fn decide_everywhere(caller: &Caller, pick: u8) {
    const OTHER: &str = "ffffffffffffffffffffffffffffffff";
    let own = caller.scoped_server().unwrap_or(OTHER).to_owned();
    let now = DECISION_TIMES[usize::from(pick) % DECISION_TIMES.len()];
    let ips = [
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5)),
    ];
    let client_ip = ips[usize::from(pick / 3) % ips.len()];
    let paths = [
        format!("/servers/{own}/mcp"),
        format!("/servers/{OTHER}/mcp"),
        "/rpc".to_owned(),
        "/tools".to_owned(),
        "/".to_owned(),
    ];
    for path in &paths {
        for method in ["GET", "POST", "DELETE"] {
            let target = paths::restriction_target(path);
            let resolved = match target {
                RestrictionTarget::Server(s) => Some(s),
                _ => None,
            };
            let input = ScopeInput {
                caller,
                method,
                path,
                client_ip,
                now,
                still_member: true,
                ownership: None,
                restriction_target: target,
                resolved_server: resolved,
                usage: crate::store::usage::UsageCounts::default(),
                server_mcp_every_method_checked: true,
            };
            let decision = scoping::decide(&input);
            if caller.scoped_server().is_some_and(|s| s != OTHER) && resolved == Some(OTHER) {
                assert!(
                    decision.is_err(),
                    "a token scoped to {own} passes on {path}"
                );
            }
        }
    }
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// An HS256 JWT over arbitrary header and claims bytes.
fn sign_raw(header: &[u8], claims: &[u8]) -> String {
    let signing_input = format!("{}.{}", base64url(header), base64url(claims));
    let mut mac = Hmac::<Sha256>::new_from_slice(FUZZ_KEY).expect("HMAC takes any key length");
    mac.update(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        base64url(&mac.finalize().into_bytes())
    )
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn is_32_lower_hex(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// D4: `^[a-zA-Z0-9][a-zA-Z0-9_-]{0,253}[a-zA-Z0-9]$`, or a single alphanumeric.
fn is_d4_name(s: &str) -> bool {
    let b = s.as_bytes();
    let inner = |c: &u8| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-';
    match b {
        [] => false,
        [one] => one.is_ascii_alphanumeric(),
        [first, middle @ .., last] => {
            b.len() <= 255
                && first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && middle.iter().all(inner)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_known_vectors() {
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn raw_signed_claims_verify_like_library_signed_ones() {
        let claims = json!({"sub": "a", "jti": "j", "iss": FUZZ_ISSUER, "aud": FUZZ_AUDIENCE, "exp": FUZZ_NOW + 60});
        let token = sign_raw(
            br#"{"alg":"HS256","typ":"JWT"}"#,
            claims.to_string().as_bytes(),
        );
        assert!(jwt::verify(&token, &fuzz_jwt_config(), FUZZ_NOW).is_ok());
    }

    #[test]
    fn d4_name_format_restated() {
        assert!(is_d4_name("a") && is_d4_name("my-server_2") && !is_d4_name("-a"));
        assert!(!is_d4_name(&"x".repeat(256)) && is_d4_name(&"x".repeat(255)));
    }
}
