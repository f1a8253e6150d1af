//! Sessions a campaign opens on a stateful target before it starts, so that generated requests
//! can carry a session id that is not theirs: one opened on another server's endpoint, or one
//! already ended. Each is opened by the caller that reaches every server, its id saved in the
//! world (`${saved.<key>}`), and a regression scenario that uses it opens it again with the
//! same steps ([`steps`]).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::client;
use crate::runner;
use crate::scenario::{Action, Expect, Matcher, Request, RequestStep, SaveFrom, Step};
use crate::target::Target;

use super::world::World;

/// One session of the campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPlan {
    /// The name its id is saved under (`${saved.<key>}`).
    pub key: String,
    /// The server key whose endpoint opened it.
    pub server: String,
    /// Ended (`DELETE`) right after it was opened.
    pub ended: bool,
    /// The worker it was opened on (its owner, on a cluster).
    pub via: usize,
}

/// A session on each of the first two servers, and one ended on the first, each opened on
/// worker `via`.
pub fn plan(servers: &[String], via: usize) -> Vec<SessionPlan> {
    let mut out: Vec<SessionPlan> = servers
        .iter()
        .take(2)
        .map(|s| SessionPlan {
            key: format!("session_{s}"),
            server: s.clone(),
            ended: false,
            via,
        })
        .collect();
    if let Some(first) = servers.first() {
        out.push(SessionPlan {
            key: "session_ended".to_owned(),
            server: first.clone(),
            ended: true,
            via,
        });
    }
    out
}

fn matcher(v: Value) -> Matcher {
    serde_json::from_value(v).expect("a matcher written here parses")
}

/// The `initialize` request that opens a session on `server`'s endpoint.
fn initialize(server: &str, token: &str) -> Request {
    Request {
        method: "POST".to_owned(),
        path: format!("${{servers.{server}.mcp}}"),
        token: Some(token.to_owned()),
        headers: Default::default(),
        json: Some(json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "mcpgw-conformance-fuzz", "version": "1"}}
        })),
        body: None,
        absolute_form: false,
        stream_ms: None,
    }
}

/// The `DELETE` that ends the session saved as `key` on `server`'s endpoint.
fn delete(server: &str, token: &str, key: &str) -> Request {
    Request {
        method: "DELETE".to_owned(),
        path: format!("${{servers.{server}.mcp}}"),
        token: Some(token.to_owned()),
        headers: BTreeMap::from([(
            "mcp-session-id".to_owned(),
            Some(format!("${{saved.{key}}}")),
        )]),
        json: None,
        body: None,
        absolute_form: false,
        stream_ms: None,
    }
}

/// A step-name slug of a session key (server keys may hold capitals and `_`).
fn slug(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// The scenario steps that open (and end) `plan`'s session again, with token fixture `token`.
pub fn steps(plan: &SessionPlan, token: &str) -> Vec<Step> {
    let mut opened = Expect {
        status: Some(matcher(json!(200))),
        ..Expect::default()
    };
    opened.headers.insert(
        "mcp-session-id".to_owned(),
        matcher(json!({"$present": true})),
    );
    let mut out = vec![Step {
        name: format!("open-{}", slug(&plan.key)),
        description: Some(format!(
            "Open the session the campaign called {} on server {}",
            plan.key, plan.server
        )),
        level: None,
        action: Action::Request(Box::new(RequestStep {
            via: plan.via,
            request: initialize(&plan.server, token),
            expect: opened,
            retry_for: None,
            retry_while: None,
            save: BTreeMap::from([(
                plan.key.clone(),
                SaveFrom::Header("mcp-session-id".to_owned()),
            )]),
        })),
    }];
    if plan.ended {
        out.push(Step {
            name: format!("end-{}", slug(&plan.key)),
            description: Some("End it".to_owned()),
            level: None,
            action: Action::Request(Box::new(RequestStep {
                via: plan.via,
                request: delete(&plan.server, token, &plan.key),
                expect: Expect {
                    status: Some(matcher(json!({"$lte": 299}))),
                    ..Expect::default()
                },
                retry_for: None,
                retry_while: None,
                save: BTreeMap::new(),
            })),
        });
    }
    out
}

/// Open every session of `plans` on `target` as token fixture `token` of `world`, saving each
/// id; a session the target does not open (no `mcp-session-id`) is left out. Returns the plans
/// that were opened.
pub async fn open(
    target: &Target,
    world: &mut World,
    plans: &[SessionPlan],
    token: &str,
    timeout: Duration,
) -> Vec<SessionPlan> {
    let mut opened = Vec::new();
    for plan in plans {
        let send = |request: &Request, world: &World| {
            runner::build_request(target, plan.via, request, &world.provisioned)
        };
        let Ok((authority, req)) = send(&initialize(&plan.server, token), world) else {
            continue;
        };
        let ex = client::send(&authority, req, timeout).await;
        let Some(id) = ex.response.and_then(|r| r.header("mcp-session-id")) else {
            continue;
        };
        world.provisioned.saved.insert(plan.key.clone(), id);
        if plan.ended {
            let Ok((authority, req)) = send(&delete(&plan.server, token, &plan.key), world) else {
                continue;
            };
            let ex = client::send(&authority, req, timeout).await;
            if !ex.response.is_some_and(|r| (200..300).contains(&r.status)) {
                world.provisioned.saved.remove(&plan.key);
                continue;
            }
        }
        opened.push(plan.clone());
    }
    opened
}
