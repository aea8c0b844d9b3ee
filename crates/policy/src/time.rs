//! The time a call is decided at: passed in by the caller, never read from
//! a clock here. Policies see it as `context.now` (a Cedar `datetime`).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Milliseconds since the Unix epoch, UTC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const UNIX_EPOCH: Timestamp = Timestamp(0);

    pub fn from_unix_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// Times before the epoch, or too far after it, become the epoch.
    pub fn from_system_time(t: SystemTime) -> Self {
        let ms = t
            .duration_since(UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_millis()).ok())
            .unwrap_or(0);
        Self(ms)
    }

    pub fn unix_millis(self) -> i64 {
        self.0
    }

    /// This time without its milliseconds: what policies see as
    /// `context.now` (whole seconds keep decisions cheap to prepare).
    pub fn whole_seconds(self) -> Self {
        Self(self.0 - self.0.rem_euclid(1000))
    }

    /// Parses `YYYY-MM-DD`, `YYYY-MM-DDThh:mm:ssZ` or `YYYY-MM-DDThh:mm:ss.sssZ`.
    pub fn parse(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        let num = |range: std::ops::Range<usize>| -> Option<i64> {
            let s = text.get(range)?;
            s.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| s.parse().ok())
                .flatten()
        };
        if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
            return None;
        }
        let (mut h, mut mi, mut s, mut ms) = (0, 0, 0, 0);
        if b.len() > 10 {
            if b.len() < 20 || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
                return None;
            }
            (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
            if h > 23 || mi > 59 || s > 59 {
                return None;
            }
            match b.len() {
                20 if b[19] == b'Z' => {}
                24 if b[19] == b'.' && b[23] == b'Z' => ms = num(20..23)?,
                _ => return None,
            }
        }
        let days = days_from_civil(y, mo, d);
        Some(Self(((days * 24 + h) * 60 + mi) * 60_000 + s * 1000 + ms))
    }
}

impl fmt::Display for Timestamp {
    /// `YYYY-MM-DDThh:mm:ss.sssZ`, the form Cedar's `datetime` accepts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(86_400_000);
        let rest = self.0.rem_euclid(86_400_000);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
            rest / 3_600_000,
            rest / 60_000 % 60,
            rest / 1000 % 60,
            rest % 1000
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{text}` is not a UTC time; write it like 2026-11-01T12:00:00Z"
            ))
        })
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text() {
        for text in [
            "1970-01-01T00:00:00.000Z",
            "2026-11-01T12:34:56.789Z",
            "2000-02-29T23:59:59.999Z",
            "1969-12-31T23:59:59.000Z",
        ] {
            let t = Timestamp::parse(text).unwrap();
            assert_eq!(t.to_string(), text);
        }
        assert_eq!(
            Timestamp::parse("2026-11-01").unwrap().to_string(),
            "2026-11-01T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp::parse("1970-01-02T00:00:01Z")
                .unwrap()
                .unix_millis(),
            86_401_000
        );
    }

    #[test]
    fn whole_seconds_drops_milliseconds() {
        let t = Timestamp::parse("2026-11-01T12:34:56.789Z").unwrap();
        assert_eq!(t.whole_seconds().to_string(), "2026-11-01T12:34:56.000Z");
        assert_eq!(
            Timestamp::from_unix_millis(-1)
                .whole_seconds()
                .unix_millis(),
            -1000
        );
    }

    #[test]
    fn rejects_what_is_not_a_utc_time() {
        for text in [
            "",
            "2026-13-01",
            "2026-02-30",
            "2026-11-01T12:00:00",
            "2026-11-01T12:00:00+01:00",
            "2026-11-01T24:00:00Z",
            "yesterday",
        ] {
            assert_eq!(Timestamp::parse(text), None, "{text}");
        }
    }
}
