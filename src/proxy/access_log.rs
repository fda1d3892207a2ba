//! The end of a request: its metrics and its access-log line (SPEC §6, §7).

use super::{Ctx, RampartProxy};
use crate::metrics::{method_label, status_label};
use crate::reject::Code;
use crate::telemetry::{self, AccessRecord};
use http::header::USER_AGENT;
use pingora::proxy::Session;

impl RampartProxy {
    /// Counts the request and writes its access-log line.
    pub(super) fn record(&self, session: &Session, ctx: &Ctx) {
        let status = session
            .response_written()
            .map_or(ctx.status, |r| r.status.as_u16());
        let policy = ctx.policy.as_deref();
        let route = ctx.route_policy();
        let route_label = ctx.route_name();
        let metrics = &self.shared.metrics;
        let req = session.req_header();
        metrics
            .requests_total
            .with_label_values(&[
                route_label,
                method_label(&req.method),
                &status_label(status),
            ])
            .inc();
        let elapsed = ctx.start.elapsed();
        metrics
            .request_duration
            .with_label_values(&[route_label])
            .observe(elapsed.as_secs_f64());
        let upstream = route.and_then(|r| policy.map(|p| &p.upstreams[r.upstream]));
        if let (Some(up), Some(t)) = (upstream, ctx.upstream_time) {
            metrics
                .upstream_request_duration
                .with_label_values(&[&up.name])
                .observe(t.as_secs_f64());
        }
        let Some(policy) = policy else { return };
        if !policy.logging.access_log {
            return;
        }
        let user_agent = if policy.logging.is_redacted(&USER_AGENT) {
            None
        } else {
            req.headers.get(USER_AGENT).and_then(|v| v.to_str().ok())
        };
        telemetry::access_log(
            policy.logging.format,
            &AccessRecord {
                request_id: ctx.request_id(),
                client_ip: ctx.client_ip,
                method: req.method.as_str(),
                path: req.uri.path(),
                route: route.map(|r| r.name.as_str()),
                upstream: upstream.map(|u| u.name.as_str()),
                endpoint: upstream
                    .zip(ctx.endpoint)
                    .map(|(u, i)| u.endpoints[i].label.as_str()),
                status,
                code: ctx.rejected.map(Code::as_str),
                shadow: &ctx.shadow,
                bytes_in: session.body_bytes_read() as u64,
                bytes_out: session.body_bytes_sent() as u64,
                duration: elapsed,
                upstream_time: ctx.upstream_time,
                retries: ctx.retries,
                user_agent,
            },
        );
    }
}
