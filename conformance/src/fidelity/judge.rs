//! The pure half of the concurrency and failure probes (`super::probe`): what was seen goes in,
//! a verdict, the feature's outcome and what was found come out. No I/O here.
//!
//! - colliding ids: every call's answer must carry its own marker, never another call's;
//! - a dead upstream: an answer (a JSON-RPC error, an `isError` result or an HTTP error
//!   status) must come, never silence;
//! - upstream session ids: nothing the gateway sends its client may carry one.

use serde_json::Value;

use super::compare::Outcome;
use crate::verdict::Verdict;

/// A probe's judgement.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    pub verdict: Verdict,
    pub outcome: Outcome,
    /// What was found, one line each (the reasons of a verdict that is not PASS).
    pub findings: Vec<String>,
}

impl Judged {
    fn untestable(why: String) -> Judged {
        Judged {
            verdict: Verdict::Untestable,
            outcome: Outcome::NotSupported,
            findings: vec![why],
        }
    }
}

/// Findings listed at most (the rest are counted).
const SHOWN: usize = 8;

fn capped(mut findings: Vec<String>) -> Vec<String> {
    if findings.len() > SHOWN {
        let more = findings.len() - SHOWN;
        findings.truncate(SHOWN);
        findings.push(format!("... and {more} more"));
    }
    findings
}

/// The marker of call `n` of client `client`: in its arguments, echoed in its answer. The
/// trailing `.` keeps one marker from being the start of another.
pub fn marker(client: usize, n: u64) -> String {
    format!("fid-collide-c{client}-n{n:03}.")
}

/// One call of the colliding-ids probe as it came back.
#[derive(Debug, Clone)]
pub struct CallSeen {
    pub client: usize,
    pub id: u64,
    pub response: Option<Value>,
    pub failure: Option<String>,
}

/// Whose markers an answer carries.
fn markers_in(response: &Value, all: &[(usize, u64)]) -> Vec<(usize, u64)> {
    let text = response.to_string();
    all.iter()
        .copied()
        .filter(|(c, n)| text.contains(&marker(*c, *n)))
        .collect()
}

