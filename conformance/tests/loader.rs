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
        e.starts_with("scenarios/rpc/ping.yaml:12:7: steps[0].request.token:"),
        "the token's line: {e}"
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

#[test]
fn the_id_line_is_the_id_field_not_a_line_that_reads_like_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rpc")).unwrap();
    let text = GOOD.replace(
        "id: rpc/ping\n",
        "description: |\n  id: rpc/ping is how it used to read\nid: rpc/ping\n",
    );
    std::fs::write(dir.path().join("rpc/ping.yaml"), &text).unwrap();
    std::fs::write(dir.path().join("rpc/other.yaml"), &text).unwrap();
    let e = load_dir(dir.path()).unwrap_err().to_string();
    println!("{e}");
    assert!(
        e.contains("other.yaml:3:1: id: id `rpc/ping` does not match"),
        "{e}"
    );
}

/// GOOD plus more steps (appended to its step list).
fn with_steps(extra: &str) -> String {
    format!("{GOOD}{extra}")
}

#[test]
fn fault_steps_parse_and_imply_the_fault_capability() {
    use mcpgw_conformance::runner::needed_capabilities;
    use mcpgw_conformance::scenario::{Action, Capability, Fault};
    use std::time::Duration;
    let s = parse_str(
        Path::new("x.yaml"),
        &with_steps(
            "  - name: kill\n    fault: {kill_worker: 1}\n  - name: pause\n    fault: {pause_redis: true}\n  - name: nap\n    wait_ms: 100\n  - name: again\n    retry_for_ms: 5000\n    request: {method: POST, path: /rpc, token: admin}\n    expect: {status: 200}\n",
        ),
    )
    .unwrap();
    assert_eq!(s.steps[1].fault(), Some(Fault::KillWorker(1)));
    assert_eq!(s.steps[2].fault(), Some(Fault::PauseRedis));
    assert!(matches!(s.steps[3].action, Action::Wait(d) if d == Duration::from_millis(100)));
    let again = s.steps[4].request().expect("a request step");
    assert_eq!(again.retry_for, Some(Duration::from_millis(5000)));
    let caps = needed_capabilities(&s);
    assert!(caps.contains(&Capability::ClusterFaults), "{caps:?}");
    assert!(
        caps.contains(&Capability::Cluster),
        "kill_worker: 1 needs a second worker"
    );
}

#[test]
fn malformed_fault_steps_name_line_and_field() {
    // A fault and a request in one step.
    let e = err(&with_steps(
        "  - name: both\n    fault: {kill_worker: 0}\n    request: {method: GET, path: /}\n    expect: {status: 200}\n",
    ));
    println!("{e}");
    assert!(e.contains(":16:") && e.contains("steps[1]:"), "{e}");
    assert!(
        e.contains("exactly one of `request`, `fault` and `wait_ms`"),
        "{e}"
    );
    // An unknown fault.
    let e = err(&with_steps("  - name: f\n    fault: {reboot_worker: 0}\n"));
    println!("{e}");
    assert!(e.contains(":17:") && e.contains("steps[1].fault"), "{e}");
    assert!(e.contains("reboot_worker"), "{e}");
    // `pause_redis: false` says nothing.
    let e = err(&with_steps(
        "  - name: f\n    fault: {pause_redis: false}\n",
    ));
    println!("{e}");
    assert!(e.contains("steps[1].fault.pause_redis"), "{e}");
    // Expectations, saves and `via` belong to requests.
    let e = err(&with_steps(
        "  - name: f\n    via: 1\n    fault: {kill_worker: 0}\n    expect: {status: 200}\n",
    ));
    println!("{e}");
    assert!(e.contains(":19:5: steps[1].expect:"), "{e}");
    assert!(e.contains(":17:5: steps[1].via:"), "{e}");
    // Retrying is for requests, and bounded.
    let e = err(&with_steps(
        "  - name: f\n    wait_ms: 100\n    retry_for_ms: 10\n",
    ));
    assert!(e.contains("steps[1].retry_for_ms"), "{e}");
    let e = err(&GOOD.replace("  - name: ping\n", "  - name: ping\n    retry_for_ms: 0\n"));
    assert!(
        e.contains("steps[0].retry_for_ms") && e.contains("between 1"),
        "{e}"
    );
    let e = err(&with_steps("  - name: f\n    wait_ms: 9999999\n"));
    assert!(e.contains("steps[1].wait_ms"), "{e}");
    // A step with nothing to do.
    let e = err(&with_steps("  - name: f\n    description: nothing\n"));
    assert!(
        e.contains(":16:5: steps[1]: a step has exactly one of")
            && e.ends_with("this one has none"),
        "{e}"
    );
}

