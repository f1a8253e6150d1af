//! Running scenarios: capability check, fixtures, steps, verdicts, cleanup.
//!
//! A scenario is NOT-APPLICABLE when the target lacks a capability it needs (declared in
//! `requires`, or implied: locally signed tokens need `jwt-secret`, `via: N` needs `cluster`)
//! and cannot start a variant with it, or when the target runs in a mode the scenario was not
//! written for; UNTESTABLE when a fixture cannot be made; otherwise the worst verdict of its
//! checks.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::Value;

use crate::client::{self, WireRequest, WireResponse};
use crate::provision::{self, Provisioned};
use crate::scenario::subst::{self, Lookup};
use crate::scenario::{Capability, Expect, Loaded, Matcher, SaveFrom, Scenario, Step, TokenSource};
use crate::snapshot::{self, SnapshotStore};
use crate::target::Target;
use crate::upstream::Received;
use crate::verdict::{CheckResult, ScenarioResult, Verdict};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Per request.
    pub timeout: Duration,
    /// Scenarios run at once.
    pub jobs: usize,
    /// Where snapshots live; `None` skips `expect.snapshot`.
    pub snapshots: Option<SnapshotStore>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            timeout: Duration::from_secs(15),
            jobs: 8,
            snapshots: None,
        }
    }
}

/// Capabilities a scenario needs, declared or implied.
pub fn needed_capabilities(s: &Scenario) -> BTreeSet<Capability> {
    let mut caps: BTreeSet<Capability> = s.requires.iter().copied().collect();
    if s.fixtures
        .tokens
        .values()
        .any(|t| t.needs_signing() || t.source == TokenSource::Sign)
    {
        caps.insert(Capability::JwtSecret);
    }
    if s.steps.iter().any(|st| st.via > 0) {
        caps.insert(Capability::Cluster);
    }
    if s.steps.iter().any(Step::is_fault) {
        caps.insert(Capability::ClusterFaults);
    }
    if s.steps
        .iter()
        .any(|st| st.fault.and_then(|f| f.worker()).is_some_and(|w| w > 0))
    {
        caps.insert(Capability::Cluster);
    }
    if s.steps
        .iter()
        .filter_map(|st| st.request.as_ref())
        .any(|r| !is_portable_path(&r.path))
    {
        caps.insert(Capability::ContextforgeApi);
    }
    caps
}

/// Whether a request path is built from the target's endpoint templates (`${servers.S.mcp}`,
/// `${endpoints.mcp}`, ...) and so means the same on every gateway. A path written literally
/// (`/servers/${servers.S.id}/mcp`, `/rpc`) is ContextForge's URL layout.
pub fn is_portable_path(path: &str) -> bool {
    let rest = path.strip_prefix("${target.root}").unwrap_or(path);
    let Ok(pieces) = subst::parse(rest) else {
        return false;
    };
    match pieces.first() {
        Some(subst::Piece::Var { path, .. }) => matches!(
            path.as_slice(),
            ["endpoints", _] | ["servers", _, "mcp" | "metadata"] | ["absent_server", _]
        ),
        _ => false,
    }
}

