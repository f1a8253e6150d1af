//! Holding connections to the bounds of `limits`: the table of open connections (the cap and
//! who makes room), and per connection the socket and response-body wrappers that report
//! activity, and the watcher that closes the connection when a bound passes.
//!
//! hyper 1.x's own `header_read_timeout` is not used: it runs from the moment hyper waits for a
//! head, connection start and the end of each response included, so it would cut idle
//! keep-alive connections at the header bound and leave no separate idle bound. Here the two
//! phases are timed apart (see `limits`).

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::limits::{Activity, Bounds, Verdict, pick_victim, verdict};

/// The open connections, at most `max` of them.
///
/// Policy when full: a new connection closes the connection that has had no request in flight
/// the longest (idle keep-alive connections and half-sent heads alike) and takes its place, so
/// any number of idle or stalled clients cannot keep a new one out. Only when every connection
/// is busy serving a request (SSE streams included) is the new one refused, with a 503 at once:
/// cutting a request in flight would lose work, and making the newcomer wait in the listen
/// backlog would hide the refusal. An evicted connection leaves the table at once and closes as
/// soon as its task runs (or after its response, if a request raced in), so the sockets open can
/// exceed `max` only by connections already closing.
#[derive(Debug)]
pub(super) struct Registry {
    max: usize,
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    next_id: u64,
    open: HashMap<u64, Arc<Shared>>,
}

/// What a connection's task, its socket wrapper and its response bodies share.
#[derive(Debug)]
pub(super) struct Shared {
    activity: Mutex<Activity>,
    /// Woken on eviction; the time bounds need no wake-up (see `limits::verdict`).
    evicted: Notify,
}

impl Shared {
    fn activity(&self) -> MutexGuard<'_, Activity> {
        // Every change is a few field writes that cannot panic half-way: a poisoned lock still
        // holds a consistent value.
        self.activity.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn evict(&self) {
        self.activity().evict();
        self.evicted.notify_one();
    }
}

impl Registry {
    pub(super) fn new(max: usize) -> Arc<Self> {
        Arc::new(Registry {
            max: max.max(1),
            table: Mutex::new(Table::default()),
        })
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // Inserts and removes only: a poisoned table is still consistent.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for a connection accepted now, making room if the table is full; `None` when
    /// every open connection is busy.
    pub(super) fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut table = self.table();
        if table.open.len() >= self.max && !evict_longest_idle(&mut table) {
            return None;
        }
        table.next_id += 1;
        let id = table.next_id;
        let shared = Arc::new(Shared {
            activity: Mutex::new(Activity::new(Instant::now())),
            evicted: Notify::new(),
        });
        table.open.insert(id, shared.clone());
        Some(Slot {
            id,
            shared,
            registry: self.clone(),
        })
    }

    /// Close the longest-idle connection, when the process has run out of file descriptors
    /// below the cap; `false` when every connection is busy.
    pub(super) fn shed_one(&self) -> bool {
        evict_longest_idle(&mut self.table())
    }
}

/// Scans the whole table: only a full server pays for it, once per new connection.
fn evict_longest_idle(table: &mut Table) -> bool {
    let victim = pick_victim(
        table
            .open
            .iter()
            .map(|(id, c)| (*id, c.activity().evictable_since())),
    );
    match victim.and_then(|id| table.open.remove(&id)) {
        Some(shared) => {
            shared.evict();
            true
        }
        None => false,
    }
}

/// A connection's place in the [`Registry`]; given back when dropped.
#[derive(Debug)]
pub(super) struct Slot {
    id: u64,
    shared: Arc<Shared>,
    registry: Arc<Registry>,
}

impl Slot {
    pub(super) fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Wait until the connection must go, then say how: [`Verdict::Drain`] (returned once) or
    /// [`Verdict::Close`]. Cancel-safe: the state lives in [`Shared`].
    pub(super) async fn next_action(&self, bounds: &Bounds) -> Verdict {
        loop {
            let now = Instant::now();
            let v = verdict(&self.shared.activity(), bounds, now);
            match v {
                Verdict::Close => return v,
                Verdict::Drain => {
                    self.shared.activity().mark_drained();
                    return v;
                }
                Verdict::Wait(Some(at)) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = self.shared.evicted.notified() => {}
                    }
                }
                Verdict::Wait(None) => self.shared.evicted.notified().await,
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.table().open.remove(&self.id);
    }
}

/// The accepted socket, reporting reads and writes to the connection's [`Activity`].
#[derive(Debug)]
pub(super) struct TrackedIo<T> {
    inner: T,
    shared: Arc<Shared>,
}

impl<T> TrackedIo<T> {
    pub(super) fn new(inner: T, shared: Arc<Shared>) -> Self {
        TrackedIo { inner, shared }
    }

    fn wrote(&self, n: usize) {
        if n > 0 {
            self.shared.activity().on_write(Instant::now);
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TrackedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.shared.activity().on_read(Instant::now);
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TrackedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            this.wrote(n);
        }
        r
    }

    // hyper writes head and body in one vectored write when the socket supports it; passing it
    // on keeps that.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = r {
            this.wrote(n);
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A request being served: the connection is busy until this is dropped, with the response
/// body when there is one, or with the abandoned handler future.
#[derive(Debug)]
pub(super) struct Busy(Arc<Shared>);

impl Busy {
    pub(super) fn start(shared: &Arc<Shared>) -> Self {
        shared.activity().request_started();
        Busy(shared.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.activity().request_finished(Instant::now());
    }
}

/// A response body that keeps its connection busy while hyper still holds it.
#[derive(Debug)]
pub(super) struct TrackedBody {
    inner: axum::body::Body,
    _busy: Busy,
}

impl TrackedBody {
    pub(super) fn new(inner: axum::body::Body, busy: Busy) -> Self {
        TrackedBody { inner, _busy: busy }
    }
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    // Passed on so hyper still writes `content-length` for sized bodies.
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
