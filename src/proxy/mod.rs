//! THE ONLY `impl ProxyHttp`: the fixed order of the phases. Decisions are made by the
//! pure modules under `guards/` and `upstream/`; `verdicts.rs` turns them into answers,
//! `resilience.rs` handles breaker, retries and endpoint choice, `headers.rs` what responses
//! carry and what the app is told, `access_log.rs` the end of a request, and `context.rs`
//! holds what one request carries from phase to phase.

mod context;
mod finish;
mod h2_body;
mod headers;
mod resilience;
mod steps;
mod upgrade;
mod verdict;

use crate::front::client_stream::ClientStream;
use crate::front::Handover;
use crate::guards::forwarded::{self, mint_request_id};
use crate::guards::rate_limit::feature as rate_limit;
use crate::pipeline::Step;
use crate::state::Shared;
use crate::upstream::response_check;
use crate::upstream::retry::Reason;
use async_trait::async_trait;
use bytes::Bytes;
pub use context::Ctx;
use headers::decorate;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::modules::http::HttpModules;
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One step of `request_filter`: the verdict is applied, and an answered request ends there.
macro_rules! decide {
    ($proxy:expr, $session:expr, $ctx:expr, $verdict:expr) => {
        let verdict = $verdict;
        if $proxy.apply($session, $ctx, verdict).await? {
            return Ok(true);
        }
    };
}

fn no_route() -> Box<Error> {
    Error::explain(ErrorType::InternalError, "no route after routing")
}

pub struct RampartProxy {
    pub shared: Arc<Shared>,
}

