//! Verdicts and results: per check (one step) and per scenario.

use std::fmt;

use serde::Serialize;

use crate::client::Exchange;
use crate::scenario::Level;
use crate::upstream::Received;

/// The verdict of one check or scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Verdict {
    #[serde(rename = "PASS")]
    Pass,
    /// The target lacks a capability the scenario requires.
    #[serde(rename = "NOT-APPLICABLE")]
    NotApplicable,
    /// A SHOULD was broken.
    #[serde(rename = "WARN")]
    Warn,
    /// A MUST was broken.
    #[serde(rename = "FAIL")]
    Fail,
    /// A fixture could not be made; counts as failing unless baselined.
    #[serde(rename = "UNTESTABLE")]
    Untestable,
}

impl Verdict {
    pub const ALL: [Verdict; 5] = [
        Verdict::Pass,
        Verdict::Fail,
        Verdict::Warn,
        Verdict::NotApplicable,
        Verdict::Untestable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Warn => "WARN",
            Verdict::NotApplicable => "NOT-APPLICABLE",
            Verdict::Untestable => "UNTESTABLE",
        }
    }

    /// What a broken check at `level` is.
    pub fn broken(level: Level) -> Verdict {
        match level {
            Level::Must => Verdict::Fail,
            Level::Should => Verdict::Warn,
        }
    }

    /// Whether this verdict fails a run (unless baselined).
    pub fn is_failure(self) -> bool {
        matches!(self, Verdict::Fail | Verdict::Untestable)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of one step.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// `<scenario id>:<step name>`
    pub id: String,
    pub name: String,
    pub level: Level,
    pub verdict: Verdict,
    /// Why it did not pass (one line each).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<String>,
    /// The request and response (reports keep it for non-passing checks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transcript: Option<Exchange>,
    /// What the upstreams named in `expect.upstream` received during the step.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub upstream: Vec<(String, Vec<Received>)>,
    /// How many times its request was sent (retries and repeats included; 0: none).
    #[serde(skip_serializing)]
    pub attempts: u32,
}

/// The result of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub id: String,
    pub area: String,
    pub title: String,
    pub spec: Vec<String>,
    pub level: Level,
    pub path: String,
    pub verdict: Verdict,
    /// Why the scenario is NOT-APPLICABLE or UNTESTABLE.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The admin request that failed (UNTESTABLE).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioning_transcript: Option<Exchange>,
    pub checks: Vec<CheckResult>,
    /// Fixtures that could not be deleted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cleanup_errors: Vec<String>,
    /// One line that runs this scenario again against the same target.
    pub replay: String,
    /// On a cluster whose forwarded requests can be seen, for a scenario that spans workers:
    /// how many of its requests the workers forwarded to each other.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwards: Option<ForwardTally>,
    pub duration_ms: u64,
}

/// A scenario's requests and the forwards between workers they caused.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct ForwardTally {
    /// Requests it sent (each retry and repeat of a step counts).
    pub requests: usize,
    /// Lines of forwarded requests the workers logged while it ran.
    pub forwarded: usize,
}

impl ScenarioResult {
    /// UNTESTABLE as a whole, before any step ran (its fixtures could not be made): judged by
    /// its id. A scenario that a step made UNTESTABLE is judged by that step's check.
    pub fn untestable_as_a_whole(&self) -> bool {
        self.verdict == Verdict::Untestable && (self.reason.is_some() || self.checks.is_empty())
    }

    /// The worst verdict among `checks` (PASS when there are none).
    pub fn worst(checks: &[CheckResult]) -> Verdict {
        checks
            .iter()
            .map(|c| c.verdict)
            .max()
            .unwrap_or(Verdict::Pass)
    }
}

/// Counts per verdict.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub pass: usize,
    pub fail: usize,
    pub warn: usize,
    pub not_applicable: usize,
    pub untestable: usize,
}

impl Counts {
    pub fn add(&mut self, v: Verdict) {
        match v {
            Verdict::Pass => self.pass += 1,
            Verdict::Fail => self.fail += 1,
            Verdict::Warn => self.warn += 1,
            Verdict::NotApplicable => self.not_applicable += 1,
            Verdict::Untestable => self.untestable += 1,
        }
    }

    pub fn get(&self, v: Verdict) -> usize {
        match v {
            Verdict::Pass => self.pass,
            Verdict::Fail => self.fail,
            Verdict::Warn => self.warn,
            Verdict::NotApplicable => self.not_applicable,
            Verdict::Untestable => self.untestable,
        }
    }

    pub fn total(&self) -> usize {
        self.pass + self.fail + self.warn + self.not_applicable + self.untestable
    }
}
