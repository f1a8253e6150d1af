//! `mcpgw-conformance gate`: a saved report.json is compared with a baseline without sending a
//! request, with the same three outcomes as a live run (exact -> 0, an entry deleted -> 1 with a
//! new failure, an entry for a passing check -> 1 stale), and re-blessed from it; and the HTML and
//! Markdown reports of a failing run carry every section a reader needs.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_mcpgw-conformance");
const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios");

fn cmd(args: &[&str]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args).env("CI", "true");
    for k in [
        "MCPGW_TARGET_URL",
        "MCPGW_TARGET_TOKEN",
        "MCPGW_TARGET_JWT_SECRET",
        "MCPGW_BASELINE",
    ] {
        c.env_remove(k);
    }
    c.output().expect("the binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `run` over the traversal area on the in-process reference, plus `extra` arguments.
fn traversal_run(extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        "--quiet",
        "--no-snapshots",
        "--scenarios",
        SCENARIOS,
        "--scenario",
        "traversal/",
    ];
    args.extend(extra);
    cmd(&args)
}

/// A report of the traversal area with a defect injected: some checks fail, others pass.
fn failing_report(dir: &Path) -> std::path::PathBuf {
    let reports = dir.join("reports");
    let o = traversal_run(&[
        "--inject-defect",
        "normalise-dot-segments",
        "--report-dir",
        reports.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    reports
}

fn gate(report: &Path, baseline: &Path, bless: bool) -> Output {
    let mut args = vec![
        "gate",
        "--report",
        report.to_str().unwrap(),
        "--baseline",
        baseline.to_str().unwrap(),
    ];
    if bless {
        args.push("--bless");
    }
    cmd(&args)
}

#[test]
fn gate_compares_a_saved_report_with_its_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let report = failing_report(dir.path());
    let baseline = dir.path().join("b.yaml");

    let o = gate(&report, &baseline, false);
    assert_eq!(o.status.code(), Some(2), "missing baseline: {}", text(&o));

    let o = gate(&report, &baseline, true);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let blessed = std::fs::read_to_string(&baseline).unwrap();
    let entries: Vec<&str> = blessed
        .lines()
        .filter(|l| l.starts_with("- scenario:"))
        .collect();
    assert!(!entries.is_empty(), "{blessed}");

    let o = gate(&report.join("report.json"), &baseline, false);
    assert_eq!(o.status.code(), Some(0), "exact baseline: {}", text(&o));

    // Each entry deleted in turn: its failure is new again.
    for (i, entry) in entries.iter().enumerate() {
        let mut kept = Vec::new();
        let mut skipping = false;
        let mut n = 0;
        for l in blessed.lines() {
            if l.starts_with("- scenario:") {
                skipping = n == i;
                n += 1;
            }
            if !(skipping && (l.starts_with("- ") || l.starts_with("  "))) {
                kept.push(l);
            }
        }
        let minus = dir.path().join("minus.yaml");
        std::fs::write(&minus, kept.join("\n")).unwrap();
        let o = gate(&report, &minus, false);
        assert_eq!(o.status.code(), Some(1), "without {entry}: {}", text(&o));
        let id = entry
            .trim_start_matches("- scenario:")
            .trim()
            .trim_matches('"');
        assert!(
            text(&o).contains(&format!("new failure: {id}")),
            "{}",
            text(&o)
        );
    }

    // A check that passes, listed as failing: stale until re-blessed.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("report.json")).unwrap())
            .unwrap();
    let passing = json["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["checks"].as_array().unwrap().iter())
        .find(|c| c["verdict"] == "PASS")
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .expect("a passing check");
    let plus = dir.path().join("plus.yaml");
    std::fs::write(
        &plus,
        format!("{blessed}- scenario: {passing}\n  reason: fixed since\n  link: \"\"\n"),
    )
    .unwrap();
    let o = gate(&report, &plus, false);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("stale"), "{}", text(&o));
    let o = gate(&report, &plus, true);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!std::fs::read_to_string(&plus).unwrap().contains(&passing));
}

#[test]
fn html_and_markdown_reports_show_every_section() {
    let dir = tempfile::tempdir().unwrap();
    let report = failing_report(dir.path());
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    for section in [
        "<section id=\"matrix\">",
        "<section id=\"failures\">",
        "<section id=\"scenarios\">",
        "<dt>Target</dt>",
        "<dt>Profile</dt>",
        "<dt>Gateway version</dt>",
        "<dt>Suite</dt>",
        "<summary>Transcript</summary>",
        "mcpgw-conformance run --inject-defect normalise-dot-segments --scenario traversal/dot-segments-are-refused",
        "/../",
    ] {
        assert!(html.contains(section), "report.html lacks {section}");
    }
    // Self-contained: nothing fetched, nothing run.
    for external in ["<script", "src=", "<link", "@import", "url("] {
        assert!(!html.contains(external), "report.html has {external}");
    }
    let md = std::fs::read_to_string(report.join("summary.md")).unwrap();
    assert!(md.starts_with("## MCP gateway conformance: FAILED"), "{md}");
    assert!(
        md.contains("| traversal |") && md.contains("```http"),
        "{md}"
    );
}

#[test]
fn junit_agrees_with_the_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("b.yaml");
    let reports = dir.path().join("reports");
    let run = |extra: &[&str]| {
        let place = [
            "--baseline",
            baseline.to_str().unwrap(),
            "--report-dir",
            reports.to_str().unwrap(),
        ];
        traversal_run(&[&place[..], extra].concat())
    };
    let defect = ["--inject-defect", "normalise-dot-segments"];
    let o = run(&[&defect[..], &["--bless"]].concat());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    assert!(
        !junit.contains("<failure"),
        "known failures are skipped: {junit}"
    );
    assert!(junit.contains("known failure (baseline)"), "{junit}");

    // Without the defect every entry is stale: the exit code and junit say so.
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    assert!(junit.contains("stale baseline entry"), "{junit}");
    assert!(junit.contains("<failure"), "{junit}");
}
