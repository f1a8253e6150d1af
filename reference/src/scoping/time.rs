//! `scopes.time_restrictions`, in both forms ContextForge accepts:
//! the legacy flags (`business_hours_only`, 09:00-17:00 UTC; `weekdays_only`, Mon-Fri UTC) and
//! the window form (`start_time`, `end_time`, `timezone`, `days`), which fails closed on any
//! malformed value and may wrap past midnight.

use jiff::Timestamp;
use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use serde_json::Value;

/// The 403 detail of a refused request.
pub(crate) type TimeDenial = String;

const LEGACY_DENIAL: &str = "Request not allowed at this time by token restrictions";

fn weekday_name(w: Weekday) -> &'static str {
    match w {
        Weekday::Monday => "Monday",
        Weekday::Tuesday => "Tuesday",
        Weekday::Wednesday => "Wednesday",
        Weekday::Thursday => "Thursday",
        Weekday::Friday => "Friday",
        Weekday::Saturday => "Saturday",
        Weekday::Sunday => "Sunday",
    }
}

fn parse_day(s: &str) -> Option<Weekday> {
    let lower = s.trim().to_ascii_lowercase();
    [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
        Weekday::Sunday,
    ]
    .into_iter()
    .find(|w| {
        let name = weekday_name(*w).to_ascii_lowercase();
        lower == name || lower == name[..3]
    })
}

