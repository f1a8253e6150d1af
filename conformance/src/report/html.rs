//! `report.html`: one self-contained page for people (no script, no external asset; styles
//! inline), readable offline and as a CI artifact.
//!
//! Sections, in order: the outcome and who was tested (target URL, profile, product and version,
//! capabilities; suite version), the matrix of scenario verdicts by area, the baseline outcome,
//! every check that did not pass (messages, replay command, transcript), and all scenarios.
//! Transcripts use `<details>`, which browsers open and close without script; new failures are
//! open, known ones closed.

use std::fmt::Write as _;

use super::{Report, non_passing, row_transcript, transcript_text};
use crate::verdict::{Counts, Verdict};

/// Escape text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An id attribute value for a check or scenario id.
fn anchor(id: &str) -> String {
    let mut out = String::from("c-");
    for c in id.chars() {
        out.push(if c.is_ascii_alphanumeric() || c == '-' {
            c
        } else {
            '_'
        });
    }
    out
}

fn class(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Warn => "warn",
        Verdict::NotApplicable => "na",
        Verdict::Untestable => "untestable",
    }
}

fn badge(v: Verdict) -> String {
    format!("<span class=\"v {}\">{}</span>", class(v), v.as_str())
}

const STYLE: &str = r#"
:root { --pass:#1a7f37; --fail:#cf222e; --warn:#9a6700; --na:#6e7781; --untestable:#8250df; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1100px; padding: 1.5em; color: #1f2328; }
h1 { font-size: 1.6em; margin: 0 0 .2em; } h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2em; margin-top: 1.8em; }
h3 { font-size: 1.05em; margin: 1.4em 0 .3em; }
table { border-collapse: collapse; margin: .6em 0; } th, td { border: 1px solid #d0d7de; padding: .3em .7em; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } td.n { text-align: right; font-variant-numeric: tabular-nums; } td.zero { color: #afb8c1; }
.v { display: inline-block; padding: 0 .45em; border-radius: .3em; color: #fff; font-size: .85em; font-weight: 600; white-space: nowrap; }
.v.pass { background: var(--pass); } .v.fail { background: var(--fail); } .v.warn { background: var(--warn); }
.v.na { background: var(--na); } .v.untestable { background: var(--untestable); }
.outcome { font-size: 1.2em; font-weight: 700; padding: .4em .8em; border-radius: .4em; display: inline-block; color: #fff; }
.outcome.ok { background: var(--pass); } .outcome.bad { background: var(--fail); }
td.cell-fail { background: #ffebe9; } td.cell-untestable { background: #fbefff; } td.cell-warn { background: #fff8c5; } td.cell-pass { background: #dafbe1; }
pre { background: #f6f8fa; border: 1px solid #d0d7de; border-radius: .3em; padding: .6em; overflow-x: auto; white-space: pre-wrap; word-break: break-all; font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f6f8fa; padding: 0 .2em; }
.check { border-left: 4px solid #d0d7de; padding-left: .8em; margin: 1.2em 0; } .check.new { border-color: var(--fail); } .check.known { border-color: var(--na); }
.muted { color: #656d76; } ul.msgs { margin: .3em 0; } .tag { font-size: .85em; font-weight: 600; }
.tag.new { color: var(--fail); } .tag.known { color: var(--na); } .tag.stale { color: var(--warn); }
summary { cursor: pointer; color: #0969da; } dl { display: grid; grid-template-columns: max-content 1fr; gap: .2em 1em; } dt { font-weight: 600; } dd { margin: 0; }
"#;

/// Render the page.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let s = &report.summary;
    let outcome = if s.failed { "FAILED" } else { "PASSED" };
    let who = report.target.urls.join(", ");
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Conformance {outcome}: {} ({})</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&who),
        escape(&report.target.profile)
    );
    header(&mut out, report, outcome);
    matrix(&mut out, report);
    forwards(&mut out, report);
    if let Some(t) = &report.fidelity {
        fidelity(&mut out, t);
    }
    baseline(&mut out, report);
    failures(&mut out, report);
    all_scenarios(&mut out, report);
    let _ = writeln!(
        out,
        "<footer class=\"muted\"><p>Generated by mcpgw-conformance {} at {}. Replay commands take \
         credentials from <code>MCPGW_TARGET_TOKEN</code> / <code>MCPGW_TARGET_JWT_SECRET</code>.</p></footer>\n</body>\n</html>",
        escape(&report.suite_version),
        escape(&report.generated_at)
    );
    out
}

/// The fidelity feature table: a row per feature, its differences, and both conversations side
/// by side.
fn fidelity(out: &mut String, t: &crate::fidelity::FeatureTable) {
    let counts: Vec<String> = t
        .counts()
        .iter()
        .map(|(o, n)| format!("{n} {}", o.as_str()))
        .collect();
    let _ = writeln!(
        out,
        "<section id=\"fidelity\">\n<h2>Pass-through fidelity</h2>\n<p class=\"muted\">The same \
         conversation directly with the upstream and through the gateway, compared after \
         normalising what the manifest lets the gateway change: {}.</p>\n<table>\n\
         <tr><th>feature</th><th>outcome</th><th>verdict</th><th>differences and conversations</th></tr>",
        escape(&counts.join(", "))
    );
    for f in &t.features {
        let diffs: String = f
            .differences
            .iter()
            .map(|d| format!("<li><code>{}</code></li>", escape(d)))
            .collect();
        let _ = writeln!(
            out,
            "<tr id=\"{}\"><td><b>{}</b><br><span class=\"muted\">{} ({})</span></td><td>{}</td><td>{}</td>\
             <td><ul>{diffs}</ul><details><summary>both conversations</summary>\
             <div style=\"display:grid;grid-template-columns:1fr 1fr;gap:1em\">\
             <div><h4>directly</h4><pre>{}</pre></div><div><h4>through the gateway</h4><pre>{}</pre></div>\
             </div></details></td></tr>",
            anchor(&format!("feature/{}", f.id)),
            escape(&f.id),
            escape(&f.title),
            escape(&f.spec),
            escape(f.outcome.as_str()),
            badge(f.verdict),
            escape(&f.direct),
            escape(&f.through)
        );
    }
    let _ = writeln!(out, "</table>");
    if !t.overhead.is_empty() {
        let _ = writeln!(
            out,
            "<h3>Latency the gateway adds</h3>\n<p class=\"muted\">Milliseconds; the same request \
             directly and through the gateway, interleaved.</p>\n<table>\n<tr><th>request</th>\
             <th>samples</th><th>direct p50</th><th>direct p99</th><th>through p50</th>\
             <th>through p99</th><th>added p50</th><th>added p99</th></tr>"
        );
        for o in &t.overhead {
            let f = o.figures();
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td><b>{}</b></td><td><b>{}</b></td></tr>",
                escape(&o.request),
                o.samples,
                f[0],
                f[1],
                f[2],
                f[3],
                f[4],
                f[5]
            );
        }
        let _ = writeln!(out, "</table>");
    }
    let _ = writeln!(out, "</section>");
}

fn header(out: &mut String, report: &Report, outcome: &str) {
    let s = &report.summary;
    let t = &report.target;
    let _ = writeln!(
        out,
        "<header id=\"target\">\n<h1>MCP gateway conformance report</h1>\n\
         <p><span class=\"outcome {}\">{outcome}</span> <span class=\"muted\">{} scenarios, {} checks in {:.1} s</span></p>",
        if s.failed { "bad" } else { "ok" },
        s.scenarios.total(),
        s.checks.total(),
        s.duration_ms as f64 / 1000.0
    );
    let _ = writeln!(out, "<dl>");
    let mut row = |k: &str, v: String| {
        let _ = writeln!(out, "<dt>{k}</dt><dd>{v}</dd>");
    };
    row(
        "Target",
        t.urls
            .iter()
            .map(|u| format!("<code>{}</code>", escape(u)))
            .collect::<Vec<_>>()
            .join(", "),
    );
    row("Kind", escape(&t.kind));
    row("Profile", format!("<code>{}</code>", escape(&t.profile)));
    row(
        "Gateway version",
        report
            .target_version()
            .map(|v| escape(&v))
            .unwrap_or_else(|| "<span class=\"muted\">not reported</span>".to_owned()),
    );
    row(
        "Capabilities",
        if t.capabilities.is_empty() {
            "<span class=\"muted\">none</span>".to_owned()
        } else {
            escape(&t.capabilities.join(", "))
        },
    );
    if !t.defects.is_empty() {
        row("Injected defects", escape(&t.defects.join(", ")));
    }
    row(
        "Suite",
        format!(
            "mcpgw-conformance {} (report schema {})",
            escape(&report.suite_version),
            report.schema_version
        ),
    );
    row(
        "Baseline",
        match &report.baseline {
            Some(b) => format!("<code>{}</code>", escape(&b.path)),
            None => "<span class=\"muted\">none</span>".to_owned(),
        },
    );
    row("Generated", escape(&report.generated_at));
    let _ = writeln!(out, "</dl>\n</header>");
}

fn counts_row(out: &mut String, label: &str, c: &Counts) {
    let _ = write!(
        out,
        "<tr><th>{label}</th><td class=\"n\">{}</td>",
        c.total()
    );
    for v in Verdict::ALL {
        let n = c.get(v);
        let cls = if n == 0 {
            "n zero".to_owned()
        } else {
            format!("n cell-{}", class(v))
        };
        let _ = write!(out, "<td class=\"{cls}\">{n}</td>");
    }
    let _ = writeln!(out, "</tr>");
}

fn matrix(out: &mut String, report: &Report) {
    let s = &report.summary;
    let _ = writeln!(
        out,
        "<section id=\"matrix\">\n<h2>Verdicts by area</h2>\n<p class=\"muted\">Scenarios per area and verdict; \
         a scenario's verdict is the worst of its checks.</p>\n<table>\n<tr><th>area</th><th>scenarios</th>{}</tr>",
        Verdict::ALL
            .iter()
            .map(|v| format!("<th>{}</th>", badge(*v)))
            .collect::<String>()
    );
    for (area, c) in &s.by_area {
        let label = format!("<a href=\"#area-{}\">{}</a>", escape(area), escape(area));
        counts_row(out, &label, c);
    }
    counts_row(out, "all scenarios", &s.scenarios);
    counts_row(out, "all checks", &s.checks);
    let _ = writeln!(out, "</table>\n</section>");
}

/// On a cluster whose forwards can be seen: each scenario's requests and forwards.
fn forwards(out: &mut String, report: &Report) {
    let rows = super::forward_rows(report);
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "<section id=\"forwards\">\n<h2>Forwards between workers</h2>\n<p class=\"muted\">{}</p>\n\
         <table>\n<tr><th>scenario</th><th>requests</th><th>forwarded</th><th>verdict</th></tr>",
        escape(super::FORWARDS_NOTE)
    );
    for (s, t) in rows {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&s.id),
            t.requests,
            t.forwarded,
            badge(s.verdict)
        );
    }
    let _ = writeln!(out, "</table>\n</section>");
}

fn baseline(out: &mut String, report: &Report) {
    let Some(b) = &report.baseline else {
        return;
    };
    let c = &b.comparison;
    let _ = writeln!(
        out,
        "<section id=\"baseline\">\n<h2>Baseline</h2>\n<p><code>{}</code>: <b>{}</b> new failure(s), \
         {} known failure(s), <b>{}</b> stale entr(y/ies).</p>",
        escape(&b.path),
        c.new_failures.len(),
        c.known.len(),
        c.stale.len()
    );
    if !c.new_failures.is_empty() {
        let _ = writeln!(
            out,
            "<h3>New failures (not in the baseline: they fail the run)</h3>\n<ul>"
        );
        for id in &c.new_failures {
            let _ = writeln!(
                out,
                "<li><a href=\"#{}\"><code>{}</code></a></li>",
                anchor(id),
                escape(id)
            );
        }
        let _ = writeln!(out, "</ul>");
    }
    if !c.stale.is_empty() {
        let _ = writeln!(
            out,
            "<h3>Stale entries (listed, but now passing: remove them or re-bless)</h3>\n<ul>"
        );
        for k in &c.stale {
            let _ = writeln!(
                out,
                "<li><code>{}</code>: {}</li>",
                escape(&k.scenario),
                escape(&k.reason)
            );
        }
        let _ = writeln!(out, "</ul>");
    }
    if !c.flaky_passed.is_empty() {
        let _ = writeln!(
            out,
            "<h3>Flaky entries that passed this time (kept: their verdict varies between runs)</h3>\n<ul>"
        );
        for id in &c.flaky_passed {
            let _ = writeln!(out, "<li><code>{}</code></li>", escape(id));
        }
        let _ = writeln!(out, "</ul>");
    }
    if !c.known.is_empty() {
        let _ = writeln!(
            out,
            "<details>\n<summary>Known failures ({})</summary>\n<table>\n<tr><th>check</th><th>reason</th></tr>",
            c.known.len()
        );
        for id in &c.known {
            let (reason, link, flaky) = b
                .entry(id)
                .map(|k| (k.reason.as_str(), k.link.as_str(), k.flaky))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "<tr><td><a href=\"#{}\"><code>{}</code></a></td><td>{}{}{}</td></tr>",
                anchor(id),
                escape(id),
                if flaky { "<b>flaky:</b> " } else { "" },
                escape(reason),
                link_html(link)
            );
        }
        let _ = writeln!(out, "</table>\n</details>");
    }
    let _ = writeln!(out, "</section>");
}

