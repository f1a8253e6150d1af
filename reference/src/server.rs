//! Serving `app` on a socket: our own accept loop over hyper, so that the peer address reaches
//! the handlers (D3) and the request-head limit answers 431 instead of dropping the connection.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Serve until `shutdown` completes; connections already open finish on their own.
pub(crate) async fn serve_until(
    listener: TcpListener,
    app: Router,
    max_header_bytes: usize,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                // Out of file descriptors and the like: wait and retry rather than die.
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let _ = stream.set_nodelay(true);
        let svc = app
            .clone()
            .map_request(move |req: http::Request<hyper::body::Incoming>| {
                let mut req = req.map(axum::body::Body::new);
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                req
            });
        tokio::spawn(async move {
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .max_buf_size(max_header_bytes.max(8192))
                .keep_alive(true);
            let conn =
                builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc));
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!("connection from {peer} ended: {e}");
            }
        });
    }
}

/// Serve forever.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    max_header_bytes: usize,
) -> std::io::Result<()> {
    serve_until(listener, app, max_header_bytes, std::future::pending()).await
}
