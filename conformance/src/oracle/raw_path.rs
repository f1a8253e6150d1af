//! Raw-path acceptance (D8): which request paths a gateway must refuse before routing and
//! scoping, and which it must let through to routing.
//!
//! D8 refuses a raw path with a dot segment (`.` or `..`, literal, percent-encoded in any case,
//! or double-encoded), an encoded `/` or `\` inside a segment, an empty server segment, or NUL
//! and other control bytes. The checklist needs some odd paths to reach routing:
//! `/servers/` (C-SCOPE-06 expects a scoping 403), `/servers/hello%20world/mcp` (C-MCP-05
//! expects a lookup 404). Paths made only of RFC 3986 path characters and well-formed escapes
//! of harmless bytes must therefore be accepted. The rest is undecided by the spec:
//! characters outside RFC 3986's `pchar`, malformed escapes, double encoding of anything but a
//! dot segment, decoded bytes that are not UTF-8, and empty segments other than the server one.
//!
//! Decoding is done here byte by byte on each segment, at most twice: the spec decides the
//! single and double encodings; deeper encodings are undecided.

use super::Verdict;

/// Why a raw path must be refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A `.` or `..` segment, literal or encoded once or twice.
    DotSegment,
    /// `%2f` or `%5c` (any case) inside a segment.
    EncodedSeparator,
    /// A byte below 0x20 or 0x7f, literal or encoded.
    ControlByte,
    /// `/servers//...`: the server segment is empty.
    EmptyServerSegment,
}

/// The oracle's judgement of one raw path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawPath {
    Accept,
    Refuse(Refusal),
    Unspecified(&'static str),
}

impl RawPath {
    /// Whether the path must be accepted (`Yes`), refused (`No`), or either.
    pub fn accepted(self) -> Verdict {
        match self {
            RawPath::Accept => Verdict::Yes,
            RawPath::Refuse(_) => Verdict::No,
            RawPath::Unspecified(why) => Verdict::Unspecified(why),
        }
    }
}

/// Judge a raw request target (`/path` with an optional `?query`, sent byte for byte).
pub fn judge(raw: &str) -> RawPath {
    // The query is not part of the path; D8 says nothing about it.
    let path = raw.split_once('?').map_or(raw, |(p, _)| p);
    let Some(body) = path.strip_prefix('/') else {
        return RawPath::Unspecified("not an absolute path");
    };
    let mut undecided: Option<&'static str> = None;
    let mut note = |why: &'static str| {
        undecided.get_or_insert(why);
    };

    if path.bytes().any(is_control) {
        return RawPath::Refuse(Refusal::ControlByte);
    }
    if let Some(why) = path.bytes().find_map(literal_byte_undecided) {
        note(why);
    }

    let segments: Vec<&str> = body.split('/').collect();
    for seg in &segments {
        match judge_segment(seg) {
            SegmentJudgement::Fine => {}
            SegmentJudgement::Refuse(r) => return RawPath::Refuse(r),
            SegmentJudgement::Undecided(why) => note(why),
        }
    }

    let decoded_first = segments.first().and_then(|s| decode(s.as_bytes()));
    let first_is_servers = decoded_first.as_deref() == Some(b"servers".as_slice());
    if first_is_servers && segments.len() >= 3 && segments[1].is_empty() {
        return RawPath::Refuse(Refusal::EmptyServerSegment);
    }
    if first_is_servers && segments[0] != "servers" {
        note("a route keyword spelled with escapes (/%73ervers/...)");
    }
    // Every segment but the last: an empty last segment is a trailing slash.
    let inner = &segments[..segments.len() - 1];
    if inner.iter().any(|s| s.is_empty()) {
        note("an empty segment other than the server segment or a trailing slash");
    }

    match undecided {
        Some(why) => RawPath::Unspecified(why),
        None => RawPath::Accept,
    }
}

