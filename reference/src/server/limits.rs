//! The connection bounds of the accept loop as pure decisions: when a connection has waited too
//! long for a request head or sat idle too long, and which connection makes room when the server
//! is full. No I/O and no clock here: callers pass `now`, so the rules are tested exactly.
//!
//! A connection is always in one of three phases, measured as Go's `http.Server`
//! (`IdleTimeout`, `ReadHeaderTimeout`) and Envoy measure them:
//! - **idle**: no request in flight and no byte of the next one read, since the connection
//!   opened, the last response ended or the last byte was written, whichever came last. Bounded
//!   by the idle bound.
//! - **head**: a byte of the next request has been read but its head is not complete. Bounded by
//!   the header-read bound, counted from that first byte, so a client trickling one byte at a
//!   time (slowloris) is cut all the same.
//! - **busy**: a request is being served, from its complete head until its response body has
//!   ended or been dropped. Never bounded here: a long SSE `GET` stream is busy, not idle.

use std::time::Duration;

use tokio::time::Instant;

/// The two time bounds; `None` turns one off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bounds {
    pub(crate) header_read: Option<Duration>,
    pub(crate) idle: Option<Duration>,
}

/// What one connection is doing, as the bounds see it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Activity {
    /// Requests handed to the gateway whose responses have not ended (0 or 1 on HTTP/1.1; a
    /// count so that no ordering of drops can leave it wrong).
    in_flight: u32,
    /// A byte of the next request has been read (only meaningful when nothing is in flight).
    head_started: bool,
    /// Start of the current idle or head phase.
    since: Instant,
    /// Since when no request has been in flight (a head under way does not reset it): the age
    /// eviction goes by.
    free_since: Instant,
    /// Chosen to make room for a new connection (see [`pick_victim`]).
    evicted: bool,
    /// An evicted connection that was busy has been told to close after its response.
    drained: bool,
}

impl Activity {
    /// A connection just accepted: idle since `now`.
    pub(super) fn new(now: Instant) -> Self {
        Activity {
            in_flight: 0,
            head_started: false,
            since: now,
            free_since: now,
            evicted: false,
            drained: false,
        }
    }

    /// Bytes were read. `now` is called only when this starts a head, so the read path usually
    /// costs no clock read.
    pub(super) fn on_read(&mut self, now: impl FnOnce() -> Instant) {
        if self.in_flight == 0 && !self.head_started {
            self.head_started = true;
            self.since = now();
        }
    }

    /// Bytes were written. While idle, the end of a response still being flushed to a slow
    /// reader is activity: the idle clock starts again.
    pub(super) fn on_write(&mut self, now: impl FnOnce() -> Instant) {
        if self.in_flight == 0 && !self.head_started {
            self.since = now();
        }
    }

    /// A complete head was handed to the gateway.
    pub(super) fn request_started(&mut self) {
        self.in_flight = self.in_flight.saturating_add(1);
        self.head_started = false;
    }

    /// A response body ended or was dropped (or the request was abandoned before it had one).
    pub(super) fn request_finished(&mut self, now: Instant) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if self.in_flight == 0 {
            self.head_started = false;
            self.since = now;
            self.free_since = now;
        }
    }

    /// Since when the connection has had no request in flight, when it may be evicted: idle or
    /// with a head under way, and not already told to go.
    pub(super) fn evictable_since(&self) -> Option<Instant> {
        (self.in_flight == 0 && !self.evicted).then_some(self.free_since)
    }

    pub(super) fn evict(&mut self) {
        self.evicted = true;
    }

    pub(super) fn mark_drained(&mut self) {
        self.drained = true;
    }
}

/// What the watcher of a connection does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Look again at this instant (`None`: only when woken by an eviction).
    Wait(Option<Instant>),
    /// Let the request in flight finish, then close (hyper's graceful shutdown).
    Drain,
    /// Close now: no request is in flight, so nothing is lost but a half-sent head.
    Close,
}

