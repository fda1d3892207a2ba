//! THE ONLY `impl ProxyHttp`: the fixed order of the phases. Decisions are made by the
//! pure modules under `guards/` and `upstream/`; `verdicts.rs` turns them into answers and
//! `context.rs` holds what one request carries from phase to phase.

mod context;
mod resilience;
mod verdicts;

use crate::guards::{access, body, cors, forwarded, routing};
use crate::metrics::{method_label, status_label};
use crate::prebuffer::Prebuffered;
use crate::reject::Code;
use crate::state::Shared;
use crate::telemetry::{self, AccessRecord};
use crate::upstream::retry::Reason;
use async_trait::async_trait;
use bytes::Bytes;
pub use context::Ctx;
use http::header::{HeaderName, HeaderValue, HOST, USER_AGENT};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::modules::http::HttpModules;
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use verdicts::check_limits;

// Static names: inserting by `&str` would parse and validate the name on every request.
static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
static TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// The largest response head accepted from the app (Envoy's default is 60 KiB).
const MAX_RESPONSE_HEAD_BYTES: usize = 64 * 1024;

pub struct RampartProxy {
    pub shared: Arc<Shared>,
}

/// Headers every response carries, proxied (`from_app`) or generated: the request id, the
/// security headers (route's or global), CORS for an allowed origin; never a banner.
fn decorate(head: &mut ResponseHeader, ctx: &Ctx, from_app: bool) {
    if let Some(id) = &ctx.request_id {
        let _ = head.insert_header(X_REQUEST_ID.clone(), id.clone());
    }
    if let Some(policy) = &ctx.policy {
        let set = ctx.route_policy().map_or(&policy.headers, |r| &r.headers);
        if from_app {
            set.apply_to_app_response(head);
        } else {
            set.apply_to_own_response(head);
        }
    }
    let _ = head.remove_header(&http::header::SERVER);
    for (name, value) in &ctx.cors_headers {
        let _ = head.insert_header(name.clone(), value.clone());
    }
    if ctx.vary_origin {
        let vary = match head
            .headers
            .get(http::header::VARY)
            .map(HeaderValue::as_bytes)
        {
            Some(v)
                if v.split(|&b| b == b',')
                    .any(|p| p.trim_ascii().eq_ignore_ascii_case(b"origin")) =>
            {
                None
            }
            Some(v) => HeaderValue::from_bytes(&[v, b", Origin"].concat()).ok(),
            None => Some(HeaderValue::from_static("Origin")),
        };
        if let Some(vary) = vary {
            let _ = head.insert_header(http::header::VARY, vary);
        }
    }
}

fn new_request_id() -> HeaderValue {
    let id = forwarded::new_request_id(fastrand::u128(..));
    HeaderValue::from_bytes(&id).unwrap_or(HeaderValue::from_static("0"))
}

