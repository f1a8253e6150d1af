//! The terminal: a progress bar while scenarios run, then the non-passing checks (with replay
//! commands) and a summary table by area.

use std::fmt::Write as _;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Report, non_passing, transcript_text};
use crate::verdict::{ScenarioResult, Verdict};

/// Progress over scenarios (drawn on stderr only when it is a terminal).
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    pub fn new(total: usize, enabled: bool) -> Progress {
        let bar = ProgressBar::new(total as u64);
        if enabled {
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed}] {bar:30} {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
        } else {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        Progress { bar }
    }

    /// A scenario finished.
    pub fn done(&self, r: &ScenarioResult) {
        if !matches!(r.verdict, Verdict::Pass | Verdict::NotApplicable) {
            self.bar
                .println(format!("{:<14} {}", r.verdict.as_str(), r.id));
        }
        self.bar.set_message(r.id.clone());
        self.bar.inc(1);
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// The text printed after a run.
pub fn render(report: &Report, transcripts: bool) -> String {
    let mut out = String::new();
    for (scenario, id, verdict, messages) in non_passing(report) {
        let _ = writeln!(out, "\n{verdict} {id}  ({})", scenario.spec.join(", "));
        let _ = writeln!(out, "    {}", scenario.title);
        for m in &messages {
            let _ = writeln!(out, "    - {m}");
        }
        let _ = writeln!(out, "    replay: {}", scenario.replay);
        if transcripts {
            let ex = super::row_transcript(scenario, &id, verdict);
            if let Some(ex) = ex {
                for line in transcript_text(ex).lines() {
                    let _ = writeln!(out, "      {line}");
                }
            }
        }
    }
    for sc in report
        .scenarios
        .iter()
        .filter(|s| !s.cleanup_errors.is_empty())
    {
        let _ = writeln!(out, "\ncleanup of {} left fixtures behind:", sc.id);
        for e in &sc.cleanup_errors {
            let _ = writeln!(out, "    - {e}");
        }
    }
    if let Some(t) = &report.fidelity {
        out.push_str(&fidelity_table(t, transcripts));
    }
    let s = &report.summary;
    let _ = writeln!(
        out,
        "\n{:<14} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5}",
        "area", "total", "PASS", "FAIL", "WARN", "N/A", "UNTST"
    );
    let row = |out: &mut String, name: &str, c: &crate::verdict::Counts| {
        let _ = writeln!(
            out,
            "{:<14} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5}",
            name,
            c.total(),
            c.pass,
            c.fail,
            c.warn,
            c.not_applicable,
            c.untestable
        );
    };
    for (area, c) in &s.by_area {
        row(&mut out, area, c);
    }
    row(&mut out, "all scenarios", &s.scenarios);
    row(&mut out, "all checks", &s.checks);
    if let Some(b) = &report.baseline {
        out.push('\n');
        out.push_str(&baseline(b));
    }
    let _ = writeln!(
        out,
        "\n{} against {} ({} profile) in {:.1} s",
        if s.failed { "FAILED" } else { "ok" },
        report.target.urls.join(", "),
        report.target.profile,
        s.duration_ms as f64 / 1000.0
    );
    out
}

/// The fidelity feature table: one line per feature, its differences under it (the first few
/// unless `transcripts`, which also prints both conversations of a feature that did not pass).
pub fn fidelity_table(t: &crate::fidelity::FeatureTable, transcripts: bool) -> String {
    const SHOWN: usize = 5;
    let mut out = format!(
        "\n{:<26} {:<14} {:<8} feature\n",
        "feature", "outcome", "verdict"
    );
    for f in &t.features {
        let _ = writeln!(
            out,
            "{:<26} {:<14} {:<8} {}",
            f.id,
            f.outcome.as_str(),
            f.verdict.as_str(),
            f.title
        );
        let limit = if transcripts { usize::MAX } else { SHOWN };
        for d in f.differences.iter().take(limit) {
            let _ = writeln!(out, "    - {d}");
        }
        if f.differences.len() > limit {
            let _ = writeln!(out, "    ... {} more", f.differences.len() - limit);
        }
        if transcripts && f.verdict != crate::verdict::Verdict::Pass {
            for line in super::both_transcripts(f).lines() {
                let _ = writeln!(out, "      {line}");
            }
        }
    }
    let counts: Vec<String> = t
        .counts()
        .iter()
        .map(|(o, n)| format!("{n} {}", o.as_str()))
        .collect();
    let _ = writeln!(out, "features: {}\n", counts.join(", "));
    if !t.overhead.is_empty() {
        let _ = writeln!(
            out,
            "{:<26} {:>7} {:>10} {:>10} {:>10} {:>10} {:>9} {:>9}",
            "added latency (ms)",
            "samples",
            "direct p50",
            "direct p99",
            "via p50",
            "via p99",
            "+p50",
            "+p99"
        );
        for o in &t.overhead {
            let f = o.figures();
            let _ = writeln!(
                out,
                "{:<26} {:>7} {:>10} {:>10} {:>10} {:>10} {:>9} {:>9}",
                o.request, o.samples, f[0], f[1], f[2], f[3], f[4], f[5]
            );
        }
    }
    out
}

/// The baseline outcome: counts, then each new failure and stale entry.
pub fn baseline(b: &super::BaselineSummary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "baseline {}: {} new failure(s), {} known failure(s), {} stale entr(y/ies)",
        b.path,
        b.comparison.new_failures.len(),
        b.comparison.known.len(),
        b.comparison.stale.len()
    );
    for id in &b.comparison.new_failures {
        let _ = writeln!(out, "  new failure: {id}");
    }
    for k in &b.comparison.stale {
        let _ = writeln!(
            out,
            "  stale (now passes, remove it or --bless): {}",
            k.scenario
        );
    }
    for id in &b.comparison.flaky_passed {
        let _ = writeln!(out, "  flaky entry passed this time (kept): {id}");
    }
    out
}
