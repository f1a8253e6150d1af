//! The README's promise: the binary runs with no setup. Start the real `mcpgw-reference` on an
//! ephemeral port (`--port 0`), read the URL and token it prints, and get 200 from `/health`.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

/// `GET path` over a fresh connection; the whole response as text.
async fn http_get(authority: &str, path: &str, token: Option<&str>) -> String {
    let mut stream = tokio::net::TcpStream::connect(authority)
        .await
        .expect("connect to the binary");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\n{auth}Connection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the request");
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut buf))
        .await
        .expect("the binary answers")
        .expect("read the response");
    String::from_utf8_lossy(&buf).into_owned()
}

/// The running binary and what it printed.
struct Running {
    _child: tokio::process::Child,
    /// `127.0.0.1:PORT`
    authority: String,
    url: String,
    token: String,
    /// The `JWT_SECRET_KEY=` line, when the secret was generated.
    generated_secret: Option<String>,
}

/// Start the binary with `--port 0`, only `env` in its environment, and read its banner.
async fn start(env: &[(&str, &str)]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcpgw-reference"))
        .args(["--port", "0"])
        // No settings from the caller's environment: the defaults must be enough.
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let (mut url, mut token, mut secret) = (None, None, None);
    let read = async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(v) = line.strip_prefix("URL=") {
                url = Some(v.to_owned());
            } else if let Some(v) = line.strip_prefix("TOKEN=") {
                token = Some(v.to_owned());
            } else if let Some(v) = line.strip_prefix("JWT_SECRET_KEY=") {
                secret = Some(v.to_owned());
            }
            // The banner ends with the secret line when one was generated, else with TOKEN=.
            let generated = !env.iter().any(|(k, _)| *k == "JWT_SECRET_KEY");
            if url.is_some() && token.is_some() && (secret.is_some() || !generated) {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the binary prints its URL");
    let url = url.expect("a URL= line");
    let rest = url
        .strip_prefix("http://127.0.0.1:")
        .unwrap_or_else(|| panic!("URL= is http://127.0.0.1:PORT..., got {url}"));
    let port: u16 = rest
        .split('/')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("URL= carries a port: {url}"));
    assert_ne!(port, 0, "the real port is printed, not 0");
    Running {
        _child: child,
        authority: format!("127.0.0.1:{port}"),
        url,
        token: token.expect("a TOKEN= line"),
        generated_secret: secret,
    }
}

#[tokio::test]
async fn binary_starts_with_zero_setup_and_serves_health() {
    let run = start(&[]).await;
    assert!(
        run.generated_secret
            .as_deref()
            .is_some_and(|s| s.contains("generated")),
        "a generated secret is announced"
    );
    let health = http_get(&run.authority, "/health", None).await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.contains(r#"{"status":"healthy"}"#), "{health}");
    // The printed token is the administrator's and works.
    let servers = http_get(&run.authority, "/servers", Some(&run.token)).await;
    assert!(servers.starts_with("HTTP/1.1 200"), "{servers}");
    let refused = http_get(&run.authority, "/servers", None).await;
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
}

#[tokio::test]
async fn binary_reads_contextforges_setting_names_from_the_environment() {
    let run = start(&[
        ("JWT_SECRET_KEY", "env-secret"),
        ("PLATFORM_ADMIN_EMAIL", "boss@example.com"),
        ("APP_ROOT_PATH", "/gw"),
        ("MCP_REQUIRE_AUTH", "false"),
        ("TRUSTED_PROXIES", "10.0.0.0/8,127.0.0.1"),
    ])
    .await;
    assert!(run.url.ends_with("/gw"), "{}", run.url);
    assert!(
        run.generated_secret.is_none(),
        "a given secret is not replaced"
    );
    // The token is signed with JWT_SECRET_KEY and speaks for PLATFORM_ADMIN_EMAIL.
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&["mcpgateway-api"]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        &run.token,
        &jsonwebtoken::DecodingKey::from_secret(b"env-secret"),
        &validation,
    )
    .expect("the token verifies with JWT_SECRET_KEY")
    .claims;
    assert_eq!(claims["sub"], "boss@example.com");
    let health = http_get(&run.authority, "/gw/health", None).await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let servers = http_get(&run.authority, "/gw/servers", Some(&run.token)).await;
    assert!(servers.starts_with("HTTP/1.1 200"), "{servers}");
}

#[tokio::test]
async fn binary_refuses_cluster_urls_it_cannot_serve_yet() {
    let status = Command::new(env!("CARGO_BIN_EXE_mcpgw-reference"))
        .args(["--port", "0"])
        .env_clear()
        .env("DATABASE_URL", "postgres://127.0.0.1:9/none")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .expect("the binary runs");
    assert!(
        !status.success(),
        "an unsupported DATABASE_URL must not be ignored silently"
    );
}

#[test]
fn defaults_are_contextforges_host_and_port() {
    use clap::Parser;
    // `try_parse_from` also reads the environment; only assert when the caller set neither.
    let s = mcpgw_reference::Settings::try_parse_from(["mcpgw-reference"]).expect("no flags parse");
    if std::env::var_os("PORT").is_none() {
        assert_eq!(s.port, 4444);
    }
    if std::env::var_os("HOST").is_none() {
        assert_eq!(s.host.to_string(), "127.0.0.1");
    }
    assert_eq!(
        s.max_body_bytes,
        std::env::var("MAX_BODY_BYTES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(4 * 1024 * 1024)
    );
}