/// The decision for a connection at `now`.
///
/// The wake-up time is never later than the deadline of any phase the connection can reach
/// before it: from idle, a head started at `t >= now` is due at `t + header_read`, hence the
/// wake at `now + header_read` at the latest; from busy, both other phases start at `t >= now`,
/// hence a wake every `min(header_read, idle)`. So no transition has to wake the watcher, and
/// the read and write paths stay a lock and a compare.
pub(super) fn verdict(a: &Activity, b: &Bounds, now: Instant) -> Verdict {
    if a.evicted && !a.drained {
        return if a.in_flight > 0 {
            Verdict::Drain
        } else {
            Verdict::Close
        };
    }
    let after = |t: Instant, d: Option<Duration>| d.and_then(|d| t.checked_add(d));
    let next = if a.in_flight > 0 {
        let tick = match (b.header_read, b.idle) {
            (Some(h), Some(i)) => Some(h.min(i)),
            (h, i) => h.or(i),
        };
        after(now, tick)
    } else {
        let deadline = if a.head_started {
            after(a.since, b.header_read)
        } else {
            after(a.since, b.idle)
        };
        if deadline.is_some_and(|d| d <= now) {
            return Verdict::Close;
        }
        if a.head_started {
            deadline
        } else {
            earliest(deadline, after(now, b.header_read))
        }
    };
    Verdict::Wait(next)
}

