//! Access-log lines as replay needs them: time, client address, method, path, declared body
//! size, what the recorded run answered. Two formats: Rampart's JSON access log (SPEC §7) and
//! the combined format of NGINX, Apache and gunicorn (`--access-logfile`, its default).

use serde::Deserialize;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Rampart,
    Combined,
}

/// One request of the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry<'a> {
    /// Unix time in nanoseconds.
    pub at_nanos: u128,
    pub client_ip: Option<IpAddr>,
    pub method: &'a str,
    /// Path and query as logged.
    pub target: std::borrow::Cow<'a, str>,
    /// Request body bytes (Rampart's `bytes_in`; combined logs have none).
    pub bytes_in: Option<u64>,
    /// The recorded run served it (Rampart did not refuse it; every combined line was the
    /// app's answer).
    pub served: bool,
}

#[derive(Deserialize)]
struct RampartLine<'a> {
    #[serde(borrow)]
    ts: &'a str,
    #[serde(borrow, default)]
    client_ip: Option<&'a str>,
    #[serde(borrow, default)]
    method: Option<&'a str>,
    #[serde(borrow, default)]
    path: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    bytes_in: Option<u64>,
    #[serde(borrow, default)]
    code: Option<&'a str>,
    #[serde(default)]
    shadow: Option<serde_json::Value>,
}

/// Parses one line; None when it is not a request line of that format.
pub fn parse(format: Format, line: &str) -> Option<Entry<'_>> {
    match format {
        Format::Rampart => rampart(line),
        Format::Combined => combined(line),
    }
}

fn rampart(line: &str) -> Option<Entry<'_>> {
    let l: RampartLine<'_> = serde_json::from_str(line).ok()?;
    let _ = l.shadow;
    let at = humantime::parse_rfc3339_weak(l.ts).ok()?;
    Some(Entry {
        at_nanos: at.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos(),
        client_ip: l.client_ip.and_then(|ip| ip.parse().ok()),
        method: l.method?,
        target: l.path?,
        bytes_in: l.bytes_in,
        served: l.code.is_none(),
    })
}

/// `host ident user [10/Oct/2000:13:55:36 -0700] "GET /a?b HTTP/1.1" 200 2326 "ref" "agent"`
fn combined(line: &str) -> Option<Entry<'_>> {
    let (host, rest) = line.split_once(' ')?;
    let open = rest.find('[')?;
    let close = open + rest[open..].find(']')?;
    let at_nanos = clf_time(&rest[open + 1..close])?;
    let rest = rest[close + 1..].trim_start().strip_prefix('"')?;
    let request = &rest[..rest.find('"')?];
    let mut parts = request.split(' ');
    let method = parts.next().filter(|m| !m.is_empty())?;
    let target = parts.next()?;
    Some(Entry {
        at_nanos,
        client_ip: host.parse().ok(),
        method,
        target: std::borrow::Cow::Borrowed(target),
        bytes_in: None,
        served: true,
    })
}

/// `10/Oct/2000:13:55:36 -0700` as Unix nanoseconds.
fn clf_time(s: &str) -> Option<u128> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (date, zone) = s.split_once(' ')?;
    let mut f = date.splitn(4, ['/', ':']);
    let day: i64 = f.next()?.parse().ok()?;
    let month_name = f.next()?;
    let month = MONTHS.iter().position(|m| *m == month_name)? as i64 + 1;
    let year: i64 = f.next()?.parse().ok()?;
    let mut hms = f.next()?.split(':');
    let (h, m, sec): (i64, i64, i64) = (
        hms.next()?.parse().ok()?,
        hms.next()?.parse().ok()?,
        hms.next()?.parse().ok()?,
    );
    let sign = match zone.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let zone: i64 = zone.get(1..)?.parse().ok()?;
    let offset = sign * ((zone / 100) * 3600 + (zone % 100) * 60);
    let secs = days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec - offset;
    u128::try_from(secs).ok().map(|s| s * 1_000_000_000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_formats_parse_and_anything_else_does_not() {
        let r = r#"{"ts":"2026-11-29T10:00:00.500Z","level":"info","request_id":"a","trace_id":"b","client_ip":"10.0.0.7","method":"POST","path":"/api/x?y=1","route":"api","upstream":"app","endpoint":"127.0.0.1:8000","status":413,"code":"body_too_large","shadow":null,"bytes_in":2048,"bytes_out":120,"duration_ms":0.3,"upstream_ms":null,"retries":0,"user_agent":"curl"}"#;
        let e = parse(Format::Rampart, r).unwrap();
        assert_eq!(e.at_nanos, 1_795_946_400_500_000_000);
        assert_eq!(e.client_ip, Some("10.0.0.7".parse().unwrap()));
        assert_eq!(
            (e.method, e.target.as_ref(), e.bytes_in, e.served),
            ("POST", "/api/x?y=1", Some(2048), false)
        );
        let c = r#"127.0.0.1 - - [29/Nov/2026:11:00:00 +0100] "GET /items/42?x=1 HTTP/1.1" 200 17 "-" "curl/8.5.0""#;
        let e = parse(Format::Combined, c).unwrap();
        assert_eq!(e.at_nanos, 1_795_946_400_000_000_000);
        assert_eq!(
            (e.method, e.target.as_ref(), e.bytes_in, e.served),
            ("GET", "/items/42?x=1", None, true)
        );
        for bad in [
            "",
            "garbage",
            "{\"ts\":\"x\"}",
            "1.2.3.4 - - [99/Foo/2026:00:00:00 +0000] \"GET / HTTP/1.1\" 200 1",
        ] {
            assert!(
                parse(Format::Rampart, bad).is_none() && parse(Format::Combined, bad).is_none(),
                "{bad}"
            );
        }
    }
}
