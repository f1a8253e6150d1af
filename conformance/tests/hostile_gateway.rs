//! The harness against gateways that misbehave on purpose: a test server (a bare `TcpListener`
//! answering raw bytes) answers the probe healthily and every request under test with one
//! hostile behaviour: a huge body, an endless chunked body, a slow drip, garbage, an early close,
//! a lying `content-length`, a redirect loop, deeply nested JSON, invalid UTF-8 in a header.
//! Against each, a run of a few scenarios must end by itself with a verdict that names what went
//! wrong (the limit, when one was hit), exit 1 rather than crash, and keep its memory bounded.
//! Times and memory are asserted loosely (bounds far above what a healthy run takes); the
//! measured figures are in README.md ("Hostile gateways").

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BIN: &str = env!("CARGO_BIN_EXE_mcpgw-conformance");

/// A bound no run here comes near (each takes seconds); exceeding it means something hung.
const TIME_BOUND: Duration = Duration::from_secs(60);

/// A bound on the harness's peak resident memory; collecting one 200 MB body whole (what the
/// harness once did) would pass it.
const MEMORY_BOUND_KIB: u64 = 512 * 1024;

/// What the test server does with a request under test.
#[derive(Debug, Clone, Copy)]
enum Hostile {
    /// `content-length` 200 MiB, and as much of it as the client will take.
    HugeBody,
    /// A chunked body that never ends.
    EndlessChunked,
    /// A correct response, one byte per second.
    SlowDrip,
    /// Bytes that are not HTTP, then close.
    Garbage,
    /// Close without a byte.
    EarlyClose,
    /// `content-length: 1000`, 8 bytes, then the connection held open.
    LengthLongerHeld,
    /// `content-length: 1000`, 8 bytes, then close.
    LengthLongerClosed,
    /// `content-length: 2` followed by 100 bytes more.
    LengthShorter,
    /// 301 to the very same URL.
    RedirectLoop,
    /// 100 000 `[`.
    DeepJson,
    /// A header value with bytes that are not UTF-8.
    BadUtf8Header,
    /// A JSON body of this many bytes (to test the limits' settings).
    Sized(usize),
}

/// A test server; `hits` counts requests under test (not probes).
struct Server {
    url: String,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(behaviour: Hostile) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                // A client gone mid-answer is what most of these behaviours end with.
                let _ = answer(stream, behaviour, &counter).await;
            });
        }
    });
    Server { url, hits, task }
}

/// Read one request; its path.
async fn read_request(s: &mut TcpStream) -> std::io::Result<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body_read = buf.len() - head_end;
    while body_read < length {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body_read += n;
    }
    Ok(head.split(' ').nth(1).unwrap_or("/").to_owned())
}

