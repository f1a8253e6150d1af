//! Fidelity through a manifest alone: the reference configured by hand (as a file-configured
//! gateway's operator would) with one server over the fidelity fixture that `mcpgw-conformance
//! upstreams` serves, and `fidelity` run with a static manifest that declares that world (tool,
//! prompt and resource names `{server}-{name}`). The strict reference preserves every feature;
//! with progress notifications dropped, that feature fails and the run exits 1.

use serde_json::{Value, json};

mod common;
use common::admin::{admin, free_port, start_reference, start_upstreams};

/// The ids of the `kind` items (`tools`, `resources`, `prompts`) discovered from `gateway_id`.
async fn discovered(authority: &str, token: &str, kind: &str, gateway_id: &str) -> Vec<Value> {
    let listed = admin(authority, token, "GET", &format!("/{kind}"), None).await;
    let list = listed
        .as_array()
        .cloned()
        .or_else(|| listed[kind].as_array().cloned())
        .unwrap_or_default();
    list.into_iter()
        .filter(|t| t["gatewayId"].as_str() == Some(gateway_id))
        .map(|t| t["id"].clone())
        .collect()
}

/// Run `fidelity` against the reference (with `policy`) configured over the fidelity fixture.
async fn fidelity_through_a_manifest(
    policy: Option<mcpgw_reference::policy::Policy>,
) -> (Option<i32>, String, Value) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let manifest = dir.path().join("gateway.yaml");
    let world = |id: &str| {
        format!(
            "name: reference-configured\n\
             principals:\n  admin: {{secret_env: MCPGW_TEST_ADMIN_TOKEN, reach: all}}\n\
             endpoints: {{server_mcp: '/servers/{{id}}/mcp'}}\n\
             provisioning:\n  static:\n    tool_name: '{{server}}-{{tool}}'\n    resource_name: '{{server}}-{{resource}}'\n\
             \x20   record_dir: {}\n\
             \x20   upstreams:\n      fid: {{port: {port}, fidelity: true}}\n\
             \x20   servers:\n      fid: {{upstream: fid{id}}}\n",
            dir.path().join("records").display()
        )
    };
    std::fs::write(&manifest, world("")).unwrap();
    let (mut upstreams, ready) = start_upstreams(&manifest);
    assert!(ready.starts_with("ready fid=http://127.0.0.1:"), "{ready}");
    let reference = start_reference(policy).await;
    let (url, authority, token) = (
        &reference.url,
        reference.authority.as_str(),
        reference.token.as_str(),
    );
    let gw = admin(
        authority,
        token,
        "POST",
        "/gateways",
        Some(json!({"name": "fid", "url": format!("http://127.0.0.1:{port}/mcp"), "transport": "STREAMABLEHTTP"})),
    )
    .await;
    let gateway_id = gw["id"].as_str().expect("a gateway id").to_owned();
    let server = json!({"server": {
        "name": "fid",
        "associated_tools": discovered(authority, token, "tools", &gateway_id).await,
        "associated_resources": discovered(authority, token, "resources", &gateway_id).await,
        "associated_prompts": discovered(authority, token, "prompts", &gateway_id).await,
    }});
    let made = admin(authority, token, "POST", "/servers", Some(server)).await;
    let id = made["id"].as_str().expect("a server id").to_owned();
    std::fs::write(&manifest, world(&format!(", id: {id}"))).unwrap();

    let reports = dir.path().join("reports");
    let args: Vec<String> = [
        "fidelity",
        "--report-dir",
        &reports.display().to_string(),
        "--target",
        url,
        "--target-file",
        &manifest.display().to_string(),
    ]
    .iter()
    .map(|a| (*a).to_owned())
    .collect();
    let token = token.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        common::run_with(&args, &[("MCPGW_TEST_ADMIN_TOKEN", &token)])
    })
    .await
    .unwrap();
    let text = common::text(&out);
    let report = std::fs::read_to_string(reports.join("report.json"))
        .ok()
        .and_then(|r| serde_json::from_str(&r).ok())
        .unwrap_or(Value::Null);
    drop(upstreams.stdin.take());
    assert!(
        upstreams.wait().unwrap().success(),
        "upstreams should exit cleanly"
    );
    (out.status.code(), text, report)
}

fn outcomes(report: &Value) -> Vec<(String, String)> {
    report["fidelity"]["features"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| {
                    (
                        f["id"].as_str().unwrap_or("").to_owned(),
                        f["outcome"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statically_configured_gateway_preserves_every_feature() {
    let (code, text, report) = fidelity_through_a_manifest(None).await;
    assert_eq!(code, Some(0), "{text}");
    let o = outcomes(&report);
    assert_eq!(
        o.len(),
        mcpgw_conformance::fidelity::features().len(),
        "{text}"
    );
    assert!(
        o.iter().all(|(_, outcome)| outcome == "preserved"),
        "{o:?}\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statically_configured_gateway_that_drops_progress_fails() {
    let policy = mcpgw_reference::defects::policy_with(&["progress-dropped"]).expect("a defect");
    let (code, text, report) = fidelity_through_a_manifest(Some(policy)).await;
    assert_eq!(code, Some(1), "{text}");
    for (id, outcome) in outcomes(&report) {
        let expected = if id == "progress-notifications" {
            "dropped"
        } else {
            "preserved"
        };
        assert_eq!(outcome, expected, "{id}\n{text}");
    }
}
