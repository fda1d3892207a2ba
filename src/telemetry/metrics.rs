//! Prometheus metrics of SPEC §6 in an instance-owned registry (no globals: tests run many
//! Rampart instances in one process, and a reload keeps the same handles).

use crate::telemetry::request_metrics::RequestMetrics;
pub use crate::telemetry::request_metrics::{method_label, status_label};
use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Latency buckets from 1 ms to 30 s: a sidecar in front of Python apps sees both.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

pub struct Metrics {
    registry: Registry,
    /// The served certificate's notAfter (registered when TLS is on).
    tls_certificate_expiry: Gauge,
    /// Cached handles of the per-request families below (the hot path uses these).
    pub per_request: RequestMetrics,
    pub requests_total: IntCounterVec,
    pub request_duration: HistogramVec,
    pub upstream_request_duration: HistogramVec,
    pub rejections_total: IntCounterVec,
    pub shadow_rejections_total: IntCounterVec,
    pub in_flight_requests: IntGaugeVec,
    pub queue_depth: IntGaugeVec,
    pub retries_total: IntCounterVec,
    pub circuit_breaker_state: IntGaugeVec,
    pub circuit_breaker_transitions_total: IntCounterVec,
    pub upstream_endpoint_up: IntGaugeVec,
    pub dependency_up: IntGaugeVec,
    pub rate_limit_keys: IntGaugeVec,
    pub websocket_connections: IntGaugeVec,
    /// Extension: requests decided by `on_error` because the shared store failed.
    pub rate_limit_store_errors_total: IntCounterVec,
    /// Leases of a key's budget taken from the shared store (`sharing: leased`).
    pub rate_limit_lease_grants_total: IntCounterVec,
    /// Leases whose unspent part was given back to the shared store.
    pub rate_limit_lease_returns_total: IntCounterVec,
    pub config_reloads_total: IntCounterVec,
    pub config_generation: IntGauge,
    pub config_last_reload_success_timestamp_seconds: Gauge,
    /// 1 when the last load (start or reload) succeeded, 0 after a refused reload.
    config_last_reload_successful: IntGauge,
    connections_open: IntGaugeVec,
}

