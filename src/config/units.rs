//! Value types of the config file: durations, sizes, rates and CIDRs.
//!
//! Each accepts the spellings SPEC §2 documents and fails with a message that says what was
//! expected and what was found, so `rampart check` can print it next to the file position.

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;
use std::time::Duration;

/// A duration written as `250ms`, `5s`, `2m`, `1h` (anything `humantime` reads).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConfigDuration(pub Duration);

/// A byte size written as `512`, `64KiB`, `1MiB`, `10MB`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ByteSize(pub u64);

/// A rate written as `<n>/<unit>`, unit `second|minute|hour|day` or `s|m|h|d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

/// An IP network (`10.0.0.0/8`); a bare address means a single host (`/32` or `/128`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr(pub ipnet::IpNet);

/// The longest duration any setting takes (SPEC §2): a larger one is a config error at its
/// line, never an overflow later (`Instant + 500000000000y` aborts a release build).
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 86_400);
/// The largest size any setting takes (SPEC §2).
pub const MAX_SIZE: u64 = 1 << 40;

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = parse_any_duration(s)?;
    if d > MAX_DURATION {
        return Err(format!("duration \"{s}\" is over the maximum of 1 year"));
    }
    Ok(d)
}

fn parse_any_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err(
            "expected a duration like \"250ms\", \"5s\" or \"2m\", got an empty string".into(),
        );
    }
    // humantime accepts bare numbers nowhere, which is what we want: "5" is ambiguous.
    humantime::parse_duration(t).map_err(|e| {
        format!("expected a duration like \"250ms\", \"5s\" or \"2m\", got \"{s}\" ({e})")
    })
}

pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let bad = || format!("expected a size like 512, \"64KiB\", \"1MiB\" or \"10MB\", got \"{s}\"");
    if digits.is_empty() {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "KiB" | "K" | "k" => 1 << 10,
        "MiB" | "M" => 1 << 20,
        "GiB" | "G" => 1 << 30,
        "TB" => 1_000_000_000_000,
        "TiB" | "T" => 1 << 40,
        _ => return Err(bad()),
    };
    match n.checked_mul(mult) {
        Some(size) if size <= MAX_SIZE => Ok(size),
        _ => Err(format!("size \"{s}\" is over the maximum of 1 TiB")),
    }
}

pub fn parse_rate(s: &str) -> Result<Rate, String> {
    let bad = || format!("expected \"<n>/<unit>\" with unit second|minute|hour|day, got \"{s}\"");
    let (n, unit) = s.trim().split_once('/').ok_or_else(bad)?;
    let count: u32 = n.trim().parse().map_err(|_| bad())?;
    if count == 0 {
        return Err(format!("rate \"{s}\" must allow at least 1 request"));
    }
    let per = match unit.trim() {
        "second" | "s" | "sec" => Duration::from_secs(1),
        "minute" | "m" | "min" => Duration::from_secs(60),
        "hour" | "h" => Duration::from_secs(3600),
        "day" | "d" => Duration::from_secs(86_400),
        _ => return Err(bad()),
    };
    Ok(Rate { count, per })
}

/// The finest period a limit can count (`1000000/second`): anything finer is no limit.
pub const MIN_PERIOD: Duration = Duration::from_micros(1);

/// Why a rate or burst cannot be enforced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unenforceable {
    /// Faster than one request per `MIN_PERIOD`.
    RateTooFine,
    /// A full burst would take longer than `MAX_DURATION` to refill (governor keeps that
    /// time in u64 nanoseconds; beyond it the tolerance wraps). Carries the largest burst.
    BurstTooLong { max_burst: u64 },
}

/// Whether `rate` with `burst` (None: `count`) is a limit the rate limiter (governor) can
/// hold exactly. The config validation and the limiter's constructor ask the same question.
pub fn enforceable(rate: Rate, burst: Option<u32>) -> Result<(), Unenforceable> {
    let count = rate.count.max(1);
    let period = rate.per / count;
    if period < MIN_PERIOD {
        return Err(Unenforceable::RateTooFine);
    }
    let burst = burst.unwrap_or(count).max(1);
    let longest = MAX_DURATION;
    match period.checked_mul(burst) {
        Some(refill) if refill <= longest => Ok(()),
        _ => Err(Unenforceable::BurstTooLong {
            max_burst: (longest.as_nanos() / period.as_nanos()) as u64,
        }),
    }
}

