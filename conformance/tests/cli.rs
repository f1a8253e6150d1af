//! The command line end to end: exit codes, reports, baselines, snapshots in CI, and that a
//! malformed scenario stops the run before any request is sent.

mod common;

use std::path::Path;
use std::process::Output;

use common::{run_with as run, text};

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios");

#[tokio::test]
async fn malformed_scenario_exits_2_before_any_request() {
    let gateway = wiremock::MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rpc")).unwrap();
    std::fs::write(
        dir.path().join("rpc/bad.yaml"),
        "id: rpc/bad\ntitle: t\nspec: [x]\nsteps:\n  - name: a\n    request: {method: GET, path: /}\n    expect: {stauts: 200}\n",
    )
    .unwrap();
    let uri = gateway.uri();
    let o = run(
        &[
            "run",
            "--quiet",
            "--scenarios",
            dir.path().to_str().unwrap(),
            "--target",
            &uri,
            "--token",
            "t",
        ],
        &[],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("rpc/bad.yaml:7:") && out.contains("stauts"),
        "{out}"
    );
    assert!(gateway.received_requests().await.unwrap().is_empty());
}

#[test]
fn failures_exit_1_and_write_reports() {
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("reports");
    let o = run(
        &[
            "run",
            "--quiet",
            "--scenarios",
            SCENARIOS,
            "--scenario",
            "traversal/dot-segments-are-refused",
            "--inject-defect",
            "normalise-dot-segments",
            "--report-dir",
            reports.to_str().unwrap(),
        ],
        &[],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("replay: mcpgw-conformance run --inject-defect normalise-dot-segments --scenario traversal/dot-segments-are-refused"), "{out}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["summary"]["failed"], true);
    assert_eq!(report["scenarios"][0]["checks"][0]["verdict"], "FAIL");
    assert!(
        report["scenarios"][0]["checks"][0]["transcript"]["request"]["target"]
            .as_str()
            .unwrap()
            .contains("/../")
    );
    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    assert!(junit.contains("<failure"), "{junit}");
    assert!(
        std::fs::read_to_string(reports.join("summary.md"))
            .unwrap()
            .contains("FAILED")
    );
}

#[test]
fn baseline_accepts_known_failures_and_rejects_stale_entries() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("baseline.yaml");
    let b = baseline.to_str().unwrap();
    let defect = ["--inject-defect", "normalise-dot-segments"];
    let base = [
        "run",
        "--quiet",
        "--scenarios",
        SCENARIOS,
        "--scenario",
        "traversal/",
    ];
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter().chain(extra).map(|s| (*s).to_owned()).collect()
    };
    fn args(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }

    let v = with(&[&defect[..], &["--baseline", b]].concat());
    let o = run(&args(&v), &[]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "a missing baseline is a usage error: {}",
        text(&o)
    );

    let v = with(&[&defect[..], &["--baseline", b, "--bless"]].concat());
    let o = run(&args(&v), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let written = std::fs::read_to_string(&baseline).unwrap();
    assert!(
        written.contains("traversal/dot-segments-are-refused:literal"),
        "{written}"
    );

    let v = with(&[&defect[..], &["--baseline", b]].concat());
    let o = run(&args(&v), &[]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "known failures only: {}",
        text(&o)
    );

    let v = with(&["--baseline", b]);
    let o = run(&args(&v), &[]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "entries that now pass fail the run: {}",
        text(&o)
    );
    assert!(text(&o).contains("stale"), "{}", text(&o));
}

fn snapshot_run(snapshots: &Path, ci: bool) -> Output {
    let env: &[(&str, &str)] = if ci { &[("CI", "true")] } else { &[] };
    run(
        &[
            "run",
            "--quiet",
            "--scenarios",
            SCENARIOS,
            "--scenario",
            "rpc/parse-error-is-http-400",
            "--snapshots",
            snapshots.to_str().unwrap(),
        ],
        env,
    )
}

#[test]
fn pending_snapshots_fail_and_are_written_only_outside_ci() {
    let dir = tempfile::tempdir().unwrap();
    let pending = dir
        .path()
        .join("reference/rpc/parse-error-is-http-400__parse-error.snap.new");

    let o = snapshot_run(dir.path(), true);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!pending.exists(), "CI must not write pending snapshots");

    let o = snapshot_run(dir.path(), false);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        pending.exists(),
        "a local run writes the pending snapshot for review"
    );

    std::fs::rename(&pending, pending.with_extension("")).unwrap();
    let o = snapshot_run(dir.path(), true);
    assert_eq!(
        o.status.code(),
        Some(0),
        "an accepted snapshot passes: {}",
        text(&o)
    );
}

/// `--cluster 2` passes `--inject-defect` on to its workers and puts both in replay commands;
/// the same scenario passes on a healthy cluster. Skipped without Redis/Postgres outside CI.
#[test]
fn cluster_target_injects_defects_into_workers_and_replays_with_them() {
    let scenario = "affinity/forwarded-request-keeps-server-scope";
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().to_str().unwrap();
    let o = run(
        &[
            "run",
            "--scenarios",
            SCENARIOS,
            "--scenario",
            scenario,
            "--cluster",
            "2",
            "--inject-defect",
            "forwarded-no-server-id",
            "--quiet",
            "--report-dir",
            reports,
        ],
        &[],
    );
    let t = text(&o);
    if o.status.code() == Some(2)
        && t.contains("failed to start the cluster")
        && std::env::var("MCPGW_REQUIRE_SERVICES").is_err()
    {
        return eprintln!("skipping: {t}");
    }
    assert_eq!(o.status.code(), Some(1), "{t}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    let replay = report
        .pointer("/scenarios/0/replay")
        .and_then(|v| v.as_str());
    assert_eq!(
        replay,
        Some(
            "mcpgw-conformance run --cluster 2 --inject-defect forwarded-no-server-id --scenario \
             affinity/forwarded-request-keeps-server-scope"
        ),
        "{report:#}"
    );
    let o = run(
        &[
            "run",
            "--scenarios",
            SCENARIOS,
            "--scenario",
            scenario,
            "--cluster",
            "2",
            "--quiet",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}