/// The endpoint templates a scenario's references use (`mcp`, `server_mcp`, `rpc`, ...).
pub fn endpoints_used(s: &Scenario) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Ok(all) = serde_json::to_value(s) else {
        return out;
    };
    for text in subst::json_strings(&all) {
        let Ok(pieces) = subst::parse(&text) else {
            continue;
        };
        for piece in pieces {
            if let subst::Piece::Var { path, .. } = piece {
                match path.as_slice() {
                    ["endpoints", name] => {
                        out.insert((*name).to_owned());
                    }
                    ["servers" | "absent_server", .., f @ ("mcp" | "metadata")] => {
                        out.insert(
                            if *f == "mcp" {
                                "server_mcp"
                            } else {
                                "server_metadata"
                            }
                            .to_owned(),
                        );
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

/// Where a scenario runs on a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applicability {
    /// On the target itself.
    Run,
    /// On a variant of the in-process reference that adds these capabilities.
    Variant(BTreeSet<Capability>),
    /// Nowhere, for this reason.
    NotApplicable(String),
}

/// Whether and where `s` runs on `target`.
pub fn applicability(target: &Target, s: &Scenario) -> Applicability {
    let needed = target.needed_capabilities(s);
    let missing: BTreeSet<Capability> =
        needed.iter().copied().filter(|c| !target.has(*c)).collect();
    if target.can_vary(&missing) {
        return Applicability::Variant(missing);
    }
    let names = |set: &mut dyn Iterator<Item = Capability>| {
        set.map(Capability::name).collect::<Vec<_>>().join(", ")
    };
    if !missing.is_empty() {
        return Applicability::NotApplicable(format!(
            "the target ({} profile) lacks: {}",
            target.profile.name,
            names(&mut missing.into_iter())
        ));
    }
    let absent: Vec<String> = endpoints_used(s)
        .into_iter()
        .filter(|e| target.manifest.endpoints.template(e).is_none())
        .collect();
    if !absent.is_empty() {
        return Applicability::NotApplicable(format!(
            "the target ({} profile) has no endpoint: {}",
            target.profile.name,
            absent.join(", ")
        ));
    }
    if let Some(why) = target.provisioner.unmet_need(&s.fixtures) {
        return Applicability::NotApplicable(format!(
            "the target's declared world cannot meet it: {why}"
        ));
    }
    if target.is_harness_cluster()
        && ![
            Capability::Stateful,
            Capability::Cluster,
            Capability::ClusterFaults,
        ]
        .iter()
        .any(|c| needed.contains(c))
    {
        // The workers run stateful sessions, under which a request without `mcp-session-id`
        // is refused: scenarios written for stateless sessions would fail for that alone.
        return Applicability::NotApplicable(
            "written for stateless sessions; the cluster's workers are stateful (run it without \
             --cluster)"
                .to_owned(),
        );
    }
    let mut modes = target
        .capabilities
        .iter()
        .copied()
        .filter(|c| c.is_mode() && !needed.contains(c))
        .peekable();
    if modes.peek().is_some() {
        return Applicability::NotApplicable(format!(
            "written for the default configuration; the target runs in mode: {}",
            names(&mut modes)
        ));
    }
    Applicability::Run
}

/// Run every scenario, `opts.jobs` at a time; `done` is called as each finishes. Results are
/// returned in the order of `scenarios`.
pub async fn run_all(
    target: &Target,
    scenarios: &[Loaded],
    opts: &RunOptions,
    done: &(dyn Fn(&ScenarioResult) + Sync),
) -> Vec<ScenarioResult> {
    let mut results: Vec<(usize, ScenarioResult)> =
        futures_util::stream::iter(scenarios.iter().enumerate())
            .map(|(i, l)| async move {
                let r = run_scenario(target, l, opts).await;
                done(&r);
                (i, r)
            })
            .buffer_unordered(opts.jobs.max(1))
            .collect()
            .await;
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Run one scenario, on a variant of the target when it needs one.
pub async fn run_scenario(target: &Target, loaded: &Loaded, opts: &RunOptions) -> ScenarioResult {
    let s = &loaded.scenario;
    let why = match applicability(target, s) {
        Applicability::Run => return run_on(target, loaded, opts).await,
        Applicability::NotApplicable(why) => why,
        Applicability::Variant(extra) => match target.variant(&extra).await {
            // The variant has `extra`, so this recursion ends there (Run or NotApplicable).
            Some(Ok(v)) => return Box::pin(run_scenario(&v, loaded, opts)).await,
            Some(Err(e)) => {
                let mut r = blank_result(target, loaded);
                r.verdict = Verdict::Untestable;
                r.reason = Some(e.to_string());
                return r;
            }
            None => "no variant of the target has the capabilities it needs".to_owned(),
        },
    };
    let mut r = blank_result(target, loaded);
    r.verdict = Verdict::NotApplicable;
    r.reason = Some(why);
    r
}

/// The result of a scenario before anything ran: PASS with no checks.
fn blank_result(target: &Target, loaded: &Loaded) -> ScenarioResult {
    let s = &loaded.scenario;
    ScenarioResult {
        id: s.id.clone(),
        area: s.id.split('/').next().unwrap_or_default().to_owned(),
        title: s.title.clone(),
        spec: s.spec.clone(),
        level: s.level,
        path: loaded.path.display().to_string(),
        verdict: Verdict::Pass,
        reason: None,
        provisioning_transcript: None,
        checks: Vec::new(),
        cleanup_errors: Vec::new(),
        replay: target.replay_command(&s.id),
        duration_ms: 0,
    }
}

/// Run one applicable scenario on exactly this target.
async fn run_on(target: &Target, loaded: &Loaded, opts: &RunOptions) -> ScenarioResult {
    let started = Instant::now();
    let s = &loaded.scenario;
    let mut result = blank_result(target, loaded);
    let faults = s.steps.iter().any(Step::is_fault);
    // In a shared world, what reached an upstream is only this scenario's if it runs alone.
    let _gate = target
        .gate(faults || target.provisioner.shared_world())
        .await;
    let base = &target.bases[0];
    let mut p = Provisioned::new(
        provision::new_run_id(),
        base,
        target.manifest.endpoints.clone(),
    );
    match target
        .provisioner
        .provision(target, &s.fixtures, &mut p)
        .await
    {
        Err(e) => {
            result.verdict = Verdict::Untestable;
            result.reason = Some(e.to_string());
            result.provisioning_transcript = e.exchange.map(|b| *b);
        }
        Ok(()) => {
            for step in &s.steps {
                let check = run_step(target, s, step, &mut p, opts, &loaded.path).await;
                result.checks.push(check);
            }
            result.verdict = ScenarioResult::worst(&result.checks);
        }
    }
    let mut healed = Ok(());
    if faults {
        // Worker 0 (where fixtures are deleted) may be dead: make the cluster whole first.
        healed = target.heal().await;
    }
    result.cleanup_errors = target.provisioner.cleanup(target, &mut p).await;
    if let Err(e) = healed {
        result
            .cleanup_errors
            .push(format!("failed to undo the faults: {e}"));
    }
    if faults
        && result.verdict.is_failure()
        && let Some(logs) = target.worker_logs().await
    {
        result.cleanup_errors.push(logs);
    }
    result.duration_ms = started.elapsed().as_millis() as u64;
    result
}

/// Build the wire request of a step (also how the fuzzer sends its cases, so that a shrunk case
/// written as a scenario replays byte for byte).
pub fn build_request(
    target: &Target,
    step: &Step,
    p: &Provisioned,
) -> Result<(String, WireRequest), String> {
    let base = target
        .bases
        .get(step.via)
        .ok_or_else(|| format!("the target has no worker {}", step.via))?;
    let r = step
        .request
        .as_ref()
        .ok_or_else(|| format!("step `{}` sends no request", step.name))?;
    let path = subst::render(&r.path, p)?;
    let mut headers: Vec<(String, Option<String>)> =
        vec![("host".to_owned(), Some(base.authority.clone()))];
    let body = match (&r.json, &r.body) {
        (Some(j), _) => {
            headers.push((
                "content-type".to_owned(),
                Some("application/json".to_owned()),
            ));
            headers.push((
                "accept".to_owned(),
                Some("application/json, text/event-stream".to_owned()),
            ));
            Bytes::from(subst::render_json(j, p)?.to_string())
        }
        (None, Some(b)) => Bytes::from(subst::render(b, p)?),
        (None, None) => Bytes::new(),
    };
    if let Some(t) = &r.token {
        let secret = p.lookup(&["tokens", t])?;
        // An empty secret is a principal of a gateway without authentication: no credential.
        if !secret.is_empty() {
            let (name, value) = target.credential_header(&secret);
            headers.push((name, Some(value)));
        }
    }
    for (name, value) in &r.headers {
        let value = value.as_ref().map(|v| subst::render(v, p)).transpose()?;
        match headers
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            Some(slot) => *slot = (name.clone(), value),
            None => headers.push((name.clone(), value)),
        }
    }
    let mut headers: Vec<(String, String)> = headers
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
    let has_length = headers.iter().any(|(k, _)| {
        k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding")
    });
    let wants_length = !body.is_empty() || matches!(r.method.as_str(), "POST" | "PUT" | "PATCH");
    if !has_length && wants_length {
        headers.push(("content-length".to_owned(), body.len().to_string()));
    }
    Ok((
        base.authority.clone(),
        WireRequest {
            method: r.method.clone(),
            target: format!("{}{path}", base.root),
            headers,
            body,
        },
    ))
}

/// The body as JSON: plain JSON, or the last JSON `data:` event of an SSE stream.
pub fn body_json(resp: &WireResponse) -> Option<Value> {
    let is_sse = resp
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/event-stream"));
    if !is_sse {
        return serde_json::from_slice(&resp.body).ok();
    }
    let text = resp.text();
    let mut last = None;
    let mut data = String::new();
    for line in text.lines().chain(std::iter::once("")) {
        if let Some(rest) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(rest.strip_prefix(' ').unwrap_or(rest));
        } else if line.is_empty() && !data.is_empty() {
            if let Ok(v) = serde_json::from_str::<Value>(&data) {
                last = Some(v);
            }
            data.clear();
        }
    }
    last
}

/// Whether a response refuses the request: an HTTP 4xx, or a 2xx whose JSON-RPC answer (the
/// body, or the last SSE event) is an `error` with no `result`.
pub fn is_refusal(resp: &WireResponse) -> bool {
    if (400..500).contains(&resp.status) {
        return true;
    }
    if !(200..300).contains(&resp.status) {
        return false;
    }
    body_json(resp).is_some_and(|j| j.get("error").is_some() && j.get("result").is_none())
}

fn render_matcher(m: &Matcher, p: &Provisioned) -> Result<Matcher, String> {
    m.map_strings(&mut |s| subst::render(s, p).map(Value::String))
}

async fn run_step(
    target: &Target,
    s: &Scenario,
    step: &Step,
    p: &mut Provisioned,
    opts: &RunOptions,
    path: &std::path::Path,
) -> CheckResult {
    let level = step.level.unwrap_or(s.level);
    let mut check = CheckResult {
        id: format!("{}:{}", s.id, step.name),
        name: step.name.clone(),
        level,
        verdict: Verdict::Pass,
        messages: Vec::new(),
        transcript: None,
        upstream: Vec::new(),
    };
    if let Some(f) = step.fault {
        match target.fault(f).await {
            Ok(done) => check.messages.push(done),
            Err(e) => {
                // The fault could not be caused: nothing about the target was learnt.
                check.verdict = Verdict::Untestable;
                check.messages.push(format!("failed to cause {f:?}: {e}"));
            }
        }
        return check;
    }
    if let Some(ms) = step.wait_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        return check;
    }
    let mut seen_before = Vec::new();
    for key in step.expect.upstream.keys() {
        seen_before.push(p.received(key).await.map(|r| r.len()).unwrap_or(0));
    }
    let deadline = Instant::now() + Duration::from_millis(step.retry_for_ms.unwrap_or(0));
    let mut attempts = 0u32;
    let (exchange, mut messages) = loop {
        attempts += 1;
        let (authority, req) = match build_request(target, step, p) {
            Ok(r) => r,
            Err(e) => {
                check.verdict = Verdict::broken(level);
                check
                    .messages
                    .push(format!("cannot build the request: {e}"));
                return check;
            }
        };
        let exchange = client::send(&authority, req, opts.timeout).await;
        let mut messages = Vec::new();
        check.upstream.clear();
        match &exchange.response {
            None => messages.push(format!(
                "no response: {}",
                exchange.error.clone().unwrap_or_default()
            )),
            Some(resp) => {
                evaluate(&step.expect, resp, p, &mut messages);
                for (i, (key, up)) in step.expect.upstream.iter().enumerate() {
                    let all = p.received(key).await.unwrap_or_default();
                    let new: Vec<Received> = all.into_iter().skip(seen_before[i]).collect();
                    check_upstream(key, up, &new, p, &mut messages);
                    check.upstream.push((key.clone(), new));
                }
            }
        }
        if messages.is_empty() || Instant::now() >= deadline {
            break (exchange, messages);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    if step.retry_for_ms.is_some() && !messages.is_empty() {
        messages.push(format!(
            "still not as expected after {attempts} attempt(s) in {} ms (retry_for_ms)",
            step.retry_for_ms.unwrap_or(0)
        ));
    }
    match &exchange.response {
        None => {}
        Some(resp) => {
            if let (Some(name), Some(store)) = (&step.expect.snapshot, &opts.snapshots) {
                let value = snapshot::redacted_response(resp, &p.redactions());
                if let Err(e) = store.check(&s.id, &step.name, name, path, &value) {
                    messages.push(e);
                }
            }
            for (name, from) in &step.save {
                match save_value(from, resp) {
                    Some(v) => {
                        p.saved.insert(name.clone(), v);
                    }
                    None => messages.push(format!(
                        "cannot save `{name}`: the response has no {}",
                        match from {
                            SaveFrom::Header(h) => format!("header `{h}`"),
                            SaveFrom::Pointer(p) => format!("JSON value at `{p}`"),
                        }
                    )),
                }
            }
        }
    }
    if !messages.is_empty() {
        check.verdict = Verdict::broken(level);
    }
    check.messages = messages;
    check.transcript = Some(exchange);
    check
}

fn save_value(from: &SaveFrom, resp: &WireResponse) -> Option<String> {
    match from {
        SaveFrom::Header(h) => resp.header(h),
        SaveFrom::Pointer(ptr) => body_json(resp)?.pointer(ptr).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }),
    }
}

/// Compare a response with the step's expectations; push one message per broken expectation.
fn evaluate(e: &Expect, resp: &WireResponse, p: &Provisioned, out: &mut Vec<String>) {
    if let Some(want) = e.refused {
        let refused = is_refusal(resp);
        if refused != want {
            out.push(if want {
                format!(
                    "refused: expected a refusal (HTTP 4xx, or a JSON-RPC error without a result), \
                     got HTTP {}{}",
                    resp.status,
                    if (200..300).contains(&resp.status) {
                        " with a result"
                    } else {
                        ""
                    }
                )
            } else {
                format!("refused: expected no refusal, got HTTP {}", resp.status)
            });
        }
    }
    let mut check = |what: &str, m: &Matcher, actual: Option<&Value>| match render_matcher(m, p) {
        Err(err) => out.push(format!("{what}: {err}")),
        Ok(m) => {
            if let Err(mm) = m.check(actual) {
                out.push(format!("{what}: {mm}"));
            }
        }
    };
    if let Some(m) = &e.status {
        check("status", m, Some(&Value::from(resp.status)));
    }
    for (name, m) in &e.headers {
        let v = resp.header(name).map(Value::String);
        check(&format!("header {name}"), m, v.as_ref());
    }
    if let Some(m) = &e.body {
        check("body", m, Some(&Value::String(resp.text())));
    }
    if e.json.is_some() || !e.pointers.is_empty() {
        match body_json(resp) {
            None => out.push(format!(
                "body: expected JSON, got {:?}",
                resp.text().chars().take(200).collect::<String>()
            )),
            Some(j) => {
                if let Some(m) = &e.json {
                    check("json", m, Some(&j));
                }
                for (ptr, m) in &e.pointers {
                    check(&format!("pointer {ptr}"), m, j.pointer(ptr));
                }
            }
        }
    }
}

fn check_upstream(
    key: &str,
    up: &crate::scenario::UpstreamExpect,
    received: &[Received],
    p: &Provisioned,
    out: &mut Vec<String>,
) {
    let is_rest = p.rest_echoes.contains_key(key);
    let params = match up.params.as_ref().map(|m| render_matcher(m, p)).transpose() {
        Ok(m) => m,
        Err(e) => {
            out.push(format!("upstream {key}: {e}"));
            return;
        }
    };
    let selected: Vec<&Received> = received
        .iter()
        .filter(|r| {
            let (method, body_params) = if is_rest {
                (Some(r.http_method.as_str()), Some(&r.body))
            } else {
                (
                    r.body.get("method").and_then(Value::as_str),
                    r.body.get("params"),
                )
            };
            up.method.as_deref().is_none_or(|m| method == Some(m))
                && params.as_ref().is_none_or(|m| m.check(body_params).is_ok())
        })
        .collect();
    let what = match &up.method {
        Some(m) => format!("upstream {key} {m}"),
        None => format!("upstream {key}"),
    };
    let count = up.count.clone().unwrap_or_else(|| {
        serde_json::from_value(serde_json::json!({"$gte": 1})).expect("static matcher")
    });
    if let Err(mm) = count.check(Some(&Value::from(selected.len()))) {
        let methods: Vec<String> = received
            .iter()
            .map(|r| {
                if is_rest {
                    r.http_method.clone()
                } else {
                    r.body
                        .get("method")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_owned()
                }
            })
            .collect();
        out.push(format!(
            "{what}: number of matching requests: {mm} (received during the step: [{}])",
            methods.join(", ")
        ));
    }
    for text in &up.never_carries {
        let text = match subst::render(text, p) {
            // An empty text is in everything and means nothing (a principal without a secret).
            Ok(t) if t.is_empty() => continue,
            Ok(t) => t,
            Err(e) => {
                out.push(format!("{what}: {e}"));
                continue;
            }
        };
        // Every request, not only the selected ones: a leak in any of them is a leak.
        for (i, r) in received.iter().enumerate() {
            let in_headers = r.headers.iter().find(|(_, v)| v.contains(&text));
            let in_body = r.body.to_string().contains(&text);
            if let Some((h, _)) = in_headers {
                out.push(format!(
                    "{what}: request {} carried a forbidden text in header `{h}`",
                    i + 1
                ));
            } else if in_body {
                out.push(format!(
                    "{what}: request {} carried a forbidden text in its body",
                    i + 1
                ));
            }
        }
    }
    for r in &selected {
        for (h, m) in &up.headers {
            let m = match render_matcher(m, p) {
                Ok(m) => m,
                Err(e) => {
                    out.push(format!("{what}: {e}"));
                    continue;
                }
            };
            let v = r.header(h).map(Value::String);
            if let Err(mm) = m.check(v.as_ref()) {
                out.push(format!("{what}: header {h}: {mm}"));
            }
        }
    }
}
