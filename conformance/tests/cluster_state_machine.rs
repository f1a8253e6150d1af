//! A 2-worker reference cluster must answer exactly like a single worker (D11: forwarding to the
//! owner changes nothing a client can see). Random sequences of (worker, session, server,
//! token, method) go to both side by side, with the same fixtures; every response must match in
//! status and JSON body once volatile values (session ids, server ids) are normalised.
//!
//! The single worker is the in-process reference with stateful sessions; the cluster is two
//! `serve-reference` processes on Redis and Postgres (started once for all cases). Shrunk
//! failures are kept in `proptest-regressions/cluster_state_machine.txt`.
//! Without Redis/Postgres the test is skipped, unless `MCPGW_REQUIRE_SERVICES=1`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use mcpgw_conformance::client;
use mcpgw_conformance::provision::{self, Provisioned};
use mcpgw_conformance::runner::{body_json, build_request};
use mcpgw_conformance::scenario::subst::Lookup;
use mcpgw_conformance::scenario::{Capability, Fixtures, Request};
use mcpgw_conformance::services::services_required;
use mcpgw_conformance::target::{Target, TargetConfig, TargetSpec};
use proptest::prelude::*;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};
use serde_json::{Value, json};

const FIXTURES: &str = r#"
users: {alice: {}, bob: {}}
upstreams:
  up1: {tools: [{name: echo}]}
  up2: {tools: [{name: secret}]}
servers:
  S: {tools: [up1.echo]}
  T: {tools: [up2.secret]}
tokens:
  admin: {}
  scoped: {server: S}
  alice: {user: alice}
  bob: {user: bob}
"#;

const TOKENS: [&str; 4] = ["admin", "scoped", "alice", "bob"];

/// One side: a target and its fixtures.
struct Side {
    target: Target,
    p: Provisioned,
}

/// Both sides, started once for every case.
struct World {
    rt: tokio::runtime::Runtime,
    cluster: Side,
    single: Side,
}

/// The world of the running test (`apply` is an associated function, so it is reached
/// through a static); taken out and dropped at the end so that containers and workers stop.
static WORLD: Mutex<Option<Arc<World>>> = Mutex::new(None);

fn world() -> Option<Arc<World>> {
    WORLD.lock().expect("world lock").clone()
}

impl World {
    fn start() -> Option<World> {
        {
            let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
            let fixtures: Fixtures = serde_saphyr::from_str(FIXTURES).expect("fixtures parse");
            let run_id = provision::new_run_id();
            let mut ccfg = TargetConfig::reference();
            ccfg.spec = TargetSpec::Cluster {
                workers: 2,
                defects: std::env::var("MCPGW_STATE_MACHINE_DEFECT")
                    .ok()
                    .into_iter()
                    .collect(),
                worker_env: Vec::new(),
                exe: Some(PathBuf::from(env!("CARGO_BIN_EXE_mcpgw-conformance"))),
                memory_store: false,
            };
            let cluster = match rt.block_on(Target::start(&ccfg)) {
                Ok(t) => t,
                Err(e) if !services_required() => {
                    eprintln!("skipping: {e}");
                    return None;
                }
                Err(e) => panic!("{e}"),
            };
            let mut scfg = TargetConfig::reference();
            scfg.with.push(Capability::Stateful);
            let single = rt
                .block_on(Target::start(&scfg))
                .expect("single worker starts");
            let side = |target: Target| {
                let mut p = Provisioned::new(
                    run_id.clone(),
                    &target.bases[0],
                    target.manifest.endpoints.clone(),
                );
                rt.block_on(target.provisioner.provision(&target, &fixtures, &mut p))
                    .unwrap_or_else(|e| panic!("fixtures: {e}"));
                Side { target, p }
            };
            Some(World {
                cluster: side(cluster),
                single: side(single),
                rt,
            })
        }
    }

    /// Stop everything inside the runtime (testcontainers removes containers in an async drop).
    fn stop(self) {
        let World {
            rt,
            cluster,
            single,
        } = self;
        let _ = rt.block_on(rt.spawn(async move {
            drop(cluster);
            drop(single);
        }));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Initialize,
    ToolsList,
    ToolsCall,
    Delete,
}

/// One request: sent to `worker` of the cluster and to the single worker.
#[derive(Debug, Clone)]
struct Call {
    worker: usize,
    method: Method,
    /// `None`: the global `/mcp`; else `S` or `T`.
    server: Option<&'static str>,
    token: &'static str,
    /// Index into the sessions opened so far (modulo their number); `None`: no session header.
    session: Option<usize>,
    /// `tools/call`: `echo` (S's) or `secret` (T's).
    tool: &'static str,
}

struct Model;

impl ReferenceStateMachine for Model {
    /// How many `initialize` calls were made (each may have opened a session).
    type State = usize;
    type Transition = Call;

    fn init_state() -> BoxedStrategy<usize> {
        Just(0).boxed()
    }

    fn transitions(opened: &usize) -> BoxedStrategy<Call> {
        let session = if *opened == 0 {
            Just(None).boxed()
        } else {
            proptest::option::weighted(0.9, 0..*opened).boxed()
        };
        (
            0..2usize,
            prop_oneof![
                2 => Just(Method::Initialize),
                4 => Just(Method::ToolsList),
                2 => Just(Method::ToolsCall),
                1 => Just(Method::Delete),
            ],
            prop_oneof![Just(None), Just(Some("S")), Just(Some("T"))],
            proptest::sample::select(&TOKENS[..]),
            session,
            prop_oneof![Just("echo"), Just("secret")],
        )
            .prop_map(|(worker, method, server, token, session, tool)| Call {
                worker,
                method,
                server,
                token,
                session: if method == Method::Initialize {
                    None
                } else {
                    session
                },
                tool,
            })
            .boxed()
    }