#[async_trait]
impl ProxyHttp for RampartProxy {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx::new()
    }

    /// The connection loop hands over a body it read ahead (see `prebuffer.rs`).
    fn on_connection_reuse(
        &self,
        _session: &mut Session,
        ctx: &mut Ctx,
        carried: Box<dyn std::any::Any + Send + Sync>,
    ) {
        if let Ok(body) = carried.downcast::<Prebuffered>() {
            ctx.prebuffered = Some(body.0);
        }
    }

    /// No compression module: Rampart passes the app's encoding through untouched.
    fn init_downstream_modules(&self, _modules: &mut HttpModules) {}

    async fn early_request_filter(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<()> {
        ctx.policy = Some(self.shared.policy.load_full());
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let policy = Arc::clone(self.policy(ctx)?);
        let req = session.req_header();
        ctx.request_id = Some(match req.headers.get(&X_REQUEST_ID) {
            Some(v) if forwarded::is_sane_request_id(v.as_bytes()) => v.clone(),
            _ => new_request_id(),
        });

        ctx.peer_ip = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| {
                forwarded::canonical(a.ip())
            });
        let trusted = &policy.client.trusted_proxies;
        ctx.peer_trusted = !trusted.is_empty() && forwarded::is_trusted(ctx.peer_ip, trusted);
        ctx.client_ip = if ctx.peer_trusted {
            let xff: Vec<&[u8]> = req
                .headers
                .get_all(&X_FORWARDED_FOR)
                .iter()
                .map(HeaderValue::as_bytes)
                .collect();
            let real_ip = req.headers.get(&X_REAL_IP).map(HeaderValue::as_bytes);
            forwarded::client_ip(ctx.peer_ip, trusted, &xff, real_ip)
        } else {
            ctx.peer_ip
        };

        let path = req.uri.path();
        let preflight = cors::is_preflight(&req.method, &req.headers);
        // A preflight is routed as the request it announces.
        let method = if preflight {
            req.headers
                .get(&cors::REQUEST_METHOD)
                .and_then(|m| http::Method::from_bytes(m.as_bytes()).ok())
                .unwrap_or(req.method.clone())
        } else {
            req.method.clone()
        };
        let verdict = routing::normalize_path(path).and_then(|normalized| {
            let host = req
                .headers
                .get(HOST)
                .and_then(|h| h.to_str().ok())
                .or(req.uri.host());
            let found = routing::find_route(&policy.matchers, &method, host, &normalized);
            if normalized != path {
                ctx.rewritten_path = Some(normalized.into_owned());
            }
            found
        });
        let cors = match &verdict {
            Ok(index) => policy.routes[*index].cors.as_ref(),
            Err(_) => policy.cors.as_ref(),
        };
        if let Some(cors) = cors {
            ctx.vary_origin = true;
            let req = session.req_header();
            if let Some(origin) = req.headers.get(http::header::ORIGIN) {
                if preflight {
                    let announced = req.headers.get(&cors::REQUEST_METHOD);
                    let allow = cors.preflight(
                        origin,
                        announced.map_or(&b""[..], HeaderValue::as_bytes),
                        cors::requested_headers(&req.headers),
                    );
                    ctx.route = verdict.ok();
                    self.answer_preflight(session, ctx, allow).await?;
                    return Ok(true);
                }
                ctx.cors_headers = cors.actual(origin);
            }
        }
        let index = match verdict {
            Ok(index) => index,
            Err(reject) => {
                self.respond(session, ctx, reject).await?;
                return Ok(true);
            }
        };
        ctx.route = Some(index);
        let route = &policy.routes[index];

        if let Err(reject) =
            access::check_ip(ctx.client_ip, route.allow_ips.as_deref(), &route.deny_ips)
        {
            if self.enforce(session, ctx, reject).await? {
                return Ok(true);
            }
        }
        if !route.limits.is_empty() {
            let shared = policy.shared_limits.as_deref();
            let verdict = check_limits(session.req_header(), ctx, route, shared).await;
            if ctx.store_failed {
                self.shared
                    .metrics
                    .rate_limit_store_errors_total
                    .with_label_values(&[&route.name])
                    .inc();
            }
            if let Some(reject) = verdict {
                if self.enforce(session, ctx, reject).await? {
                    return Ok(true);
                }
            }
        }
        let req = session.req_header();
        // The listener already refused invalid or ambiguous framing: this parse is exact.
        let declared = req
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let has_body = declared.map_or_else(
            || req.headers.contains_key(http::header::TRANSFER_ENCODING),
            |n| n > 0,
        );
        if let Some(length) = declared {
            if let Err(reject) = body::check_declared(length, route.max_body_bytes) {
                if self.enforce(session, ctx, reject).await? {
                    return Ok(true);
                }
            }
        }
        if let (true, Some(allowed)) = (has_body, &route.content_types) {
            let content_type = session
                .req_header()
                .headers
                .get(http::header::CONTENT_TYPE)
                .map(HeaderValue::as_bytes);
            if let Err(reject) = access::check_content_type(content_type, allowed) {
                if self.enforce(session, ctx, reject).await? {
                    return Ok(true);
                }
            }
        }
        let validates = route.schema.is_some() || route.uploads.is_some();
        if has_body && validates && self.validate_body(session, ctx, route).await? {
            return Ok(true);
        }
        // Last: a request that waits for the app has passed every other check.
        let upstream = &policy.upstreams[route.upstream];
        if self.gate_upstream(session, ctx, route, upstream).await? {
            return Ok(true);
        }
        if self.admit(session, ctx, upstream, !has_body).await? {
            return Ok(true);
        }
        // Gaps between body reads are bounded by `client.body_timeout`.
        session.set_read_timeout(Some(policy.client.body_timeout));
        Ok(false)
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let (Some(chunk), Some(policy), Some(index)) =
            (body.as_ref(), ctx.policy.as_ref(), ctx.route)
        else {
            return Ok(());
        };
        let route = &policy.routes[index];
        if let Err(reject) = ctx.body.add(chunk.len(), route.max_body_bytes) {
            if route.shadow {
                if !ctx.shadow.contains(&reject.code.as_str()) {
                    self.record_shadow(ctx, reject.code);
                }
            } else {
                // The crossing chunk is not forwarded; `fail_to_proxy` answers 413 and the
                // upstream exchange is aborted.
                return Error::e_explain(
                    ErrorType::HTTPStatus(413),
                    "request body over the route's max_body_bytes",
                );
            }
        }
        Ok(())
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let policy = Arc::clone(self.policy(ctx)?);
        let route = ctx
            .route
            .map(|r| &policy.routes[r])
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no route for upstream"))?;
        let upstream = &policy.upstreams[route.upstream];
        if ctx.retries > 0 {
            self.retry_backoff(ctx, upstream).await;
        } else if !ctx.attempted {
            ctx.attempted = true;
            if let Some(retry) = &upstream.retry {
                upstream
                    .state
                    .retry_budget
                    .deposit(retry.budget_ratio, Instant::now());
            }
        }
        // A retry's status is that of its own response.
        ctx.upstream_status = None;
        let index = self
            .pick_endpoint(ctx, upstream)
            .ok_or_else(|| Error::explain(ErrorType::HTTPStatus(503), "no endpoint"))?;
        if index < 64 {
            ctx.tried |= 1 << index;
        }
        let mut peer = Box::new(upstream.endpoints[index].peer.clone());
        let now = Instant::now();
        if let Some(total) = route.timeout {
            // The route's total budget bounds both connecting and every read after it
            // (a retry, later, gets only what is left).
            let deadline = *ctx.deadline.get_or_insert(now + total);
            let left = deadline
                .saturating_duration_since(now)
                .max(Duration::from_millis(1));
            peer.options.read_timeout = Some(upstream.read_timeout.min(left));
            peer.options.connection_timeout = Some(upstream.connect_timeout.min(left));
            peer.options.total_connection_timeout = peer.options.connection_timeout;
        }
        ctx.endpoint = Some(index);
        ctx.upstream_start = Some(now);
        Ok(peer)
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        req: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let policy = self.policy(ctx)?;
        let xff = if ctx.peer_trusted && req.headers.contains_key(&X_FORWARDED_FOR) {
            let existing: Vec<&[u8]> = req
                .headers
                .get_all(&X_FORWARDED_FOR)
                .iter()
                .map(HeaderValue::as_bytes)
                .collect();
            forwarded::forwarded_for_value(ctx.peer_ip, true, &existing)
        } else {
            forwarded::forwarded_for_value(ctx.peer_ip, false, &[])
        };
        req.insert_header(X_FORWARDED_FOR.clone(), xff)?;
        if !(ctx.peer_trusted && req.headers.contains_key(&X_FORWARDED_PROTO)) {
            let proto = HeaderValue::from_static(if policy.tls { "https" } else { "http" });
            req.insert_header(X_FORWARDED_PROTO.clone(), proto)?;
        }
        if !(ctx.peer_trusted && req.headers.contains_key(&X_FORWARDED_HOST)) {
            match session.req_header().headers.get(HOST).cloned() {
                Some(host) => req.insert_header(X_FORWARDED_HOST.clone(), host)?,
                None => {
                    req.remove_header(&X_FORWARDED_HOST);
                }
            }
        }
        if let Some(id) = &ctx.request_id {
            req.insert_header(X_REQUEST_ID.clone(), id.clone())?;
        }
        let mut traces = req.headers.get_all(&TRACEPARENT).iter();
        let valid_trace = match (traces.next(), traces.next()) {
            (Some(v), None) => forwarded::is_valid_traceparent(v.as_bytes()),
            _ => false,
        };
        if !valid_trace {
            // An invalid traceparent invalidates its tracestate too (W3C Trace Context §3.3).
            req.remove_header(&TRACESTATE);
            let fresh = forwarded::new_traceparent(fastrand::u128(..), fastrand::u64(..));
            let value = HeaderValue::from_bytes(&fresh)
                .map_err(|e| Error::because(ErrorType::InternalError, "traceparent", e))?;
            req.insert_header(TRACEPARENT.clone(), value)?;
        }
        if ctx.prebuffered.is_some() {
            // The client already got its `100 Continue` from us with the body read ahead.
            req.remove_header(&http::header::EXPECT);
        }
        if let Some(path) = &ctx.rewritten_path {
            let uri = match req.uri.query() {
                Some(q) => format!("{path}?{q}"),
                None => path.clone(),
            };
            let uri = http::Uri::try_from(uri)
                .map_err(|e| Error::because(ErrorType::InternalError, "rewriting path", e))?;
            req.set_uri(uri);
        }
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if let Some(start) = ctx.upstream_start {
            ctx.upstream_time = Some(start.elapsed());
        }
        // An app sending a huge head is broken (or hostile); NGINX and Envoy refuse it too.
        let head_bytes: usize = resp
            .headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum();
        if head_bytes > MAX_RESPONSE_HEAD_BYTES {
            return Error::e_explain(
                ErrorType::HTTPStatus(502),
                "the app's response head is over 64 KiB",
            );
        }
        let code = resp.status.as_u16();
        let retry_listed = ctx
            .upstream_policy()
            .and_then(|u| u.retry.as_ref())
            .is_some_and(|r| r.covers(Reason::Status(code)));
        if retry_listed && self.decide_retry(session, ctx, Reason::Status(code)) {
            // Nothing went to the client yet: this response is dropped and the request
            // tried again (`error_while_proxy` marks the error retryable).
            ctx.retrying_status = Some(code);
            return Error::e_explain(ErrorType::HTTPStatus(code), "retrying after this status");
        }
        ctx.upstream_status = Some(code);
        Ok(())
    }

    fn fail_to_connect(
        &self,
        session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Ctx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        self.endpoint_failed(ctx, &e);
        let retry = self.decide_retry(session, ctx, Reason::ConnectFailure);
        e.set_retry(retry);
        e
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut Ctx,
        client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("Peer: {peer}"));
        match resilience::reason_of(&e, ctx.retrying_status.take()) {
            // Decided and counted when the response head arrived.
            Some(Reason::Status(_)) => e.set_retry(true),
            Some(reason) => {
                self.endpoint_failed(ctx, &e);
                let retry = self.decide_retry(session, ctx, reason);
                e.set_retry(retry);
            }
            // Pingora's own rule: an idempotent request whose pooled connection turned out
            // to be closed is sent again on a fresh one.
            None => {
                let req = session.req_header();
                if !req.method.is_idempotent() || session.as_ref().retry_buffer_truncated() {
                    e.set_retry(false);
                } else {
                    e.retry.decide_reuse(client_reused);
                }
            }
        }
        e
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        ctx.status = resp.status.as_u16();
        decorate(resp, ctx, true);
        if let Some(value) = ctx.rate_limit.take() {
            if let Some(policy) = ctx
                .route_policy()
                .and_then(|r| r.limit_policy_header.clone())
            {
                resp.insert_header("ratelimit-policy", policy)?;
            }
            resp.insert_header("ratelimit", value)?;
        }
        Ok(())
    }

    fn upstream_response_body_filter(
        &self,
        _session: &mut Session,
        _body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<Option<Duration>> {
        // The route's total timeout also covers a body that trickles in.
        if ctx.deadline.is_some_and(|d| Instant::now() > d) {
            return Error::e_explain(
                ErrorType::ReadTimedout,
                "route timeout reached while streaming the response",
            );
        }
        Ok(None)
    }

    fn suppress_proxy_warn_log(
        &self,
        _session: &Session,
        _ctx: &Ctx,
        _error: &Error,
        _context: pingora::proxy::ProxyWarnLogContext,
    ) -> bool {
        // Retries are counted in `rampart_retries_total` and the access log's `retries`.
        true
    }

    fn suppress_error_log(&self, _session: &Session, _ctx: &Ctx, _error: &Error) -> bool {
        // Each failure is in the access log line with its code; Pingora's line would repeat it.
        true
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        let Some(reject) = crate::failure::classify(e) else {
            return FailToProxy {
                error_code: 0,
                can_reuse_downstream: false,
            };
        };
        let status = reject.status;
        if ctx.request_id.is_none() {
            ctx.request_id = Some(new_request_id());
        }
        // Pingora drops the client connection after a failed proxy attempt whatever we
        // return: say so in the answer, or a client reusing it meets a reset.
        session.set_keepalive(None);
        if let Err(write_err) = self.respond(session, ctx, reject).await {
            tracing::debug!(error = %write_err, "could not send the error response");
        }
        FailToProxy {
            error_code: status,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut Ctx) {
        self.finish_breaker_call(ctx, _e);
        // The app is done with this request: its slot goes to the next one now.
        ctx.slot = None;
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
