//! The I/O half of the concurrency and failure probes (issue 15, item 3), each a fidelity
//! feature with no conversation of its own: what is sent is fixed here, what it means is judged
//! by [`super::judge`].
//!
//! - [`Probe::CollidingIds`]: [`CLIENTS`] clients, each in its own session, send [`CALLS`]
//!   tool calls at once with the same ids (1..=CALLS) as the other clients; the fixture holds
//!   each call [`HOLD_MS`] so that all are in flight inside the gateway together.
//! - [`Probe::DeadUpstream`]: a call during which the upstream drops the connection
//!   (`fid-die`), within a bound of [`DEAD_BOUND`].
//! - [`Probe::UpstreamSessionId`]: a short conversation through the gateway, every header and
//!   body of which is searched for the fixture's session ids.
//!
//! Each runs directly too, to show that the fixture does what the probe relies on (an answer
//! for each call, a connection that dies, a session id issued); when it does not, the feature is
//! UNTESTABLE.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::json;

use super::judge::{self, CallSeen, DeathSeen, Judged};
use super::session::{Conversation, Endpoint};
use crate::client::Exchange;
use crate::report::transcript_text;

/// A concurrency or failure probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    CollidingIds,
    DeadUpstream,
    UpstreamSessionId,
}

/// Clients of the colliding-ids probe.
pub const CLIENTS: usize = 2;
/// Calls each client sends at once.
pub const CALLS: u64 = 50;
/// How long the fixture holds each of those calls (milliseconds).
pub const HOLD_MS: u64 = 100;
/// How long a client waits for the answer to a call whose upstream died.
pub const DEAD_BOUND: Duration = Duration::from_secs(10);

/// What a probe found, and the exchanges that show it on each side.
#[derive(Debug)]
pub struct Probed {
    pub judged: Judged,
    pub direct: String,
    pub through: String,
}

/// Run `probe` directly against the fixture and through the gateway. `echo` and `die` are the
/// gateway's names of `fid-echo-meta` and `fid-die`.
pub async fn run(
    probe: Probe,
    direct: &Endpoint,
    through: &Endpoint,
    names: (&str, &str),
    timeout: Duration,
) -> Probed {
    match probe {
        Probe::CollidingIds => colliding(direct, through, names.0, timeout).await,
        Probe::DeadUpstream => dead(direct, through, names.1, timeout).await,
        Probe::UpstreamSessionId => sessions(direct, through, names.0, timeout).await,
    }
}

fn text_of(exchanges: &[Exchange]) -> String {
    exchanges
        .iter()
        .map(transcript_text)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every client's calls at once on one side; the calls' answers, and the exchanges worth
/// showing (each session's opening, and every call that was not answered with its own result).
async fn collide(
    endpoint: &Endpoint,
    tool: &str,
    timeout: Duration,
) -> (Vec<CallSeen>, Vec<Exchange>, Option<String>) {
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        // Each call gets `--timeout`: a gateway that works through the calls one by one needs
        // more than one call's time (the LiteLLM gate gives 60 s).
        let (c, failed) = Conversation::open(endpoint.clone(), timeout).await;
        if let Some(why) = failed {
            let shown = c.exchanges.clone();
            return (Vec::new(), shown, Some(why));
        }
        clients.push(c);
    }
    let calls = clients.iter().enumerate().flat_map(|(i, c)| {
        (1..=CALLS).map(move |n| async move {
            let client = i + 1;
            let args = json!({"marker": judge::marker(client, n), "delay_ms": HOLD_MS});
            let (answer, ex) = c
                .request_alone(
                    json!(n),
                    "tools/call",
                    json!({"name": tool, "arguments": args}),
                )
                .await;
            let seen = CallSeen {
                client,
                id: n,
                response: answer.response,
                failure: answer.failure,
            };
            (seen, ex)
        })
    });
    let done = join_all(calls).await;
    let mut shown: Vec<Exchange> = clients
        .iter()
        .flat_map(|c| c.exchanges.iter().cloned())
        .collect();
    let mut seen = Vec::new();
    for (s, ex) in done {
        let own = judge::marker(s.client, s.id);
        if !s
            .response
            .as_ref()
            .is_some_and(|r| r.to_string().contains(&own))
            && shown.len() < 12
        {
            shown.push(ex);
        }
        seen.push(s);
    }
    for mut c in clients {
        c.close().await;
    }
    (seen, shown, None)
}

