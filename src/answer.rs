//! THE answer to a refusal, whatever door it happened at — the front door (a head refused
//! before Pingora saw it), the proxy (a rule, a body, a failing app) or the admin listener:
//! shadow mode applied, the refusal counted where it belongs, the door's headers added,
//! problem+json built (by `Reject::response`). Each door only writes the bytes on its own
//! transport.

use crate::reject::{Code, Reject};
use crate::telemetry::metrics::Metrics;
use bytes::Bytes;
use http::header::HeaderValue;
use pingora::http::ResponseHeader;

/// Where a refusal happened, which decides where it is counted.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// The public listener: `rampart_rejections_total{route}` ("" before a route matched).
    /// On a `shadow: true` route a rule's refusal is only counted
    /// (`rampart_shadow_rejections_total`) and the request goes on.
    Public { route: &'a str, shadow: bool },
    /// The admin listener: logged with route `admin`, kept out of the public metrics.
    Admin,
}

/// What became of a refusal.
// Returned by value once per refusal and taken apart at once: boxing the head would only
// add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Answer {
    /// A shadow route's refusal: counted, not enforced.
    Shadowed(Code),
    /// The answer to write: head (problem+json, the request id, what `decorate` added) and
    /// body.
    Problem(ResponseHeader, Bytes),
}

/// Applies shadow mode, counts `reject` and builds its answer. `decorate` adds what the
/// door owns (security headers, CORS).
pub fn refuse(
    metrics: &Metrics,
    scope: Scope<'_>,
    reject: &Reject,
    request_id: &HeaderValue,
    decorate: impl FnOnce(&mut ResponseHeader),
) -> Answer {
    match scope {
        Scope::Public {
            route,
            shadow: true,
        } => {
            shadowed(metrics, route, reject.code);
            return Answer::Shadowed(reject.code);
        }
        Scope::Public { route, .. } => counted(metrics, route, reject.code),
        Scope::Admin => {}
    }
    let (mut head, body) = reject.response(request_id);
    decorate(&mut head);
    Answer::Problem(head, body)
}

/// Counts a refusal that was answered in another way than problem+json (a route's
/// fallback response while its app is unavailable).
pub fn counted(metrics: &Metrics, route: &str, code: Code) {
    metrics
        .rejections_total
        .with_label_values(&[route, code.as_str()])
        .inc();
}

fn shadowed(metrics: &Metrics, route: &str, code: Code) {
    metrics
        .shadow_rejections_total
        .with_label_values(&[route, code.as_str()])
        .inc();
}
