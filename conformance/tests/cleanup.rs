//! Fixtures are deleted after every scenario: after passes, after failures (a defect injected),
//! and after a provisioning error (UNTESTABLE).

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use mcpgw_conformance::client::{self, WireRequest};
use mcpgw_conformance::runner::{self, RunOptions};
use mcpgw_conformance::scenario::{self, Loaded};
use mcpgw_conformance::target::{Target, TargetConfig, TargetSpec};
use mcpgw_conformance::verdict::Verdict;
use serde_json::Value;

/// How many entries each admin list holds.
async fn inventory(t: &Target) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for (path, key) in [
        ("/servers", "servers"),
        ("/tools", "tools"),
        ("/gateways", "gateways"),
        ("/resources", "resources"),
        ("/prompts", "prompts"),
        ("/teams/", "teams"),
        ("/auth/email/admin/users", "users"),
        ("/tokens", "tokens"),
    ] {
        let base = &t.bases[0];
        let req = WireRequest {
            method: "GET".into(),
            target: path.into(),
            headers: vec![
                ("host".into(), base.authority.clone()),
                ("authorization".into(), format!("Bearer {}", t.admin_token)),
            ],
            body: Bytes::new(),
        };
        let ex = client::send(&base.authority, req, Duration::from_secs(10)).await;
        let v: Value =
            serde_json::from_slice(&ex.response.expect("a response").body).unwrap_or(Value::Null);
        let n = match &v {
            Value::Array(a) => a.len(),
            Value::Object(o) => o.get(key).and_then(Value::as_array).map_or(0, Vec::len),
            _ => 0,
        };
        out.push((path.to_owned(), n));
    }
    out
}

fn all_scenarios() -> Vec<Loaded> {
    scenario::load_dir(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios"
    )))
    .unwrap()
}

async fn leaves_nothing_behind(defects: Vec<String>, scenarios: &[Loaded]) -> Vec<Verdict> {
    let mut cfg = TargetConfig::reference();
    cfg.spec = TargetSpec::Reference { defects };
    let t = Target::start(&cfg).await.unwrap();
    let before = inventory(&t).await;
    let results = runner::run_all(&t, scenarios, &RunOptions::default(), &|_| {}).await;
    for r in &results {
        assert!(
            r.cleanup_errors.is_empty(),
            "{}: {:?}",
            r.id,
            r.cleanup_errors
        );
    }
    assert_eq!(inventory(&t).await, before);
    results.iter().map(|r| r.verdict).collect()
}

#[tokio::test]
async fn after_passing_runs() {
    let v = leaves_nothing_behind(vec![], &all_scenarios()).await;
    assert!(
        v.iter()
            .all(|v| matches!(v, Verdict::Pass | Verdict::NotApplicable)),
        "{v:?}"
    );
}

#[tokio::test]
async fn after_failing_runs() {
    let v = leaves_nothing_behind(vec!["rpc-not-general-endpoint".into()], &all_scenarios()).await;
    assert!(v.contains(&Verdict::Fail));
}

#[tokio::test]
async fn after_a_fixture_fails() {
    let text = r#"id: rpc/untestable
title: the second REST tool cannot be created
spec: [test]
fixtures:
  users: {alice: {}}
  teams: {red: {members: [alice]}}
  upstreams: {up1: {tools: [{name: echo}]}}
  rest_tools:
    a: {}
    b: {request_type: "NOT A METHOD"}
steps:
  - name: never-runs
    request: {method: GET, path: /health}
    expect: {status: 200}
"#;
    let s = scenario::parse_str(Path::new("rpc/untestable.yaml"), text).unwrap();
    let loaded = vec![Loaded {
        scenario: s,
        path: "rpc/untestable.yaml".into(),
    }];
    let v = leaves_nothing_behind(vec![], &loaded).await;
    assert_eq!(v, vec![Verdict::Untestable]);
}
