//! The raw-path guard (decision D8): runs on the request target exactly as it arrived, before
//! routing and scoping, and refuses anything that some layer could normalise into another route.
//!
//! Refused: dot segments (`.`/`..`, literal, percent-encoded in any case, or encoded several
//! times over), look-alike dots (fullwidth and friends), an encoded `/` or `\` inside a segment,
//! a literal `\`, `;` path parameters, empty segments (`//`) other than one trailing slash,
//! control bytes (raw or encoded, NUL included), malformed percent escapes and bytes that do not
//! decode to UTF-8 (overlong forms such as `%c0%ae` among them).

use std::borrow::Cow;

/// Why a raw path was refused; the response depends on the area the path aims at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardRejection {
    DotSegment,
    EncodedSeparator,
    Backslash,
    PathParameter,
    EmptySegment,
    ControlByte,
    BadEscape,
    NotUtf8,
}

impl GuardRejection {
    pub fn reason(self) -> &'static str {
        match self {
            GuardRejection::DotSegment => "dot segment",
            GuardRejection::EncodedSeparator => "encoded path separator",
            GuardRejection::Backslash => "backslash",
            GuardRejection::PathParameter => "path parameter",
            GuardRejection::EmptySegment => "empty path segment",
            GuardRejection::ControlByte => "control byte",
            GuardRejection::BadEscape => "malformed percent escape",
            GuardRejection::NotUtf8 => "path is not UTF-8",
        }
    }
}

/// How many rounds of percent-decoding the guard looks through (`%25252e` is three rounds).
const DECODE_ROUNDS: usize = 4;

/// Check a raw path (without the query string). `Ok` means every later step may work on
/// [`decode_path`] of it without ambiguity.
pub fn check_raw_path(raw: &str) -> Result<(), GuardRejection> {
    let bytes = raw.as_bytes();
    if bytes.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return Err(GuardRejection::ControlByte);
    }
    if raw.contains('\\') {
        return Err(GuardRejection::Backslash);
    }
    if raw.contains(';') {
        return Err(GuardRejection::PathParameter);
    }
    if raw.is_empty() || raw == "/" {
        return Ok(());
    }
    let body = raw.strip_prefix('/').unwrap_or(raw);
    // One trailing slash is allowed (`/rpc/`); `//` is an empty segment, not the root.
    let body = body
        .strip_suffix('/')
        .filter(|b| !b.is_empty())
        .unwrap_or(body);
    for segment in body.split('/') {
        if segment.is_empty() {
            return Err(GuardRejection::EmptySegment);
        }
        check_segment(segment)?;
    }
    Ok(())
}

fn check_segment(segment: &str) -> Result<(), GuardRejection> {
    let mut current: Cow<'_, str> = Cow::Borrowed(segment);
    for round in 0..DECODE_ROUNDS {
        if is_dot_segment(&current) {
            return Err(GuardRejection::DotSegment);
        }
        // A control character, raw or decoded: hyper refuses raw ASCII controls, but the C1
        // controls (U+0080..U+009F) arrive raw as UTF-8 and are as much a control as `%0a`.
        if current.chars().any(|c| c.is_control()) {
            return Err(GuardRejection::ControlByte);
        }
        if round > 0 {
            // Anything that only appears after decoding is smuggled: a separator or a parameter
            // delimiter (the raw path was checked for both before the first round).
            if current.contains('/') {
                return Err(GuardRejection::EncodedSeparator);
            }
            if current.contains('\\') {
                return Err(GuardRejection::EncodedSeparator);
            }
            if current.contains(';') {
                return Err(GuardRejection::PathParameter);
            }
        }
        if !current.contains('%') {
            return Ok(());
        }
        let decoded = percent_decode_bytes(current.as_bytes()).map_err(|()| {
            // The first round must be well formed; later rounds may legitimately hold a literal
            // `%` (from `%25`) that is not an escape, and that is fine.
            GuardRejection::BadEscape
        });
        let decoded = match decoded {
            Ok(d) => d,
            Err(e) if round == 0 => return Err(e),
            Err(_) => return Ok(()),
        };
        let text = String::from_utf8(decoded).map_err(|_| GuardRejection::NotUtf8)?;
        current = Cow::Owned(text);
    }
    Ok(())
}

