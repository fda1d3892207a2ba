//! What a connection carries for the proxy: the front door's handover for the request about
//! to be served, and values that depend only on the connection, made once for all of its
//! requests. Kept in the connection, which Pingora hands the proxy anyway: Pingora's own
//! per-request user context is a `Box<dyn Any>`, one allocation per request.

use super::ClientStream;
use crate::front::Handover;
use http::HeaderValue;
use std::net::IpAddr;

#[derive(Default)]
pub(super) struct Carried {
    handover: Option<Handover>,
    /// The `X-Forwarded-For` value naming this connection's peer, and the address it names.
    peer_forwarded_for: Option<(IpAddr, HeaderValue)>,
}

impl ClientStream {
    /// The front door's handover for the request about to be served (the proxy takes it).
    pub fn hand_over(&mut self, handover: Handover) {
        self.inner_mut().carried.handover = Some(handover);
    }

    /// The handover for this request, once.
    pub fn take_handover(&self) -> Option<Handover> {
        self.lock().carried.handover.take()
    }

    /// The `X-Forwarded-For` value naming `peer`, made by `make` for the connection's first
    /// request and shared by the next ones (a value whose clones count references).
    pub fn peer_forwarded_for(
        &self,
        peer: IpAddr,
        make: impl FnOnce(IpAddr) -> HeaderValue,
    ) -> HeaderValue {
        let mut inner = self.lock();
        match &inner.carried.peer_forwarded_for {
            Some((made_for, value)) if *made_for == peer => value.clone(),
            _ => {
                let value = make(peer);
                inner.carried.peer_forwarded_for = Some((peer, value.clone()));
                value
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guards::forwarded::peer_forwarded_for;
    use std::cell::Cell;

    #[test]
    fn the_peers_value_is_made_once_per_connection_and_again_for_another_peer() {
        let (ours, _theirs) = tokio::io::duplex(64);
        let conn = ClientStream::new(Box::new(ours));
        let made = Cell::new(0);
        let make = |peer| {
            made.set(made.get() + 1);
            peer_forwarded_for(peer)
        };
        let first: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(conn.peer_forwarded_for(first, make), "192.0.2.1");
        assert_eq!(conn.peer_forwarded_for(first, make), "192.0.2.1");
        assert_eq!(made.get(), 1);
        let other: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(conn.peer_forwarded_for(other, make), "2001:db8::1");
        assert_eq!(made.get(), 2);
    }
}
