//! `mcpgw-conformance fuzz` end to end (issue 6): against the in-process reference it finds
//! nothing; with a defect of the matrix injected it fails, shrinks, and writes a scenario that
//! the normal runner replays as FAIL with the defect and PASS without it. Small case counts;
//! scenarios go to a temporary directory.

mod common;

use std::path::{Path, PathBuf};

use common::{run, text};

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "yaml"));
    files.sort();
    files
}

/// Fuzz with `defect` injected; require exit 1 with `invariant` broken (one of `a|b` when
/// either shows the defect) and exactly one scenario written; return (scenario root, scenario
/// id, fuzz output).
fn fuzz_finds(defect: &str, seed: &str, invariants: &str) -> (tempfile::TempDir, String, String) {
    fuzz_finds_with(defect, seed, invariants, &[])
}

/// [`fuzz_finds`] with more `fuzz` arguments (e.g. `--with stateful`).
fn fuzz_finds_with(
    defect: &str,
    seed: &str,
    invariants: &str,
    extra: &[&str],
) -> (tempfile::TempDir, String, String) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("regressions");
    let mut args = vec![
        "fuzz",
        "--quiet",
        "--cases",
        "20000",
        "--seed",
        seed,
        "--inject-defect",
        defect,
        "--regressions-dir",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = run(&args);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let invariant = invariants
        .split('|')
        .find(|i| out.contains(&format!("to a request that breaks {i}")))
        .unwrap_or_else(|| panic!("{defect}: expected `{invariants}`:\n{out}"));
    assert!(out.contains("minimal request and response:"), "{out}");
    let files = yaml_files(&dir);
    assert_eq!(files.len(), 1, "{files:?}\n{out}");
    let name = files[0].file_stem().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with(&format!("fuzz-{invariant}-")), "{name}");
    let written = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        written.contains("Found by fuzzing") && written.contains(&format!("--seed {seed}")),
        "{written}"
    );
    assert!(written.contains("spec:"), "{written}");
    (root, format!("regressions/{name}"), out)
}

/// The written scenario through the normal runner: FAIL with the defect, PASS without.
fn replays(root: &Path, id: &str, defect: &str) {
    let scenarios = root.to_str().unwrap();
    let with = run(&[
        "run",
        "--quiet",
        "--no-snapshots",
        "--scenarios",
        scenarios,
        "--scenario",
        id,
        "--inject-defect",
        defect,
    ]);
    assert_eq!(with.status.code(), Some(1), "{}", text(&with));
    assert!(text(&with).contains(id), "{}", text(&with));
    let without = run(&[
        "run",
        "--quiet",
        "--no-snapshots",
        "--scenarios",
        scenarios,
        "--scenario",
        id,
    ]);
    assert_eq!(without.status.code(), Some(0), "{}", text(&without));
}

#[test]
fn fuzzing_the_reference_finds_nothing_and_writes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("regressions");
    let o = run(&[
        "fuzz",
        "--quiet",
        "--cases",
        "1000",
        "--seed",
        "11",
        "--regressions-dir",
        dir.to_str().unwrap(),
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("PASS: 1000 case(s)"), "{out}");
    assert!(yaml_files(&dir).is_empty());
}

#[test]
fn d8_fuzz_finds_normalise_dot_segments_and_the_scenario_replays() {
    let (root, id, out) = fuzz_finds("normalise-dot-segments", "1", "refused-path-served");
    assert!(out.contains("replayed here: FAIL (as it should)"), "{out}");
    assert!(
        out.contains("replayed on the reference without the defect: PASS (as it should)"),
        "{out}"
    );
    replays(root.path(), &id, "normalise-dot-segments");
}

#[test]
fn d1_fuzz_finds_prefix_general_endpoints_and_the_scenario_replays() {
    let (root, id, _) = fuzz_finds("prefix-general-endpoints", "1", "restriction-not-enforced");
    replays(root.path(), &id, "prefix-general-endpoints");
}

