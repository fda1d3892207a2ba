//! The end of a proxied (or proxy-refused) request: its record for the one writer in
//! `access_log`.

use super::{Ctx, RampartProxy};
use crate::guards::trace::Trace;
use crate::reject::Code;
use crate::telemetry::access_log;
use crate::telemetry::AccessRecord;
use http::header::USER_AGENT;
use pingora::proxy::Session;

impl RampartProxy {
    /// Hands the request's record to `access_log::finish` (metrics and the log line).
    pub(super) fn finish(&self, session: &Session, ctx: &Ctx) {
        let Some(policy) = ctx.policy.as_deref() else {
            return;
        };
        let status = session
            .response_written()
            .map_or(ctx.status, |r| r.status.as_u16());
        let route = ctx.route_policy();
        let upstream = route.map(|r| &policy.upstreams[r.upstream]);
        let req = session.req_header();
        let user_agent = if policy.logging.is_redacted(&USER_AGENT) {
            None
        } else {
            req.headers.get(USER_AGENT).and_then(|v| v.to_str().ok())
        };
        let record = AccessRecord {
            request_id: ctx.request_id(),
            trace_id: ctx.trace.as_ref().map(Trace::id),
            client_ip: ctx.facts.client_ip,
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
            duration: ctx.start.elapsed(),
            upstream_time: ctx.upstream_time,
            retries: ctx.retry.retries,
            user_agent,
        };
        access_log::finish(&self.shared.metrics, &policy.logging, &record);
    }
}
