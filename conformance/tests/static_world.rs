//! A gateway configured ahead of the run, tested through a manifest alone: the reference is set up
//! by hand (as a file-configured gateway's operator would set up theirs) with two servers over the
//! upstream fixtures that `mcpgw-conformance upstreams` serves, and the suite then runs with a
//! static manifest that declares that world. Every portable scenario must run (not be
//! NOT-APPLICABLE) and pass, every other one must be NOT-APPLICABLE with its reason, and what the
//! upstreams recorded in the other process must be what the scenarios counted.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

mod common;
use common::BIN;
use common::admin::{Reference, admin, free_port, start_reference, start_upstreams};

/// The scenarios written with endpoint references only (they run on any gateway).
const PORTABLE: &[&str] = &[
    "auth/forged-credential-is-401-on-a-server-endpoint",
    "auth/forged-credential-is-401-on-the-global-endpoint",
    "auth/missing-credential-is-401-on-a-server-endpoint",
    "auth/missing-credential-is-401-on-the-global-endpoint",
    "auth/token-in-query-string-is-no-credential",
    "rpc/server-endpoint-keeps-ids-and-arguments-intact",
    "rpc/unknown-method-is-32601-on-a-server-endpoint",
    "scoping/other-servers-tool-is-not-callable-through-a-server",
    "scoping/server-endpoint-serves-only-its-own-tools",
    "scoping/unknown-server-reaches-no-upstream",
    "transport/client-credential-is-not-passed-upstream",
    "transport/foreign-origin-is-refused-on-a-server-endpoint",
    "transport/future-protocol-version-is-refused",
    "transport/json-nesting-bomb-is-refused",
    "transport/oversized-body-is-refused",
    "transport/oversized-header-is-refused",
    "traversal/dot-segments-do-not-cross-servers",
];

/// Register an upstream as a gateway named `name` and make a server of the same name with all
/// of its tools; the server's id.
async fn configure_server(authority: &str, token: &str, name: &str, port: u16) -> String {
    let gw = admin(
        authority,
        token,
        "POST",
        "/gateways",
        Some(json!({"name": name, "url": format!("http://127.0.0.1:{port}/mcp"), "transport": "STREAMABLEHTTP"})),
    )
    .await;
    let gateway_id = gw["id"].as_str().expect("a gateway id").to_owned();
    let tools = admin(authority, token, "GET", "/tools", None).await;
    let list = tools
        .as_array()
        .cloned()
        .or_else(|| tools["tools"].as_array().cloned());
    let ids: Vec<Value> = list
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t["gatewayId"].as_str() == Some(gateway_id.as_str()))
        .map(|t| t["id"].clone())
        .collect();
    assert!(
        !ids.is_empty(),
        "the reference discovered no tool of {name}"
    );
    let server = admin(
        authority,
        token,
        "POST",
        "/servers",
        Some(json!({"server": {"name": name, "associated_tools": ids}})),
    )
    .await;
    server["id"].as_str().expect("a server id").to_owned()
}

/// The reference configured by hand over two upstream fixtures in another process, and the
/// static manifest that declares that world.
struct Configured {
    dir: tempfile::TempDir,
    manifest: std::path::PathBuf,
    records: std::path::PathBuf,
    url: String,
    token: String,
    upstreams: std::process::Child,
    _reference: Reference,
}

