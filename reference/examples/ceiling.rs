//! The performance ceiling for `ci/bench`: a bare hyper server, configured like the gateway's
//! own accept loop, that answers every request with a fixed JSON body of the size of a
//! `tools/list` answer. The gateway's throughput is reported as a fraction of this one's.
//!
//! `cargo run --release -p mcpgw-reference --example ceiling -- PORT`

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};

const BODY: &str = r#"{"jsonrpc":"2.0","result":{"tools":[{"name":"t1","inputSchema":{"type":"object","properties":{}}},{"name":"t2","inputSchema":{"type":"object","properties":{}}},{"name":"t3","inputSchema":{"type":"object","properties":{}}}]},"id":1}"#;

async fn answer(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // Read the body, as the gateway does; an unread body makes hyper close the connection.
    let _ = req.into_body().collect().await;
    let mut r = Response::new(Full::new(Bytes::from_static(BODY.as_bytes())));
    r.headers_mut().insert(
        "content-type",
        "application/json".parse().expect("static header"),
    );
    Ok(r)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(4799);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("URL=http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let mut builder = http1::Builder::new();
            builder.timer(TokioTimer::new()).keep_alive(true);
            let _ = builder
                .serve_connection(TokioIo::new(stream), service_fn(answer))
                .await;
        });
    }
}