fn link_html(link: &str) -> String {
    if link.starts_with("https://") || link.starts_with("http://") {
        format!(" (<a href=\"{0}\">{0}</a>)", escape(link))
    } else if link.is_empty() {
        String::new()
    } else {
        format!(" ({})", escape(link))
    }
}

fn failures(out: &mut String, report: &Report) {
    let rows = non_passing(report);
    let _ = writeln!(
        out,
        "<section id=\"failures\">\n<h2>Checks that did not pass ({})</h2>",
        rows.len()
    );
    if rows.is_empty() {
        let _ = writeln!(out, "<p>Every check that ran passed.</p>");
    }
    for (scenario, id, verdict, messages) in rows {
        let entry = report.baseline.as_ref().and_then(|b| b.entry(&id));
        let known = entry.is_some() || !verdict.is_failure();
        let (cls, tag) = match (&report.baseline, entry) {
            (_, Some(e)) if e.flaky => (
                "known",
                "<span class=\"tag known\">known (baseline, flaky: varies between runs)</span>",
            ),
            (_, Some(_)) => ("known", "<span class=\"tag known\">known (baseline)</span>"),
            (Some(_), None) if verdict.is_failure() => (
                "new",
                "<span class=\"tag new\">new: not in the baseline</span>",
            ),
            _ if verdict.is_failure() => ("new", ""),
            _ => ("known", ""),
        };
        let _ = writeln!(
            out,
            "<article class=\"check {cls}\" id=\"{}\">\n<h3>{} <code>{}</code> {tag}</h3>\n\
             <p>{} <span class=\"muted\">({})</span></p>",
            anchor(&id),
            badge(verdict),
            escape(&id),
            escape(&scenario.title),
            escape(&scenario.spec.join(", "))
        );
        if let Some(k) = entry {
            let _ = writeln!(
                out,
                "<p class=\"muted\">Baseline: {}{}</p>",
                escape(&k.reason),
                link_html(&k.link)
            );
        }
        let _ = writeln!(out, "<ul class=\"msgs\">");
        for m in &messages {
            let _ = writeln!(out, "<li>{}</li>", escape(m));
        }
        let _ = writeln!(
            out,
            "</ul>\n<p>Replay:</p>\n<pre>{}</pre>",
            escape(&scenario.replay)
        );
        if let Some(ex) = row_transcript(scenario, &id, verdict) {
            let _ = writeln!(
                out,
                "<details{}>\n<summary>Transcript</summary>\n<pre>{}</pre>\n</details>",
                if known { "" } else { " open" },
                escape(&transcript_text(ex))
            );
        }
        let _ = writeln!(out, "</article>");
    }
    let _ = writeln!(out, "</section>");
}

