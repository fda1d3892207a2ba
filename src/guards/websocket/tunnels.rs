//! A WebSocket route's open tunnels (`websocket.max_connections`, `max_per_client`, SPEC
//! 0.3): counted from the upgrade request until the connection ends, in all and per client
//! address, so one client cannot take every socket the app has. The counts belong to the
//! route and survive reloads; a permit gives its place back when dropped, however the
//! request ends.

use crate::reject::{Code, Reject};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// The caps (from the route's config; a reload may change them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub max_connections: usize,
    pub max_per_client: usize,
}

/// One route's open tunnels.
#[derive(Debug, Default)]
pub struct Tunnels {
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

/// A place among a route's tunnels; given back when dropped.
#[derive(Debug)]
pub struct Permit {
    tunnels: Arc<Tunnels>,
    client: IpAddr,
}

impl Tunnels {
    /// A place for a tunnel from `client`, or 503 `overloaded` when the route or the client
    /// is at its cap.
    pub fn admit(self: &Arc<Self>, client: IpAddr, caps: Caps) -> Result<Permit, Reject> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.total >= caps.max_connections {
            return Err(overloaded("too many WebSocket connections on this route"));
        }
        let mine = open.per_client.entry(client).or_default();
        if *mine >= caps.max_per_client {
            return Err(overloaded(
                "too many WebSocket connections from this client",
            ));
        }
        *mine += 1;
        open.total += 1;
        Ok(Permit {
            tunnels: Arc::clone(self),
            client,
        })
    }

    /// Tunnels open now (in all).
    pub fn open(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }
}

fn overloaded(detail: &'static str) -> Reject {
    Reject::new(Code::Overloaded, detail).with_retry_after(1)
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut open = self
            .tunnels
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        open.total = open.total.saturating_sub(1);
        if let Some(mine) = open.per_client.get_mut(&self.client) {
            *mine = mine.saturating_sub(1);
            if *mine == 0 {
                // The table holds only clients with a tunnel open: it stays bounded.
                open.per_client.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPS: Caps = Caps {
        max_connections: 3,
        max_per_client: 2,
    };

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn caps_hold_per_client_and_in_all_and_places_come_back() {
        let t = Arc::new(Tunnels::default());
        let a1 = t.admit(ip(1), CAPS).expect("first");
        let _a2 = t.admit(ip(1), CAPS).expect("second");
        let third = t.admit(ip(1), CAPS).expect_err("per client");
        assert_eq!((third.code, third.status), (Code::Overloaded, 503));
        let _b = t.admit(ip(2), CAPS).expect("another client");
        assert!(t.admit(ip(3), CAPS).is_err(), "route full");
        drop(a1);
        assert_eq!(t.open(), 2);
        let _c = t.admit(ip(3), CAPS).expect("a place came back");
        assert!(t.admit(ip(1), CAPS).is_err(), "route full again");
    }

    #[test]
    fn the_client_table_forgets_clients_with_no_tunnel() {
        let t = Arc::new(Tunnels::default());
        for last in 0..=255 {
            drop(t.admit(ip(last), CAPS).expect("admitted"));
        }
        let open = t.open.lock().unwrap_or_else(PoisonError::into_inner);
        assert_eq!((open.total, open.per_client.len()), (0, 0));
    }
}
