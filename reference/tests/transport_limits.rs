//! The accept loop's connection bounds, on real sockets against an embedded gateway: a head
//! that never completes is cut at the header-read bound, an idle keep-alive connection at the
//! idle bound while an SSE stream outlives it, and at the connection cap idle and stalled
//! clients make room for a new one while busy connections are kept (the newcomer gets 503), as
//! they do when the process runs out of file descriptors below the cap; a request body that
//! stalls or drips after its head is cut at the body-read bound (408).
//!
//! Waits here are liveness bounds (generous, [`LIVENESS`]), never measurements of speed.

use std::time::Duration;

use mcpgw_reference::rpc::protocol::LATEST_VERSION;
use mcpgw_reference::{Embedded, Settings, spawn_embedded};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a test waits for something that must happen.
const LIVENESS: Duration = Duration::from_secs(5);

/// A gateway with these time bounds (ms) and connection cap, then `configure`.
async fn gateway(
    header_read_ms: u64,
    idle_ms: u64,
    max_connections: u32,
    configure: impl FnOnce(&mut Settings),
) -> Embedded {
    let mut s = Settings::default_for_tests();
    s.header_read_timeout_ms = header_read_ms;
    s.idle_timeout_ms = idle_ms;
    s.max_connections = max_connections;
    configure(&mut s);
    spawn_embedded(s)
        .await
        .expect("the embedded gateway starts")
}

/// Far enough away never to close anything during a test.
const FAR: u64 = 600_000;
/// The default cap: not reached in a test.
const NO_CAP: u32 = 10_000;

async fn connect(gw: &Embedded) -> TcpStream {
    TcpStream::connect(gw.addr)
        .await
        .expect("connect to the embedded gateway")
}

/// Whether the peer closes the connection within `limit` (whatever it sends first is read and
/// dropped). A reset counts as closed.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let read_until_end = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, read_until_end).await.is_ok()
}

/// Read one response with a `content-length` body; its head and body as text.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            let text = String::from_utf8_lossy(&got).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if got.len() >= end + 4 + length {
                    return text;
                }
            }
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return String::from_utf8_lossy(&got).into_owned(),
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(LIVENESS, read)
        .await
        .expect("a response within the liveness bound")
}

/// `GET /health` on a kept-alive connection; panics unless it answers 200.
async fn health(stream: &mut TcpStream) {
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("send");
    let r = read_response(stream).await;
    assert!(r.starts_with("HTTP/1.1 200"), "GET /health: {r:?}");
}

#[tokio::test]
async fn a_head_that_never_completes_is_cut_at_the_header_read_bound() {
    // Only the header-read bound can close these.
    let gw = gateway(300, FAR, NO_CAP, |_| {}).await;

    let mut half = connect(&gw).await;
    half.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("send half a head");
    assert!(
        closed_within(&mut half, LIVENESS).await,
        "a half-sent head was still open after {LIVENESS:?}"
    );

    // Slowloris: a byte every 50 ms keeps arriving, but the bound runs from the first one.
    let mut trickle = connect(&gw).await;
    let head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut cut = false;
    for b in head {
        if trickle.write_all(&[*b]).await.is_err() {
            cut = true;
            break;
        }
        let mut probe = [0u8; 64];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(50), trickle.read(&mut probe)).await
        {
            cut = true;
            break;
        }
    }
    assert!(
        cut,
        "a head trickled over {} bytes x 50 ms was never cut",
        head.len()
    );

    // The gateway still serves.
    health(&mut connect(&gw).await).await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_at_the_idle_bound() {
    // Only the idle bound can close these.
    let gw = gateway(FAR, 500, NO_CAP, |_| {}).await;

    let mut kept = connect(&gw).await;
    health(&mut kept).await;
    health(&mut kept).await;
    assert!(
        closed_within(&mut kept, LIVENESS).await,
        "an idle keep-alive connection was still open after {LIVENESS:?}"
    );

    let mut silent = connect(&gw).await;
    assert!(
        closed_within(&mut silent, LIVENESS).await,
        "a connection that never sent a byte was still open after {LIVENESS:?}"
    );
}

/// `POST /mcp` `initialize` on a stateful gateway; the session id.
async fn open_session(gw: &Embedded) -> String {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": LATEST_VERSION, "capabilities": {},
        "clientInfo": {"name": "transport-limits", "version": "0"}}})
    .to_string();
    let mut s = connect(gw).await;
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nAccept: application/json, text/event-stream\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        gw.admin_token,
        body.len()
    );
    s.write_all(request.as_bytes()).await.expect("send");
    let r = read_response(&mut s).await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    r.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("mcp-session-id")
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("initialize issued no mcp-session-id: {r}"))
}

