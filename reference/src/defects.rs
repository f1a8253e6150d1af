//! The defect matrix: known gateway defects the reference can re-create on demand
//! (`--inject-defect NAME`, builds with the `defects` feature only), so that the harness can
//! prove each of its checks fails on a gateway that has the defect.
//!
//! Each defect names the upstream issue or decision it re-creates. The switch is read at the one
//! place the correct behaviour is wired in; the pure decision functions stay correct.

use std::fmt;

/// A re-creatable defect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Defect {
    /// Issue 2192: `/rpc` is not a general endpoint, so server-scoped tokens get 403 on it.
    RpcNotGeneralEndpoint,
    /// Issue 3018: a request forwarded between workers loses `params.server_id`.
    ForwardedNoServerId,
    /// Issue 3891: server ids are matched hex-only; other ids fall through to global scope.
    HexOnlyServerRegex,
    /// Gap G5 / D1: general endpoints matched as prefixes (`/mcp-servers/x` passes).
    PrefixGeneralEndpoints,
    /// Gap G1 / D2: a server-scoped token on the global `/mcp` sees every server's tools.
    GlobalMcpUnscoped,
    /// D4: token scoping compares the raw path segment before name resolution.
    ScopeBeforeNameResolution,
    /// Issue 5421 / D3: `X-Forwarded-For` believed from any peer.
    TrustXffFromAnyone,
    /// Gap G4 / D6: the RFC 9728 endpoint accepts any third segment.
    WellKnownAnyThirdSegment,
    /// D8: dot segments are normalised away instead of refused.
    NormaliseDotSegments,
    /// Issue 3990 / D5: an empty bearer on an OAuth server gets a bare `Bearer` challenge.
    EmptyBearerBareChallenge,
    /// D9: JSON-RPC denials carry `error.code: 0`.
    JsonrpcErrorCodeZero,
    /// D10: `DELETE` of a session leaves it usable.
    DeleteKeepsSession,
    /// C-RPC-21: `/rpc` serves a call naming another user's (or an unknown) session.
    RpcIgnoresSession,
    /// C-MCP-18/19: the transport serves a session to whoever names it, not only its owner.
    SessionOwnerUnchecked,
    /// C-AFF-04 / D3: a worker admits a request carrying the internal-hop headers without
    /// verifying their signature, so any client can claim to be a worker (and pick its address).
    UnsignedHopTrusted,
    /// C-AFF-07: a session whose owner died is never taken over; it answers 503 until the owner
    /// comes back.
    DeadOwnerNotTakenOver,
}

impl Defect {
    pub const ALL: [Defect; 16] = [
        Defect::RpcNotGeneralEndpoint,
        Defect::ForwardedNoServerId,
        Defect::HexOnlyServerRegex,
        Defect::PrefixGeneralEndpoints,
        Defect::GlobalMcpUnscoped,
        Defect::ScopeBeforeNameResolution,
        Defect::TrustXffFromAnyone,
        Defect::WellKnownAnyThirdSegment,
        Defect::NormaliseDotSegments,
        Defect::EmptyBearerBareChallenge,
        Defect::JsonrpcErrorCodeZero,
        Defect::DeleteKeepsSession,
        Defect::RpcIgnoresSession,
        Defect::SessionOwnerUnchecked,
        Defect::UnsignedHopTrusted,
        Defect::DeadOwnerNotTakenOver,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Defect::RpcNotGeneralEndpoint => "rpc-not-general-endpoint",
            Defect::ForwardedNoServerId => "forwarded-no-server-id",
            Defect::HexOnlyServerRegex => "hex-only-server-regex",
            Defect::PrefixGeneralEndpoints => "prefix-general-endpoints",
            Defect::GlobalMcpUnscoped => "global-mcp-unscoped",
            Defect::ScopeBeforeNameResolution => "scope-before-name-resolution",
            Defect::TrustXffFromAnyone => "trust-xff-from-anyone",
            Defect::WellKnownAnyThirdSegment => "well-known-any-third-segment",
            Defect::NormaliseDotSegments => "normalise-dot-segments",
            Defect::EmptyBearerBareChallenge => "empty-bearer-bare-challenge",
            Defect::JsonrpcErrorCodeZero => "jsonrpc-error-code-zero",
            Defect::DeleteKeepsSession => "delete-keeps-session",
            Defect::RpcIgnoresSession => "rpc-ignores-session",
            Defect::SessionOwnerUnchecked => "session-owner-unchecked",
            Defect::UnsignedHopTrusted => "unsigned-hop-trusted",
            Defect::DeadOwnerNotTakenOver => "dead-owner-not-taken-over",
        }
    }

    /// The upstream issue or decision this defect re-creates.
    pub fn origin(self) -> &'static str {
        match self {
            Defect::RpcNotGeneralEndpoint => "issue 2192",
            Defect::ForwardedNoServerId => "issue 3018, D11",
            Defect::HexOnlyServerRegex => "issue 3891",
            Defect::PrefixGeneralEndpoints => "D1 (gap G5)",
            Defect::GlobalMcpUnscoped => "D2 (gap G1)",
            Defect::ScopeBeforeNameResolution => "D4 (PR 4237)",
            Defect::TrustXffFromAnyone => "issue 5421, D3",
            Defect::WellKnownAnyThirdSegment => "D6 (gap G4)",
            Defect::NormaliseDotSegments => "D8",
            Defect::EmptyBearerBareChallenge => "issue 3990, D5",
            Defect::JsonrpcErrorCodeZero => "D9",
            Defect::DeleteKeepsSession => "D10",
            Defect::RpcIgnoresSession => "C-RPC-21",
            Defect::SessionOwnerUnchecked => "C-MCP-18/19",
            Defect::UnsignedHopTrusted => "C-AFF-04, D3",
            Defect::DeadOwnerNotTakenOver => "C-AFF-07",
        }
    }

    pub fn parse(name: &str) -> Option<Defect> {
        Defect::ALL.into_iter().find(|d| d.name() == name)
    }
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The defects switched on in this process (always none without the `defects` feature).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Defects {
    #[cfg(feature = "defects")]
    bits: u32,
}

