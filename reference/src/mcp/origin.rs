//! `Origin` validation on the MCP transport (pure): DNS-rebinding protection.
//!
//! A page on an attacker's domain that rebinds to the gateway's address makes the browser send
//! requests whose `Origin` is the attacker's, with `Host` matching it. So an `Origin` is accepted
//! only when it is on the `ALLOWED_ORIGINS` list (`*` accepts any), or, when the list is empty,
//! when it is a loopback origin. A request without `Origin` (not from a browser) is accepted.

use std::net::IpAddr;

use axum::http::{HeaderMap, header};

/// Whether the request's `Origin` header (if any) is acceptable. Several `Origin` headers, or
/// one that is not text, are refused.
pub(crate) fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let mut values = headers.get_all(header::ORIGIN).iter();
    let Some(first) = values.next() else {
        return true;
    };
    if values.next().is_some() {
        return false;
    }
    first
        .to_str()
        .is_ok_and(|origin| origin_is_allowed(origin, allowed))
}

/// Whether one `Origin` value is acceptable under `allowed`.
pub(crate) fn origin_is_allowed(origin: &str, allowed: &[String]) -> bool {
    let origin = normalise(origin);
    let listed: Vec<&str> = allowed
        .iter()
        .map(|a| a.trim())
        .filter(|a| !a.is_empty())
        .collect();
    if listed.is_empty() {
        return is_loopback_origin(&origin);
    }
    listed.iter().any(|a| *a == "*" || normalise(a) == origin)
}

/// Origins compare case-insensitively and without a trailing slash.
fn normalise(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// `http(s)://localhost`, `127.x.x.x` or `[::1]`, with any port.
fn is_loopback_origin(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let host = if let Some(v6) = rest.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, "")) => h,
            Some((h, after)) if after.strip_prefix(':').is_some_and(is_port) => h,
            _ => return false,
        }
    } else {
        match rest.split_once(':') {
            Some((h, port)) if is_port(port) => h,
            Some(_) => return false,
            None => rest,
        }
    };
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn is_port(p: &str) -> bool {
    !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_list_accepts_loopback_origins_only() {
        for ok in [
            "http://localhost",
            "http://localhost:3000",
            "https://127.0.0.1:8443",
            "http://127.1.2.3",
            "http://[::1]:80",
            "HTTP://LOCALHOST/",
        ] {
            assert!(origin_is_allowed(ok, &[]), "{ok}");
        }
        for bad in [
            "http://evil.example",
            "http://localhost.evil.example",
            "http://127.0.0.1.nip.io",
            "null",
            "file://",
            "http://localhost:",
            "http://localhost:abc",
            "http://[::1]x",
            "",
        ] {
            assert!(!origin_is_allowed(bad, &[]), "{bad}");
        }
    }

    #[test]
    fn the_list_is_exact() {
        let allowed = vec!["https://app.example.com".to_owned()];
        assert!(origin_is_allowed("https://app.example.com", &allowed));
        assert!(origin_is_allowed("https://APP.example.com/", &allowed));
        assert!(!origin_is_allowed("http://app.example.com", &allowed));
        assert!(!origin_is_allowed("https://app.example.com:444", &allowed));
        assert!(
            !origin_is_allowed("http://localhost", &allowed),
            "list replaces loopback"
        );
        assert!(origin_is_allowed("http://anything", &["*".to_owned()]));
    }

    #[test]
    fn missing_origin_passes_and_duplicates_do_not() {
        let mut h = HeaderMap::new();
        assert!(origin_allowed(&h, &[]));
        h.append(header::ORIGIN, "http://localhost".parse().unwrap());
        assert!(origin_allowed(&h, &[]));
        h.append(header::ORIGIN, "http://localhost".parse().unwrap());
        assert!(!origin_allowed(&h, &[]));
    }
}
