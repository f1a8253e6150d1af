//! The oracle: a small, table-driven model of the gateway rules that property tests compare
//! any gateway (the reference's pure functions, the in-process reference, a live target) against.
//!
//! It is written from the spec text alone (`contextforge-behaviour.md` §1.1, §1.3, §1.4, §2, §3
//! and `reference-decisions.md` D1, D7, D8), never from the reference's code, and it uses a
//! different representation on purpose: paths are split into segments and matched against
//! segment shapes, where the reference uses regular expressions. Two independent encodings of
//! the same rules can disagree; each disagreement is a defect in one of them.
//!
//! `DISAGREEMENTS.md` (next to this file) lists every disagreement the differential tests found
//! and which side was wrong.
//!
//! Where the spec does not decide a case, the oracle says so ([`Verdict::Unspecified`]) instead
//! of guessing, and the tests accept either answer there. Every such case carries the reason.
//!
//! - [`raw_path`]: which raw request paths must be refused before routing (D8).
//! - [`classify`]: path normalisation, general endpoints (D1), the server a path targets, and
//!   the server restriction of a token (§1.3).
//! - [`permissions`]: the method + path → permission map (§1.4 with D7) and what a token's
//!   permission list grants (§1.1 layer 1).
//! - [`inject`]: server-id injection into a JSON-RPC body (§3.3, D11).
//! - [`envelope`]: what a JSON-RPC body is: parse error, invalid request, or a request (§2).
//! - [`wellknown`]: which RFC 9728 paths may name a server (D6).
//! - [`segments`]: the segment shapes the tables above are written in.
//! - [`strategies`]: proptest generators for the inputs these rules are about.

pub mod classify;
pub mod envelope;
pub mod inject;
pub mod permissions;
pub mod raw_path;
pub mod segments;
pub mod strategies;
pub mod wellknown;

/// The oracle's answer to a yes/no question about a gateway rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Yes,
    No,
    /// The spec does not decide this case; the reason says why. Either answer conforms.
    Unspecified(&'static str),
}

impl Verdict {
    /// `Yes` or `No` from a bool.
    pub fn from_bool(b: bool) -> Self {
        if b { Verdict::Yes } else { Verdict::No }
    }

    /// Whether `actual` conforms to this verdict.
    pub fn admits(self, actual: bool) -> bool {
        match self {
            Verdict::Yes => actual,
            Verdict::No => !actual,
            Verdict::Unspecified(_) => true,
        }
    }

    /// The decided answer, if there is one.
    pub fn decided(self) -> Option<bool> {
        match self {
            Verdict::Yes => Some(true),
            Verdict::No => Some(false),
            Verdict::Unspecified(_) => None,
        }
    }
}
