//! `Accept` negotiation on the MCP transport (pure).
//!
//! A POST is answered as `application/json` or as a one-shot `text/event-stream`. The configured
//! mode (`JSON_RESPONSE_ENABLED`) is used when the client accepts it at least as much as the
//! other (RFC 9110 §12.4.2: a higher `q` is a preference), the other one when only that is
//! accepted or preferred, and 406 when neither is. A `GET` stream needs `text/event-stream`. No
//! `Accept` header means anything is accepted (RFC 9110 §12.5.1). A media range with `q=0`
//! refuses that type, and the most specific matching range decides.

use axum::http::{HeaderMap, header};

/// How a POST's answer is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseMode {
    Json,
    Sse,
}

impl ResponseMode {
    pub(crate) fn media_type(self) -> &'static str {
        match self {
            ResponseMode::Json => "application/json",
            ResponseMode::Sse => super::sse::EVENT_STREAM,
        }
    }

    fn other(self) -> Self {
        match self {
            ResponseMode::Json => ResponseMode::Sse,
            ResponseMode::Sse => ResponseMode::Json,
        }
    }
}

/// The `Accept` header(s) as one list (`None` when there is none). A value that is not text
/// counts as a range that matches nothing.
pub(crate) fn accept_header(headers: &HeaderMap) -> Option<String> {
    let parts: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .map(|v| v.to_str().unwrap_or(""))
        .collect();
    (!parts.is_empty()).then(|| parts.join(","))
}

/// Whether the request body is declared JSON. No `Content-Type` is taken as JSON (the body is
/// parsed anyway); any other media type is refused with 415.
pub(crate) fn content_type_is_json(headers: &HeaderMap) -> bool {
    let Some(v) = headers.get(header::CONTENT_TYPE) else {
        return true;
    };
    v.to_str().is_ok_and(|ct| {
        let media = ct.split(';').next().unwrap_or("").trim();
        media.eq_ignore_ascii_case("application/json")
    })
}

/// How specifically a media range matches `media` (`type/sub`): 3 exact, 2 `type/*`, 1 `*/*`.
fn specificity(range: &str, media: &str) -> Option<u8> {
    let (rt, rs) = range.split_once('/')?;
    let (mt, ms) = media.split_once('/')?;
    let (rt, rs) = (rt.trim(), rs.trim());
    if rt == "*" && rs == "*" {
        Some(1)
    } else if rt.eq_ignore_ascii_case(mt) && rs == "*" {
        Some(2)
    } else if rt.eq_ignore_ascii_case(mt) && rs.eq_ignore_ascii_case(ms) {
        Some(3)
    } else {
        None
    }
}

/// The `q` of a media range's parameters (1 when absent or unreadable).
fn quality(params: &str) -> f32 {
    params
        .split(';')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
        .and_then(|(_, v)| v.trim().parse::<f32>().ok())
        .filter(|q| q.is_finite())
        .unwrap_or(1.0)
}

/// Whether an `Accept` value (`None`: no header) accepts `media`.
pub(crate) fn accepts(accept: Option<&str>, media: &str) -> bool {
    acceptance(accept, media) > 0.0
}

/// How much an `Accept` value (`None`: no header) accepts `media`: the `q` of the most specific
/// range that matches it, 0 when none does.
fn acceptance(accept: Option<&str>, media: &str) -> f32 {
    let Some(accept) = accept else {
        return 1.0;
    };
    let mut best: Option<(u8, f32)> = None;
    for range in accept.split(',') {
        let (range, params) = range.split_once(';').unwrap_or((range, ""));
        let Some(spec) = specificity(range, media) else {
            continue;
        };
        if best.is_none_or(|(s, _)| spec > s) {
            best = Some((spec, quality(params)));
        }
    }
    best.map_or(0.0, |(_, q)| q.max(0.0))
}

/// The mode to answer a POST in, or `None` for 406.
pub(crate) fn choose_mode(accept: Option<&str>, preferred: ResponseMode) -> Option<ResponseMode> {
    let ours = acceptance(accept, preferred.media_type());
    let other = acceptance(accept, preferred.other().media_type());
    if other > ours {
        Some(preferred.other())
    } else if ours > 0.0 {
        Some(preferred)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ResponseMode::*;

    #[test]
    fn media_ranges() {
        let both = Some("application/json, text/event-stream");
        assert!(accepts(both, "application/json"));
        assert!(accepts(both, "text/event-stream"));
        assert!(accepts(None, "text/event-stream"));
        assert!(accepts(Some("*/*"), "application/json"));
        assert!(accepts(Some("application/*"), "application/json"));
        assert!(accepts(
            Some("Application/JSON;charset=utf-8"),
            "application/json"
        ));
        assert!(!accepts(Some("text/html"), "application/json"));
        assert!(!accepts(Some(""), "application/json"));
        assert!(!accepts(Some("application/json;q=0"), "application/json"));
        assert!(!accepts(
            Some("*/*, application/json;q=0"),
            "application/json"
        ));
        assert!(accepts(Some("application/json;q=0.5"), "application/json"));
        assert!(!accepts(Some("garbage"), "application/json"));
    }

    #[test]
    fn content_types() {
        let mut h = HeaderMap::new();
        assert!(content_type_is_json(&h));
        h.insert(
            header::CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        assert!(content_type_is_json(&h));
        h.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        assert!(!content_type_is_json(&h));
    }

    #[test]
    fn preferred_mode_then_the_other_then_406() {
        let both = Some("application/json, text/event-stream");
        assert_eq!(choose_mode(both, Json), Some(Json));
        assert_eq!(choose_mode(both, Sse), Some(Sse));
        assert_eq!(choose_mode(Some("application/json"), Sse), Some(Json));
        assert_eq!(choose_mode(Some("text/event-stream"), Json), Some(Sse));
        assert_eq!(choose_mode(Some("text/html"), Json), None);
        assert_eq!(choose_mode(None, Sse), Some(Sse));
        // A client's stated preference wins over the configured mode.
        let sse_first = Some("text/event-stream, application/json;q=0.5");
        assert_eq!(choose_mode(sse_first, Json), Some(Sse));
        assert_eq!(
            choose_mode(Some("application/json, text/event-stream;q=0.9"), Sse),
            Some(Json)
        );
        assert_eq!(
            choose_mode(Some("*/*;q=0.1, text/event-stream"), Json),
            Some(Sse)
        );
    }
}