/// `.` or `..`, or the same spelled with characters that Unicode normalisation folds into a dot.
fn is_dot_segment(s: &str) -> bool {
    let mut count = 0;
    for c in s.chars() {
        match c {
            // FULL STOP, FULLWIDTH FULL STOP, ONE DOT LEADER, SMALL FULL STOP
            '.' | '\u{FF0E}' | '\u{2024}' | '\u{FE52}' => count += 1,
            // TWO DOT LEADER folds to ".."
            '\u{2025}' => count += 2,
            _ => return false,
        }
    }
    count == 1 || count == 2
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn percent_decode_bytes(input: &[u8]) -> Result<Vec<u8>, ()> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' {
            let hi = input.get(i + 1).copied().and_then(hex_val).ok_or(())?;
            let lo = input.get(i + 2).copied().and_then(hex_val).ok_or(())?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// Percent-decode a path that passed [`check_raw_path`] once. `None` if it is not UTF-8 or has
/// a malformed escape (which the guard would have refused).
pub fn decode_path(raw: &str) -> Option<Cow<'_, str>> {
    if !raw.contains('%') {
        return Some(Cow::Borrowed(raw));
    }
    let bytes = percent_decode_bytes(raw.as_bytes()).ok()?;
    String::from_utf8(bytes).ok().map(Cow::Owned)
}

/// Resolve `.` and `..` segments (also percent-encoded, up to twice) instead of refusing them,
/// as a normalising proxy or framework would. Only a policy that normalises dot segments (D8's
/// looser alternative) routes the result; the guard itself never does.
pub(crate) fn normalise_dot_segments(raw: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for segment in raw.split('/').skip(1) {
        let once = decode_path(segment).unwrap_or_default();
        let twice = decode_path(&once).map(Cow::into_owned);
        match twice.as_deref().unwrap_or(&once) {
            "." => {}
            ".." => {
                out.pop();
            }
            _ => out.push(segment),
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_paths_pass() {
        for p in [
            "/",
            "",
            "/rpc",
            "/rpc/",
            "/servers/0123456789abcdef0123456789abcdef/mcp",
            "/servers/0123456789abcdef0123456789abcdef/mcp/",
            "/servers/hello%20world/mcp",
            "/.well-known/oauth-protected-resource/servers/gdrive/mcp",
            "/tools/a.b",
            "/servers/S./mcp",
            "/x/...",
            "/x/%25",
        ] {
            assert_eq!(check_raw_path(p), Ok(()), "{p}");
        }
    }

    #[test]
    fn traversal_variants_are_refused() {
        use GuardRejection::*;
        let cases: &[(&str, GuardRejection)] = &[
            ("/servers/../servers/S/mcp", DotSegment),
            ("/servers/./mcp", DotSegment),
            ("/servers/%2e%2e/mcp", DotSegment),
            ("/servers/%2E%2e/mcp", DotSegment),
            ("/servers/.%2E/mcp", DotSegment),
            ("/servers/%252e%252e/mcp", DotSegment),
            ("/servers/%25252e%25252e/mcp", DotSegment),
            ("/servers/%ef%bc%8e%ef%bc%8e/mcp", DotSegment),
            ("/servers/a%2fb/mcp", EncodedSeparator),
            ("/servers/a%2Fb/mcp", EncodedSeparator),
            ("/servers/a%5cb/mcp", EncodedSeparator),
            ("/servers/a%252fb/mcp", EncodedSeparator),
            ("/servers\\S/mcp", Backslash),
            ("/servers//mcp", EmptySegment),
            ("//servers/S/mcp", EmptySegment),
            ("//", EmptySegment),
            ("/rpc//", EmptySegment),
            ("/servers/S;x=1/mcp", PathParameter),
            ("/servers/S%3bx/mcp", PathParameter),
            ("/servers/S%00/mcp", ControlByte),
            ("/servers/S%0a/mcp", ControlByte),
            ("/servers/%c0%ae%c0%ae/mcp", NotUtf8),
            ("/servers/%zz/mcp", BadEscape),
            ("/servers/%2/mcp", BadEscape),
            ("/servers/S\u{1}/mcp", ControlByte),
            ("/servers/S\u{85}/mcp", ControlByte),
            ("/servers/S%C2%85/mcp", ControlByte),
        ];
        for (p, want) in cases {
            assert_eq!(check_raw_path(p), Err(*want), "{p}");
        }
    }

    #[test]
    fn decode_path_decodes_once() {
        assert_eq!(decode_path("/a%20b").as_deref(), Some("/a b"));
        assert_eq!(decode_path("/a%252e").as_deref(), Some("/a%2e"));
        assert_eq!(decode_path("/a%ff"), None);
    }
}