/// Wait until the client closes (or a minute passes, far after any run's deadline).
async fn hold(s: &mut TcpStream) {
    let mut sink = [0u8; 1024];
    let _ = tokio::time::timeout(Duration::from_secs(60), async {
        while matches!(s.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

async fn answer(mut s: TcpStream, behaviour: Hostile, hits: &AtomicUsize) -> std::io::Result<()> {
    let path = read_request(&mut s).await?;
    if path.starts_with("/mcp") {
        // The target's reachability probe: a healthy answer, so that the run gets to its steps.
        let body = br#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"hostile","version":"0"}}}"#;
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).await?;
        return s.write_all(body).await;
    }
    hits.fetch_add(1, Ordering::Relaxed);
    const JSON_HEAD: &str = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n";
    match behaviour {
        Hostile::HugeBody => {
            let total: usize = 200 * 1024 * 1024;
            s.write_all(format!("{JSON_HEAD}content-length: {total}\r\n\r\n").as_bytes())
                .await?;
            let block = vec![b'7'; 64 * 1024];
            let mut sent = 0;
            while sent < total {
                s.write_all(&block).await?;
                sent += block.len();
            }
        }
        Hostile::EndlessChunked => {
            s.write_all(format!("{JSON_HEAD}transfer-encoding: chunked\r\n\r\n").as_bytes())
                .await?;
            let mut chunk = format!("{:x}\r\n", 64 * 1024).into_bytes();
            chunk.extend(std::iter::repeat_n(b'x', 64 * 1024));
            chunk.extend_from_slice(b"\r\n");
            loop {
                s.write_all(&chunk).await?;
            }
        }
        Hostile::SlowDrip => {
            let whole = format!("{JSON_HEAD}content-length: 2\r\n\r\n{{}}");
            for b in whole.bytes() {
                s.write_all(&[b]).await?;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        Hostile::Garbage => {
            s.write_all(&b"\x00\xffNOT HTTP AT ALL\x13\x37\r\n".repeat(64))
                .await?;
        }
        Hostile::EarlyClose => {}
        Hostile::LengthLongerHeld | Hostile::LengthLongerClosed => {
            s.write_all(format!("{JSON_HEAD}content-length: 1000\r\n\r\n{{\"a\": 1}}").as_bytes())
                .await?;
            if matches!(behaviour, Hostile::LengthLongerHeld) {
                hold(&mut s).await;
            }
        }
        Hostile::LengthShorter => {
            let extra = "x".repeat(100);
            s.write_all(format!("{JSON_HEAD}content-length: 2\r\n\r\n{{}}{extra}").as_bytes())
                .await?;
            hold(&mut s).await;
        }
        Hostile::RedirectLoop => {
            s.write_all(
                format!(
                    "HTTP/1.1 301 Moved Permanently\r\nlocation: {path}\r\ncontent-length: 0\r\n\r\n"
                )
                .as_bytes(),
            )
            .await?;
            hold(&mut s).await;
        }
        Hostile::DeepJson => {
            let body = "[".repeat(100_000);
            s.write_all(
                format!("{JSON_HEAD}content-length: {}\r\n\r\n{body}", body.len()).as_bytes(),
            )
            .await?;
        }
        Hostile::BadUtf8Header => {
            let mut head = JSON_HEAD.as_bytes().to_vec();
            head.extend_from_slice(b"x-bad: caf\xe9 \xff\xfe\xc3(\r\ncontent-length: 2\r\n\r\n{}");
            s.write_all(&head).await?;
        }
        Hostile::Sized(n) => {
            let body = format!("\"{}\"", "y".repeat(n.saturating_sub(2)));
            s.write_all(
                format!("{JSON_HEAD}content-length: {}\r\n\r\n{body}", body.len()).as_bytes(),
            )
            .await?;
        }
    }
    s.shutdown().await
}

/// A manifest for the test server: `/mcp` is probed, `${endpoints.rpc}` is where scenarios go.
fn manifest(dir: &Path, limits: &str) -> PathBuf {
    let path = dir.join("hostile.yaml");
    std::fs::write(
        &path,
        format!(
            "name: hostile\n\
             endpoints: {{mcp: /mcp, rpc: /hostile}}\n\
             provisioning:\n  static: {{}}\n{limits}"
        ),
    )
    .unwrap();
    path
}

/// How the harness sends the requests under test: through hyper, or written by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Hyper,
    Raw,
}

impl Via {
    /// The path of the requests under test.
    fn path(self) -> &'static str {
        match self {
            Via::Hyper => "${endpoints.rpc}",
            // A space: `http::Uri` refuses the target, so the client writes the request by hand.
            Via::Raw => "${endpoints.rpc}/raw target",
        }
    }

    fn transport(self) -> &'static str {
        match self {
            Via::Hyper => "hyper",
            Via::Raw => "raw",
        }
    }
}

/// `count` scenarios of two steps each, every step a JSON-RPC `ping` expecting a result.
fn scenarios(dir: &Path, count: usize, via: Via) -> PathBuf {
    let root = dir.join("scenarios");
    std::fs::create_dir_all(root.join("rpc")).unwrap();
    for i in 0..count {
        let step = |name: &str| {
            format!(
                "  - name: {name}\n    request: {{method: POST, path: '{}', \
                 json: {{jsonrpc: '2.0', id: 1, method: ping}}}}\n    \
                 expect: {{status: 200, json: {{result: {{}}}}}}\n",
                via.path()
            )
        };
        std::fs::write(
            root.join(format!("rpc/hostile-{i}.yaml")),
            format!(
                "id: rpc/hostile-{i}\ntitle: a ping answered by a hostile gateway\n\
                 spec: [hostile]\nsteps:\n{}{}",
                step("first"),
                step("second")
            ),
        )
        .unwrap();
    }
    root
}

/// What a run did.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    elapsed: Duration,
    /// Peak resident set size of the harness, as last seen in `/proc` (KiB).
    peak_kib: u64,
    output: String,
    report: Value,
    report_dir: PathBuf,
}

impl Run {
    /// Every check of every scenario: (scenario verdict, check verdict, messages, transcript).
    fn checks(&self) -> Vec<(&str, &str, Vec<String>, &Value)> {
        let mut out = Vec::new();
        for s in self.report["scenarios"].as_array().unwrap() {
            for c in s["checks"].as_array().unwrap() {
                let messages = c["messages"]
                    .as_array()
                    .map(|m| m.iter().map(|m| m.as_str().unwrap().to_owned()).collect())
                    .unwrap_or_default();
                out.push((
                    s["verdict"].as_str().unwrap(),
                    c["verdict"].as_str().unwrap(),
                    messages,
                    &c["transcript"],
                ));
            }
        }
        out
    }

    /// The run ended by itself, as a run with failures, in bounded time and memory.
    fn assert_bounded_failure(&self) {
        assert_eq!(self.code, Some(1), "{self:#?}");
        assert!(self.elapsed < TIME_BOUND, "{self:#?}");
        assert!(!self.output.contains("panicked"), "{}", self.output);
        if self.peak_kib > 0 {
            assert!(self.peak_kib < MEMORY_BOUND_KIB, "{self:#?}");
        }
        assert!(self.report_dir.join("junit.xml").exists());
    }
}

/// The peak resident set size of a live process, in KiB (0 where `/proc` does not say).
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Run the harness's `run` against `url` with `args` added; its exit, time, memory and report.
async fn run(url: &str, manifest: &Path, scenarios: &Path, args: &[&str]) -> Run {
    let dir = manifest.parent().unwrap();
    let report_dir = dir.join("reports");
    let (stdout, stderr) = (dir.join("stdout.txt"), dir.join("stderr.txt"));
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg("run")
        .arg("--quiet")
        .arg("--no-snapshots")
        .arg("--scenarios")
        .arg(scenarios)
        .arg("--target")
        .arg(url)
        .arg("--target-file")
        .arg(manifest)
        .arg("--report-dir")
        .arg(&report_dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .kill_on_drop(true);
    for (k, _) in std::env::vars() {
        if k.starts_with("MCPGW_") {
            cmd.env_remove(k);
        }
    }
    let started = Instant::now();
    let mut child = cmd.spawn().expect("the harness starts");
    let pid = child.id().unwrap_or(0);
    let mut peak_kib = 0;
    let status = loop {
        peak_kib = peak_kib.max(peak_rss_kib(pid));
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > TIME_BOUND * 2 {
            child.kill().await.unwrap();
            panic!("the run did not end within {:?}", TIME_BOUND * 2);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let elapsed = started.elapsed();
    let output = format!(
        "{}{}",
        std::fs::read_to_string(&stdout).unwrap_or_default(),
        std::fs::read_to_string(&stderr).unwrap_or_default()
    );
    let report = std::fs::read_to_string(report_dir.join("report.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    Run {
        code: status.code(),
        elapsed,
        peak_kib,
        output,
        report,
        report_dir,
    }
}

/// Two scenarios of two steps against `behaviour`, sent `via` hyper or by hand, with a 2 s
/// request deadline; every check must FAIL with a message containing `message`.
async fn every_check_fails(behaviour: Hostile, via: Via, message: &str) -> Run {
    let server = serve(behaviour).await;
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), "");
    let s = scenarios(dir.path(), 2, via);
    let r = run(&server.url, &m, &s, &["--timeout", "2"]).await;
    r.assert_bounded_failure();
    let checks = r.checks();
    assert_eq!(checks.len(), 4, "{r:#?}");
    for (scenario, check, messages, transcript) in &checks {
        assert_eq!((*scenario, *check), ("FAIL", "FAIL"), "{messages:?}");
        assert!(
            messages.iter().any(|m| m.contains(message)),
            "{via:?}: expected {message:?} in {messages:?}"
        );
        assert_eq!(transcript["transport"], via.transport());
    }
    // Every step sent one request: nothing was retried or followed.
    assert_eq!(server.hits.load(Ordering::Relaxed), 4);
    r
}

/// Both ways of sending, each with the message it gives.
async fn both_fail(behaviour: Hostile, hyper: &str, raw: &str) -> [Run; 2] {
    [
        every_check_fails(behaviour, Via::Hyper, hyper).await,
        every_check_fails(behaviour, Via::Raw, raw).await,
    ]
}

/// A fuzz campaign against each hostile behaviour ends in bounded time and memory with a
/// finding that says what happened (a limit, or what broke), never a crash or a hang; shrinking
/// a finding on a gateway that makes every attempt wait is bounded by --max-shrink-secs.
#[tokio::test(flavor = "multi_thread")]
async fn a_fuzz_campaign_against_a_hostile_gateway_is_bounded() {
    for (behaviour, says) in [
        (Hostile::HugeBody, "--max-response-bytes"),
        (Hostile::EndlessChunked, "--max-response-bytes"),
        (Hostile::SlowDrip, "within"),
        (Hostile::Garbage, "no usable response"),
        (Hostile::EarlyClose, "no usable response"),
    ] {
        let server = serve(behaviour).await;
        let dir = tempfile::tempdir().unwrap();
        let manifest = manifest(dir.path(), "");
        let started = Instant::now();
        let mut child = tokio::process::Command::new(BIN)
            .args([
                "fuzz",
                "--quiet",
                "--no-write",
                "--keep-going",
                "--cases",
                "12",
            ])
            .args(["--seed", "1", "--timeout", "1", "--max-shrink-secs", "3"])
            .args(["--target", &server.url, "--target-file"])
            .arg(&manifest)
            .env_remove("MCPGW_BASELINE")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id().unwrap();
        let mut peak = 0;
        let status = loop {
            peak = peak.max(peak_rss_kib(pid));
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(
                started.elapsed() < TIME_BOUND,
                "{behaviour:?}: the campaign hung"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let out = child.wait_with_output().await.unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(status.code(), Some(1), "{behaviour:?}: {text}");
        assert!(
            text.contains("breaks no-response") && text.contains(says),
            "{behaviour:?}: the finding says what happened:\n{text}"
        );
        assert!(peak < MEMORY_BOUND_KIB, "{behaviour:?}: peak {peak} KiB");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_huge_body_is_cut_at_the_size_cap() {
    let cut = "response body exceeded --max-response-bytes 16777216 (content-length announces \
               209715200 bytes)";
    for r in both_fail(Hostile::HugeBody, cut, cut).await {
        // The transcript keeps the first part of the body, bounded.
        for (_, _, _, transcript) in r.checks() {
            let body = transcript["response"]["body"].as_str().unwrap();
            assert!(
                body.len() <= 64 * 1024 && body.starts_with("7777"),
                "{body:.80}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_chunked_body_is_cut_at_the_size_cap() {
    let cut = "response body exceeded --max-response-bytes 16777216 after ";
    for r in both_fail(Hostile::EndlessChunked, cut, cut).await {
        for (_, _, _, transcript) in r.checks() {
            let body = transcript["response"]["body"].as_str().unwrap();
            assert_eq!(body.len(), 64 * 1024);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_drip_meets_the_request_deadline() {
    let late = "no response head within --timeout 2 s";
    both_fail(Hostile::SlowDrip, late, late).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_is_no_response() {
    both_fail(
        Hostile::Garbage,
        "no response: failed to exchange HTTP messages: invalid HTTP version parsed",
        "no response: failed to exchange HTTP messages: malformed response: invalid HTTP version",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_early_close_is_no_response() {
    both_fail(
        Hostile::EarlyClose,
        "no response: failed to exchange HTTP messages: connection closed before message completed",
        "no response: failed to exchange HTTP messages: incomplete response head (0 bytes before \
         the connection closed)",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_content_length_longer_than_the_body_meets_the_deadline_or_the_close() {
    let late = "response body not complete (8 bytes received) within --timeout 2 s";
    for r in both_fail(Hostile::LengthLongerHeld, late, late).await {
        for (_, _, _, transcript) in r.checks() {
            assert_eq!(transcript["response"]["body"], "{\"a\": 1}");
        }
    }
    both_fail(
        Hostile::LengthLongerClosed,
        "incomplete response: failed to exchange HTTP messages: error reading a body from \
         connection (after 8 body bytes)",
        "incomplete response: failed to exchange HTTP messages: the connection closed after 8 of \
         the 1000 body bytes content-length announced",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_content_length_shorter_than_the_body_is_read_as_announced() {
    // `{}` is JSON without a result: an ordinary failure, judged on the announced 2 bytes.
    let judged = "json: at /result: expected an object";
    for r in both_fail(Hostile::LengthShorter, judged, judged).await {
        for (_, _, _, transcript) in r.checks() {
            assert_eq!(transcript["response"]["body"], "{}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_loop_is_not_followed() {
    let judged = "status: expected 200, got 301";
    both_fail(Hostile::RedirectLoop, judged, judged).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deeply_nested_json_is_not_json() {
    // serde_json stops at 128 levels: nothing recurses 100 000 deep.
    let judged = "body: expected JSON, got \"[[[[";
    both_fail(Hostile::DeepJson, judged, judged).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_utf8_in_a_header_value_is_shown_replaced() {
    let judged = "json: at /result: expected an object";
    for r in both_fail(Hostile::BadUtf8Header, judged, judged).await {
        for (_, _, _, transcript) in r.checks() {
            let headers = transcript["response"]["headers"].as_array().unwrap();
            let bad = headers.iter().find(|h| h[0] == "x-bad").unwrap();
            assert!(bad[1].as_str().unwrap().contains('\u{fffd}'), "{bad}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scenario_over_its_deadline_reports_its_remaining_steps() {
    let server = serve(Hostile::SlowDrip).await;
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), "");
    let s = scenarios(dir.path(), 2, Via::Hyper);
    let r = run(
        &server.url,
        &m,
        &s,
        &["--timeout", "30", "--scenario-timeout", "2"],
    )
    .await;
    r.assert_bounded_failure();
    let checks = r.checks();
    assert_eq!(checks.len(), 4, "{r:#?}");
    for pair in checks.chunks(2) {
        let (first, second) = (&pair[0], &pair[1]);
        assert_eq!(first.1, "FAIL");
        assert!(
            first.2[0].contains("no response head within --scenario-timeout 2 s"),
            "{:?}",
            first.2
        );
        assert_eq!(second.1, "FAIL");
        assert_eq!(second.2, ["not run: --scenario-timeout 2 s had passed"]);
    }
    // The second step of each scenario was never sent.
    assert_eq!(server.hits.load(Ordering::Relaxed), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_run_deadline_ends_the_run_with_reports_and_exit_1() {
    let server = serve(Hostile::SlowDrip).await;
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), "");
    let s = scenarios(dir.path(), 3, Via::Hyper);
    let r = run(
        &server.url,
        &m,
        &s,
        &["--jobs", "1", "--timeout", "30", "--run-timeout", "2"],
    )
    .await;
    r.assert_bounded_failure();
    assert!(
        r.output.contains(
            "the run deadline passed (--run-timeout 2 s): 3 of 3 scenario(s) stopped or not run"
        ),
        "{}",
        r.output
    );
    let verdicts: Vec<&str> = r.report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["FAIL", "UNTESTABLE", "UNTESTABLE"], "{r:#?}");
    let first = &r.checks()[0];
    assert!(
        first.2[0].contains("within --run-timeout 2 s"),
        "{:?}",
        first.2
    );
    assert_eq!(
        r.report["scenarios"][1]["reason"],
        "not run: --run-timeout 2 s had passed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn manifest_limits_apply_and_flags_override_them() {
    let server = serve(Hostile::Sized(2000)).await;
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(
        dir.path(),
        "limits: {max_response_bytes: 1024, request_timeout_ms: 5000}\n",
    );
    let s = scenarios(dir.path(), 1, Via::Hyper);
    let r = run(&server.url, &m, &s, &[]).await;
    r.assert_bounded_failure();
    for (_, _, messages, _) in r.checks() {
        assert_eq!(
            messages,
            [
                "response body exceeded --max-response-bytes 1024 (content-length announces 2000 bytes)"
            ]
        );
    }
    // The flag wins: the body is read whole, and judged (a string is no JSON-RPC result).
    let r = run(&server.url, &m, &s, &["--max-response-bytes", "4096"]).await;
    r.assert_bounded_failure();
    for (_, _, messages, transcript) in r.checks() {
        assert!(
            messages.iter().all(|m| !m.contains("exceeded")),
            "{messages:?}"
        );
        assert_eq!(transcript["response"]["body"].as_str().unwrap().len(), 2000);
    }
}

#[test]
fn help_shows_every_limit_with_its_default_and_environment_variable() {
    let out = std::process::Command::new(BIN)
        .args(["run", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for text in [
        "--timeout <SECONDS>",
        "MCPGW_TIMEOUT",
        "else 15",
        "--max-response-bytes <BYTES>",
        "MCPGW_MAX_RESPONSE_BYTES",
        "else 16777216",
        "--scenario-timeout <SECONDS>",
        "MCPGW_SCENARIO_TIMEOUT",
        "else 120",
        "--run-timeout <SECONDS>",
        "MCPGW_RUN_TIMEOUT",
        "else 3600",
    ] {
        assert!(help.contains(text), "{text:?} not in:\n{help}");
    }
}