async fn colliding(direct: &Endpoint, through: &Endpoint, tool: &str, timeout: Duration) -> Probed {
    let (d, d_shown, d_failed) = collide(direct, "fid-echo-meta", timeout).await;
    let direct_judged = judge::colliding_ids(&d);
    let (judged, through_shown) = if let Some(why) = d_failed {
        (untestable(format!("directly: {why}")), Vec::new())
    } else if direct_judged.verdict != crate::verdict::Verdict::Pass {
        let mut j = direct_judged;
        j.findings.insert(
            0,
            "directly, the fixture did not answer each call with its own result:".to_owned(),
        );
        (untestable_with(j.findings), Vec::new())
    } else {
        let (t, t_shown, t_failed) = collide(through, tool, timeout).await;
        match t_failed {
            Some(why) => (
                Judged {
                    verdict: crate::verdict::Verdict::Fail,
                    outcome: super::compare::Outcome::Dropped,
                    findings: vec![format!("through the gateway: {why}")],
                },
                t_shown,
            ),
            None => (judge::colliding_ids(&t), t_shown),
        }
    };
    Probed {
        judged,
        direct: text_of(&d_shown),
        through: text_of(&through_shown),
    }
}

fn untestable(why: String) -> Judged {
    untestable_with(vec![why])
}

fn untestable_with(findings: Vec<String>) -> Judged {
    Judged {
        verdict: crate::verdict::Verdict::Untestable,
        outcome: super::compare::Outcome::NotSupported,
        findings,
    }
}

/// A call of `tool` (the dying one) on one side, bounded by `bound`.
async fn die_once(
    endpoint: &Endpoint,
    tool: &str,
    bound: Duration,
) -> (DeathSeen, Vec<Exchange>, Option<String>) {
    let (mut c, failed) = Conversation::open(endpoint.clone(), bound).await;
    if let Some(why) = failed {
        return (DeathSeen::default(), c.exchanges, Some(why));
    }
    let started = Instant::now();
    let answer = c
        .request(
            json!(1),
            "tools/call",
            json!({"name": tool, "arguments": {}}),
        )
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let status = c
        .exchanges
        .last()
        .and_then(|e| e.response.as_ref())
        .map(|r| r.status);
    c.close().await;
    let seen = DeathSeen {
        status,
        response: answer.response,
        failure: answer.failure,
        seconds,
    };
    (seen, c.exchanges, None)
}

async fn dead(direct: &Endpoint, through: &Endpoint, tool: &str, timeout: Duration) -> Probed {
    // Directly, the connection closes at once; the bound only guards a fixture that hangs.
    let (d, d_ex, d_failed) = die_once(direct, "fid-die", timeout.min(DEAD_BOUND)).await;
    let (judged, t_ex) = match d_failed {
        Some(why) => (untestable(format!("directly: {why}")), Vec::new()),
        None => {
            let (t, t_ex, t_failed) = die_once(through, tool, DEAD_BOUND).await;
            let judged = match t_failed {
                Some(why) => Judged {
                    verdict: crate::verdict::Verdict::Fail,
                    outcome: super::compare::Outcome::Dropped,
                    findings: vec![format!("through the gateway: {why}")],
                },
                None => judge::dead_upstream(&d, &t, DEAD_BOUND.as_secs()),
            };
            (judged, t_ex)
        }
    };
    Probed {
        judged,
        direct: text_of(&d_ex),
        through: text_of(&t_ex),
    }
}

/// Every response header and body of `exchanges`, by where it was.
fn what_the_client_got(exchanges: &[Exchange]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, ex) in exchanges.iter().enumerate() {
        let Some(r) = &ex.response else { continue };
        let req = format!(
            "the answer to request {} ({} {})",
            i + 1,
            ex.request.method,
            ex.request.target
        );
        for (k, v) in &r.headers {
            out.push((format!("{req}, header {k}"), v.clone()));
        }
        out.push((
            format!("{req}, body"),
            String::from_utf8_lossy(&r.body).into_owned(),
        ));
    }
    out
}

async fn sessions(direct: &Endpoint, through: &Endpoint, tool: &str, timeout: Duration) -> Probed {
    let converse = |endpoint: Endpoint, tool: String| async move {
        let (mut c, failed) = Conversation::open(endpoint, timeout).await;
        if failed.is_none() {
            c.request(
                json!(1),
                "tools/call",
                json!({"name": tool, "arguments": {}}),
            )
            .await;
            c.request(json!(2), "tools/list", json!({})).await;
        }
        let sid = c.session_id().map(str::to_owned);
        c.close().await;
        (sid, c.exchanges, failed)
    };
    let (d_sid, d_ex, _) = converse(direct.clone(), "fid-echo-meta".to_owned()).await;
    let (_, t_ex, t_failed) = converse(through.clone(), tool.to_owned()).await;
    let mut judged = judge::upstream_session_ids(
        d_sid.as_deref(),
        crate::upstream::rich::SESSION_PREFIX,
        &what_the_client_got(&t_ex),
    );
    if let Some(why) = t_failed.filter(|_| judged.verdict == crate::verdict::Verdict::Pass) {
        judged = Judged {
            verdict: crate::verdict::Verdict::Fail,
            outcome: super::compare::Outcome::Dropped,
            findings: vec![format!("through the gateway: {why}")],
        };
    }
    Probed {
        judged,
        direct: text_of(&d_ex),
        through: text_of(&t_ex),
    }
}