impl Configured {
    /// Start it with `policy` (the reference's strict policy, or one loosened by defects).
    async fn start(policy: Option<mcpgw_reference::policy::Policy>) -> Configured {
        let dir = tempfile::tempdir().unwrap();
        let records = dir.path().join("records");
        let (port_a, port_b) = (free_port(), free_port());
        let manifest = dir.path().join("gateway.yaml");
        let world = |servers: &str| {
            format!(
                "name: reference-configured\n\
                 principals:\n  admin: {{secret_env: MCPGW_TEST_ADMIN_TOKEN, reach: all}}\n\
                 endpoints: {{mcp: /mcp, server_mcp: '/servers/{{id}}/mcp'}}\n\
                 provisioning:\n  static:\n    tool_name: '{{server}}-{{tool}}'\n    record_dir: {}\n\
                 \x20   upstreams:\n      a: {{port: {port_a}, tools: [{{name: echo}}, {{name: add}}]}}\n\
                 \x20     b: {{port: {port_b}, tools: [{{name: vault}}]}}\n\
                 \x20   servers:\n{servers}",
                records.display()
            )
        };
        // The upstreams first (the gateway discovers their tools when they are registered).
        std::fs::write(
            &manifest,
            world("      alpha: {upstream: a}\n      beta: {upstream: b}\n"),
        )
        .unwrap();
        let (upstreams, ready) = start_upstreams(&manifest);
        assert!(ready.starts_with("ready a=http://127.0.0.1:"), "{ready}");

        // The gateway, configured by hand: servers alpha and beta over upstreams a and b.
        let reference = start_reference(policy).await;
        let (url, authority, token) = (
            reference.url.clone(),
            reference.authority.clone(),
            reference.token.clone(),
        );
        let alpha = configure_server(&authority, &token, "alpha", port_a).await;
        let beta = configure_server(&authority, &token, "beta", port_b).await;
        std::fs::write(
            &manifest,
            world(&format!(
                "      alpha: {{upstream: a, id: {alpha}}}\n      beta: {{upstream: b, id: {beta}}}\n"
            )),
        )
        .unwrap();
        Configured {
            dir,
            manifest,
            records,
            url,
            token,
            upstreams,
            _reference: reference,
        }
    }

    /// The harness's command line against it, run off the async runtime.
    async fn harness(&self, args: &[&str]) -> (Option<i32>, String) {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .args(["--target", &self.url, "--target-file"])
            .arg(&self.manifest)
            .env("MCPGW_TEST_ADMIN_TOKEN", &self.token)
            .env_remove("MCPGW_TARGET_URL")
            .env_remove("MCPGW_TARGET_TOKEN")
            .env_remove("MCPGW_BASELINE")
            .env_remove("MCPGW_FUZZ_SEED");
        let out = tokio::task::spawn_blocking(move || cmd.output().expect("the harness runs"))
            .await
            .unwrap();
        let text = common::text(&out);
        (out.status.code(), text)
    }

    /// Close the upstreams' stdin and require a clean exit.
    fn stop(mut self) {
        drop(self.upstreams.stdin.take());
        let status = self.upstreams.wait().unwrap();
        assert!(
            status.success(),
            "upstreams should exit cleanly when stdin closes"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statically_configured_gateway_runs_the_portable_scenarios() {
    let world = Configured::start(None).await;
    let reports = world.dir.path().join("reports");
    let (code, text) = world
        .harness(&["run", "--quiet", "--report-dir", reports.to_str().unwrap()])
        .await;
    assert_eq!(code, Some(0), "{text}");

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("report.json")).unwrap())
            .unwrap();
    for s in report["scenarios"].as_array().unwrap() {
        let id = s["id"].as_str().unwrap();
        let verdict = s["verdict"].as_str().unwrap();
        if PORTABLE.contains(&id) {
            assert_eq!(verdict, "PASS", "{id}: {s}");
        } else {
            assert_eq!(
                verdict, "NOT-APPLICABLE",
                "{id} should not run on a configured world: {s}"
            );
            assert!(
                s["reason"].as_str().is_some_and(|r| !r.is_empty()),
                "{id} names no reason"
            );
        }
    }
    // What the upstream in the other process recorded is what the scenarios counted.
    let recorded = mcpgw_conformance::upstream::read_records(&world.records.join("a.jsonl"));
    assert!(
        recorded.iter().any(|r| r.body["method"] == "tools/call"),
        "upstream a recorded no tools/call: {recorded:?}"
    );
    assert!(Path::new(&world.records.join("b.jsonl")).exists());

    // The same manifest is all a fuzz campaign needs; the reference breaks no invariant.
    let (code, text) = world
        .harness(&[
            "fuzz",
            "--quiet",
            "--no-write",
            "--keep-going",
            "--cases",
            "3000",
            "--seed",
            "1",
        ])
        .await;
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("PASS: 3000 case(s)"), "{text}");
    world.stop();
}

