//! Logging: the tracing subscriber (JSON lines or human text on stdout) and the access log.
//!
//! The access log line is built here, in the field order of SPEC §7, and emitted as one
//! tracing event on the `rampart::access` target; the JSON formatter writes it verbatim.

pub mod access_log;
pub mod metrics;
pub mod request_metrics;

use crate::config::model::LogFormat;
use serde::Serialize;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

pub const ACCESS_TARGET: &str = "rampart::access";

/// The log writer's guard: dropping it flushes what is buffered. Kept here so an early exit
/// (`flush`) can write everything out first.
static GUARD: std::sync::Mutex<Option<tracing_appender::non_blocking::WorkerGuard>> =
    std::sync::Mutex::new(None);

/// Writes out every buffered log line (before `process::exit`).
pub fn flush() {
    if let Ok(mut guard) = GUARD.lock() {
        guard.take();
    }
}

/// Changes the level filter of the installed subscriber (a reload's `logging.level`).
type SetLevel = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;
static SET_LEVEL: std::sync::OnceLock<SetLevel> = std::sync::OnceLock::new();

fn filter_for(level: &str) -> EnvFilter {
    // Pingora logs through `log`; its per-request error lines repeat what the access log says.
    EnvFilter::new(format!(
        "{level},pingora_core=warn,pingora_proxy=warn,pingora=warn"
    ))
}

/// Applies `logging.level` after a reload (unless `RAMPART_LOG` overrides it).
pub fn set_level(level: &str) {
    if std::env::var_os("RAMPART_LOG").is_some() {
        return;
    }
    if let Some(set) = SET_LEVEL.get() {
        if let Err(e) = set(level) {
            tracing::warn!(error = e.as_str(), "cannot change the log level");
        }
    }
}

/// Installs the global subscriber (once per process; main only, never tests); `flush`
/// writes out what is buffered, `set_level` changes the level later.
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_env("RAMPART_LOG").unwrap_or_else(|_| filter_for(level));
    let (writer, guard) = tracing_appender::non_blocking(std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let result = match format {
        LogFormat::Json => {
            let builder = builder.event_format(JsonLines).with_filter_reloading();
            let handle = builder.reload_handle();
            let _ = SET_LEVEL.set(Box::new(move |l: &str| {
                handle.reload(filter_for(l)).map_err(|e| e.to_string())
            }));
            builder.try_init()
        }
        LogFormat::Pretty => {
            use std::io::IsTerminal;
            let builder = builder
                .with_target(true)
                .with_ansi(std::io::stdout().is_terminal())
                .with_filter_reloading();
            let handle = builder.reload_handle();
            let _ = SET_LEVEL.set(Box::new(move |l: &str| {
                handle.reload(filter_for(l)).map_err(|e| e.to_string())
            }));
            builder.try_init()
        }
    };
    if let Err(e) = result {
        eprintln!("rampart: logging already initialised: {e}");
    }
    if let Ok(mut slot) = GUARD.lock() {
        *slot = Some(guard);
    }
}

/// One request, as logged (SPEC §7).
#[derive(Serialize)]
pub struct AccessRecord<'a> {
    pub request_id: &'a str,
    /// The W3C trace id (null when the request was refused before its head was parsed).
    pub trace_id: Option<&'a str>,
    pub client_ip: IpAddr,
    pub method: &'a str,
    pub path: &'a str,
    pub route: Option<&'a str>,
    pub upstream: Option<&'a str>,
    pub endpoint: Option<&'a str>,
    pub status: u16,
    pub code: Option<&'a str>,
    pub shadow: &'a [&'a str],
    pub bytes_in: u64,
    pub bytes_out: u64,
    #[serde(rename = "duration_ms", serialize_with = "millis")]
    pub duration: Duration,
    #[serde(rename = "upstream_ms", serialize_with = "opt_millis")]
    pub upstream_time: Option<Duration>,
    pub retries: u32,
    pub user_agent: Option<&'a str>,
}