/// The colliding-ids probe: each call's answer carries its own marker and no other's.
pub fn colliding_ids(calls: &[CallSeen]) -> Judged {
    let all: Vec<(usize, u64)> = calls.iter().map(|c| (c.client, c.id)).collect();
    let (mut crossed, mut dropped) = (Vec::new(), Vec::new());
    for c in calls {
        let who = format!("client {}'s call with id {}", c.client, c.id);
        let Some(response) = &c.response else {
            let why = c.failure.as_deref().unwrap_or("no answer");
            dropped.push(format!("{who} got no answer: {why}"));
            continue;
        };
        let found = markers_in(response, &all);
        let others: Vec<String> = found
            .iter()
            .filter(|m| **m != (c.client, c.id))
            .map(|(oc, on)| format!("client {oc}'s call {on}"))
            .collect();
        if !others.is_empty() {
            crossed.push(format!("{who} got the answer of {}", others.join(", ")));
        } else if found.is_empty() {
            let shown = super::compare::short(response);
            dropped.push(format!(
                "{who} was answered without its own result: {shown}"
            ));
        }
    }
    let outcome = if !dropped.is_empty() {
        Outcome::Dropped
    } else if !crossed.is_empty() {
        Outcome::Altered
    } else {
        Outcome::Preserved
    };
    let verdict = if outcome == Outcome::Preserved {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    crossed.extend(dropped);
    Judged {
        verdict,
        outcome,
        findings: capped(crossed),
    }
}

/// What one side saw of a call whose upstream dies.
#[derive(Debug, Clone, Default)]
pub struct DeathSeen {
    /// The HTTP status of the answer, when one came.
    pub status: Option<u16>,
    /// The JSON-RPC response, when one came.
    pub response: Option<Value>,
    /// Why no response came.
    pub failure: Option<String>,
    /// Seconds until the answer (or until the client gave up).
    pub seconds: f64,
}

/// The dead-upstream probe. Directly, the call must get no answer (else the fixture did not
/// die, and nothing can be judged); through the gateway, an answer must come within `bound`
/// seconds: a JSON-RPC error, an `isError` result, or an HTTP error status.
pub fn dead_upstream(direct: &DeathSeen, through: &DeathSeen, bound: u64) -> Judged {
    if direct.response.is_some() {
        return Judged::untestable(
            "the fidelity upstream answered fid-die instead of dropping the connection (over \
             stdio it cannot die alone)"
                .to_owned(),
        );
    }
    let took = format!("{:.1} s", through.seconds);
    let judged = |verdict, outcome, finding: String| Judged {
        verdict,
        outcome,
        findings: vec![finding],
    };
    match (&through.response, through.status) {
        (Some(r), _) if r.get("error").is_some() => judged(
            Verdict::Pass,
            Outcome::Preserved,
            format!(
                "answered in {took} with JSON-RPC error {}",
                super::compare::short(&r["error"])
            ),
        ),
        (Some(r), _) if r.pointer("/result/isError") == Some(&Value::Bool(true)) => judged(
            Verdict::Pass,
            Outcome::Preserved,
            format!("answered in {took} with an isError result"),
        ),
        (Some(r), _) => judged(
            Verdict::Fail,
            Outcome::Altered,
            format!(
                "answered in {took} with a success for a call whose upstream died: {}",
                super::compare::short(r)
            ),
        ),
        (None, Some(s)) if s >= 400 => judged(
            Verdict::Pass,
            Outcome::Preserved,
            format!("answered in {took} with HTTP {s}"),
        ),
        (None, _) => judged(
            Verdict::Fail,
            Outcome::Dropped,
            format!(
                "no answer within {bound} s (after {took}): {}",
                through.failure.as_deref().unwrap_or("nothing came")
            ),
        ),
    }
}

/// The upstream-session-id probe. `direct_session` is the session id the upstream gave the
/// harness directly (it must be one of the fixture's, else nothing can be judged); `through`
/// is every response header and body the client got through the gateway, by where it was.
pub fn upstream_session_ids(
    direct_session: Option<&str>,
    prefix: &str,
    through: &[(String, String)],
) -> Judged {
    if !direct_session.is_some_and(|s| s.starts_with(prefix)) {
        return Judged::untestable(format!(
            "the fidelity upstream issued no session id directly (got {direct_session:?})"
        ));
    }
    let found: Vec<String> = through
        .iter()
        .filter_map(|(at, text)| {
            let i = text.find(prefix)?;
            let seen: String = text[i..].chars().take(prefix.len() + 8).collect();
            Some(format!(
                "the upstream's session id reached the client in {at}: {seen}"
            ))
        })
        .collect();
    if found.is_empty() {
        Judged {
            verdict: Verdict::Pass,
            outcome: Outcome::Preserved,
            findings: Vec::new(),
        }
    } else {
        Judged {
            verdict: Verdict::Fail,
            outcome: Outcome::Added,
            findings: capped(found),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seen(client: usize, id: u64, carries: Option<(usize, u64)>) -> CallSeen {
        CallSeen {
            client,
            id,
            response: carries
                .map(|(c, n)| json!({"id": id, "result": {"content": [{"text": marker(c, n)}]}})),
            failure: carries.is_none().then(|| "timed out".to_owned()),
        }
    }

    #[test]
    fn markers_do_not_contain_each_other() {
        assert!(!marker(1, 10).contains(&marker(1, 1)));
        assert!(!marker(1, 100).contains(&marker(1, 10)));
    }

    #[test]
    fn crossed_and_missing_answers_fail() {
        let fine = [seen(1, 1, Some((1, 1))), seen(2, 1, Some((2, 1)))];
        assert_eq!(colliding_ids(&fine).verdict, Verdict::Pass);
        let crossed = [seen(1, 1, Some((2, 1))), seen(2, 1, Some((2, 1)))];
        let j = colliding_ids(&crossed);
        assert_eq!((j.verdict, j.outcome), (Verdict::Fail, Outcome::Altered));
        assert!(
            j.findings[0].contains("client 1's call with id 1 got the answer of client 2's call 1")
        );
        let lost = [seen(1, 1, Some((1, 1))), seen(2, 1, None)];
        assert_eq!(colliding_ids(&lost).outcome, Outcome::Dropped);
    }

    #[test]
    fn a_dead_upstream_must_be_answered() {
        let direct = DeathSeen {
            failure: Some("connection closed".to_owned()),
            ..DeathSeen::default()
        };
        let error = DeathSeen {
            response: Some(json!({"error": {"code": -32603}})),
            ..DeathSeen::default()
        };
        assert_eq!(dead_upstream(&direct, &error, 10).verdict, Verdict::Pass);
        let is_error = DeathSeen {
            response: Some(json!({"result": {"isError": true}})),
            ..DeathSeen::default()
        };
        assert_eq!(dead_upstream(&direct, &is_error, 10).verdict, Verdict::Pass);
        let http = DeathSeen {
            status: Some(502),
            ..DeathSeen::default()
        };
        assert_eq!(dead_upstream(&direct, &http, 10).verdict, Verdict::Pass);
        let silence = DeathSeen {
            status: Some(200),
            failure: Some("deadline".to_owned()),
            seconds: 10.0,
            ..DeathSeen::default()
        };
        let j = dead_upstream(&direct, &silence, 10);
        assert_eq!((j.verdict, j.outcome), (Verdict::Fail, Outcome::Dropped));
        let success = DeathSeen {
            response: Some(json!({"result": {"content": []}})),
            ..DeathSeen::default()
        };
        assert_eq!(
            dead_upstream(&direct, &success, 10).outcome,
            Outcome::Altered
        );
        assert_eq!(
            dead_upstream(&error, &error, 10).verdict,
            Verdict::Untestable
        );
    }

    #[test]
    fn an_upstream_session_id_must_not_reach_the_client() {
        let p = "fid-upstream-session-";
        let direct = Some("fid-upstream-session-00000001");
        let clean = [("header mcp-session-id".to_owned(), "abc".to_owned())];
        assert_eq!(
            upstream_session_ids(direct, p, &clean).verdict,
            Verdict::Pass
        );
        let leaked = [(
            "header mcp-session-id".to_owned(),
            "fid-upstream-session-00000007".to_owned(),
        )];
        let j = upstream_session_ids(direct, p, &leaked);
        assert_eq!(j.verdict, Verdict::Fail);
        assert!(j.findings[0].contains("fid-upstream-session-00000007"));
        assert_eq!(
            upstream_session_ids(None, p, &clean).verdict,
            Verdict::Untestable
        );
    }
}