    fn apply(opened: usize, t: &Call) -> usize {
        opened + usize::from(t.method == Method::Initialize)
    }

    fn preconditions(opened: &usize, t: &Call) -> bool {
        t.session.is_none_or(|i| i < *opened)
    }
}

/// Per case: the session ids each side got for each `initialize`, in order.
struct Sut {
    sessions: Vec<(Option<String>, Option<String>)>,
    log: Vec<String>,
}

struct ClusterVsSingle;

fn send(
    side: &Side,
    rt: &tokio::runtime::Runtime,
    via: usize,
    c: &Call,
    sid: Option<&str>,
) -> (u16, Value, Option<String>) {
    let path = match c.server {
        None => "/mcp".to_owned(),
        Some(s) => format!("/servers/${{servers.{s}.id}}/mcp"),
    };
    let json = match c.method {
        Method::Initialize => Some(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "state-machine", "version": "1"}}}),
        ),
        Method::ToolsList => Some(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})),
        Method::ToolsCall => Some(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": {"name": format!("${{tools.{}.{}.name}}", if c.tool == "echo" { "up1" } else { "up2" }, c.tool),
                       "arguments": {"x": 1}}})),
        Method::Delete => None,
    };
    let mut headers = BTreeMap::new();
    if let Some(s) = sid {
        headers.insert("mcp-session-id".to_owned(), Some(s.to_owned()));
    }
    let request = Request {
        method: if c.method == Method::Delete {
            "DELETE"
        } else {
            "POST"
        }
        .to_owned(),
        path,
        token: Some(c.token.to_owned()),
        headers,
        json,
        body: None,
        absolute_form: false,
        stream_ms: None,
    };
    let (authority, req) =
        build_request(&side.target, via, &request, &side.p).expect("request builds");
    let ex = rt.block_on(client::send(
        &authority,
        req,
        std::time::Duration::from_secs(15),
    ));
    let resp = ex
        .response
        .unwrap_or_else(|| panic!("no response: {:?}", ex.error));
    let body = body_json(&resp).unwrap_or_else(|| Value::String(resp.text()));
    (resp.status, body, resp.header("mcp-session-id"))
}

/// Replace what legitimately differs between the two sides.
fn normalise(v: Value, side: &Side, sid: Option<&str>) -> Value {
    let mut text = v.to_string();
    for s in ["S", "T"] {
        if let Ok(id) = side.p.lookup(&["servers", s, "id"]) {
            text = text.replace(&id, &format!("<server {s}>"));
        }
    }
    if let Some(sid) = sid {
        text = text.replace(sid, "<session>");
    }
    serde_json::from_str(&text).expect("still JSON")
}

impl StateMachineTest for ClusterVsSingle {
    type SystemUnderTest = Sut;
    type Reference = Model;

    fn init_test(_: &usize) -> Sut {
        Sut {
            sessions: Vec::new(),
            log: Vec::new(),
        }
    }

    fn apply(mut sut: Sut, _: &usize, c: Call) -> Sut {
        let w = world().expect("the world is started before the cases run");
        let (csid, ssid) = match c.session {
            Some(i) => sut.sessions[i].clone(),
            None => (None, None),
        };
        let cr = send(&w.cluster, &w.rt, c.worker, &c, csid.as_deref());
        let sr = send(&w.single, &w.rt, 0, &c, ssid.as_deref());
        if c.method == Method::Initialize {
            sut.sessions.push((cr.2.clone(), sr.2.clone()));
        }
        let cb = normalise(cr.1, &w.cluster, cr.2.as_deref().or(csid.as_deref()));
        let sb = normalise(sr.1, &w.single, sr.2.as_deref().or(ssid.as_deref()));
        sut.log
            .push(format!("{c:?} -> cluster {} / single {}", cr.0, sr.0));
        assert_eq!(
            (cr.0, &cb),
            (sr.0, &sb),
            "cluster (left) and single worker (right) differ on {c:?}\nsequence so far:\n{}",
            sut.log.join("\n")
        );
        assert_eq!(
            cr.2.is_some(),
            sr.2.is_some(),
            "only one side opened a session on {c:?}"
        );
        sut
    }
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("MCPGW_STATE_MACHINE_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(24),
        max_shrink_iters: 200,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/proptest-regressions/cluster_state_machine.txt"
            )),
        )),
        ..ProptestConfig::default()
    }
}

/// What `prop_state_machine!` generates, with the world started before the cases and stopped
/// after them (the macro has no place for either).
#[test]
fn cluster_answers_like_a_single_worker() {
    let Some(w) = World::start() else { return };
    *WORLD.lock().expect("world lock") = Some(Arc::new(w));
    let mut runner = proptest::test_runner::TestRunner::new(config());
    let result = runner.run(
        &Model::sequential_strategy(1..12),
        |(init, transitions, seen)| {
            ClusterVsSingle::test_sequential(config(), init, transitions, seen);
            Ok(())
        },
    );
    let w = WORLD.lock().expect("world lock").take().expect("the world");
    match Arc::try_unwrap(w) {
        Ok(w) => w.stop(),
        Err(_) => eprintln!("the world is still shared; it is dropped at exit"),
    }
    if let Err(e) = result {
        panic!("{e}\n{runner}");
    }
}