impl<'a> AccessRecord<'a> {
    /// A request Rampart answered before any route or app was involved (the front door, the
    /// admin listener): only what was read of it, its refusal, and what was sent.
    pub fn refused(
        request_id: &'a str,
        client_ip: IpAddr,
        (method, path): (&'a str, &'a str),
        route: Option<&'a str>,
        reject: &'a crate::reject::Reject,
        (bytes_out, duration): (u64, Duration),
    ) -> AccessRecord<'a> {
        AccessRecord {
            request_id,
            trace_id: None,
            client_ip,
            method,
            path,
            route,
            upstream: None,
            endpoint: None,
            status: reject.status,
            code: Some(reject.code.as_str()),
            shadow: &[],
            bytes_in: 0,
            bytes_out,
            duration,
            upstream_time: None,
            retries: 0,
            user_agent: None,
        }
    }
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1e6).round() / 1e3)
}

fn opt_millis<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => millis(d, s),
        None => s.serialize_none(),
    }
}

/// Builds the JSON object of an access line (without `ts` and `level`, which the
/// formatter puts first). Public for tests.
pub fn access_json(r: &AccessRecord) -> String {
    serde_json::to_string(r).unwrap_or_default()
}

pub fn access_log(format: LogFormat, r: &AccessRecord) {
    match format {
        LogFormat::Json => tracing::info!(target: ACCESS_TARGET, access = access_json(r).as_str()),
        LogFormat::Pretty => tracing::info!(
            target: ACCESS_TARGET,
            "{} {} {} {} route={} code={} {:.1}ms id={}",
            r.client_ip,
            r.method,
            r.path,
            r.status,
            r.route.unwrap_or("-"),
            r.code.unwrap_or("-"),
            r.duration.as_secs_f64() * 1e3,
            r.request_id
        ),
    }
}

/// JSON lines: `{"ts":…,"level":…,` then the access object's fields, or for other events
/// `"target"`, `"message"` and their fields.
struct JsonLines;

#[derive(Default)]
struct Fields {
    access: Option<String>,
    map: serde_json::Map<String, serde_json::Value>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "access" {
            self.access = Some(value.to_string());
        } else {
            self.map.insert(field.name().into(), value.into());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.map
            .insert(field.name().into(), format!("{value:?}").into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.map.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.map.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.map.insert(field.name().into(), value.into());
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let ts = humantime::format_rfc3339_millis(SystemTime::now());
        let level = event.metadata().level().as_str().to_ascii_lowercase();
        write!(w, "{{\"ts\":\"{ts}\",\"level\":\"{level}\",")?;
        match fields.access {
            // The object's opening brace is replaced by ours.
            Some(obj) if obj.starts_with('{') => writeln!(w, "{}", &obj[1..]),
            _ => {
                let mut map = serde_json::Map::new();
                map.insert("target".into(), event.metadata().target().into());
                if let Some(m) = fields.map.remove("message") {
                    map.insert("message".into(), m);
                }
                map.extend(fields.map);
                let obj = serde_json::Value::Object(map).to_string();
                writeln!(w, "{}", &obj[1..])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_line_has_spec_fields() {
        let r = AccessRecord {
            request_id: "id1",
            trace_id: None,
            client_ip: "10.0.0.1".parse().unwrap(),
            method: "GET",
            path: "/x",
            route: None,
            upstream: None,
            endpoint: None,
            status: 404,
            code: Some("not_found"),
            shadow: &[],
            bytes_in: 0,
            bytes_out: 120,
            duration: Duration::from_micros(1500),
            upstream_time: None,
            retries: 0,
            user_agent: Some("curl/8"),
        };
        let v: serde_json::Value = serde_json::from_str(&access_json(&r)).unwrap();
        assert_eq!(v["route"], serde_json::Value::Null);
        assert_eq!(v["duration_ms"], 1.5);
        assert_eq!(v["upstream_ms"], serde_json::Value::Null);
        assert_eq!(v["code"], "not_found");
        for key in [
            "request_id",
            "client_ip",
            "method",
            "path",
            "upstream",
            "endpoint",
            "status",
            "shadow",
            "bytes_in",
            "bytes_out",
            "retries",
            "user_agent",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
    }
}
