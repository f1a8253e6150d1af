//! Calls the gateway makes to what sits behind it: REST tools and upstream MCP servers.
//!
//! The client's own credentials and headers are never passed on; only a tool's configured
//! headers are sent.

pub(crate) mod mcp;
pub(crate) mod rest;

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// How long one upstream exchange may take.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest upstream response body accepted.
const MAX_UPSTREAM_BODY: usize = 16 * 1024 * 1024;

/// Why an upstream call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum UpstreamError {
    #[error("invalid upstream URL {0:?}")]
    BadUrl(String),
    #[error("upstream unreachable: {0}")]
    Connect(String),
    #[error("upstream timed out")]
    Timeout,
    #[error("upstream answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("upstream protocol error: {0}")]
    Protocol(String),
}

/// A complete upstream response.
#[derive(Debug, Clone)]
pub(crate) struct UpstreamResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A pooled HTTP/1.1 client for plain `http://` upstreams.
#[derive(Clone)]
pub(crate) struct UpstreamClient {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl std::fmt::Debug for UpstreamClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UpstreamClient")
    }
}

impl Default for UpstreamClient {
    fn default() -> Self {
        Self::new()
    }
}

impl UpstreamClient {
    pub(crate) fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        connector.set_nodelay(true);
        UpstreamClient {
            client: Client::builder(TokioExecutor::new()).build(connector),
        }
    }

    /// Send one request and read the whole response.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(String, String)],
        body: Bytes,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let uri: http::Uri = url
            .parse()
            .map_err(|_| UpstreamError::BadUrl(url.to_owned()))?;
        if uri.scheme_str() != Some("http") {
            return Err(UpstreamError::BadUrl(format!(
                "{url} (only http:// upstreams are supported)"
            )));
        }
        let mut builder = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let req = builder
            .body(Full::new(body))
            .map_err(|e| UpstreamError::Protocol(e.to_string()))?;
        let exchange = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| UpstreamError::Connect(e.to_string()))?;
            let (parts, body) = resp.into_parts();
            let body = http_body_util::Limited::new(body, MAX_UPSTREAM_BODY)
                .collect()
                .await
                .map_err(|e| UpstreamError::Protocol(e.to_string()))?
                .to_bytes();
            Ok(UpstreamResponse {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(UPSTREAM_TIMEOUT, exchange)
            .await
            .map_err(|_| UpstreamError::Timeout)?
    }
}
