//! `summary.md`: a Markdown summary for a CI step summary or a pull request comment.

use std::fmt::Write as _;

use super::{Report, non_passing, transcript_text};

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let s = &report.summary;
    let _ = writeln!(
        out,
        "# MCP gateway conformance: {}\n",
        if s.failed { "FAILED" } else { "passed" }
    );
    let _ = writeln!(
        out,
        "Target: {} `{}` (profile `{}`), suite {}, {} ms.\n",
        report.target.kind,
        report.target.urls.join(", "),
        report.target.profile,
        report.suite_version,
        s.duration_ms
    );
    let _ = writeln!(
        out,
        "| area | scenarios | PASS | FAIL | WARN | NOT-APPLICABLE | UNTESTABLE |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    for (area, c) in &s.by_area {
        let _ = writeln!(
            out,
            "| {area} | {} | {} | {} | {} | {} | {} |",
            c.total(),
            c.pass,
            c.fail,
            c.warn,
            c.not_applicable,
            c.untestable
        );
    }
    let c = &s.scenarios;
    let _ = writeln!(
        out,
        "| **all** | {} | {} | {} | {} | {} | {} |\n",
        c.total(),
        c.pass,
        c.fail,
        c.warn,
        c.not_applicable,
        c.untestable
    );
    let _ = writeln!(
        out,
        "Checks: {} PASS, {} FAIL, {} WARN, {} NOT-APPLICABLE, {} UNTESTABLE.\n",
        s.checks.pass, s.checks.fail, s.checks.warn, s.checks.not_applicable, s.checks.untestable
    );
    if let Some(b) = &report.baseline {
        let _ = writeln!(
            out,
            "Baseline `{}`: {} new failure(s), {} known, {} stale entr(y/ies).\n",
            b.path,
            b.comparison.new_failures.len(),
            b.comparison.known.len(),
            b.comparison.stale.len()
        );
        for id in &b.comparison.new_failures {
            let _ = writeln!(out, "- new failure: `{id}`");
        }
        for k in &b.comparison.stale {
            let _ = writeln!(
                out,
                "- stale entry (now passes): `{}` ({})",
                k.scenario, k.reason
            );
        }
        out.push('\n');
    }
    let rows = non_passing(report);
    if !rows.is_empty() {
        let _ = writeln!(out, "## Checks that did not pass\n");
    }
    for (scenario, id, verdict, messages) in rows {
        let _ = writeln!(out, "### {verdict} `{id}`\n");
        let _ = writeln!(out, "{} ({})\n", scenario.title, scenario.spec.join(", "));
        for m in &messages {
            let _ = writeln!(out, "- {m}");
        }
        let _ = writeln!(out, "\nReplay: `{}`\n", scenario.replay);
        let ex = super::row_transcript(scenario, &id, verdict);
        if let Some(ex) = ex {
            let _ = writeln!(
                out,
                "<details><summary>transcript</summary>\n\n```http\n{}```\n</details>\n",
                transcript_text(ex)
            );
        }
    }
    out
}
