//! Configuring the reference by hand, as an operator of a file-configured gateway would: the
//! upstream fixtures a manifest declares in a process of their own, a free port for one, the
//! reference itself, and admin API calls.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use bytes::Bytes;
use mcpgw_conformance::client::{WireRequest, send};
use serde_json::Value;

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One admin call to the reference; the JSON answer.
pub(crate) async fn admin(
    authority: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Value {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut headers = vec![
        ("host".to_owned(), authority.to_owned()),
        ("authorization".to_owned(), format!("Bearer {token}")),
    ];
    if !body.is_empty() {
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
        headers.push(("content-length".to_owned(), body.len().to_string()));
    }
    let req = WireRequest {
        method: method.to_owned(),
        target: path.to_owned(),
        headers,
        body: Bytes::from(body),
    };
    let ex = send(authority, req, std::time::Duration::from_secs(10)).await;
    let resp = ex.response.expect("the reference answers");
    assert!(
        (200..300).contains(&resp.status),
        "{method} {path} -> {}: {}",
        resp.status,
        resp.text()
    );
    serde_json::from_slice(&resp.body).unwrap_or(Value::Null)
}

/// `mcpgw-conformance upstreams` for `manifest`, with its `ready ...` line (it stops when its
/// stdin closes).
pub(crate) fn start_upstreams(manifest: &Path) -> (Child, String) {
    let mut upstreams = Command::new(super::BIN)
        .args(["upstreams", "--target-file"])
        .arg(manifest)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("upstreams starts");
    let mut ready = String::new();
    BufReader::new(upstreams.stdout.take().expect("its stdout"))
        .read_line(&mut ready)
        .expect("a ready line");
    (upstreams, ready)
}

/// A reference in this process, with `policy` (the strict one when `None`), no JWT secret.
pub(crate) struct Reference {
    pub url: String,
    /// `host:port`.
    pub authority: String,
    pub token: String,
    _embedded: mcpgw_reference::Embedded,
}

pub(crate) async fn start_reference(policy: Option<mcpgw_reference::policy::Policy>) -> Reference {
    let mut settings = mcpgw_reference::Settings::default_for_tests();
    settings.jwt_secret_key = None;
    if let Some(p) = policy {
        settings.policy = p;
    }
    let embedded = mcpgw_reference::spawn_embedded(settings)
        .await
        .expect("the reference starts");
    let url = embedded.url();
    Reference {
        authority: url.trim_start_matches("http://").to_owned(),
        url,
        token: embedded.admin_token.clone(),
        _embedded: embedded,
    }
}
