//! Reports of a run: `report.json` (versioned schema), `junit.xml`, `summary.md`, and the
//! terminal summary. All are built from one [`Report`].

pub mod junit;
pub mod markdown;
pub mod terminal;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::baseline::Comparison;
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
        }
    }

    /// Write `report.json`, `junit.xml` and `summary.md` into `dir`.
    pub fn write_all(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("report.json"), json)?;
        std::fs::write(dir.join("junit.xml"), junit::render(self))?;
        std::fs::write(dir.join("summary.md"), markdown::render(self))?;
        Ok(())
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

/// The transcript behind a non-passing row of [`non_passing`].
pub fn row_transcript<'a>(
    scenario: &'a ScenarioResult,
    id: &str,
    verdict: Verdict,
) -> Option<&'a Exchange> {
    if verdict == Verdict::Untestable {
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
pub fn non_passing(report: &Report) -> Vec<(&ScenarioResult, String, Verdict, Vec<String>)> {
    let mut out = Vec::new();
    for s in &report.scenarios {
        match s.verdict {
            Verdict::Untestable => out.push((
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