impl Defects {
    pub fn none() -> Self {
        Defects::default()
    }

    /// Parse `--inject-defect` values. Unknown names, and any name in a build without the
    /// `defects` feature, are errors.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<Self, String> {
        #[allow(unused_mut)]
        let mut out = Defects::default();
        for name in names {
            let name = name.as_ref().trim();
            if name.is_empty() {
                continue;
            }
            let d = Defect::parse(name).ok_or_else(|| {
                let known: Vec<_> = Defect::ALL.iter().map(|d| d.name()).collect();
                format!("unknown defect {name:?}; known: {}", known.join(", "))
            })?;
            #[cfg(feature = "defects")]
            {
                out.bits |= 1 << (d as u32);
            }
            #[cfg(not(feature = "defects"))]
            {
                return Err(format!(
                    "cannot inject {d}: this build has no `defects` feature (cargo build --features defects)"
                ));
            }
        }
        Ok(out)
    }

    #[inline]
    pub fn has(self, d: Defect) -> bool {
        #[cfg(feature = "defects")]
        {
            self.bits & (1 << (d as u32)) != 0
        }
        #[cfg(not(feature = "defects"))]
        {
            let _ = d;
            false
        }
    }

    pub fn any(self) -> bool {
        Defect::ALL.iter().any(|d| self.has(*d))
    }
}

/// The defective alternatives, each used only where its switch is read.
///
/// `normalise-dot-segments`: resolve `.`/`..` (also percent-encoded) instead of refusing them,
/// as a normalising proxy or framework would.
pub fn remove_dot_segments(raw: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    for segment in raw.split('/').skip(1) {
        let decoded = crate::paths::decode_path(segment)
            .map(|d| d.into_owned())
            .unwrap_or_default();
        let decoded = crate::paths::decode_path(&decoded)
            .map(|d| d.into_owned())
            .unwrap_or(decoded);
        match decoded.as_str() {
            "." => {}
            ".." => {
                out.pop();
            }
            _ => out.push(segment.to_owned()),
        }
    }
    format!("/{}", out.join("/"))
}

/// `prefix-general-endpoints`: general endpoints matched by prefix (ContextForge's `startswith`).
pub fn prefix_general_target(path: &str) -> crate::paths::RestrictionTarget<'_> {
    const PREFIXES: [&str; 8] = [
        "/health",
        "/metrics",
        "/openapi.json",
        "/docs",
        "/redoc",
        "/rpc",
        "/mcp",
        "/sse",
    ];
    if PREFIXES.iter().any(|p| path.starts_with(p)) {
        crate::paths::RestrictionTarget::General
    } else {
        crate::paths::RestrictionTarget::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in Defect::ALL {
            assert_eq!(Defect::parse(d.name()), Some(d));
        }
        assert!(Defects::from_names(&["nope"]).is_err());
        assert!(!Defects::none().any());
    }

    #[cfg(feature = "defects")]
    #[test]
    fn switches_are_independent() {
        let d = Defects::from_names(&["hex-only-server-regex"]).unwrap();
        assert!(d.has(Defect::HexOnlyServerRegex));
        assert!(!d.has(Defect::RpcNotGeneralEndpoint));
    }
}