#[tokio::test]
async fn an_sse_stream_outlives_the_idle_bound() {
    let idle = Duration::from_millis(300);
    let gw = gateway(300, 300, NO_CAP, |s| s.use_stateful_sessions = true).await;
    let sid = open_session(&gw).await;

    let mut stream = connect(&gw).await;
    let request = format!(
        "GET /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nAccept: text/event-stream\r\nMcp-Session-Id: {sid}\r\n\r\n",
        gw.admin_token
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
        let n = tokio::time::timeout(LIVENESS, stream.read(&mut buf))
            .await
            .expect("the stream's head within the liveness bound")
            .expect("read the stream's head");
        assert!(n > 0, "closed before the stream's head");
        got.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&got).into_owned();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/event-stream"), "{head}");

    // Five idle bounds with nothing to send (keep-alive comments come every 15 s): the stream
    // is a response in flight, so the connection must stay.
    assert!(
        !closed_within(&mut stream, idle * 5).await,
        "the SSE stream was cut within five idle bounds"
    );

    // Ending the session ends the stream: the body's last chunk arrives on the same connection.
    let mut del = connect(&gw).await;
    let request = format!(
        "DELETE /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nMcp-Session-Id: {sid}\r\nConnection: close\r\n\r\n",
        gw.admin_token
    );
    del.write_all(request.as_bytes()).await.expect("send");
    let r = read_response(&mut del).await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    let mut tail = Vec::new();
    let last_chunk = async {
        while !tail.ends_with(b"0\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => tail.extend_from_slice(&buf[..n]),
            }
        }
        true
    };
    assert!(
        tokio::time::timeout(LIVENESS, last_chunk)
            .await
            .unwrap_or(false),
        "the stream did not end with its last chunk after DELETE"
    );
}

#[tokio::test]
async fn at_the_cap_idle_and_stalled_connections_make_room_for_a_new_client() {
    // Only the cap can close anything here.
    let gw = gateway(FAR, FAR, 8, |_| {}).await;

    // 10 held connections on a cap of 8, each served one request first (so each was accepted,
    // in this order), then left idle or with half a head sent.
    let mut held = Vec::new();
    for i in 0..10 {
        let mut s = connect(&gw).await;
        health(&mut s).await;
        if i % 2 == 1 {
            s.write_all(b"POST /rpc HTTP/1.1\r\nHost: x\r\nContent-")
                .await
                .expect("send half a head");
        }
        held.push(s);
    }

    let mut new = connect(&gw).await;
    new.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("send");
    let r = read_response(&mut new).await;
    assert!(r.starts_with("HTTP/1.1 200"), "the new client got: {r:?}");

    // 11 admitted on a cap of 8: the three that were idle the longest were closed, no other.
    let mut closed = Vec::new();
    let deadline = tokio::time::Instant::now() + LIVENESS;
    while closed.len() < 3 && tokio::time::Instant::now() < deadline {
        for (i, s) in held.iter_mut().enumerate() {
            if !closed.contains(&i) && closed_within(s, Duration::from_millis(20)).await {
                closed.push(i);
            }
        }
    }
    closed.sort_unstable();
    assert_eq!(closed, [0, 1, 2], "closed of the 10 held connections");
}

#[tokio::test]
async fn at_the_cap_busy_connections_are_kept_and_a_new_one_gets_503() {
    let gw = gateway(FAR, FAR, 4, |_| {}).await;
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string();

    // Four requests being served, each waiting for its body: hyper answers `100 Continue` only
    // when the gateway reads the body, which proves the request is in flight.
    let mut busy = Vec::new();
    for i in 0..4 {
        let mut s = connect(&gw).await;
        let head = format!(
            "POST /rpc HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
            gw.admin_token,
            body.len()
        );
        s.write_all(head.as_bytes()).await.expect("send");
        let r = read_response(&mut s).await;
        assert!(r.starts_with("HTTP/1.1 100"), "busy connection {i}: {r:?}");
        busy.push(s);
    }

    // The newcomer sends nothing, so the refusal is all there is on its socket.
    let mut new = connect(&gw).await;
    let r = read_response(&mut new).await;
    assert!(
        r.starts_with("HTTP/1.1 503"),
        "a new connection while all are busy: {r:?}"
    );

    // Every busy request is still served once its body arrives.
    for s in &mut busy {
        s.write_all(body.as_bytes()).await.expect("send the body");
        let r = read_response(s).await;
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    }
}

