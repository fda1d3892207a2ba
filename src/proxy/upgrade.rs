//! The proxy's side of WebSocket routes (`guards/websocket.rs` decides): the `Upgrade`
//! header kept or dropped, the timeouts of an upgrade request, and what changes at the 101.

use super::verdict::Verdict;
use super::{Ctx, RampartProxy};
use crate::front::client_stream::ClientStream;
use crate::guards::websocket::{self, Upgrade};
use crate::policy::RoutePolicy;
use crate::upstream::breaker::feature as breaker;
use http::header::{CONNECTION, UPGRADE};
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::upstreams::peer::HttpPeer;
use std::time::Instant;

impl RampartProxy {
    /// `Upgrade` is forwarded on WebSocket routes only; elsewhere it is dropped here, before
    /// Pingora or the app could treat the request as an upgrade.
    pub(super) fn websocket(session: &mut Session, ctx: &mut Ctx, route: &RoutePolicy) -> Verdict {
        let req = session.req_header_mut();
        match websocket::decide(&req.headers, route.websocket.as_ref()) {
            Upgrade::None => {}
            Upgrade::Forward(idle) => {
                // A place among the route's tunnels first (`max_connections`,
                // `max_per_client`): held until the connection ends.
                if let Some(ws) = &route.websocket {
                    match ws.tunnels.admit(ctx.facts.client_ip, ws.caps) {
                        Ok(permit) => ctx.websocket.permit = Some(permit),
                        Err(reject) => return Verdict::Answer(reject),
                    }
                }
                ctx.websocket.requested = Some(idle);
            }
            Upgrade::Strip { connection } => {
                req.remove_header(&UPGRADE);
                req.remove_header(&CONNECTION);
                if let Some(value) = connection {
                    // Cannot fail: the name is static and the value came from the request.
                    let _ = req.insert_header(CONNECTION, value);
                }
            }
        }
        Verdict::Pass
    }

    /// An upgrade request's reads wait up to the route's `idle_timeout` on both sides (the
    /// exchange may turn into a long-lived socket at the 101).
    pub(super) fn upgrade_timeouts(session: &mut Session, ctx: &Ctx, peer: &mut HttpPeer) {
        if let Some(idle) = ctx.websocket.requested {
            peer.options.read_timeout = Some(idle);
            peer.options.write_timeout = Some(idle);
            session.set_read_timeout(Some(idle));
            session.set_write_timeout(Some(idle));
        }
    }

    /// The app switched protocols: the slot goes back, the breaker records a success and
    /// hears nothing more of this connection, the client's bytes flow through untouched (a
    /// WebSocket's frames followed, for the close frames at the end of a shutdown).
    pub(super) fn upgraded(&self, session: &mut Session, ctx: &mut Ctx, resp: &ResponseHeader) {
        ctx.websocket.upgraded = true;
        ctx.slot = None;
        if let Some((upstream, slice)) = ctx.breaker_parts() {
            breaker::on_upgrade(upstream, Instant::now(), &self.shared.metrics, slice);
        }
        if let Some(stream) = session
            .downstream_session
            .stream()
            .and_then(ClientStream::of)
        {
            let going_away = websocket::switched_to_websocket(&resp.headers)
                .then(|| self.shared.lifecycle.going_away.clone());
            stream.tunnel(going_away);
        }
        self.websocket_gauge(ctx).inc();
    }

    /// At the end of a request: an upgraded connection closes.
    pub(super) fn upgrade_finished(&self, ctx: &Ctx) {
        if ctx.websocket.upgraded {
            self.websocket_gauge(ctx).dec();
        }
    }

    fn websocket_gauge(&self, ctx: &Ctx) -> prometheus::IntGauge {
        self.shared
            .metrics
            .websocket_connections
            .with_label_values(&[ctx.route_name()])
    }
}