/// GOOD with its one step's `expect` replaced (indented under `    expect:`).
fn with_expect(expect: &str) -> String {
    GOOD.replace(
        "    expect:\n      status: 200\n",
        &format!("    expect:\n{expect}"),
    )
}

#[test]
fn a_request_step_must_state_its_status() {
    // Expecting something, but not the status: a 500 would pass.
    let e = err(&with_expect("      pointers: {/result: {}}\n"));
    println!("{e}");
    assert!(
        e.starts_with("scenarios/rpc/ping.yaml:14:5:"),
        "the line of `expect`, which lacks the status: {e}"
    );
    assert!(e.contains("steps[0].expect.status"), "{e}");
    assert!(e.contains("must state the status it expects"), "{e}");
    // The rule is per step: a later step without a status is named by its own line and index.
    let e = err(&with_steps(
        "  - name: second\n    request: {method: POST, path: /rpc, token: admin}\n    expect: {json: {result: {}}}\n",
    ));
    println!("{e}");
    assert!(e.contains(":18:5: steps[1].expect.status"), "{e}");
    assert!(!e.contains("steps[0]"), "{e}");
    // `refused: true` constrains the status (a 4xx, or a 2xx carrying a JSON-RPC error) ...
    parse_str(
        Path::new("x.yaml"),
        &with_expect("      refused: true\n      body: {$excludes: secret}\n"),
    )
    .unwrap();
    // ... `refused: false` does not.
    let e = err(&with_expect("      refused: false\n"));
    assert!(e.contains("steps[0].expect.status"), "{e}");
    // Fault and wait steps have no status.
    parse_str(
        Path::new("x.yaml"),
        &with_steps("  - name: nap\n    wait_ms: 10\n"),
    )
    .unwrap();
}

#[test]
fn ne_on_a_status_is_refused_at_any_depth() {
    let loose = [
        "{$ne: 403}",
        "{$in: [200, 404], $ne: 403}",
        "{$not: {$ne: 200}}",
        "{$any_of: [{$ne: 403}, 200]}",
        "{$not: {$any_of: [404, {$ne: 500}]}}",
        // `$not` of a plain value is `$ne` written another way.
        "{$not: 403}",
    ];
    for m in loose {
        let e = err(&with_expect(&format!("      status: {m}\n")));
        println!("{m}: {e}");
        assert!(
            e.starts_with("scenarios/rpc/ping.yaml:15:7: steps[0].expect.status"),
            "{m}: {e}"
        );
        assert!(
            e.contains("state the expected status") && e.contains("`$in`"),
            "{m}: {e}"
        );
    }
    let exact = [
        "200",
        "{$in: [400, 404]}",
        "{$gte: 400, $lte: 499}",
        "{$not: {$in: [401, 403]}}",
    ];
    for m in exact {
        parse_str(
            Path::new("x.yaml"),
            &with_expect(&format!("      status: {m}\n")),
        )
        .unwrap_or_else(|e| panic!("{m}: {e:?}"));
    }
    // `$ne` stays available where it is not the status (a JSON-RPC code is never 0, D9).
    parse_str(
        Path::new("x.yaml"),
        &with_expect("      status: 403\n      pointers: {/error/code: {$ne: 0}}\n"),
    )
    .unwrap();
}