/// Fuzzing through a manifest alone finds what a configured gateway gets wrong: with the
/// reference's cross-server check and id handling loosened, the campaign finds both, each
/// shrunk and written as a scenario for this manifest's URL shapes that fails here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzing_a_configured_gateway_finds_its_defects_and_writes_replayable_scenarios() {
    use mcpgw_reference::defects::Defect;
    let policy = [Defect::CrossServerCall, Defect::IdRetyped]
        .iter()
        .fold(mcpgw_reference::policy::Policy::strict(), |p, d| {
            d.loosen(p)
        });
    let world = Configured::start(Some(policy)).await;
    let regressions = world.dir.path().join("scenarios").join("regressions");
    let (code, text) = world
        .harness(&[
            "fuzz",
            "--quiet",
            "--keep-going",
            "--cases",
            "3000",
            "--seed",
            "1",
            "--regressions-dir",
            regressions.to_str().unwrap(),
        ])
        .await;
    assert_eq!(code, Some(1), "{text}");
    for invariant in ["server-endpoint-leak", "jsonrpc-id-altered"] {
        assert!(
            text.contains(&format!("to a request that breaks {invariant}")),
            "{invariant} not found:\n{text}"
        );
    }
    assert!(
        !text.contains("warning: expected FAIL"),
        "every written scenario fails where it was found:\n{text}"
    );
    let written: Vec<_> = std::fs::read_dir(&regressions)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(written.len() >= 2, "{written:?}");
    for f in &written {
        let yaml = std::fs::read_to_string(f).unwrap();
        assert!(yaml.contains("paths_of: reference-configured"), "{yaml}");
    }
    world.stop();
}

#[test]
fn stdio_upstream_answers_and_records() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("g.yaml");
    std::fs::write(
        &manifest,
        format!(
            "name: s\nprovisioning:\n  static:\n    record_dir: {}\n    upstreams:\n      a: {{transport: stdio, tools: [{{name: echo}}]}}\n    servers: {{alpha: {{upstream: a}}}}\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args([
            "upstream",
            "--stdio",
            "a",
            "--target-file",
            manifest.to_str().unwrap(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let stdin = child.stdin.as_mut().unwrap();
        writeln!(stdin, r#"{{"jsonrpc":"2.0","id":1,"method":"tools/list"}}"#).unwrap();
        writeln!(
            stdin,
            r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
        )
        .unwrap();
        writeln!(stdin, "not json").unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.len(),
        2,
        "one answer to the request, one parse error: {lines:?}"
    );
    assert_eq!(lines[0]["result"]["tools"][0]["name"], "echo");
    assert_eq!(lines[1]["error"]["code"], -32700);
    let recorded = mcpgw_conformance::upstream::read_records(&dir.path().join("a.jsonl"));
    assert_eq!(
        recorded.len(),
        2,
        "the request and the notification: {recorded:?}"
    );
}

#[tokio::test]
async fn a_malformed_manifest_exits_2_naming_file_line_and_field_before_any_request() {
    let gateway = wiremock::MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("mine.yaml");
    std::fs::write(
        &manifest,
        "name: mine\nendpoints:\n  server_mcp: /mcp/{name}\nprovisioning:\n  static:\n    servers:\n      alpha: {upstream: a, nmae: alpha}\n",
    )
    .unwrap();
    let out = tokio::task::spawn_blocking({
        let (manifest, uri) = (manifest.clone(), gateway.uri());
        move || {
            Command::new(BIN)
                .args(["run", "--quiet", "--target", &uri, "--target-file"])
                .arg(&manifest)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("mine.yaml:7:") && text.contains("provisioning.static.servers.alpha"),
        "the error names file, line and field: {text}"
    );
    assert!(text.contains("nmae"), "{text}");
    assert!(
        gateway
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty(),
        "nothing may be sent"
    );
}
