//! The admin listener (SPEC §4): liveness, readiness and metrics.

use crate::answer;
use crate::health::report as health_report;
use crate::reject::{Code, Reject};
use crate::state::Shared;
use crate::telemetry::access_log;
use crate::telemetry::AccessRecord;
use crate::upstream::breaker::State;
use async_trait::async_trait;
use http::{Method, Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

pub struct AdminApp {
    pub shared: Arc<Shared>,
}

fn respond(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .header(http::header::CONTENT_LENGTH, body.len())
        .header(http::header::CACHE_CONTROL, "no-store")
        .body(body)
        .unwrap_or_else(|_| Response::new(Vec::new()))
}

/// The credentials of `Authorization: Bearer <token>`; the scheme is case-insensitive
/// (RFC 9110 §11.1) and may be followed by more than one space.
fn bearer_credentials(authorization: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = authorization.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") || rest.first().is_none_or(|b| *b != b' ') {
        return None;
    }
    Some(rest.trim_ascii())
}

impl AdminApp {
    /// `POST /-/reload`: 200 `{"generation":N}`, 400 with every error (nothing changed), or
    /// 401 without the right bearer token when `server.admin_token` is set.
    fn reload(&self, authorization: Option<&[u8]>) -> Result<Response<Vec<u8>>, Reject> {
        let token = self.shared.policy.load().admin_token.clone();
        if let Some(token) = token {
            let given = authorization.and_then(bearer_credentials);
            if !given.is_some_and(|g| constant_time_eq(g, token.as_bytes())) {
                return Err(Reject::new(
                    Code::Unauthorized,
                    "POST /-/reload needs Authorization: Bearer <server.admin_token>",
                )
                .with_header("www-authenticate", http::HeaderValue::from_static("Bearer")));
            }
        }
        match crate::reload::reload(&self.shared, "admin") {
            Ok(generation) => Ok(respond(
                StatusCode::OK,
                "application/json",
                serde_json::json!({ "generation": generation })
                    .to_string()
                    .into_bytes(),
            )),
            Err(errors) => Err(Reject::new(
                Code::InvalidConfig,
                "the config was not reloaded; the previous one keeps serving",
            )
            .with_config_errors(errors)),
        }
    }

    /// A refusal of the admin listener: problem+json from the one answer
    /// (`answer::refuse`, which keeps it out of the public metrics) and an access-log line
    /// with route `admin`.
    fn refused(
        &self,
        session: &ServerSession,
        (method, path): (&Method, &str),
        reject: &Reject,
        start: Instant,
    ) -> Response<Vec<u8>> {
        let request_id = crate::guards::forwarded::mint_request_id();
        let scope = answer::Scope::Admin;
        let answer::Answer::Problem(head, body) =
            answer::refuse(&self.shared.metrics, scope, reject, &request_id, |_| {})
        else {
            return Response::new(Vec::new());
        };
        let mut response = Response::new(body.to_vec());
        *response.status_mut() = head.status;
        for (name, value) in head.headers.iter() {
            response.headers_mut().append(name.clone(), value.clone());
        }
        let client_ip = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |a| a.ip());
        let record = AccessRecord::refused(
            request_id.to_str().unwrap_or("-"),
            client_ip,
            (method.as_str(), path),
            Some("admin"),
            reject,
            (body.len() as u64, start.elapsed()),
        );
        access_log::admin(&self.shared.policy.load().logging, &record);
        response
    }

    /// Gauges read from live state when scraped, so requests never touch them: requests
    /// in flight and waiting, breaker states and endpoint health, per upstream.
    fn refresh_scrape_time_gauges(&self) {
        let policy = self.shared.policy.load();
        let metrics = &self.shared.metrics;
        let now = Instant::now();
        let open = &self.shared.lifecycle;
        metrics.record_connections_open(
            open.connections.load(std::sync::atomic::Ordering::Relaxed),
            open.admin_connections
                .load(std::sync::atomic::Ordering::Relaxed),
        );
        for u in &policy.upstreams {
            let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
            let breaker = u.breaker.as_ref().map_or(State::Closed, |b| b.peek(now));
            metrics
                .circuit_breaker_state
                .with_label_values(&[&u.name])
                .set(breaker.gauge());
            // Series that exist before their first event, so dashboards and alerts see a
            // 0 rather than nothing.
            if u.breaker.is_some() {
                for to in [State::Open, State::HalfOpen, State::Closed] {
                    metrics
                        .circuit_breaker_transitions_total
                        .with_label_values(&[u.name.as_str(), to.as_str()]);
                }
            }
            if let Some(retry) = &u.retry {
                use crate::upstream::retry::Reason;
                let mut reasons: Vec<Reason> = retry
                    .on_statuses
                    .iter()
                    .map(|c| Reason::Status(*c))
                    .collect();
                reasons.extend([Reason::ConnectFailure, Reason::Timeout]);
                for reason in reasons.into_iter().filter(|r| retry.covers(*r)) {
                    metrics
                        .retries_total
                        .with_label_values(&[u.name.as_str(), &reason.label()]);
                }
            }
            for e in &u.endpoints {
                metrics
                    .upstream_endpoint_up
                    .with_label_values(&[&u.name, &e.label])
                    .set(i64::from(e.health.is_up()));
            }
            metrics
                .in_flight_requests
                .with_label_values(&[&u.name])
                .set(count(u.state.admission.in_flight()));
            metrics
                .queue_depth
                .with_label_values(&[&u.name])
                .set(count(u.state.admission.queued()));
        }
    }
}

