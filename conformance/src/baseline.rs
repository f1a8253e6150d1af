//! Baselines: known failures of a target, so a regression gate works on a gateway that is not
//! (yet) conformant. A new failure fails the run, and so does a listed failure that now passes
//! (the entry is stale and must be removed, so the gate tightens as the gateway improves).
//! An entry marked `flaky: true` is for a check whose verdict on the target varies from run to
//! run (a race inside the gateway): it is never stale, and a run where it passes says so.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::verdict::{ScenarioResult, Verdict};

/// The reason `--bless` gives a new entry, to be replaced by the cause and its issue.
pub const TODO_REASON: &str = "TODO: explain why this fails on this target";

/// A baseline file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// What the baseline is for (e.g. `contextforge 1.1.0`); informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default)]
    pub known_failures: Vec<KnownFailure>,
    /// Invariants a fuzz campaign (`mcpgw-conformance fuzz --baseline FILE`) is known to break
    /// on the target: counted, not reported as findings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fuzz_findings: Vec<KnownFinding>,
}

/// An invariant a fuzz campaign is known to break on the target.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KnownFinding {
    /// The invariant's name, as the campaign prints it (`server-error`, `jsonrpc-id-altered`).
    pub invariant: String,
    pub reason: String,
    #[serde(default)]
    pub link: String,
}

/// One known failure.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KnownFailure {
    /// A scenario id (`rpc/foo`: any failing check of it) or a check id (`rpc/foo:step`).
    pub scenario: String,
    pub reason: String,
    #[serde(default)]
    pub link: String,
    /// The target's verdict on this check varies between runs: passing is not "fixed".
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub flaky: bool,
}

/// Why a baseline could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("failed to read baseline {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("failed to parse baseline {path}: {message}")]
    Parse { path: String, message: String },
    #[error("failed to write baseline {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// How a run compares with a baseline.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Comparison {
    /// Failing checks (or UNTESTABLE scenarios) no entry covers.
    pub new_failures: Vec<String>,
    /// Failing checks an entry covers.
    pub known: Vec<String>,
    /// Entries whose scenario ran and no longer fails.
    pub stale: Vec<KnownFailure>,
    /// `flaky` entries whose checks passed this time (not stale, only reported).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flaky_passed: Vec<String>,
}

impl Comparison {
    /// Whether anything unexpected happened.
    pub fn is_clean(&self) -> bool {
        self.new_failures.is_empty() && self.stale.is_empty()
    }
}

