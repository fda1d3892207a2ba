//! THE writer of request records: every request — proxied, refused by the proxy, or refused
//! by the front door before routing — ends here, once. It counts the request's metrics and
//! writes its access-log line (SPEC §6, §7), following `logging.format` and
//! `logging.access_log`. Refusals of the admin listener are logged here too, uncounted.

use crate::policy::LogPolicy;
use crate::telemetry::metrics::Metrics;
use crate::telemetry::request_metrics::Answered;
use crate::telemetry::{self, AccessRecord};

/// Counts `record` and logs it. `upstream`: the upstream's name when the app was called.
pub fn finish(metrics: &Metrics, logging: &LogPolicy, record: &AccessRecord) {
    let route = record.route.unwrap_or("");
    let cache = &metrics.per_request;
    let secs = record.duration.as_secs_f64();
    cache.request(&Answered {
        route,
        method: method_label(record.method),
        status: record.status,
        secs,
        bytes_in: record.bytes_in,
        bytes_out: record.bytes_out,
    });
    if let (Some(upstream), Some(t)) = (record.upstream, record.upstream_time) {
        cache.upstream(upstream, t.as_secs_f64());
    }
    if logging.access_log {
        telemetry::access_log(logging.format, record);
    }
}

/// Logs a refusal of the admin listener (route `admin`): a line like any request's, and
/// none of the public request metrics.
pub fn admin(logging: &LogPolicy, record: &AccessRecord) {
    if logging.access_log {
        telemetry::access_log(logging.format, record);
    }
}

/// The `method` label: standard methods by name, anything else `OTHER` (bounded labels).
fn method_label(method: &str) -> &'static str {
    match http::Method::from_bytes(method.as_bytes()) {
        Ok(m) => crate::telemetry::request_metrics::method_label(&m),
        Err(_) => "OTHER",
    }
}