/// Compares secrets without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let start = Instant::now();
        let req = session.req_header();
        let (method, path) = (req.method.clone(), req.uri.path().to_string());
        let get_only = |body: Response<Vec<u8>>| {
            if method == Method::GET || method == Method::HEAD {
                Ok(body)
            } else {
                Err(Reject::new(Code::MethodNotAllowed, "use GET")
                    .with_allow(http::HeaderValue::from_static("GET, HEAD")))
            }
        };
        let authorization = req
            .headers
            .get(http::header::AUTHORIZATION)
            .map(|v| v.as_bytes().to_vec());
        let answered = match path.as_str() {
            "/-/reload" if method == Method::POST => self.reload(authorization.as_deref()),
            "/-/reload" => Err(Reject::new(Code::MethodNotAllowed, "use POST")
                .with_allow(http::HeaderValue::from_static("POST"))),
            "/livez" => get_only(respond(StatusCode::OK, "text/plain", b"ok\n".to_vec())),
            "/readyz" => {
                let policy = self.shared.policy.load();
                let (status, body) = if self.shared.lifecycle.draining.load(Ordering::Relaxed) {
                    (StatusCode::SERVICE_UNAVAILABLE, &b"draining\n"[..])
                } else if !health_report::ready(&policy, Instant::now()) {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        &b"no healthy upstream\n"[..],
                    )
                } else {
                    (StatusCode::OK, &b"ready\n"[..])
                };
                get_only(respond(status, "text/plain", body.to_vec()))
            }
            "/health" => {
                let policy = self.shared.policy.load();
                let (status, body) = health_report::report(
                    &policy,
                    &self.shared.config.info(),
                    env!("CARGO_PKG_VERSION"),
                    self.shared.lifecycle.started.elapsed(),
                    Instant::now(),
                );
                let code = if status == health_report::Status::Unhealthy {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::OK
                };
                get_only(respond(
                    code,
                    "application/json",
                    body.to_string().into_bytes(),
                ))
            }
            "/metrics" => {
                self.refresh_scrape_time_gauges();
                get_only(respond(
                    StatusCode::OK,
                    "text/plain; version=0.0.4; charset=utf-8",
                    self.shared.metrics.render(),
                ))
            }
            _ => Err(Reject::new(Code::NotFound, "unknown admin endpoint")),
        };
        let mut response = match answered {
            Ok(response) => response,
            Err(reject) => self.refused(session, (&method, &path), &reject, start),
        };
        // The admin endpoints get the security headers like every other response.
        let headers = response.headers_mut();
        for (name, value) in self.shared.policy.load().headers.values() {
            headers.insert(name.clone(), value.clone());
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::bearer_credentials;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for header in [
            &b"Bearer abc"[..],
            b"bearer abc",
            b"BEARER  abc",
            b"BeArEr abc ",
        ] {
            assert_eq!(bearer_credentials(header), Some(&b"abc"[..]), "{header:?}");
        }
        for header in [&b"Bearerabc"[..], b"Basic abc", b"Bear", b""] {
            assert_eq!(bearer_credentials(header), None, "{header:?}");
        }
    }
}
