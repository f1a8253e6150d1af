//! The signature that makes a forwarded request internal (D3, D11): HMAC-SHA256 with the
//! cluster secret over everything the owner relies on. A client cannot make a request internal
//! with any header of its own (`x-forwarded-internally` and friends are ignored); only a valid
//! signature does, and it binds the request line, the session, the client address the owner
//! should apply IP restrictions to, the credential and the body, within a short time window.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Header names of the internal hop.
pub(crate) const FROM: &str = "x-mcpgw-forward-from";
pub(crate) const TIMESTAMP: &str = "x-mcpgw-forward-ts";
pub(crate) const CLIENT: &str = "x-mcpgw-forward-client";
pub(crate) const SIGNATURE: &str = "x-mcpgw-forward-sig";
/// Every header of the internal hop (stripped from client requests and before relaying).
pub(crate) const ALL: [&str; 4] = [FROM, TIMESTAMP, CLIENT, SIGNATURE];

/// How far a forward's timestamp may be from the owner's clock, in seconds.
pub(crate) const MAX_SKEW_SECS: i64 = 30;

/// What a forward asserts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Envelope<'a> {
    /// The forwarding worker's id.
    pub from: &'a str,
    /// Seconds since the epoch when it was sent.
    pub timestamp: i64,
    pub method: &'a str,
    /// Path (with the root path) and query, as forwarded.
    pub path_and_query: &'a str,
    /// The `mcp-session-id` header ("" without one).
    pub session_id: &'a str,
    /// The client's address as the forwarding worker determined it (D3).
    pub client: &'a str,
    /// The `Authorization` header ("" without one).
    pub authorization: &'a [u8],
    pub body: &'a [u8],
}

/// Why a forward was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// A header of the hop is missing or malformed.
    Malformed,
    /// The timestamp is outside the window.
    Stale,
    /// The signature does not match.
    BadSignature,
}

fn mac(secret: &[u8], e: &Envelope<'_>) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    // Length-prefixed fields: no field can be shifted into its neighbour.
    let ts = e.timestamp.to_string();
    let auth = Sha256::digest(e.authorization);
    let body = Sha256::digest(e.body);
    let fields: [&[u8]; 8] = [
        b"mcpgw-forward-v1",
        e.from.as_bytes(),
        ts.as_bytes(),
        e.method.as_bytes(),
        e.path_and_query.as_bytes(),
        e.session_id.as_bytes(),
        e.client.as_bytes(),
        &auth,
    ];
    for f in fields {
        m.update(&(f.len() as u64).to_be_bytes());
        m.update(f);
    }
    m.update(&body);
    m
}

/// The hex signature of `e`.
pub(crate) fn sign(secret: &[u8], e: &Envelope<'_>) -> String {
    hex::encode(mac(secret, e).finalize().into_bytes())
}

/// Check `signature` (hex) for `e` at time `now` (constant-time comparison).
pub(crate) fn verify(
    secret: &[u8],
    e: &Envelope<'_>,
    signature: &str,
    now: i64,
) -> Result<(), Rejection> {
    let Ok(sig) = hex::decode(signature) else {
        return Err(Rejection::Malformed);
    };
    if (now - e.timestamp).abs() > MAX_SKEW_SECS {
        return Err(Rejection::Stale);
    }
    mac(secret, e)
        .verify_slice(&sig)
        .map_err(|_| Rejection::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope<'a>(path: &'a str, body: &'a [u8]) -> Envelope<'a> {
        Envelope {
            from: "w1",
            timestamp: 1000,
            method: "POST",
            path_and_query: path,
            session_id: "s1",
            client: "10.0.0.1",
            authorization: b"Bearer t",
            body,
        }
    }

    #[test]
    fn c_aff_04_only_the_signed_request_verifies() {
        let e = envelope("/servers/a/mcp", b"{}");
        let sig = sign(b"k", &e);
        assert_eq!(verify(b"k", &e, &sig, 1000), Ok(()));
        assert_eq!(verify(b"k", &e, &sig, 1000 + MAX_SKEW_SECS), Ok(()));
        assert_eq!(
            verify(b"other", &e, &sig, 1000),
            Err(Rejection::BadSignature)
        );
        assert_eq!(verify(b"k", &e, "zz", 1000), Err(Rejection::Malformed));
        assert_eq!(verify(b"k", &e, "", 1000), Err(Rejection::BadSignature));
        assert_eq!(
            verify(b"k", &e, &sig, 1001 + MAX_SKEW_SECS),
            Err(Rejection::Stale)
        );
        // Every field is bound: changing any one breaks the signature.
        let variants = [
            Envelope {
                path_and_query: "/mcp",
                ..e.clone()
            },
            Envelope {
                body: b"{ }",
                ..e.clone()
            },
            Envelope {
                session_id: "s2",
                ..e.clone()
            },
            Envelope {
                client: "127.0.0.1",
                ..e.clone()
            },
            Envelope {
                authorization: b"Bearer u",
                ..e.clone()
            },
            Envelope {
                method: "DELETE",
                ..e.clone()
            },
            Envelope {
                from: "w2",
                ..e.clone()
            },
            Envelope {
                timestamp: 1001,
                ..e.clone()
            },
        ];
        for v in variants {
            assert_eq!(
                verify(b"k", &v, &sig, 1000),
                Err(Rejection::BadSignature),
                "{v:?}"
            );
        }
    }

    #[test]
    fn fields_cannot_be_shifted_between_neighbours() {
        let a = Envelope {
            from: "w1",
            method: "POST",
            ..envelope("/x", b"")
        };
        let b = Envelope {
            from: "w1P",
            method: "OST",
            ..envelope("/x", b"")
        };
        assert_ne!(sign(b"k", &a), sign(b"k", &b));
    }
}