fn all_scenarios(out: &mut String, report: &Report) {
    let _ = writeln!(out, "<section id=\"scenarios\">\n<h2>All scenarios</h2>");
    for area in report.summary.by_area.keys() {
        let in_area: Vec<_> = report
            .scenarios
            .iter()
            .filter(|s| &s.area == area)
            .collect();
        let _ = writeln!(
            out,
            "<h3 id=\"area-{0}\">{0} ({1})</h3>\n<table>\n<tr><th>verdict</th><th>scenario</th><th>checks</th><th>spec</th></tr>",
            escape(area),
            in_area.len()
        );
        for s in in_area {
            let passed = s
                .checks
                .iter()
                .filter(|c| c.verdict == Verdict::Pass)
                .count();
            let detail = match &s.reason {
                Some(r) => format!("<br><span class=\"muted\">{}</span>", escape(r)),
                None => String::new(),
            };
            let id = if s.verdict == Verdict::Pass || s.verdict == Verdict::NotApplicable {
                format!("<code>{}</code>", escape(&s.id))
            } else {
                let first = s
                    .checks
                    .iter()
                    .find(|c| c.verdict != Verdict::Pass)
                    .map(|c| c.id.clone())
                    .unwrap_or_else(|| s.id.clone());
                format!(
                    "<a href=\"#{}\"><code>{}</code></a>",
                    anchor(&first),
                    escape(&s.id)
                )
            };
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{id}<br>{}{detail}</td><td class=\"n\">{passed}/{}</td><td>{}</td></tr>",
                badge(s.verdict),
                escape(&s.title),
                s.checks.len(),
                escape(&s.spec.join(", "))
            );
        }
        let _ = writeln!(out, "</table>");
    }
    let _ = writeln!(out, "</section>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(anchor("rpc/x:step-1"), "c-rpc_x_step-1");
    }
}