#[tokio::test]
async fn the_largest_bounds_are_accepted_and_serve_as_no_bound() {
    // u64::MAX milliseconds is past any clock: no deadline, and nothing overflows.
    let gw = gateway(u64::MAX, u64::MAX, u32::MAX, |s| {
        s.body_read_timeout_ms = u64::MAX;
    })
    .await;
    let mut s = connect(&gw).await;
    health(&mut s).await;
    health(&mut s).await;
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let head = format!(
        "POST /rpc HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        gw.admin_token,
        body.len()
    );
    s.write_all(head.as_bytes()).await.expect("send the head");
    s.write_all(body.as_bytes()).await.expect("send the body");
    let r = read_response(&mut s).await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
}

/// The head of `POST /rpc` announcing a body of `length` bytes.
fn rpc_head(gw: &Embedded, length: usize) -> String {
    format!(
        "POST /rpc HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n",
        gw.admin_token
    )
}

#[tokio::test]
async fn a_body_that_stalls_or_drips_is_cut_at_the_body_read_bound() {
    // Only the body-read bound can end these: the head is complete, so the connection is busy.
    let gw = gateway(FAR, FAR, NO_CAP, |s| s.body_read_timeout_ms = 300).await;
    let body = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;

    // Half the body, then nothing: 408, and the connection closes.
    let mut stalled = connect(&gw).await;
    stalled
        .write_all(rpc_head(&gw, body.len()).as_bytes())
        .await
        .expect("send the head");
    stalled.write_all(&body[..10]).await.expect("send a part");
    let r = read_response(&mut stalled).await;
    assert!(r.starts_with("HTTP/1.1 408"), "a stalled body: {r:?}");
    assert!(r.to_ascii_lowercase().contains("connection: close"), "{r}");
    assert!(
        closed_within(&mut stalled, LIVENESS).await,
        "the connection stayed open after the 408"
    );

    // A byte every 50 ms keeps arriving, but the bound runs from the complete head.
    let mut drip = connect(&gw).await;
    drip.write_all(rpc_head(&gw, 1000).as_bytes())
        .await
        .expect("send the head");
    // Cut: the 408 read, or the connection closed (a reset can overtake the answer while the
    // client is still writing).
    let mut cut = None;
    for _ in 0..1000 {
        if drip.write_all(b" ").await.is_err() {
            cut = Some(String::new());
            break;
        }
        let mut probe = [0u8; 4096];
        match tokio::time::timeout(Duration::from_millis(50), drip.read(&mut probe)).await {
            Ok(Ok(0) | Err(_)) => cut = Some(String::new()),
            Ok(Ok(n)) => cut = Some(String::from_utf8_lossy(&probe[..n]).into_owned()),
            Err(_) => {}
        }
        if cut.is_some() {
            break;
        }
    }
    let answer = cut.expect("a body dripped over 1000 x 50 ms was never cut");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer:?}"
    );

    // A body that arrives in time is served, on the same gateway.
    let mut prompt = connect(&gw).await;
    prompt
        .write_all(rpc_head(&gw, body.len()).as_bytes())
        .await
        .expect("send the head");
    tokio::time::sleep(Duration::from_millis(50)).await;
    prompt.write_all(body).await.expect("send the body");
    let r = read_response(&mut prompt).await;
    assert!(r.starts_with("HTTP/1.1 200"), "a prompt body: {r}");
}

#[tokio::test]
async fn out_of_descriptors_below_the_cap_the_longest_idle_make_room() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    // The real binary with 64 descriptors and the default cap of 10 000: the descriptors run
    // out first.
    let mut child = tokio::process::Command::new("/bin/sh")
        .args([
            "-c",
            "ulimit -n 64 && exec \"$0\" --port 0",
            env!("CARGO_BIN_EXE_mcpgw-reference"),
        ])
        .env_clear()
        .env("JWT_SECRET_KEY", "transport-limits")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let authority = tokio::time::timeout(LIVENESS, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(url) = line.strip_prefix("URL=http://") {
                return url.to_owned();
            }
        }
        panic!("the binary printed no URL");
    })
    .await
    .expect("the binary starts within the liveness bound");

    // More kept-alive connections than descriptors, each served once.
    let mut held = Vec::new();
    for _ in 0..80 {
        let mut s = TcpStream::connect(&authority).await.expect("connect");
        health(&mut s).await;
        held.push(s);
    }
    let mut new = TcpStream::connect(&authority).await.expect("connect");
    health(&mut new).await;
    assert!(
        closed_within(&mut held[0], LIVENESS).await,
        "the longest idle connection was not the one closed"
    );
}