fn counter(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

fn gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> prometheus::Result<IntGaugeVec> {
    let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

fn histogram(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<HistogramVec> {
    let h = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
        labels,
    )?;
    r.register(Box::new(h.clone()))?;
    Ok(h)
}

impl Metrics {
    pub fn new() -> prometheus::Result<Self> {
        let r = Registry::new();
        let build_info = IntGaugeVec::new(
            Opts::new(
                "rampart_build_info",
                "Always 1; the version label says which build runs",
            ),
            &["version"],
        )?;
        r.register(Box::new(build_info.clone()))?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        #[cfg(target_os = "linux")]
        r.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;

        let config_generation = IntGauge::new(
            "rampart_config_generation",
            "Generation of the loaded config",
        )?;
        r.register(Box::new(config_generation.clone()))?;
        let last_reload = Gauge::new(
            "rampart_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful config load",
        )?;
        r.register(Box::new(last_reload.clone()))?;
        let last_reload_ok = IntGauge::new(
            "rampart_config_last_reload_successful",
            "1 when the last config load succeeded, 0 when the last reload was refused",
        )?;
        r.register(Box::new(last_reload_ok.clone()))?;
        let request_bytes = counter(
            &r,
            "rampart_request_bytes_total",
            "Request body bytes received from clients (the access log's bytes_in)",
            &["route"],
        )?;
        let response_bytes = counter(
            &r,
            "rampart_response_bytes_total",
            "Response body bytes sent to clients (the access log's bytes_out)",
            &["route"],
        )?;

        let requests_total = counter(
            &r,
            "rampart_requests_total",
            "Requests answered",
            &["route", "method", "status"],
        )?;
        let request_duration = histogram(
            &r,
            "rampart_request_duration_seconds",
            "Time from request head to the end of the response",
            &["route"],
        )?;
        let upstream_request_duration = histogram(
            &r,
            "rampart_upstream_request_duration_seconds",
            "Time from connecting to the app to its response head",
            &["upstream"],
        )?;
        Ok(Metrics {
            per_request: RequestMetrics::new(
                requests_total.clone(),
                request_duration.clone(),
                upstream_request_duration.clone(),
                [request_bytes, response_bytes],
            ),
            config_last_reload_successful: last_reload_ok,
            connections_open: gauge(
                &r,
                "rampart_connections_open",
                "Open client connections",
                &["listener"],
            )?,
            requests_total,
            request_duration,
            upstream_request_duration,
            rejections_total: counter(
                &r,
                "rampart_rejections_total",
                "Requests Rampart answered itself",
                &["route", "code"],
            )?,
            shadow_rejections_total: counter(
                &r,
                "rampart_shadow_rejections_total",
                "Rejections that shadow mode logged but did not enforce",
                &["route", "code"],
            )?,
            in_flight_requests: gauge(
                &r,
                "rampart_in_flight_requests",
                "Requests in flight to the app",
                &["upstream"],
            )?,
            queue_depth: gauge(
                &r,
                "rampart_queue_depth",
                "Requests waiting for an in-flight slot",
                &["upstream"],
            )?,
            retries_total: counter(
                &r,
                "rampart_retries_total",
                "Retries toward the app",
                &["upstream", "reason"],
            )?,
            circuit_breaker_state: gauge(
                &r,
                "rampart_circuit_breaker_state",
                "Breaker state: 0 closed, 1 half-open, 2 open",
                &["upstream"],
            )?,
            circuit_breaker_transitions_total: counter(
                &r,
                "rampart_circuit_breaker_transitions_total",
                "Breaker state changes",
                &["upstream", "to"],
            )?,
            upstream_endpoint_up: gauge(
                &r,
                "rampart_upstream_endpoint_up",
                "1 when the endpoint gets traffic",
                &["upstream", "endpoint"],
            )?,
            dependency_up: gauge(
                &r,
                "rampart_dependency_up",
                "1 when the dependency answers its probe",
                &["dependency", "critical"],
            )?,
            rate_limit_keys: gauge(
                &r,
                "rampart_rate_limit_keys",
                "Rate-limit keys tracked",
                &["route"],
            )?,
            websocket_connections: gauge(
                &r,
                "rampart_websocket_connections",
                "Open upgraded (WebSocket) connections",
                &["route"],
            )?,
            rate_limit_store_errors_total: counter(
                &r,
                "rampart_rate_limit_store_errors_total",
                "Requests whose limits the shared store could not decide (on_error applied)",
                &["route"],
            )?,
            rate_limit_lease_grants_total: counter(
                &r,
                "rampart_rate_limit_lease_grants_total",
                "Leases of a key's budget taken from the shared store (sharing: leased)",
                &["route"],
            )?,
            rate_limit_lease_returns_total: counter(
                &r,
                "rampart_rate_limit_lease_returns_total",
                "Leases whose unspent part was given back to the shared store",
                &["route"],
            )?,
            config_reloads_total: counter(
                &r,
                "rampart_config_reloads_total",
                "Config loads by result",
                &["result"],
            )?,
            config_generation,
            config_last_reload_success_timestamp_seconds: last_reload,
            registry: r,
            tls_certificate_expiry: Gauge::new(
                "rampart_tls_certificate_expiry_timestamp_seconds",
                "notAfter of the certificate served to new TLS handshakes, in Unix seconds",
            )?,
        })
    }

    /// Exposes `rampart_tls_certificate_expiry_timestamp_seconds` (TLS is on).
    pub fn enable_tls_expiry(&self) -> prometheus::Result<()> {
        self.registry
            .register(Box::new(self.tls_certificate_expiry.clone()))
    }

    /// The certificate now served expires at `not_after` (Unix seconds).
    pub fn record_certificate(&self, not_after: i64) {
        self.tls_certificate_expiry.set(not_after as f64);
    }

    /// Open WebSockets over every route.
    pub fn websocket_connections_open(&self) -> i64 {
        use prometheus::core::Collector;
        self.websocket_connections
            .collect()
            .iter()
            .flat_map(|family| family.get_metric())
            .map(|m| m.get_gauge().value() as i64)
            .sum()
    }

    /// A config loaded (at start or by a reload): its generation and the success time.
    pub fn record_load(&self, generation: u64) {
        self.config_last_reload_successful.set(1);
        self.config_generation
            .set(i64::try_from(generation).unwrap_or(i64::MAX));
        self.config_reloads_total
            .with_label_values(&["success"])
            .inc();
        self.config_last_reload_success_timestamp_seconds.set(
            std::time::SystemTime::now()
                .duration_since(std::time::SystemTime::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        );
    }

    /// A reload refused: the previous config keeps serving, and says so until the next
    /// successful load (an alert on it stays firing while the bad file is there).
    pub fn record_reload_failure(&self) {
        self.config_last_reload_successful.set(0);
        self.config_reloads_total
            .with_label_values(&["failure"])
            .inc();
    }

    /// Open client connections per listener (read from the front door's counters at scrape).
    pub fn record_connections_open(&self, public: usize, admin: usize) {
        for (listener, n) in [("public", public), ("admin", admin)] {
            self.connections_open
                .with_label_values(&[listener])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// The text exposition format, for `GET /metrics`.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 * 1024);
        let families = self.registry.gather();
        if let Err(e) = TextEncoder::new().encode(&families, &mut out) {
            tracing::warn!(error = %e, "cannot encode metrics");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposes_spec_names_and_build_info() {
        let m = Metrics::new().unwrap();
        m.requests_total
            .with_label_values(&["default", "GET", "200"])
            .inc();
        let text = String::from_utf8(m.render()).unwrap();
        assert!(text
            .contains("rampart_requests_total{method=\"GET\",route=\"default\",status=\"200\"} 1"));
        assert!(text.contains(&format!(
            "rampart_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )));
        assert!(text.contains("rampart_config_generation 0"));
        #[cfg(target_os = "linux")]
        assert!(text.contains("process_resident_memory_bytes"));
    }

    #[test]
    fn instances_are_independent() {
        let a = Metrics::new().unwrap();
        let b = Metrics::new().unwrap();
        a.config_generation.set(5);
        assert_eq!(b.config_generation.get(), 0);
    }

    #[test]
    fn labels() {
        assert_eq!(method_label(&http::Method::GET), "GET");
        assert_eq!(
            method_label(&http::Method::from_bytes(b"BREW").unwrap()),
            "OTHER"
        );
        assert_eq!(status_label(200), "200");
        assert_eq!(status_label(418), "418");
    }
}
