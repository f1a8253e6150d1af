//! The `mcpgw-reference` binary runs the strict policy and nothing else (issue 13): it has no
//! `--inject-defect` flag and does not read `MCPGW_INJECT_DEFECT`, whatever features the library
//! was built with (under `cargo test --workspace` the harness turns `defects` on, so this test
//! covers both builds).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

const EXE: &str = env!("CARGO_BIN_EXE_mcpgw-reference");

/// The binary with a clean environment: loopback, any port, a fixed secret.
fn reference() -> Command {
    let mut c = Command::new(EXE);
    c.env_clear()
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("JWT_SECRET_KEY", "binary-policy-test-secret")
        .env("RUST_LOG", "warn");
    c
}

/// A running binary, killed when dropped.
struct Running {
    child: Child,
    addr: String,
    token: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(mut cmd: Command) -> Running {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut addr, mut token) = (None, None);
    while addr.is_none() || token.is_none() {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the URL= and TOKEN= lines within 30 s");
        if let Some(url) = line.strip_prefix("URL=http://") {
            addr = Some(url.trim().to_owned());
        } else if let Some(t) = line.strip_prefix("TOKEN=") {
            token = Some(t.trim().to_owned());
        }
    }
    Running {
        child,
        addr: addr.unwrap_or_default(),
        token: token.unwrap_or_default(),
    }
}

/// One HTTP/1.1 request with `path` sent byte for byte; the status and the body.
fn request(
    addr: &str,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, String) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Accept: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).expect("a response");
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (status, body)
}

#[test]
fn inject_defect_is_not_a_flag() {
    let out = reference()
        .args(["--inject-defect", "rpc-not-general-endpoint"])
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("unexpected argument '--inject-defect'"),
        "{stderr}"
    );
}

#[test]
fn the_defect_variable_changes_nothing() {
    let mut cmd = reference();
    cmd.env(
        "MCPGW_INJECT_DEFECT",
        "rpc-not-general-endpoint,normalise-dot-segments",
    );
    let gw = start(cmd);

    // normalise-dot-segments would route this to /health (200).
    let (status, body) = request(&gw.addr, "GET", "/x/../health", "", None);
    assert_eq!(status, 400, "dot segments are refused: {body}");

    // rpc-not-general-endpoint would refuse a server-scoped token on /rpc (403).
    let (status, body) = request(
        &gw.addr,
        "POST",
        "/tokens",
        &gw.token,
        Some(json!({"name": "scoped", "scope": {"server_id": "0123456789abcdef0123456789abcdef"}})),
    );
    assert!(status == 200 || status == 201, "{status} {body}");
    let created: Value = serde_json::from_str(&body).expect("JSON");
    let scoped = created["access_token"].as_str().expect("access_token");
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let (status, body) = request(&gw.addr, "POST", "/rpc", scoped, Some(ping));
    assert_eq!(status, 200, "/rpc is a general endpoint: {body}");
}
