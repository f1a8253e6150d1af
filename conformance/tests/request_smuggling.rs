//! The request-smuggling scenario shown to fail. The reference's HTTP/1.1 server reads a request
//! framed both by `Content-Length` and chunked by its chunked framing and closes the connection
//! after answering (RFC 9112 §6.1), so nothing after the body runs, and no defect of the matrix
//! can re-create the contrary (the framing is done before any of the reference's own code). The
//! gateway with the defect is built here instead: a relay in front of the reference that frames
//! each request by `Content-Length` alone and keeps the client's connection, as a naive proxy
//! does. Through it the bytes after the chunked body reach the reference as a request of their
//! own, and the scenario must FAIL at the step that finds server T deleted.

use std::net::SocketAddr;
use std::path::Path;

use mcpgw_conformance::runner::{self, RunOptions};
use mcpgw_conformance::scenario::load_file;
use mcpgw_conformance::target::{Target, TargetConfig, TargetSpec};
use mcpgw_conformance::verdict::Verdict;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const SCENARIO: &str = "../scenarios/transport/content-length-beside-chunked-smuggles-nothing.yaml";

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The `content-length` of a request head (0 when it has none).
fn content_length(head: &str) -> usize {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Serve one client connection: frame each request by its `content-length`, send it to the
/// backend on a connection of its own, copy the answer back, and go on reading the client.
async fn relay_connection(mut client: TcpStream, backend: SocketAddr) -> std::io::Result<()> {
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            if client.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let end = head_end + content_length(&head);
        while buf.len() < end {
            if client.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        }
        let mut forwarded: Vec<u8> = Vec::new();
        for line in head.trim_end().split("\r\n") {
            if !line.to_ascii_lowercase().starts_with("connection:") {
                forwarded.extend_from_slice(line.as_bytes());
                forwarded.extend_from_slice(b"\r\n");
            }
        }
        forwarded.extend_from_slice(b"connection: close\r\n\r\n");
        forwarded.extend_from_slice(&buf[head_end..end]);
        buf.drain(..end);
        let mut up = TcpStream::connect(backend).await?;
        up.write_all(&forwarded).await?;
        let mut answer = Vec::new();
        up.read_to_end(&mut answer).await?;
        // The client may be gone (it read its answer and closed): the next request in the
        // buffer is relayed all the same, as a proxy that already read it does.
        let _ = client.write_all(&answer).await;
    }
}

async fn relay(backend: SocketAddr) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(relay_connection(client, backend));
        }
    });
    (url, task)
}

async fn run_on(url: String, token: String) -> mcpgw_conformance::verdict::ScenarioResult {
    let loaded = load_file(Path::new("../scenarios"), Path::new(SCENARIO)).expect("loads");
    let mut cfg = TargetConfig::reference();
    cfg.spec = TargetSpec::Url {
        urls: vec![url],
        token: Some(token),
        jwt_secret: None,
    };
    let target = Target::start(&cfg).await.unwrap();
    runner::run_scenario(&target, &loaded, &RunOptions::default()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relay_that_frames_by_content_length_runs_the_smuggled_request_and_fails() {
    let gateway = mcpgw_reference::spawn_embedded(mcpgw_reference::Settings::default_for_tests())
        .await
        .unwrap();
    let direct = run_on(gateway.url(), gateway.admin_token.clone()).await;
    assert_eq!(direct.verdict, Verdict::Pass, "{direct:#?}");

    let backend: SocketAddr = gateway.url().trim_start_matches("http://").parse().unwrap();
    let (url, task) = relay(backend).await;
    let relayed = run_on(url, gateway.admin_token.clone()).await;
    task.abort();
    assert_eq!(relayed.verdict, Verdict::Fail, "{relayed:#?}");
    let failed: Vec<&str> = relayed
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(failed, ["second-request-never-ran"], "{relayed:#?}");
}