/// The same text on two lines: each error is at the line of the field it names, not at the
/// first line that reads like it.
#[test]
fn errors_point_at_the_right_one_of_two_identical_lines() {
    // Three identical steps (two written before GOOD's own): the later two are the duplicates.
    let step = "  - name: ping\n    request: {method: POST, path: /rpc, token: admin}\n    expect: {status: 200}\n";
    let e = err(&GOOD.replace("steps:\n", &format!("steps:\n{step}{step}")));
    println!("{e}");
    assert!(
        e.starts_with("scenarios/rpc/ping.yaml:11:5: steps[1].name: duplicate step name"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 2, "{e}");
    assert!(
        e.contains(":14:5: steps[2].name: duplicate step name"),
        "{e}"
    );
    // Two identical request lines; the second step also has a fault, so it is neither.
    let request =
        "    request: {method: POST, path: /rpc, token: admin}\n    expect: {status: 200}\n";
    let e = err(&with_steps(&format!(
        "  - name: a\n{request}  - name: b\n    fault: {{kill_worker: 0}}\n{request}"
    )));
    println!("{e}");
    assert_eq!(
        e,
        "scenarios/rpc/ping.yaml:19:5: steps[2]: a step has exactly one of `request`, `fault` \
         and `wait_ms`; this one has `request` and `fault`"
    );
    // The same `via: 1` line twice: right in a request step, wrong in a wait step.
    let e = err(&with_steps(
        "  - name: a\n    via: 1\n    request: {method: POST, path: /rpc, token: admin}\n    expect: {status: 200}\n  - name: b\n    via: 1\n    wait_ms: 10\n",
    ));
    println!("{e}");
    assert!(
        e.starts_with("scenarios/rpc/ping.yaml:21:5: steps[2].via:"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");
    // The same fixture key `S:` as a server and as a token; only the token is wrong.
    let e = err(&GOOD.replace(
        "  tokens:\n    admin: {}\n",
        "  servers:\n    S:\n      tools: []\n  tokens:\n    admin: {}\n    S:\n      user: bob\n",
    ));
    println!("{e}");
    assert!(
        e.starts_with("scenarios/rpc/ping.yaml:11:7: fixtures.tokens.S.user: no user `bob`"),
        "{e}"
    );
}

/// Every committed scenario, typed and written back as YAML, loads again to the same scenario:
/// the typed step loses nothing the file said (the fuzzer's regression writer relies on it).
#[test]
fn committed_scenarios_write_back_unchanged() {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios"));
    let loaded = load_dir(root).unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.len() > 200, "{} scenarios", loaded.len());
    for l in loaded {
        let yaml = serde_saphyr::to_string(&l.scenario).unwrap();
        let again = parse_str(&l.path, &yaml).unwrap_or_else(|e| panic!("{e:?}\n{yaml}"));
        // The typed values, not their YAML: what writing back drops would be missing from both.
        assert_eq!(
            format!("{:?}", l.scenario),
            format!("{again:?}"),
            "{}",
            l.path.display()
        );
    }
}

#[test]
fn a_waived_invariant_is_a_known_one_with_a_reason() {
    let e = err(&with_expect(
        "      status: 200\n      waive: {outside-reach-seen: because}\n",
    ));
    println!("{e}");
    assert!(
        e.contains("steps[0].expect.waive.outside-reach-seen: no invariant `outside-reach-seen`")
            && e.contains("outside-reach-shown, outside-reach-run"),
        "{e}"
    );
    let e = err(&with_expect(
        "      status: 200\n      waive: {outside-reach-run: \" \"}\n",
    ));
    assert!(e.contains("say why the step is not judged"), "{e}");
    parse_str(
        Path::new("x.yaml"),
        &with_expect(
            "      status: 200\n      waive: {outside-reach-shown: the step lists every server on purpose}\n",
        ),
    )
    .unwrap();
}

#[test]
fn retry_while_needs_retry_for_ms_and_a_request() {
    let e = err(&with_steps(
        "  - name: r\n    request: {method: GET, path: /}\n    retry_while: {status: 404}\n    expect: {status: 200}\n",
    ));
    assert!(
        e.contains("steps[1].retry_while") && e.contains("`retry_for_ms` (how long) is missing"),
        "{e}"
    );
    let e = err(&with_steps(
        "  - name: w\n    wait_ms: 10\n    retry_while: {status: 404}\n",
    ));
    assert!(
        e.contains("steps[1].retry_while") && e.contains("only a `request` step"),
        "{e}"
    );
}