impl Baseline {
    pub fn load(path: &Path) -> Result<Baseline, BaselineError> {
        let text = std::fs::read_to_string(path).map_err(|source| BaselineError::Read {
            path: path.display().to_string(),
            source,
        })?;
        serde_saphyr::from_str(&text).map_err(|e| BaselineError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    pub fn save(&self, path: &Path) -> Result<(), BaselineError> {
        let mut text = String::from(
            "# Known failures of a target: `mcpgw-conformance run --baseline FILE`.\n\
             # A new failure fails the run, and so does an entry that now passes.\n\
             # Regenerate with --bless (reasons and links of entries that stay are kept).\n",
        );
        text.push_str(&self.to_yaml());
        std::fs::write(path, text).map_err(|source| BaselineError::Write {
            path: path.display().to_string(),
            source,
        })
    }

    /// Entries whose reason is still the one `--bless` wrote.
    pub fn without_reasons(&self) -> Vec<&KnownFailure> {
        self.known_failures
            .iter()
            .filter(|k| k.reason == TODO_REASON)
            .collect()
    }

    /// The file's text: one entry per three lines, every value a double-quoted scalar (written
    /// as a JSON string, which YAML reads the same), so ids never fold and diffs stay line-sized.
    pub fn to_yaml(&self) -> String {
        let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let mut text = String::new();
        if let Some(t) = &self.target {
            text.push_str(&format!("target: {}\n", q(t)));
        }
        text.push_str(if self.known_failures.is_empty() {
            "known_failures: []\n"
        } else {
            "known_failures:\n"
        });
        for k in &self.known_failures {
            text.push_str(&format!(
                "- scenario: {}\n  reason: {}\n  link: {}\n",
                q(&k.scenario),
                q(&k.reason),
                q(&k.link)
            ));
            if k.flaky {
                text.push_str("  flaky: true\n");
            }
        }
        if !self.fuzz_findings.is_empty() {
            text.push_str("fuzz_findings:\n");
        }
        for f in &self.fuzz_findings {
            text.push_str(&format!(
                "- invariant: {}\n  reason: {}\n  link: {}\n",
                q(&f.invariant),
                q(&f.reason),
                q(&f.link)
            ));
        }
        text
    }

    fn covers(&self, scenario: &str, check: Option<&str>) -> bool {
        self.covering(scenario, check).is_some()
    }

    /// The entry that covers a failing check (or an UNTESTABLE scenario, `check: None`): the
    /// check's own entry first, else its scenario's.
    pub fn covering(&self, scenario: &str, check: Option<&str>) -> Option<&KnownFailure> {
        let own = check.and_then(|c| self.known_failures.iter().find(|k| k.scenario == c));
        own.or_else(|| self.known_failures.iter().find(|k| k.scenario == scenario))
    }

    /// Compare results with this baseline.
    pub fn compare(&self, results: &[ScenarioResult]) -> Comparison {
        let mut cmp = Comparison::default();
        let mut failing: BTreeSet<String> = BTreeSet::new();
        let mut ran: BTreeSet<&str> = BTreeSet::new();
        for r in results {
            if r.verdict == Verdict::NotApplicable {
                continue;
            }
            ran.insert(&r.id);
            if r.untestable_as_a_whole() {
                failing.insert(r.id.clone());
                let bucket = if self.covers(&r.id, None) {
                    &mut cmp.known
                } else {
                    &mut cmp.new_failures
                };
                bucket.push(r.id.clone());
            }
            for c in r.checks.iter().filter(|c| c.verdict.is_failure()) {
                let covered = self.covers(&r.id, Some(&c.id));
                // A listed check that now meets its expectations and fails only for want of a
                // snapshot is no longer the failure the entry describes: the entry is stale,
                // and the missing snapshot a new failure (write it, then drop the entry).
                let only_snapshot_missing = !c.messages.is_empty()
                    && c.messages.iter().all(|m| crate::snapshot::is_missing(m));
                if covered && only_snapshot_missing {
                    cmp.new_failures.push(c.id.clone());
                    continue;
                }
                failing.insert(r.id.clone());
                failing.insert(c.id.clone());
                let bucket = if covered {
                    &mut cmp.known
                } else {
                    &mut cmp.new_failures
                };
                bucket.push(c.id.clone());
            }
        }
        for k in &self.known_failures {
            let scenario = k.scenario.split(':').next().unwrap_or_default();
            if ran.contains(scenario) && !failing.contains(&k.scenario) {
                if k.flaky {
                    cmp.flaky_passed.push(k.scenario.clone());
                } else {
                    cmp.stale.push(k.clone());
                }
            }
        }
        cmp
    }

    /// The baseline that matches `results`: entries that still fail are kept (with their reason
    /// and link), stale ones dropped, new failures added as `scenario:check` entries.
    pub fn blessed(&self, results: &[ScenarioResult]) -> Baseline {
        let cmp = self.compare(results);
        let mut known_failures: Vec<KnownFailure> = self
            .known_failures
            .iter()
            .filter(|k| !cmp.stale.contains(k))
            .cloned()
            .collect();
        for id in &cmp.new_failures {
            known_failures.push(KnownFailure {
                scenario: id.clone(),
                reason: TODO_REASON.to_owned(),
                link: String::new(),
                flaky: false,
            });
        }
        known_failures.sort_by(|a, b| a.scenario.cmp(&b.scenario));
        Baseline {
            target: self.target.clone(),
            known_failures,
            fuzz_findings: self.fuzz_findings.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Level;
    use crate::verdict::CheckResult;

    fn result(id: &str, checks: &[(&str, Verdict)]) -> ScenarioResult {
        let checks: Vec<CheckResult> = checks
            .iter()
            .map(|(n, v)| CheckResult {
                id: format!("{id}:{n}"),
                name: (*n).to_owned(),
                level: Level::Must,
                verdict: *v,
                messages: vec![],
                transcript: None,
                upstream: vec![],
                attempts: 0,
            })
            .collect();
        ScenarioResult {
            id: id.to_owned(),
            area: "a".into(),
            title: String::new(),
            spec: vec![],
            level: Level::Must,
            path: String::new(),
            verdict: ScenarioResult::worst(&checks),
            reason: None,
            provisioning_transcript: None,
            checks,
            cleanup_errors: vec![],
            replay: String::new(),
            forwards: None,
            duration_ms: 0,
        }
    }

    fn entry(s: &str) -> KnownFailure {
        KnownFailure {
            scenario: s.into(),
            reason: "r".into(),
            link: "l".into(),
            flaky: false,
        }
    }

    #[test]
    fn a_flaky_entry_is_never_stale_and_survives_bless() {
        let flaky = KnownFailure {
            flaky: true,
            ..entry("a/x:one")
        };
        let b = Baseline {
            target: None,
            known_failures: vec![flaky.clone()],
            fuzz_findings: Vec::new(),
        };
        let passing = vec![result("a/x", &[("one", Verdict::Pass)])];
        let c = b.compare(&passing);
        assert!(c.is_clean(), "{c:?}");
        assert_eq!(c.flaky_passed, vec!["a/x:one"]);
        assert_eq!(b.blessed(&passing).known_failures, vec![flaky.clone()]);
        let failing = vec![result("a/x", &[("one", Verdict::Fail)])];
        let c = b.compare(&failing);
        assert!(c.is_clean() && c.flaky_passed.is_empty());
        assert_eq!(c.known, vec!["a/x:one"]);
        let text = b.to_yaml();
        let back: Baseline = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(back.known_failures, vec![flaky]);
    }

    #[test]
    fn a_listed_check_failing_only_for_a_missing_snapshot_is_stale_and_new() {
        let b = Baseline {
            target: None,
            known_failures: vec![entry("a/x:one")],
            fuzz_findings: Vec::new(),
        };
        let mut fixed = result("a/x", &[("one", Verdict::Fail)]);
        fixed.checks[0].messages = vec![format!(
            "{}`reply` is new: no snapshots/p/a/x__reply.snap yet",
            crate::snapshot::MISSING
        )];
        let c = b.compare(std::slice::from_ref(&fixed));
        assert_eq!(c.stale, vec![entry("a/x:one")], "{c:?}");
        assert_eq!(c.new_failures, vec!["a/x:one"]);
        // Still failing its expectations: the entry holds.
        fixed.checks[0]
            .messages
            .push("status: expected 401, got 403".into());
        let c = b.compare(&[fixed]);
        assert!(c.is_clean(), "{c:?}");
    }

    #[test]
    fn new_known_and_stale() {
        let b = Baseline {
            target: None,
            known_failures: vec![entry("a/x"), entry("a/y:two"), entry("a/z")],
            fuzz_findings: Vec::new(),
        };
        let results = vec![
            result("a/x", &[("one", Verdict::Fail)]),
            result("a/y", &[("one", Verdict::Fail), ("two", Verdict::Fail)]),
            result("a/z", &[("one", Verdict::Pass)]),
        ];
        let c = b.compare(&results);
        assert_eq!(c.new_failures, vec!["a/y:one"]);
        assert_eq!(c.known, vec!["a/x:one", "a/y:two"]);
        assert_eq!(c.stale, vec![entry("a/z")]);
        let blessed = b.blessed(&results);
        let ids: Vec<_> = blessed
            .known_failures
            .iter()
            .map(|k| k.scenario.as_str())
            .collect();
        assert_eq!(ids, vec!["a/x", "a/y:one", "a/y:two"]);
        assert_eq!(blessed.known_failures[0].reason, "r");
        assert!(blessed.compare(&results).is_clean());
    }

    #[test]
    fn saved_text_reads_back_the_same() {
        let b = Baseline {
            target: Some("gw 1.0".into()),
            fuzz_findings: vec![KnownFinding {
                invariant: "server-error".into(),
                reason: "observed on 1.0: \"quoted\" 500".into(),
                link: String::new(),
            }],
            known_failures: vec![KnownFailure {
                scenario: format!("area/{}:step", "long-".repeat(30)),
                reason: "quotes \" and: colons, `ticks`, {braces} # not a comment\nnewline".into(),
                link: String::new(),
                flaky: false,
            }],
        };
        let text = b.to_yaml();
        assert_eq!(text.lines().count(), 9, "{text}");
        let back: Baseline = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(back.known_failures, b.known_failures);
        assert_eq!(back.fuzz_findings, b.fuzz_findings);
        assert_eq!(back.target, b.target);
        let empty: Baseline = serde_saphyr::from_str(&Baseline::default().to_yaml()).unwrap();
        assert!(empty.known_failures.is_empty());
    }

    #[test]
    fn entries_for_scenarios_that_did_not_run_are_not_stale() {
        let b = Baseline {
            target: None,
            known_failures: vec![entry("a/other")],
            fuzz_findings: Vec::new(),
        };
        assert!(
            b.compare(&[result("a/x", &[("one", Verdict::Pass)])])
                .is_clean()
        );
    }
}
