//! [`Timestamp`]: an instant as read types carry it. In JSON it is exactly what chrono's
//! `Serialize` writes (RFC 3339, `Z`, as many fraction digits as needed: none, 3, 6 or 9), but
//! written digit by digit instead of through the formatting machinery: every row of every
//! response carries two of them (1.7k instructions each through chrono's formatting).

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Serialize, Serializer};

/// A UTC instant that serializes as RFC 3339. In OpenAPI, declare such a field with
/// `#[schema(value_type = String, format = DateTime)]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

impl From<DateTime<Utc>> for Timestamp {
    fn from(time: DateTime<Utc>) -> Self {
        Timestamp(time)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize(&self.0, serializer)
    }
}

fn serialize<S: Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut buffer = [0u8; 30];
    match write(time, &mut buffer) {
        Some(len) => match std::str::from_utf8(&buffer[..len]) {
            Ok(text) => serializer.serialize_str(text),
            Err(_) => time.serialize(serializer),
        },
        // Years outside 0..=9999 and leap seconds: chrono's own spelling.
        None => time.serialize(serializer),
    }
}

fn write(time: &DateTime<Utc>, out: &mut [u8; 30]) -> Option<usize> {
    let (date, clock) = (time.date_naive(), time.time());
    let year = u32::try_from(date.year()).ok().filter(|y| *y <= 9999)?;
    let nanos = clock.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    let mut put = |at: usize, value: u32, digits: usize| {
        let mut value = value;
        for i in (at..at + digits).rev() {
            out[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, year, 4);
    put(5, date.month(), 2);
    put(8, date.day(), 2);
    put(11, clock.hour(), 2);
    put(14, clock.minute(), 2);
    put(17, clock.second(), 2);
    let (fraction, digits) = match nanos {
        0 => (0, 0),
        n if n % 1_000_000 == 0 => (n / 1_000_000, 3),
        n if n % 1_000 == 0 => (n / 1_000, 6),
        n => (n, 9),
    };
    if digits > 0 {
        put(20, fraction, digits);
    }
    for (at, separator) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
    ] {
        out[at] = separator;
    }
    let end = if digits > 0 { 20 + digits } else { 19 };
    out[end] = b'Z';
    Some(end + 1)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::Timestamp;

    #[test]
    fn writes_what_chrono_writes() {
        let mut seconds: i64 = 1_764_408_870;
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut cases = vec![
            (0, 0),
            (-62_167_219_200, 0),
            (253_402_300_799, 999_999_999),
            (1_764_408_870, 1_000_000),
            (1_764_408_870, 120_000),
            (1_764_408_870, 7),
            (1_764_408_899, 1_500_000_000),
            (253_402_300_800, 0),
            (-62_167_219_201, 0),
        ];
        for _ in 0..2000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            seconds = seconds.wrapping_add((state % 100_000_000) as i64 - 50_000_000);
            let nanos = match state % 4 {
                0 => 0,
                1 => (state >> 8) as u32 % 1000 * 1_000_000,
                2 => (state >> 8) as u32 % 1_000_000 * 1000,
                _ => (state >> 8) as u32 % 1_000_000_000,
            };
            cases.push((seconds, nanos));
        }
        for (seconds, nanos) in cases {
            let time = chrono::Utc.timestamp_opt(seconds, nanos).unwrap();
            assert_eq!(
                serde_json::to_string(&Timestamp(time)).unwrap(),
                serde_json::to_string(&time).unwrap(),
                "{seconds} {nanos}"
            );
        }
    }
}