/// The size of a request head as it came on the wire, near enough: the request line and every
/// header line. hyper's buffer limit only trips when a head is still incomplete once the buffer
/// is full, so a head that arrives in one large read can pass it; this is the exact check.
pub(super) fn head_bytes<B>(req: &http::Request<B>) -> usize {
    // The target as sent, without building it as a string: every request passes here.
    let uri = req.uri();
    let target = uri.path_and_query().map_or(1, |pq| pq.as_str().len())
        + uri
            .authority()
            .map_or(0, |a| a.as_str().len() + "http://".len());
    let line = req.method().as_str().len() + target + "  HTTP/1.1\r\n".len();
    let headers: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + ": \r\n".len())
        .sum();
    line + headers + "\r\n".len()
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The connection to close to make room for a new one: the one with no request in flight that
/// has been so the longest. `None` when every connection is busy.
pub(super) fn pick_victim<K>(
    candidates: impl IntoIterator<Item = (K, Option<Instant>)>,
) -> Option<K> {
    candidates
        .into_iter()
        .filter_map(|(k, since)| since.map(|s| (k, s)))
        .min_by_key(|(_, since)| *since)
        .map(|(k, _)| k)
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_head_is_measured_by_its_request_line_and_header_lines() {
        let req = http::Request::post("/mcp")
            .header("x-a", "bc")
            .body(())
            .unwrap();
        // "POST /mcp HTTP/1.1\r\n" + "x-a: bc\r\n" + "\r\n"
        assert_eq!(head_bytes(&req), 20 + 9 + 2);
        let big = http::Request::get("/")
            .header("x-pad", "a".repeat(70_000))
            .body(())
            .unwrap();
        assert!(head_bytes(&big) > 64 * 1024);
    }

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn bounds(header_ms: u64, idle_ms: u64) -> Bounds {
        let on = |ms: u64| (ms > 0).then(|| MS * ms as u32);
        Bounds {
            header_read: on(header_ms),
            idle: on(idle_ms),
        }
    }

    #[test]
    fn an_idle_connection_closes_at_the_idle_bound_and_is_looked_at_in_time_for_a_head() {
        let t0 = Instant::now();
        let b = bounds(100, 1000);
        let a = Activity::new(t0);
        // Woken at the header bound at the latest, in case a head starts meanwhile.
        assert_eq!(verdict(&a, &b, t0), Verdict::Wait(Some(t0 + MS * 100)));
        assert_eq!(
            verdict(&a, &b, t0 + MS * 950),
            Verdict::Wait(Some(t0 + MS * 1000))
        );
        assert_eq!(verdict(&a, &b, t0 + MS * 1000), Verdict::Close);
    }

    #[test]
    fn a_head_is_bounded_from_its_first_byte_whatever_comes_after() {
        let t0 = Instant::now();
        let b = bounds(100, 1000);
        let mut a = Activity::new(t0);
        a.on_read(|| t0 + MS * 500);
        // More bytes of the same head do not move the deadline.
        a.on_read(|| panic!("no clock read while a head is under way"));
        assert_eq!(
            verdict(&a, &b, t0 + MS * 550),
            Verdict::Wait(Some(t0 + MS * 600))
        );
        assert_eq!(verdict(&a, &b, t0 + MS * 600), Verdict::Close);
    }

    #[test]
    fn a_busy_connection_is_never_closed_and_is_looked_at_every_tick() {
        let t0 = Instant::now();
        let b = bounds(100, 1000);
        let mut a = Activity::new(t0);
        a.on_read(|| t0);
        a.request_started();
        let much_later = t0 + Duration::from_secs(3600);
        assert_eq!(
            verdict(&a, &b, much_later),
            Verdict::Wait(Some(much_later + MS * 100))
        );
        // The response ends: idle from then on.
        a.request_finished(much_later);
        assert_eq!(verdict(&a, &b, much_later + MS * 1000), Verdict::Close);
    }

    #[test]
    fn writes_while_idle_restart_the_idle_clock() {
        let t0 = Instant::now();
        let b = bounds(0, 1000);
        let mut a = Activity::new(t0);
        a.on_write(|| t0 + MS * 900);
        assert_eq!(
            verdict(&a, &b, t0 + MS * 1000),
            Verdict::Wait(Some(t0 + MS * 1900))
        );
    }

    #[test]
    fn bounds_turned_off_or_too_large_never_close() {
        let t0 = Instant::now();
        let a = Activity::new(t0);
        assert_eq!(verdict(&a, &bounds(0, 0), t0), Verdict::Wait(None));
        let huge = Bounds {
            header_read: Some(Duration::MAX),
            idle: Some(Duration::MAX),
        };
        assert_eq!(verdict(&a, &huge, t0), Verdict::Wait(None));
    }

    #[test]
    fn an_evicted_connection_closes_unless_busy_then_drains_once() {
        let t0 = Instant::now();
        let b = bounds(0, 0);
        let mut a = Activity::new(t0);
        a.evict();
        assert_eq!(verdict(&a, &b, t0), Verdict::Close);

        let mut busy = Activity::new(t0);
        busy.request_started();
        busy.evict();
        assert_eq!(verdict(&busy, &b, t0), Verdict::Drain);
        busy.mark_drained();
        assert_eq!(verdict(&busy, &b, t0), Verdict::Wait(None));
    }

    #[test]
    fn the_victim_is_the_longest_idle_and_never_a_busy_one() {
        let t0 = Instant::now();
        let c = [
            ("busy", None),
            ("recent", Some(t0 + MS * 50)),
            ("oldest", Some(t0)),
            ("middle", Some(t0 + MS * 10)),
        ];
        assert_eq!(pick_victim(c), Some("oldest"));
        assert_eq!(pick_victim([("a", None), ("b", None)]), None);
        assert_eq!(pick_victim(Vec::<(u8, Option<Instant>)>::new()), None);

        let mut evicted = Activity::new(t0);
        evicted.evict();
        assert_eq!(evicted.evictable_since(), None);
        let mut busy = Activity::new(t0);
        busy.request_started();
        assert_eq!(busy.evictable_since(), None);
        // A head under way is no request in flight: its age counts from the accept.
        let mut head = Activity::new(t0);
        head.on_read(|| t0 + MS);
        assert_eq!(head.evictable_since(), Some(t0));
    }
}