pub fn parse_cidr(s: &str) -> Result<ipnet::IpNet, String> {
    let t = s.trim();
    if let Ok(net) = t.parse::<ipnet::IpNet>() {
        return Ok(net.trunc());
    }
    if let Ok(ip) = t.parse::<std::net::IpAddr>() {
        return Ok(ipnet::IpNet::from(ip));
    }
    Err(format!(
        "expected a CIDR like \"10.0.0.0/8\" or an IP address, got \"{s}\""
    ))
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.per.as_secs() {
            1 => "second",
            60 => "minute",
            3600 => "hour",
            _ => "day",
        };
        write!(f, "{}/{}", self.count, unit)
    }
}

/// Deserializes from a string (or, where `ints` is set, a bare integer) through `parse`.
struct StrVisitor<T> {
    expecting: &'static str,
    ints: bool,
    parse: fn(&str) -> Result<T, String>,
}

impl<T> Visitor<'_> for StrVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.parse)(v).map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        if self.ints {
            (self.parse)(&v.to_string()).map_err(E::custom)
        } else {
            Err(E::custom(format!(
                "expected {}, got the number {v}",
                self.expecting
            )))
        }
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        if v >= 0 {
            self.visit_u64(v as u64)
        } else {
            Err(E::custom(format!(
                "expected {}, got the number {v}",
                self.expecting
            )))
        }
    }
}

macro_rules! str_deserialize {
    ($ty:ty, $expecting:expr, $ints:expr, $parse:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(StrVisitor {
                    expecting: $expecting,
                    ints: $ints,
                    parse: $parse,
                })
            }
        }
    };
}

str_deserialize!(ConfigDuration, "a duration like \"5s\"", false, |s| {
    parse_duration(s).map(ConfigDuration)
});
str_deserialize!(ByteSize, "a size like \"1MiB\"", true, |s| parse_size(s)
    .map(ByteSize));
str_deserialize!(Rate, "a rate like \"60/minute\"", false, parse_rate);
str_deserialize!(Cidr, "a CIDR like \"10.0.0.0/8\"", false, |s| parse_cidr(s)
    .map(Cidr));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "5", "five seconds", "-1s", "5 parsecs"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn values_over_the_ranges_are_refused() {
        assert_eq!(parse_duration("365d"), Ok(MAX_DURATION));
        for d in ["366d", "500000000000y", "2y"] {
            let e = parse_duration(d).unwrap_err();
            assert!(e.contains("maximum of 1 year"), "{d}: {e}");
        }
        assert_eq!(parse_size("1TiB"), Ok(MAX_SIZE));
        assert!(parse_size("2TB").unwrap_err().contains("1 TiB"));
        assert_eq!(parse_size("1099511627776"), Ok(MAX_SIZE));
        assert!(parse_size("1099511627777").unwrap_err().contains("1 TiB"));
        assert!(parse_size("99999999999999GB")
            .unwrap_err()
            .contains("1 TiB"));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("64KiB"), Ok(65_536));
        assert_eq!(parse_size("1MiB"), Ok(1_048_576));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("8 KiB"), Ok(8192));
        for bad in [
            "",
            "MiB",
            "1.5MiB",
            "10 parsecs",
            "-1",
            "99999999999999999999GiB",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn rates() {
        let r = parse_rate("60/minute").unwrap();
        assert_eq!((r.count, r.per), (60, Duration::from_secs(60)));
        assert_eq!(parse_rate("5/s").unwrap().per, Duration::from_secs(1));
        assert_eq!(
            parse_rate("100/d").unwrap().per,
            Duration::from_secs(86_400)
        );
        assert_eq!(parse_rate("60/minute").unwrap().to_string(), "60/minute");
        for bad in [
            "60 per min",
            "60",
            "/minute",
            "0/second",
            "x/second",
            "60/fortnight",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn cidrs() {
        assert_eq!(parse_cidr("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse_cidr("127.0.0.1").unwrap().to_string(), "127.0.0.1/32");
        assert_eq!(parse_cidr("::1").unwrap().to_string(), "::1/128");
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("localhost").is_err());
    }
}