#[test]
fn d2_fuzz_finds_global_mcp_unscoped_and_the_scenario_replays() {
    let (root, id, _) = fuzz_finds(
        "global-mcp-unscoped",
        "1",
        "other-server-tool-seen|other-server-tool-ran",
    );
    replays(root.path(), &id, "global-mcp-unscoped");
}

/// A name the hex-only route does not match falls through to the global endpoint, where a
/// call runs another server's tool: the server's endpoint served what is not its own (or, for
/// the OAuth server, a challenge no longer names its metadata).
#[test]
fn c_mcp_03_fuzz_finds_hex_only_server_regex_and_the_scenario_replays() {
    let (root, id, _) = fuzz_finds(
        "hex-only-server-regex",
        "2",
        "server-endpoint-leak|server-id-not-injected|bare-challenge",
    );
    replays(root.path(), &id, "hex-only-server-regex");
}

#[test]
fn d2_fuzz_finds_cross_server_call_and_the_scenario_replays() {
    let (root, id, _) = fuzz_finds(
        "cross-server-call",
        "1",
        "server-endpoint-leak|other-server-tool-ran",
    );
    replays(root.path(), &id, "cross-server-call");
}

#[test]
fn d10_fuzz_finds_id_retyped_and_the_scenario_replays() {
    let (root, id, _) = fuzz_finds("id-retyped", "1", "jsonrpc-id-altered");
    replays(root.path(), &id, "id-retyped");
}

/// Sessions: the campaign opens a session on servers A and B and ends one, then sends their
/// ids where they do not belong (and as a second user); the written scenario opens them again
/// before its request.
#[test]
fn sessions_fuzz_finds_ended_and_crossed_sessions_and_the_scenarios_replay() {
    for (defect, invariant) in [
        ("delete-keeps-session", "ended-session-served"),
        ("session-shared-across-endpoints", "session-crossed"),
        ("session-owner-unchecked", "session-owner-crossed"),
    ] {
        let (root, id, out) = fuzz_finds_with(defect, "1", invariant, &["--with", "stateful"]);
        assert!(
            out.contains("replayed on the reference without the defect: PASS"),
            "{out}"
        );
        let written = std::fs::read_to_string(root.path().join(format!("{id}.yaml"))).unwrap();
        assert!(
            written.contains("method: initialize") && written.contains("stateful"),
            "{written}"
        );
    }
}

/// The callers and headers that are not routing: an empty bearer on an OAuth server (a bare
/// challenge), a token restricted to another address with a forwarding header claiming it, and
/// an ended session sent to `/rpc`.
#[test]
fn challenge_forwarding_and_rpc_session_defects_are_found_and_replay() {
    for (defect, invariants, extra) in [
        ("empty-bearer-bare-challenge", "bare-challenge", &[][..]),
        (
            "trust-xff-from-anyone",
            "other-server-tool-ran|other-server-tool-seen",
            &[][..],
        ),
        (
            "rpc-ignores-session",
            "ended-session-served|session-owner-crossed",
            &["--with", "stateful"][..],
        ),
    ] {
        let (root, id, _) = fuzz_finds_with(defect, "1", invariants, extra);
        replays(root.path(), &id, defect);
    }
}

/// The invariants a request's form decides: a permission list whatever the body says or the
/// method is, a session id the client planted, a protocol version from the future, a host from
/// the client's forwarding headers, a token in the query string, a batch mixing servers, a
/// target in absolute form. Each defect is found, written, and the scenario fails with it and
/// passes without.
#[test]
fn request_form_defects_are_found_and_replay() {
    for (defect, invariants, extra) in [
        (
            "duplicate-method-first-checked",
            "permission-not-enforced",
            &[][..],
        ),
        (
            "server-mcp-stream-unchecked",
            "permission-not-enforced",
            &["--with", "stateful"][..],
        ),
        (
            "session-id-from-client",
            // An `initialize` carrying a session id the campaign opened (or ended) takes it
            // over: that session is then served where it must not be.
            "client-session-id-adopted|session-crossed|ended-session-served",
            &["--with", "stateful"][..],
        ),
        (
            "protocol-version-compared-as-text",
            "unsupported-protocol-version-served",
            &[][..],
        ),
        (
            "forwarded-header-believed",
            "forwarded-host-believed",
            &[][..],
        ),
        (
            "query-token-accepted",
            "other-server-tool-ran|other-server-tool-seen",
            &[][..],
        ),
        (
            "batch-checked-by-first-call",
            "other-server-tool-ran|other-server-tool-seen",
            &[][..],
        ),
        // A dot segment in an absolute-form target, which the defect's guard does not read.
        ("absolute-form-unguarded", "refused-path-served", &[][..]),
    ] {
        let (root, id, out) = fuzz_finds_with(defect, "1", invariants, extra);
        if extra.is_empty() {
            replays(root.path(), &id, defect);
        } else {
            // A stateful finding is replayed by the campaign itself, on the stateful reference
            // it ran on, with the defect and without.
            assert!(out.contains("replayed here: FAIL (as it should)"), "{out}");
            assert!(
                out.contains("replayed on the reference without the defect: PASS"),
                "{out}"
            );
        }
    }
}