enum SegmentJudgement {
    Fine,
    Refuse(Refusal),
    Undecided(&'static str),
}

fn judge_segment(seg: &str) -> SegmentJudgement {
    use SegmentJudgement::*;
    if is_dot(seg.as_bytes()) {
        return Refuse(Refusal::DotSegment);
    }
    let Some(once) = decode(seg.as_bytes()) else {
        return Undecided("a malformed percent escape");
    };
    if is_dot(&once) {
        return Refuse(Refusal::DotSegment);
    }
    // A raw segment has no `/`; a `\` counts only if an escape produced it.
    let backslashes = |s: &[u8]| s.iter().filter(|&&b| b == b'\\').count();
    if once.contains(&b'/') || backslashes(&once) > backslashes(seg.as_bytes()) {
        return Refuse(Refusal::EncodedSeparator);
    }
    if once.iter().copied().any(is_control) {
        return Refuse(Refusal::ControlByte);
    }
    if once.contains(&b'%') {
        return match decode(&once) {
            Some(twice) if is_dot(&twice) => Refuse(Refusal::DotSegment),
            _ => Undecided("double encoding of something other than a dot segment"),
        };
    }
    if std::str::from_utf8(&once).is_err() {
        return Undecided("escapes that decode to bytes that are not UTF-8 (e.g. %c0%ae)");
    }
    if once.contains(&b';') {
        return Undecided("a `;` path parameter, literal or encoded");
    }
    if !once.is_ascii() {
        // Found by the differential test: refusing look-alikes such as the fullwidth dot
        // (U+FF0E), which a normalising layer could turn into `.`, is within D8's intent.
        return Undecided("non-ASCII after decoding (look-alike dots may be refused)");
    }
    Fine
}

fn is_dot(seg: &[u8]) -> bool {
    seg == b"." || seg == b".."
}

fn is_control(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

/// Literal bytes RFC 3986 does not allow in a path (besides `%` escapes and `/`).
fn literal_byte_undecided(b: u8) -> Option<&'static str> {
    let pchar = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@%/".contains(&b);
    match b {
        // Found by the differential test: servlet-style layers strip `;params` from a
        // segment, so refusing `;` is within D8's intent.
        b';' => Some("a `;` path parameter"),
        _ if pchar => None,
        b'\\' => Some("a literal backslash (D8 names only the encoded one)"),
        b' ' => Some("a literal space"),
        0x80.. => Some("a literal non-ASCII byte"),
        _ => Some("a literal character outside RFC 3986 pchar"),
    }
}

/// Percent-decode once; `None` if an escape is malformed.
pub fn decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            let hi = hex_val(*s.get(i + 1)?)?;
            let lo = hex_val(*s.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    Some(out)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn d8_refusals() {
        for p in [
            "/servers/../x",
            "/servers/%2e%2E/mcp",
            "/servers/.%2e/mcp",
            "/servers/%252e%252e/mcp",
            "/a/./b",
            "/servers/a%2fb/mcp",
            "/servers/a%5Cb/mcp",
            "/servers/a%00/mcp",
            "/rpc\n",
            "/servers//mcp",
            "/servers//",
        ] {
            assert!(matches!(judge(p), RawPath::Refuse(_)), "{p}");
        }
    }

    #[test]
    fn ordinary_paths_are_accepted() {
        for p in [
            "/",
            "/rpc",
            "/rpc/",
            "/servers/",
            "/servers/abc/mcp",
            "/servers/hello%20world/mcp",
            "/servers/a.b/mcp",
            "/servers/a%2eb/mcp",
            "/sse/S?x=../..",
        ] {
            assert_eq!(judge(p), RawPath::Accept, "{p}");
        }
    }

    #[test]
    fn undecided_cases_say_why() {
        for p in [
            "/servers/%c0%ae/mcp",
            "/servers/a%252fb/mcp",
            "/servers/a%zz/mcp",
            "/servers/a\\b/mcp",
            "/servers/S//mcp",
            "//servers/S/mcp",
            "/%73ervers/S/mcp",
        ] {
            assert!(matches!(judge(p), RawPath::Unspecified(_)), "{p}");
        }
    }
}
