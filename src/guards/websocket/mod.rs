//! WebSocket routes (`websocket:` on a route). `Upgrade` is forwarded only there; elsewhere
//! it is dropped and the request served as plain HTTP. On a WebSocket route the upgraded
//! connection holds a `max_in_flight` slot only until the app's 101; after it, `idle_timeout`
//! replaces every other timeout, and nothing on it counts toward the breaker or
//! `max_body_bytes`. At the end of a shutdown's grace period, each open socket gets a close
//! frame (1001 going away) both ways, placed between frames (`frames`).

pub mod frames;
pub mod tunnels;

use http::header::{CONNECTION, UPGRADE};
use http::HeaderMap;
use std::time::Duration;

/// A route's `websocket:` compiled.
#[derive(Debug, Clone)]
pub struct WebSocketPolicy {
    pub idle_timeout: Duration,
    pub caps: tunnels::Caps,
    /// The route's open tunnels (carried over a reload from the same-named route).
    pub tunnels: std::sync::Arc<tunnels::Tunnels>,
}

/// This request's WebSocket slice of the context.
#[derive(Debug, Default)]
pub struct WebSocketState {
    /// The request asks to switch protocols on a WebSocket route (its `idle_timeout`).
    pub requested: Option<Duration>,
    /// The app answered 101: the connection is a WebSocket now.
    pub upgraded: bool,
    /// Its place among the route's tunnels, from the upgrade request to the end.
    pub permit: Option<tunnels::Permit>,
}

/// The app's 101 switched to WebSocket (not some other protocol): its frames can be followed.
pub fn switched_to_websocket(response: &HeaderMap) -> bool {
    response
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"))
}

/// What to do with a request's `Upgrade`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upgrade {
    /// Not an upgrade request.
    None,
    /// Forwarded: a WebSocket route (its `idle_timeout`).
    Forward(Duration),
    /// Dropped (not a WebSocket route): remove `Upgrade`, and set `Connection` to this
    /// (the request's value without its `upgrade` token; None: remove it).
    Strip {
        connection: Option<http::HeaderValue>,
    },
}

/// Decides what happens to a request's `Upgrade`: kept on a WebSocket route, removed
/// elsewhere together with the `upgrade` token of `Connection`, so neither the app nor
/// Pingora sees an upgrade request there.
pub fn decide(headers: &HeaderMap, route: Option<&WebSocketPolicy>) -> Upgrade {
    if !headers.contains_key(UPGRADE) {
        return Upgrade::None;
    }
    if let Some(policy) = route {
        return Upgrade::Forward(policy.idle_timeout);
    }
    let kept: Vec<&str> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("upgrade"))
        .collect();
    let connection = (!kept.is_empty())
        .then(|| http::HeaderValue::from_str(&kept.join(", ")).ok())
        .flatten();
    Upgrade::Strip { connection }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn upgrade_request() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        h
    }

    #[test]
    fn upgrade_is_kept_only_on_websocket_routes() {
        let policy = WebSocketPolicy {
            idle_timeout: Duration::from_secs(600),
            caps: tunnels::Caps {
                max_connections: 1,
                max_per_client: 1,
            },
            tunnels: Default::default(),
        };
        let h = upgrade_request();
        assert_eq!(
            decide(&h, Some(&policy)),
            Upgrade::Forward(Duration::from_secs(600))
        );
        assert_eq!(
            decide(&h, None),
            Upgrade::Strip {
                connection: Some(HeaderValue::from_static("keep-alive"))
            }
        );
        let mut only_upgrade = upgrade_request();
        only_upgrade.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        assert_eq!(
            decide(&only_upgrade, None),
            Upgrade::Strip { connection: None }
        );
        assert_eq!(decide(&HeaderMap::new(), Some(&policy)), Upgrade::None);
    }

    #[test]
    fn only_a_switch_to_websocket_is_followed() {
        let response = |upgrade: Option<&'static str>| {
            let mut h = HeaderMap::new();
            if let Some(u) = upgrade {
                h.insert(UPGRADE, HeaderValue::from_static(u));
            }
            h
        };
        assert!(switched_to_websocket(&response(Some("websocket"))));
        assert!(switched_to_websocket(&response(Some(" WebSocket "))));
        assert!(!switched_to_websocket(&response(Some("h2c"))));
        assert!(!switched_to_websocket(&response(None)));
    }
}
