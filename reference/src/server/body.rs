//! The request body's read deadline. Once a request head is complete its connection is busy and
//! no bound of `limits` applies, so without this a client could send a head and then drip its
//! body (or stop) and hold a handler, a connection slot and the buffered bytes forever. The
//! deadline runs from the complete head to the body's end, as Go's `ReadTimeout` does: a body
//! dripped one byte at a time is cut all the same. A body still unread at the deadline ends in
//! [`BodyReadTimedOut`], which `pipeline::read_body` answers with 408.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// The error a body reports when its deadline passed before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the request body was not received within {0:?}")]
pub(crate) struct BodyReadTimedOut(pub Duration);

/// `inner`, failing once `limit` has passed since it was made and it has not ended.
#[derive(Debug)]
pub(super) struct DeadlineBody<B> {
    inner: B,
    /// The limit and when it passes; `None` for no limit (or one too far to reach).
    deadline: Option<(Duration, Instant)>,
    /// Made on the first read that has to wait: a body that came with its head (most of them)
    /// never sets a timer.
    timer: Option<Pin<Box<Sleep>>>,
    done: bool,
}

impl<B> DeadlineBody<B> {
    /// `limit` `None`: no deadline.
    pub(super) fn new(inner: B, limit: Option<Duration>) -> Self {
        let now = Instant::now();
        DeadlineBody {
            inner,
            deadline: limit.and_then(|l| Some((l, now.checked_add(l)?))),
            timer: None,
            done: false,
        }
    }
}

impl<B> Body for DeadlineBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                if frame.is_none() {
                    this.done = true;
                }
                return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
            }
            Poll::Pending => {}
        }
        let Some((limit, deadline)) = this.deadline else {
            return Poll::Pending;
        };
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        ready!(timer.as_mut().poll(cx));
        this.done = true;
        Poll::Ready(Some(Err(Box::new(BodyReadTimedOut(limit)))))
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use futures_util::stream::{BoxStream, iter, pending};
    use http_body_util::{BodyExt, Full, StreamBody};

    use super::*;

    type Chunks = StreamBody<BoxStream<'static, Result<Frame<Bytes>, std::convert::Infallible>>>;

    /// `n` one-byte frames, then nothing ever again.
    fn stalls_after(n: usize) -> Chunks {
        let first = iter((0..n).map(|_| Ok(Frame::data(Bytes::from_static(b"x")))));
        StreamBody::new(first.chain(pending()).boxed())
    }

    #[tokio::test]
    async fn a_body_that_stalls_fails_at_the_deadline() {
        let limit = Duration::from_millis(100);
        let body = DeadlineBody::new(stalls_after(2), Some(limit));
        let e = tokio::time::timeout(Duration::from_secs(10), body.collect())
            .await
            .expect("cut long before the liveness bound")
            .expect_err("the body never ends");
        assert_eq!(
            e.downcast_ref::<BodyReadTimedOut>(),
            Some(&BodyReadTimedOut(limit))
        );
    }

    #[tokio::test]
    async fn a_complete_body_is_passed_on_and_without_a_limit_nothing_is_timed() {
        let body = DeadlineBody::new(Full::new(Bytes::from_static(b"abc")), Some(Duration::ZERO));
        assert_eq!(
            body.collect().await.unwrap().to_bytes(),
            "abc",
            "it came whole"
        );
        let mut stalled = DeadlineBody::new(stalls_after(0), None);
        let waited = tokio::time::timeout(Duration::from_millis(300), stalled.frame()).await;
        assert!(waited.is_err(), "no deadline: still waiting");
    }
}
