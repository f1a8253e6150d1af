//! `summary.md`: a Markdown summary for a CI step summary (`$GITHUB_STEP_SUMMARY`) or a pull
//! request comment.
//!
//! With a baseline, what needs a reader comes first: new failures and stale entries with their
//! transcripts; known failures are one table row each (check, reason). The text stays under
//! GitHub's 1 MiB step-summary limit: transcripts stop at [`TRANSCRIPT_BUDGET`] bytes, and the
//! rest is in `report.html`.

use std::fmt::Write as _;

use super::{Report, non_passing, transcript_text};
use crate::verdict::Verdict;

/// Bytes of transcripts at most; the whole file stays well below 1 MiB.
pub const TRANSCRIPT_BUDGET: usize = 600 * 1024;

/// Table cells: no newlines, no unescaped pipes.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The fidelity feature table, then both conversations of each feature that did not pass
/// (within `budget`).
fn fidelity_table(out: &mut String, t: &crate::fidelity::FeatureTable, budget: &mut usize) {
    let _ = writeln!(
        out,
        "### Pass-through fidelity\n\n| feature | outcome | verdict | differences |\n|---|---|---|---|"
    );
    for f in &t.features {
        let shown: Vec<String> = f.differences.iter().take(3).map(|d| cell(d)).collect();
        let more = f.differences.len().saturating_sub(3);
        let more = if more > 0 {
            format!(" (+{more} more)")
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "| `{}` {} | {} | {} | {}{more} |",
            f.id,
            cell(&f.title),
            f.outcome.as_str(),
            f.verdict.as_str(),
            shown.join("<br>")
        );
    }
    out.push('\n');
    if !t.overhead.is_empty() {
        let _ = writeln!(
            out,
            "Latency the gateway adds (ms; the same request directly and through it, interleaved):\n\n\
             | request | samples | direct p50 | direct p99 | through p50 | through p99 | added p50 | added p99 |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|"
        );
        for o in &t.overhead {
            let figures = o.figures().join(" | ");
            let _ = writeln!(out, "| {} | {} | {figures} |", cell(&o.request), o.samples);
        }
        out.push('\n');
    }
    for f in t.features.iter().filter(|f| f.verdict != Verdict::Pass) {
        let text = super::both_transcripts(f);
        if text.len() > *budget {
            let _ = writeln!(out, "`{}`: transcripts in report.html\n", f.id);
            continue;
        }
        *budget -= text.len();
        let _ = writeln!(
            out,
            "<details><summary>{}: both conversations</summary>\n\n```http\n{text}\n```\n</details>\n",
            f.id
        );
    }
}

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let s = &report.summary;
    let _ = writeln!(
        out,
        "## MCP gateway conformance: {}\n",
        if s.failed { "FAILED" } else { "passed" }
    );
    let version = report
        .target_version()
        .map(|v| format!(", {v}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "Target: {} `{}` (profile `{}`{version}); suite mcpgw-conformance {}; {:.1} s.\n",
        report.target.kind,
        report.target.urls.join(", "),
        report.target.profile,
        report.suite_version,
        s.duration_ms as f64 / 1000.0
    );
    let _ = writeln!(
        out,
        "| area | scenarios | PASS | FAIL | WARN | NOT-APPLICABLE | UNTESTABLE |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    let mut row = |label: &str, c: &crate::verdict::Counts| {
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {} | {} | {} | {} |",
            c.total(),
            c.pass,
            c.fail,
            c.warn,
            c.not_applicable,
            c.untestable
        );
    };
    for (area, c) in &s.by_area {
        row(area, c);
    }
    row("**all scenarios**", &s.scenarios);
    row("**all checks**", &s.checks);
    out.push('\n');
    let forwards = super::forward_rows(report);
    if !forwards.is_empty() {
        let _ = writeln!(
            out,
            "### Forwards between workers\n\n{}\n\n| scenario | requests | forwarded | verdict |\n|---|---:|---:|---|",
            super::FORWARDS_NOTE
        );
        for (s, t) in forwards {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} |",
                cell(&s.id),
                t.requests,
                t.forwarded,
                s.verdict
            );
        }
        out.push('\n');
    }

    let mut budget = TRANSCRIPT_BUDGET;
    if let Some(t) = &report.fidelity {
        fidelity_table(&mut out, t, &mut budget);
    }
    let rows = non_passing(report);
    let mut detail = |out: &mut String,
                      scenario: &crate::verdict::ScenarioResult,
                      id: &str,
                      verdict: Verdict,
                      messages: &[String]| {
        let _ = writeln!(out, "#### {verdict} `{id}`\n");
        let _ = writeln!(out, "{} ({})\n", scenario.title, scenario.spec.join(", "));
        for m in messages {
            let _ = writeln!(out, "- {m}");
        }
        let _ = writeln!(out, "\nReplay: `{}`\n", scenario.replay);
        if let Some(ex) = super::row_transcript(scenario, id, verdict) {
            let text = transcript_text(ex);
            if text.len() <= budget {
                budget -= text.len();
                let _ = writeln!(
                    out,
                    "<details><summary>transcript</summary>\n\n```http\n{text}```\n</details>\n"
                );
            } else {
                let _ = writeln!(out, "(transcript in report.html)\n");
            }
        }
    };

    match &report.baseline {
        Some(b) => {
            let c = &b.comparison;
            let _ = writeln!(
                out,
                "Baseline `{}`: **{} new failure(s)**, {} known, **{} stale entr(y/ies)**.\n",
                b.path,
                c.new_failures.len(),
                c.known.len(),
                c.stale.len()
            );
            if !c.stale.is_empty() {
                let _ = writeln!(
                    out,
                    "### Stale baseline entries\n\nThese are listed as failing but now pass: remove them \
                     (or re-bless) so the gate tightens.\n"
                );
                for k in &c.stale {
                    let _ = writeln!(out, "- `{}`: {}", k.scenario, k.reason);
                }
                out.push('\n');
            }
            if !c.flaky_passed.is_empty() {
                let _ = writeln!(
                    out,
                    "Flaky entries that passed this time (kept: their verdict varies between runs): {}\n",
                    c.flaky_passed
                        .iter()
                        .map(|id| format!("`{id}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            if !c.new_failures.is_empty() {
                let _ = writeln!(out, "### New failures\n");
                for (scenario, id, verdict, messages) in &rows {
                    if c.new_failures.contains(id) {
                        detail(&mut out, scenario, id, *verdict, messages);
                    }
                }
            }
            let warned: Vec<_> = rows.iter().filter(|(_, _, v, _)| !v.is_failure()).collect();
            if !warned.is_empty() {
                let _ = writeln!(out, "### Warnings (SHOULD, not gating)\n");
                for (scenario, id, verdict, messages) in warned {
                    detail(&mut out, scenario, id, *verdict, messages);
                }
            }
            if !c.known.is_empty() {
                let _ = writeln!(
                    out,
                    "<details><summary>Known failures ({})</summary>\n\n| check | reason |\n|---|---|",
                    c.known.len()
                );
                for id in &c.known {
                    let reason = b
                        .entry(id)
                        .map(|k| {
                            let flaky = if k.flaky { "(flaky) " } else { "" };
                            if k.link.is_empty() {
                                format!("{flaky}{}", k.reason)
                            } else {
                                format!("{flaky}{} ({})", k.reason, k.link)
                            }
                        })
                        .unwrap_or_default();
                    let _ = writeln!(out, "| `{id}` | {} |", cell(&reason));
                }
                let _ = writeln!(out, "\n</details>\n");
            }
        }
        None => {
            if !rows.is_empty() {
                let _ = writeln!(out, "### Checks that did not pass\n");
            }
            for (scenario, id, verdict, messages) in &rows {
                detail(&mut out, scenario, id, *verdict, messages);
            }
        }
    }
    let _ = writeln!(
        out,
        "Full report with every transcript: `report.html`; machine-readable: `report.json`, `junit.xml`."
    );
    out
}
