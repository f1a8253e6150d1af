//! The body of the `scenario_yaml` cargo-fuzz target: arbitrary bytes as a scenario file.
//!
//! A plain function, so that the corpus and crash files also replay under `cargo test` on
//! stable (`tests/fuzz_scenario_yaml_replay.rs`), as the reference's targets do.
//!
//! Invariants: the loader never panics; a refused file yields at least one error, each naming
//! the file and a place in it (a line, or the field when the problem has no single line), with
//! a line inside the document; a file that loads writes back to YAML that loads to the same
//! scenario (the regression writer of `mcpgw-conformance fuzz` relies on that).

use std::path::Path;

use crate::scenario::{Scenario, parse_str};

/// The file name errors must carry.
const PATH: &str = "scenarios/fuzz/input.yaml";

/// The cargo-fuzz target body.
pub fn scenario_yaml(data: &[u8]) {
    // Scenario files are read as UTF-8 text; other bytes never reach the parser.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new(PATH);
    match parse_str(path, text) {
        Ok(scenario) => round_trips(&scenario),
        Err(errors) => {
            assert!(!errors.is_empty(), "refused without an error: {text:?}");
            // YAML breaks lines at `\n`, `\r\n` and a lone `\r` (found by this target: `str::lines`
            // misses the last). One line past the last is where an unexpected end is reported.
            let last_line = yaml_line_breaks(text) + 2;
            for e in &errors {
                let shown = e.to_string();
                assert_eq!(e.path, path, "{shown}");
                assert!(shown.starts_with(PATH), "{shown}");
                assert!(!e.message.trim().is_empty(), "an empty message: {e:?}");
                assert!(
                    e.line.is_some() || !e.field.is_empty(),
                    "the error names neither a line nor a field: {shown}"
                );
                if let Some(line) = e.line {
                    assert!(
                        (1..=last_line).contains(&line),
                        "line {line} is outside the {last_line}-line document: {shown}"
                    );
                }
            }
        }
    }
}

/// How many line breaks YAML sees in `text`.
fn yaml_line_breaks(text: &str) -> u64 {
    let bytes = text.as_bytes();
    let lone_cr = bytes
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\r' && bytes.get(i + 1) != Some(&b'\n'))
        .count();
    (bytes.iter().filter(|&&b| b == b'\n').count() + lone_cr) as u64
}

/// A loaded scenario written back as YAML loads again, unchanged.
fn round_trips(scenario: &Scenario) {
    let Ok(yaml) = serde_saphyr::to_string(scenario) else {
        // Nothing the loader accepted should be unwritable, but the writer reports this case
        // as an error of its own; it is not a loader defect.
        return;
    };
    let again = parse_str(Path::new(PATH), &yaml).unwrap_or_else(|e| {
        let shown: Vec<String> = e.iter().map(|e| e.to_string()).collect();
        panic!("a loaded scenario does not load after writing it back:\n{yaml}\n{shown:#?}")
    });
    let before = serde_json::to_value(scenario).ok();
    let after = serde_json::to_value(&again).ok();
    assert_eq!(before, after, "writing back changed the scenario:\n{yaml}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_and_good_inputs_keep_the_invariants() {
        for input in [
            "",
            "id: [",
            "id: a/b\ntitle: t\nspec: [x]\nsteps: []\n",
            "id: a/b\ntitle: t\nspec: [x]\nsteps:\n  - name: s\n    request: {method: GET, path: \"/\\t${\"}\n    expect: {status: 200}\n",
            "id: a/b\ntitle: t\nspec: [x]\nsteps:\n  - name: s\n    request: {method: GET, path: \"/a\\u0000b\"}\n    expect: {status: {$not: {$in: [1, 2]}}}\n",
            "id: a/b\rtitle: t\r\rspec: [x\r\r\r\r\r\r\r\r",
        ] {
            scenario_yaml(input.as_bytes());
        }
    }
}