/// What a call meets on its way through a gateway: a result's member dropped or flattened, an
/// upstream's error code replaced, the client's `_meta` not forwarded, an upstream's session id
/// passed on. Each defect is found on the world's fidelity upstream, written, and the scenario
/// fails with it and passes without.
#[test]
fn relay_defects_are_found_and_replay() {
    for (defect, invariant) in [
        ("structured-content-stripped", "relayed-answer-altered"),
        ("content-flattened", "relayed-answer-altered"),
        ("upstream-error-code-replaced", "relayed-answer-altered"),
        ("meta-not-forwarded", "relayed-request-altered"),
        ("upstream-session-id-leaked", "upstream-session-id-passed"),
    ] {
        let (root, id, _) = fuzz_finds_with(defect, "1", invariant, &[]);
        replays(root.path(), &id, defect);
    }
}

/// Known invariants (a baseline's `fuzz_findings`) are counted, not found: the campaign passes;
/// an entry naming no invariant is a configuration error.
#[test]
fn a_baseline_turns_a_finding_into_a_known_one() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("b.yaml");
    std::fs::write(
        &baseline,
        "known_failures: []\nfuzz_findings:\n- invariant: jsonrpc-id-altered\n  reason: the defect\n",
    )
    .unwrap();
    let args = |b: &str| {
        [
            "fuzz",
            "--quiet",
            "--no-write",
            "--cases",
            "3000",
            "--seed",
            "1",
            "--keep-going",
            "--inject-defect",
            "id-retyped",
            "--baseline",
            b,
        ]
        .map(str::to_owned)
    };
    let o = run(&args(baseline.to_str().unwrap())
        .each_ref()
        .map(String::as_str));
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("broken: jsonrpc-id-altered in") && out.contains("known (baseline)"),
        "{out}"
    );
    std::fs::write(
        &baseline,
        "known_failures: []\nfuzz_findings:\n- invariant: id-alterd\n  reason: typo\n",
    )
    .unwrap();
    let o = run(&args(baseline.to_str().unwrap())
        .each_ref()
        .map(String::as_str));
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("`id-alterd` is no invariant"), "{out}");
}

#[test]
fn the_same_seed_finds_the_same_minimal_request() {
    let (_a, first, _) = fuzz_finds("prefix-general-endpoints", "3", "restriction-not-enforced");
    let (_b, second, _) = fuzz_finds("prefix-general-endpoints", "3", "restriction-not-enforced");
    assert_eq!(first, second);
}

#[test]
fn usage_and_configuration_errors_exit_2() {
    for args in [
        &["fuzz", "--cases", "0"][..],
        &["fuzz", "--seed", "x"],
        &["fuzz", "--inject-defect", "no-such-defect", "--cases", "1"],
        &[
            "fuzz",
            "--target",
            "http://127.0.0.1:9",
            "--token",
            "t",
            "--inject-defect",
            "normalise-dot-segments",
        ],
        // Nothing listens on port 9 of loopback: unreachable.
        &["fuzz", "--target", "http://127.0.0.1:9", "--token", "t"],
        &["fuzz", "--target", "http://127.0.0.1:9"],
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
    }
}
