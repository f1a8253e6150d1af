//! Request counts per token `jti`, for `scopes.usage_limits` (hourly and daily windows).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;

use super::StoreResult;

/// How many requests a token made in the windows that end now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageCounts {
    pub last_hour: u64,
    pub last_day: u64,
}

/// Where token requests are counted.
#[async_trait]
pub trait UsageLog: Send + Sync {
    /// Counts of requests by `jti` before `now` (seconds since the epoch).
    async fn counts(&self, jti: &str, now: i64) -> StoreResult<UsageCounts>;
    /// Record one request by `jti` at `now`.
    async fn record(&self, jti: &str, now: i64) -> StoreResult<()>;
}

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// The in-memory log: a day of timestamps per token.
#[derive(Debug, Default)]
pub(crate) struct MemoryUsageLog {
    by_jti: Mutex<HashMap<String, VecDeque<i64>>>,
}

#[async_trait]
impl UsageLog for MemoryUsageLog {
    async fn counts(&self, jti: &str, now: i64) -> StoreResult<UsageCounts> {
        let map = self.by_jti.lock().unwrap_or_else(|e| e.into_inner());
        let Some(times) = map.get(jti) else {
            return Ok(UsageCounts::default());
        };
        let in_window =
            |w: i64| times.iter().filter(|t| **t > now - w && **t <= now).count() as u64;
        Ok(UsageCounts {
            last_hour: in_window(HOUR),
            last_day: in_window(DAY),
        })
    }

    async fn record(&self, jti: &str, now: i64) -> StoreResult<()> {
        let mut map = self.by_jti.lock().unwrap_or_else(|e| e.into_inner());
        let times = map.entry(jti.to_owned()).or_default();
        while times.front().is_some_and(|t| *t <= now - DAY) {
            times.pop_front();
        }
        times.push_back(now);
        Ok(())
    }
}

/// `Err(detail)` (a 429) when a limit is reached. Zero, negative and non-integer limits are
/// ignored (C-SCOPE-30).
pub(crate) fn usage_decision(
    limits: Option<&serde_json::Value>,
    counts: UsageCounts,
) -> Result<(), &'static str> {
    let limit = |key: &str| {
        limits
            .and_then(|l| l.get(key))
            .and_then(serde_json::Value::as_i64)
            .filter(|n| *n > 0)
    };
    if limit("requests_per_hour").is_some_and(|n| counts.last_hour >= n as u64) {
        return Err("Hourly request limit exceeded");
    }
    if limit("requests_per_day").is_some_and(|n| counts.last_day >= n as u64) {
        return Err("Daily request limit exceeded");
    }
    Ok(())
}

/// Whether `limits` asks for any counting at all.
pub(crate) fn has_limits(limits: Option<&serde_json::Value>) -> bool {
    ["requests_per_hour", "requests_per_day"].iter().any(|k| {
        limits
            .and_then(|l| l.get(*k))
            .and_then(serde_json::Value::as_i64)
            .is_some_and(|n| n > 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn c_scope_29_limits_refuse_once_reached() {
        let l = json!({"requests_per_hour": 1});
        assert_eq!(
            usage_decision(
                Some(&l),
                UsageCounts {
                    last_hour: 0,
                    last_day: 0
                }
            ),
            Ok(())
        );
        assert_eq!(
            usage_decision(
                Some(&l),
                UsageCounts {
                    last_hour: 1,
                    last_day: 1
                }
            ),
            Err("Hourly request limit exceeded")
        );
        let d = json!({"requests_per_day": 2});
        assert_eq!(
            usage_decision(
                Some(&d),
                UsageCounts {
                    last_hour: 0,
                    last_day: 2
                }
            ),
            Err("Daily request limit exceeded")
        );
    }

    #[test]
    fn c_scope_30_non_positive_limits_are_ignored() {
        for l in [
            json!({"requests_per_hour": 0}),
            json!({"requests_per_hour": -3}),
            json!({"requests_per_day": "x"}),
        ] {
            assert_eq!(
                usage_decision(
                    Some(&l),
                    UsageCounts {
                        last_hour: 99,
                        last_day: 99
                    }
                ),
                Ok(())
            );
            assert!(!has_limits(Some(&l)));
        }
    }

    #[tokio::test]
    async fn memory_log_counts_windows() {
        let log = MemoryUsageLog::default();
        log.record("j", 1000).await.unwrap();
        log.record("j", 1000 + HOUR).await.unwrap();
        let c = log.counts("j", 1000 + HOUR + 1).await.unwrap();
        assert_eq!(
            c,
            UsageCounts {
                last_hour: 1,
                last_day: 2
            }
        );
        assert_eq!(
            log.counts("other", 5).await.unwrap(),
            UsageCounts::default()
        );
    }
}