#[async_trait]
impl ProxyHttp for RampartProxy {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx::new()
    }

    /// No compression module: Rampart passes the app's encoding through untouched.
    fn init_downstream_modules(&self, _modules: &mut HttpModules) {}

    /// The front door hands over the policy snapshot taken when the head was complete. An
    /// HTTP/2 stream takes its snapshot here.
    async fn early_request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<()> {
        let handover = session
            .downstream_session
            .stream()
            .and_then(ClientStream::of)
            .and_then(ClientStream::take_handover);
        match handover {
            Some(Handover {
                policy,
                drop_underscored,
            }) => {
                ctx.policy = Some(policy);
                ctx.drop_underscored = drop_underscored;
            }
            None => ctx.policy = Some(self.shared.policy.load_full()),
        }
        Ok(())
    }

    /// Every decision that needs only the head, in this order, then the body: each step
    /// returns a verdict and `apply` enforces it (or counts it, in shadow mode); the first
    /// refusal answers the request and no body byte has been read.
    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let policy = Arc::clone(self.policy(ctx)?);
        let head = Self::h2_head_rules(session, ctx, &policy);
        self.identify(session, ctx, &policy);
        // A client that accepts no response bytes this long loses the exchange (SPEC 0.3):
        // on HTTP/2 by Pingora's write timeout (its flow-control waits); on HTTP/1.1 the
        // front door's stream arms it only when a write stalls (no timer per write).
        if session.as_ref().is_http2() {
            session.set_write_timeout(Some(policy.client.send_timeout));
        }
        decide!(self, session, ctx, head);
        for step in Step::ORDER {
            let verdict = self.step(step, session, ctx, &policy).await?;
            decide!(self, session, ctx, verdict);
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
        if ctx.websocket.upgraded {
            // WebSocket frames are not a request body.
            return Ok(());
        }
        let route = &policy.routes[index];
        if let Err(reject) = ctx.body.add(chunk.len(), route.max_body_bytes) {
            if route.shadow {
                self.shadowed(ctx, reject);
            } else {
                // The crossing chunk is not forwarded; `fail_to_proxy` answers with this
                // refusal and the upstream exchange is aborted.
                ctx.refusal = Some(reject);
                return Error::e_explain(
                    ErrorType::HTTPStatus(413),
                    "request body over the route's max_body_bytes",
                );
            }
        }
        Ok(())
    }

    async fn upstream_peer(&self, session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let policy = Arc::clone(self.policy(ctx)?);
        let route = ctx
            .route
            .map(|r| &policy.routes[r])
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no route for upstream"))?;
        let upstream = &policy.upstreams[route.upstream];
        if ctx.retry.retries > 0 {
            self.retry_backoff(ctx, upstream).await;
        } else if !ctx.retry.attempted {
            ctx.retry.attempted = true;
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
            ctx.retry.tried |= 1 << index;
        }
        let mut peer = Box::new(upstream.endpoints[index].peer.clone());
        let now = Instant::now();
        if let Some(total) = route.timeout {
            // The route's total budget bounds both connecting and every read after it
            // (a retry, later, gets only what is left).
            let deadline = *ctx
                .deadline
                .get_or_insert(crate::time_math::after(now, total));
            let left = deadline
                .saturating_duration_since(now)
                .max(Duration::from_millis(1));
            peer.options.read_timeout = Some(upstream.read_timeout.min(left));
            peer.options.connection_timeout = Some(upstream.connect_timeout.min(left));
            peer.options.total_connection_timeout = peer.options.connection_timeout;
        }
        peer.options.h1_response_header_headroom = headers::response_headroom(ctx);
        Self::upgrade_timeouts(session, ctx, &mut peer);
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
        let tls = self.policy(ctx)?.tls;
        // Made once per connection: the peer is the connection's.
        let peer_forwarded_for = session
            .downstream_session
            .stream()
            .and_then(ClientStream::of)
            .map(|conn| conn.peer_forwarded_for(ctx.peer_ip, forwarded::peer_forwarded_for));
        headers::forward_headers(req, ctx, tls, peer_forwarded_for)?;
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
        let asked_upgrade = ctx.websocket.requested.is_some();
        if let Err(reject) =
            response_check::check(resp.status.as_u16(), &resp.headers, asked_upgrade)
        {
            // Answered by `fail_to_proxy`; a broken app counts as a failure for its breaker.
            let detail = reject.detail.to_string();
            ctx.refusal = Some(reject);
            self.breaker_at_response_head(ctx, None);
            return Error::e_explain(ErrorType::HTTPStatus(502), detail);
        }
        let code = resp.status.as_u16();
        if code == 101 {
            self.upgraded(session, ctx, resp);
            return Ok(());
        }
        let retry_listed = ctx
            .upstream_policy()
            .and_then(|u| u.retry.as_ref())
            .is_some_and(|r| r.covers(Reason::Status(code)));
        if retry_listed && self.decide_retry(session, ctx, Reason::Status(code)) {
            // Nothing went to the client yet: this response is dropped and the request
            // tried again (`error_while_proxy` marks the error retryable).
            ctx.retry.retrying_status = Some(code);
            return Error::e_explain(ErrorType::HTTPStatus(code), "retrying after this status");
        }
        ctx.upstream_status = Some(code);
        self.breaker_at_response_head(ctx, Some(code));
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
        match resilience::reason_of(&e, ctx.retry.retrying_status.take()) {
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
        ctx.response_forwarded = true;
        decorate(resp, ctx, true);
        if let Some(route) = ctx
            .policy
            .as_ref()
            .zip(ctx.route)
            .and_then(|(p, i)| p.routes.get(i))
        {
            rate_limit::on_response(&route.rate_limits, &mut ctx.rate_limit, resp);
        }
        Ok(())
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
        // The outcome is known before the answer is written (SPEC 0.3: outcomes before answers).
        self.finish_breaker_call(ctx, Some(e));
        if resilience::client_stopped_reading(e) {
            // Nothing more can reach this client: the exchange ends here, and the app's
            // connection goes with it (never reused mid-response).
            ctx.rejected = Some(crate::reject::Code::SendTimeout);
            return FailToProxy {
                error_code: 0,
                can_reuse_downstream: false,
            };
        }
        if let Some(idle) = resilience::stream_idle(ctx, e) {
            return idle;
        }
        // A malformed chunk found while the body streamed: the app got an incomplete body.
        let framing = session
            .downstream_session
            .stream()
            .and_then(ClientStream::of)
            .and_then(ClientStream::take_failure);
        let reject = framing.or_else(|| ctx.refusal.take());
        let Some(reject) = reject.or_else(|| crate::failure::classify(e)) else {
            return FailToProxy {
                error_code: 0,
                can_reuse_downstream: false,
            };
        };
        let status = reject.status;
        if ctx.request_id.is_none() {
            ctx.request_id = Some(mint_request_id());
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
        self.upgrade_finished(ctx);
        // The app is done with this request: its slot goes to the next one now.
        ctx.slot = None;
        self.finish(session, ctx);
    }
}
