//! Reports of a run: `report.json` (versioned schema), `junit.xml`, `summary.md`,
//! `report.html`, and the terminal summary. All are built from one [`Report`]; [`read`] gets the
//! verdicts back from a `report.json` so a baseline can be checked or re-blessed offline.

pub mod html;
pub mod junit;
pub mod markdown;
pub mod read;
pub mod terminal;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::baseline::{Baseline, Comparison, KnownFailure};
use crate::client::Exchange;
use crate::target::TargetIdentity;
use crate::verdict::{Counts, ScenarioResult, Verdict};

/// Version of the `report.json` layout; bumped on any incompatible change.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

/// Everything a run produced.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    /// The harness (and suite) version.
    pub suite_version: String,
    /// RFC 3339, UTC.
    pub generated_at: String,
    pub target: TargetIdentity,
    pub summary: Summary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineSummary>,
    /// Transcripts are kept for checks that did not pass.
    pub scenarios: Vec<ScenarioResult>,
    /// A `fidelity` run's feature table (each feature's outcome, differences, and both
    /// conversations).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fidelity: Option<crate::fidelity::FeatureTable>,
}

/// Counts of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub scenarios: Counts,
    pub checks: Counts,
    /// Scenario verdicts per area.
    pub by_area: BTreeMap<String, Counts>,
    pub duration_ms: u64,
    /// Whether the run is a failure (exit code 1).
    pub failed: bool,
}

/// The baseline comparison of a run.
#[derive(Debug, Clone, Serialize)]
pub struct BaselineSummary {
    pub path: String,
    #[serde(flatten)]
    pub comparison: Comparison,
    /// For each known failure (check id, or scenario id when UNTESTABLE), the entry covering it.
    pub reasons: BTreeMap<String, KnownFailure>,
}

impl BaselineSummary {
    /// Compare `results` with `baseline` (read from `path`).
    pub fn new(path: &Path, baseline: &Baseline, results: &[ScenarioResult]) -> BaselineSummary {
        let comparison = baseline.compare(results);
        let mut reasons = BTreeMap::new();
        for id in &comparison.known {
            let (scenario, check) = match id.split_once(':') {
                Some((s, _)) => (s, Some(id.as_str())),
                None => (id.as_str(), None),
            };
            if let Some(k) = baseline.covering(scenario, check) {
                reasons.insert(id.clone(), k.clone());
            }
        }
        BaselineSummary {
            path: path.display().to_string(),
            comparison,
            reasons,
        }
    }

    /// How a non-passing row stands against the baseline: its entry, or `None` when new.
    pub fn entry(&self, id: &str) -> Option<&KnownFailure> {
        self.reasons.get(id)
    }
}

impl Report {
    /// Assemble a report; `failed` is decided by the caller (verdicts and baseline).
    pub fn new(
        target: TargetIdentity,
        mut scenarios: Vec<ScenarioResult>,
        baseline: Option<BaselineSummary>,
        duration_ms: u64,
    ) -> Report {
        let mut s_counts = Counts::default();
        let mut c_counts = Counts::default();
        let mut by_area: BTreeMap<String, Counts> = BTreeMap::new();
        for r in &mut scenarios {
            s_counts.add(r.verdict);
            by_area.entry(r.area.clone()).or_default().add(r.verdict);
            for c in &mut r.checks {
                c_counts.add(c.verdict);
                if c.verdict == Verdict::Pass {
                    c.transcript = None;
                    c.upstream.clear();
                }
            }
        }
        let failed = match &baseline {
            Some(b) => !b.comparison.is_clean(),
            None => s_counts.fail + s_counts.untestable > 0,
        };
        Report {
            schema_version: REPORT_SCHEMA_VERSION,
            suite_version: env!("CARGO_PKG_VERSION").to_owned(),
            generated_at: jiff::Timestamp::now().to_string(),
            target,
            summary: Summary {
                scenarios: s_counts,
                checks: c_counts,
                by_area,
                duration_ms,
                failed,
            },
            baseline,
            scenarios,
            fidelity: None,
        }
    }

    /// The fidelity feature row behind a scenario (`fidelity/<feature>`), if any.
    pub fn fidelity_row(&self, scenario_id: &str) -> Option<&crate::fidelity::FeatureRow> {
        let id = scenario_id.strip_prefix("fidelity/")?;
        self.fidelity.as_ref()?.features.iter().find(|f| f.id == id)
    }

