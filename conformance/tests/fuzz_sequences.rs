//! `mcpgw-conformance fuzz --sequences` end to end (issue 19 §3): against the stateful
//! in-process reference a campaign of sequences finds nothing; with a defect that only a
//! sequence can show (one user's upstream session state handed to another) it fails, shrinks the
//! sequence, and writes a scenario of its steps that replays as FAIL with the defect and PASS
//! without it.

mod common;

use std::path::{Path, PathBuf};

use common::{run, text};

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "yaml"));
    files
}

#[test]
fn sequences_on_the_reference_find_nothing() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("regressions");
    let o = run(&[
        "fuzz",
        "--sequences",
        "--with",
        "stateful",
        "--quiet",
        "--cases",
        "400",
        "--seed",
        "5",
        "--regressions-dir",
        dir.to_str().unwrap(),
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("PASS: 400 case(s)"), "{out}");
    assert!(yaml_files(&dir).is_empty());
}

#[test]
fn a_shared_upstream_session_is_found_as_a_sequence_and_the_scenario_replays() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("regressions");
    let o = run(&[
        "fuzz",
        "--sequences",
        "--with",
        "stateful",
        "--quiet",
        "--cases",
        "3000",
        "--seed",
        "1",
        "--inject-defect",
        "upstream-session-shared",
        "--regressions-dir",
        dir.to_str().unwrap(),
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("broke other-user-data-seen"), "{out}");
    assert!(out.contains("minimal sequence:"), "{out}");
    assert!(out.contains("replayed here: FAIL (as it should)"), "{out}");
    assert!(
        out.contains("replayed on the reference without the defect: PASS (as it should)"),
        "{out}"
    );
    let files = yaml_files(&dir);
    assert_eq!(files.len(), 1, "{files:?}\n{out}");
    let written = std::fs::read_to_string(&files[0]).unwrap();
    // One user remembers, another recalls: two tokens, several steps, the memory tools.
    assert!(
        written.contains("Found by fuzzing sequences") && written.contains("memory: remember"),
        "{written}"
    );
    assert!(written.matches("- name: step-").count() >= 2, "{written}");
    assert!(
        written.contains("other:") && written.contains("admin: {}"),
        "{written}"
    );
}
