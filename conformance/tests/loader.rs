//! A malformed scenario is reported with its path, line and field.

use std::path::Path;

use mcpgw_conformance::scenario::{load_dir, parse_str};

const GOOD: &str = r#"id: rpc/ping
title: ping answers
spec: [C-RPC-07]
fixtures:
  tokens:
    admin: {}
steps:
  - name: ping
    request:
      method: POST
      path: /rpc
      token: admin
      json: {jsonrpc: "2.0", id: 1, method: ping}
    expect:
      status: 200
"#;

fn err(text: &str) -> String {
    let e = parse_str(Path::new("scenarios/rpc/ping.yaml"), text).unwrap_err();
    e.iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn good_file_parses() {
    parse_str(Path::new("x.yaml"), GOOD).unwrap();
}

#[test]
fn typo_in_field_name_names_line_and_field() {
    let e = err(&GOOD.replace("    expect:\n      status", "    expect:\n      stauts"));
    println!("{e}");
    assert!(e.starts_with("scenarios/rpc/ping.yaml:15:"), "{e}");
    assert!(e.contains("steps[0].expect"), "{e}");
    assert!(e.contains("stauts"), "{e}");
}

#[test]
fn wrong_type_names_line_and_field() {
    let e = err(&GOOD.replace("spec: [C-RPC-07]", "spec: {a: 1}"));
    println!("{e}");
    assert!(e.contains(":3:"), "{e}");
    assert!(e.contains("spec"), "{e}");
    let e = err(&GOOD
        .replace("level", "x")
        .replace("title: ping answers", "title: ping answers\nlevel: MAYBE"));
    println!("{e}");
    assert!(
        e.contains(":3:") && e.contains("level") && e.contains("MAYBE"),
        "{e}"
    );
}

#[test]
fn missing_id_is_reported() {
    let e = err(&GOOD.replace("id: rpc/ping\n", ""));
    println!("{e}");
    assert!(e.contains("missing field `id`"), "{e}");
}

#[test]
fn unknown_operator_names_its_line() {
    let e = err(&GOOD.replace("status: 200", "status: {$inn: [200]}"));
    println!("{e}");
    assert!(
        e.contains(":15:") && e.contains("unknown operator `$inn`"),
        "{e}"
    );
}

#[test]
fn reference_to_undeclared_fixture_is_reported() {
    let e = err(&GOOD.replace("path: /rpc", "path: /servers/${servers.S.id}/mcp"));
    println!("{e}");
    assert!(
        e.contains("steps[0].request.path") && e.contains("servers.S"),
        "{e}"
    );
    let e = err(&GOOD.replace("token: admin", "token: nobody"));
    assert!(
        e.contains("steps[0].request.token") && e.contains(":8"),
        "{e}"
    );
}

#[test]
fn id_must_match_the_file_and_be_unique() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rpc")).unwrap();
    std::fs::write(dir.path().join("rpc/ping.yaml"), GOOD).unwrap();
    std::fs::write(dir.path().join("rpc/other.yaml"), GOOD).unwrap();
    let e = load_dir(dir.path()).unwrap_err().to_string();
    println!("{e}");
    assert!(
        e.contains("other.yaml:1") && e.contains("expected `rpc/other`"),
        "{e}"
    );
}