fn parse_hhmm(s: &str) -> Option<Time> {
    let (h, m) = s.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

/// Check `restrictions` at `now`. `Ok(())` allows; `Err(detail)` is a 403.
pub(crate) fn check_time_restrictions(
    restrictions: Option<&Value>,
    now: Timestamp,
) -> Result<(), TimeDenial> {
    let Some(r) = restrictions else { return Ok(()) };
    let obj = match r {
        Value::Null => return Ok(()),
        Value::Object(o) if o.is_empty() => return Ok(()),
        Value::Object(o) => o,
        _ => return Err("Token has invalid time restrictions".to_owned()),
    };

    let utc = now.to_zoned(TimeZone::UTC);
    if obj.get("business_hours_only").and_then(Value::as_bool) == Some(true)
        && !(9..17).contains(&utc.hour())
    {
        return Err(LEGACY_DENIAL.to_owned());
    }
    if obj.get("weekdays_only").and_then(Value::as_bool) == Some(true)
        && matches!(utc.weekday(), Weekday::Saturday | Weekday::Sunday)
    {
        return Err(LEGACY_DENIAL.to_owned());
    }

    let start = obj.get("start_time");
    let end = obj.get("end_time");
    let tz_name = match obj.get("timezone") {
        None | Some(Value::Null) => "UTC",
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err("Token has invalid timezone in time restrictions".to_owned()),
    };
    let tz = TimeZone::get(tz_name)
        .map_err(|_| format!("Token has invalid timezone in time restrictions: {tz_name}"))?;
    let local = now.to_zoned(tz);

    if let Some(days) = obj.get("days").filter(|d| !d.is_null()) {
        let Value::Array(list) = days else {
            return Err("Token has invalid day names in time restrictions".to_owned());
        };
        let mut allowed = Vec::new();
        let mut bad = Vec::new();
        for d in list {
            match d.as_str().and_then(parse_day) {
                Some(w) => allowed.push(w),
                None => bad.push(d.as_str().map_or_else(|| d.to_string(), str::to_owned)),
            }
        }
        if !bad.is_empty() {
            return Err(format!(
                "Token has invalid day names in time restrictions: {}",
                bad.join(", ")
            ));
        }
        if !allowed.contains(&local.weekday()) {
            let names: Vec<_> = allowed.iter().map(|w| weekday_name(*w)).collect();
            return Err(format!(
                "Token access is restricted to specific days. Current day: {}. Allowed days: {}",
                weekday_name(local.weekday()),
                names.join(", ")
            ));
        }
    }

    match (start.filter(|v| !v.is_null()), end.filter(|v| !v.is_null())) {
        (None, None) => Ok(()),
        (Some(_), None) | (None, Some(_)) => Err(
            "Token has incomplete time restriction: both start_time and end_time are required"
                .to_owned(),
        ),
        (Some(s), Some(e)) => {
            let (Some(s_str), Some(e_str)) = (s.as_str(), e.as_str()) else {
                return Err("Token has invalid time format in time restrictions".to_owned());
            };
            let (Some(s_t), Some(e_t)) = (parse_hhmm(s_str), parse_hhmm(e_str)) else {
                return Err("Token has invalid time format in time restrictions".to_owned());
            };
            let t = local.time();
            let inside = if s_t <= e_t {
                s_t <= t && t < e_t
            } else {
                t >= s_t || t < e_t
            };
            if inside {
                Ok(())
            } else {
                Err(format!(
                    "Token access is restricted to {s_str} - {e_str} {tz_name}. Current time: {:02}:{:02}",
                    t.hour(),
                    t.minute()
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // 2026-11-21 is a Saturday.
    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn c_scope_26_weekdays_only_refuses_weekends() {
        let r = json!({"weekdays_only": true});
        assert_eq!(
            check_time_restrictions(Some(&r), at("2026-11-21T12:00:00Z")).unwrap_err(),
            "Request not allowed at this time by token restrictions"
        );
        assert!(check_time_restrictions(Some(&r), at("2026-11-23T12:00:00Z")).is_ok());
        let b = json!({"business_hours_only": true});
        assert!(check_time_restrictions(Some(&b), at("2026-11-23T08:59:00Z")).is_err());
        assert!(check_time_restrictions(Some(&b), at("2026-11-23T09:00:00Z")).is_ok());
        assert!(check_time_restrictions(Some(&b), at("2026-11-23T17:00:00Z")).is_err());
    }

    #[test]
    fn c_scope_27_half_a_window_is_refused() {
        let r = json!({"start_time": "09:00"});
        assert_eq!(
            check_time_restrictions(Some(&r), at("2026-11-23T12:00:00Z")).unwrap_err(),
            "Token has incomplete time restriction: both start_time and end_time are required"
        );
    }

    #[test]
    fn c_scope_28_bad_days_and_zones_are_refused() {
        let r = json!({"days": ["Funday"]});
        assert_eq!(
            check_time_restrictions(Some(&r), at("2026-11-23T12:00:00Z")).unwrap_err(),
            "Token has invalid day names in time restrictions: Funday"
        );
        let z = json!({"start_time": "00:00", "end_time": "23:59", "timezone": "Mars/Base"});
        assert!(
            check_time_restrictions(Some(&z), at("2026-11-23T12:00:00Z"))
                .unwrap_err()
                .contains("invalid timezone")
        );
    }

    #[test]
    fn windows_in_a_zone_and_overnight() {
        let r = json!({"start_time": "09:00", "end_time": "17:00", "timezone": "Europe/Paris"});
        // 08:30 UTC is 09:30 in Paris in November.
        assert!(check_time_restrictions(Some(&r), at("2026-11-23T08:30:00Z")).is_ok());
        assert!(check_time_restrictions(Some(&r), at("2026-11-23T16:30:00Z")).is_err());
        let night = json!({"start_time": "22:00", "end_time": "06:00"});
        assert!(check_time_restrictions(Some(&night), at("2026-11-23T23:00:00Z")).is_ok());
        assert!(check_time_restrictions(Some(&night), at("2026-11-23T05:59:00Z")).is_ok());
        assert!(check_time_restrictions(Some(&night), at("2026-11-23T12:00:00Z")).is_err());
        let days = json!({"days": ["Monday", "tue"]});
        assert!(check_time_restrictions(Some(&days), at("2026-11-23T12:00:00Z")).is_ok());
        assert!(
            check_time_restrictions(Some(&days), at("2026-11-21T12:00:00Z"))
                .unwrap_err()
                .starts_with("Token access is restricted to specific days")
        );
    }

    #[test]
    fn absent_or_empty_restrictions_allow() {
        assert!(check_time_restrictions(None, at("2026-11-21T12:00:00Z")).is_ok());
        assert!(check_time_restrictions(Some(&json!({})), at("2026-11-21T12:00:00Z")).is_ok());
        assert!(check_time_restrictions(Some(&json!(null)), at("2026-11-21T12:00:00Z")).is_ok());
        assert!(check_time_restrictions(Some(&json!("x")), at("2026-11-21T12:00:00Z")).is_err());
    }
}
