//! The latency a gateway adds (pure): the same request timed directly and through the gateway,
//! many times, summarised per request kind as p50 and p99 of each side and their difference.
//! The runner takes the samples (interleaved, so both sides share the machine's noise); this
//! only does the arithmetic.

use serde::Serialize;

/// One request kind's figures, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overhead {
    /// The request (`tools/call fid-echo-meta`).
    pub request: String,
    /// Samples on each side.
    pub samples: usize,
    pub direct_p50_ms: f64,
    pub direct_p99_ms: f64,
    pub through_p50_ms: f64,
    pub through_p99_ms: f64,
    /// `through - direct` at p50 and at p99: what the gateway adds.
    pub added_p50_ms: f64,
    pub added_p99_ms: f64,
}

impl Overhead {
    /// The six figures in report order (direct p50, p99, through p50, p99, added p50, p99),
    /// each with three decimals.
    pub fn figures(&self) -> [String; 6] {
        [
            self.direct_p50_ms,
            self.direct_p99_ms,
            self.through_p50_ms,
            self.through_p99_ms,
            self.added_p50_ms,
            self.added_p99_ms,
        ]
        .map(|f| format!("{f:.3}"))
    }
}

/// The `p`-th percentile (0..=100) of `sorted` by nearest rank; 0 when there is none.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Round to microseconds, so reports do not show noise as digits.
fn us(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

/// The figures of one request kind from its samples (milliseconds, any order).
pub fn summarise(request: &str, mut direct: Vec<f64>, mut through: Vec<f64>) -> Overhead {
    let sort = |v: &mut Vec<f64>| v.sort_by(f64::total_cmp);
    sort(&mut direct);
    sort(&mut through);
    let (d50, d99) = (percentile(&direct, 50.0), percentile(&direct, 99.0));
    let (t50, t99) = (percentile(&through, 50.0), percentile(&through, 99.0));
    Overhead {
        request: request.to_owned(),
        samples: direct.len().min(through.len()),
        direct_p50_ms: us(d50),
        direct_p99_ms: us(d99),
        through_p50_ms: us(t50),
        through_p99_ms: us(t99),
        added_p50_ms: us(t50 - d50),
        added_p99_ms: us(t99 - d99),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
    }

    #[test]
    fn the_added_time_is_through_minus_direct() {
        let o = summarise("ping", vec![1.0, 3.0, 2.0], vec![2.5, 4.0, 3.5]);
        assert_eq!((o.direct_p50_ms, o.through_p50_ms), (2.0, 3.5));
        assert_eq!(o.added_p50_ms, 1.5);
        assert_eq!(o.added_p99_ms, 1.0);
        assert_eq!(o.samples, 3);
    }
}