    /// Write `report.json`, `junit.xml`, `summary.md` and `report.html` into `dir`.
    pub fn write_all(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("report.json"), json)?;
        std::fs::write(dir.join("junit.xml"), junit::render(self))?;
        std::fs::write(dir.join("summary.md"), markdown::render(self))?;
        std::fs::write(dir.join("report.html"), html::render(self))?;
        Ok(())
    }

    /// `product version` of the target when it said, e.g. `ContextForge 1.1.0`.
    pub fn target_version(&self) -> Option<String> {
        match (&self.target.product, &self.target.version) {
            (Some(p), Some(v)) => Some(format!("{p} {v}")),
            (None, Some(v)) => Some(v.clone()),
            (Some(p), None) => Some(p.clone()),
            (None, None) => None,
        }
    }
}

const BODY_LIMIT: usize = 4000;

fn clip(s: &str) -> String {
    if s.len() <= BODY_LIMIT {
        return s.to_owned();
    }
    let mut end = BODY_LIMIT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n... ({} more bytes)", &s[..end], s.len() - end)
}

/// A request/response pair as HTTP-like text.
pub fn transcript_text(ex: &Exchange) -> String {
    let mut out = String::new();
    let r = &ex.request;
    let _ = writeln!(
        out,
        "> {} {} HTTP/1.1    [sent with {:?}]",
        r.method,
        r.target.escape_debug(),
        ex.transport
    );
    for (k, v) in &r.headers {
        let _ = writeln!(out, "> {k}: {}", crate::client::shown_header_value(k, v));
    }
    if !r.body.is_empty() {
        let _ = writeln!(out, ">\n{}", clip(&String::from_utf8_lossy(&r.body)));
    }
    match (&ex.response, &ex.error) {
        (Some(resp), _) => {
            let _ = writeln!(out, "< {}    [{} ms]", resp.status, ex.duration_ms);
            for (k, v) in &resp.headers {
                let _ = writeln!(out, "< {k}: {v}");
            }
            if !resp.body.is_empty() {
                let _ = writeln!(out, "<\n{}", clip(&resp.text()));
            }
        }
        (None, Some(e)) => {
            let _ = writeln!(out, "< (no response: {e})");
        }
        (None, None) => {}
    }
    out
}

/// Both conversations of a fidelity feature, one after the other, as text.
pub fn both_transcripts(row: &crate::fidelity::FeatureRow) -> String {
    format!(
        "--- directly with the upstream ---\n{}\n--- through the gateway ---\n{}",
        row.direct, row.through
    )
}

/// The transcript behind a non-passing row of [`non_passing`].
pub fn row_transcript<'a>(
    scenario: &'a ScenarioResult,
    id: &str,
    verdict: Verdict,
) -> Option<&'a Exchange> {
    if verdict == Verdict::Untestable && scenario.untestable_as_a_whole() {
        scenario.provisioning_transcript.as_ref()
    } else {
        scenario
            .checks
            .iter()
            .find(|c| c.id == id)
            .and_then(|c| c.transcript.as_ref())
    }
}

/// The checks that did not pass, with their scenario: (scenario, check id, verdict, messages).
/// What the forwards table of a report says it is.
pub const FORWARDS_NOTE: &str = "Requests each scenario that spans workers sent, and how many \
     the workers logged as forwarded to another worker (the session's owner). A step that \
     expects a forward and saw none is UNTESTABLE.";

/// The scenarios that counted forwards between workers, with their tallies.
pub fn forward_rows(report: &Report) -> Vec<(&ScenarioResult, crate::verdict::ForwardTally)> {
    report
        .scenarios
        .iter()
        .filter_map(|s| s.forwards.map(|t| (s, t)))
        .collect()
}

pub fn non_passing(report: &Report) -> Vec<(&ScenarioResult, String, Verdict, Vec<String>)> {
    let mut out = Vec::new();
    for s in &report.scenarios {
        match s.verdict {
            Verdict::Untestable if s.untestable_as_a_whole() => out.push((
                s,
                s.id.clone(),
                s.verdict,
                vec![s.reason.clone().unwrap_or_default()],
            )),
            Verdict::NotApplicable | Verdict::Pass => {}
            _ => {
                for c in s.checks.iter().filter(|c| c.verdict != Verdict::Pass) {
                    out.push((s, c.id.clone(), c.verdict, c.messages.clone()));
                }
            }
        }
    }
    out
}
