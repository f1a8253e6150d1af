//! Reference variants: a scenario requiring a configuration the default in-process reference
//! lacks runs on a variant of it started in that configuration; a target in a mode runs only
//! the scenarios written for that mode; a URL target never gets variants.

use std::path::{Path, PathBuf};

use mcpgw_conformance::runner::{self, RunOptions};
use mcpgw_conformance::scenario::{Capability, Loaded, parse_str};
use mcpgw_conformance::target::{Target, TargetConfig, TargetSpec};
use mcpgw_conformance::verdict::Verdict;

fn scenario(id: &str, text: &str) -> Loaded {
    let path = PathBuf::from(format!("{id}.yaml"));
    Loaded {
        scenario: parse_str(Path::new(&path), text).expect("a well-formed scenario"),
        path,
    }
}

/// Passes only where the gateway is mounted under `/gw`: the login redirect carries the root.
fn needs_root_path() -> Loaded {
    scenario(
        "rpc/root",
        r#"
id: rpc/root
title: the login redirect carries the root path
spec: [C-RPC-19]
requires: [root-path]
steps:
  - name: redirect
    request: {method: POST, path: /rpc, headers: {accept: text/html}, body: "{}"}
    expect: {status: 302, headers: {location: "/gw/admin/login"}}
"#,
    )
}

fn default_mode() -> Loaded {
    scenario(
        "rpc/plain",
        r#"
id: rpc/plain
title: no token is 401
spec: [C-RPC-19]
steps:
  - name: no-token
    request: {method: POST, path: /rpc, body: "{}"}
    expect: {status: 401}
"#,
    )
}

#[tokio::test]
async fn a_scenario_needing_a_root_path_runs_on_a_variant_of_the_in_process_reference() {
    let target = Target::start(&TargetConfig::reference()).await.unwrap();
    assert!(!target.has(Capability::RootPath));
    let opts = RunOptions::default();
    let r = runner::run_scenario(&target, &needs_root_path(), &opts).await;
    assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    let plain = runner::run_scenario(&target, &default_mode(), &opts).await;
    assert_eq!(plain.verdict, Verdict::Pass, "{plain:?}");
}

#[tokio::test]
async fn a_target_in_a_mode_runs_only_scenarios_written_for_it() {
    let mut cfg = TargetConfig::reference();
    cfg.with.push(Capability::AuthOptional);
    let target = Target::start(&cfg).await.unwrap();
    let r = runner::run_scenario(&target, &default_mode(), &RunOptions::default()).await;
    assert_eq!(r.verdict, Verdict::NotApplicable, "{r:?}");
    assert!(r.reason.unwrap_or_default().contains("auth-optional"));
    let anonymous = scenario(
        "rpc/anonymous",
        r#"
id: rpc/anonymous
title: no token is the anonymous caller
spec: [C-AUTH-14]
requires: [auth-optional]
steps:
  - name: ping
    request: {method: POST, path: /rpc, json: {jsonrpc: "2.0", id: 1, method: ping}}
    expect: {status: 200}
"#,
    );
    let r = runner::run_scenario(&target, &anonymous, &RunOptions::default()).await;
    assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
}

#[tokio::test]
async fn a_url_target_gets_no_variant() {
    let gateway = mcpgw_reference::spawn_embedded(mcpgw_reference::Settings::default_for_tests())
        .await
        .unwrap();
    let mut cfg = TargetConfig::reference();
    cfg.spec = TargetSpec::Url {
        urls: vec![gateway.url()],
        token: Some(gateway.admin_token.clone()),
        jwt_secret: None,
    };
    let target = Target::start(&cfg).await.unwrap();
    let r = runner::run_scenario(&target, &needs_root_path(), &RunOptions::default()).await;
    assert_eq!(r.verdict, Verdict::NotApplicable, "{r:?}");
    assert!(r.reason.unwrap_or_default().contains("root-path"));
}
