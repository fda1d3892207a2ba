//! The head the front door parsed, kept as offsets into its bytes, so that the session
//! Pingora serves starts from it (Pingora patch 10, `set_request_head`) instead of parsing
//! the same bytes a second time. One per connection: the field list keeps its capacity
//! from one kept-alive request to the next.

use bytes::Bytes;
use http::{HeaderValue, Version};
use pingora::http::IntoCaseHeaderName;
use pingora::http::RequestHeader;
use pingora::protocols::http::ServerSession;
use std::ops::Range;

/// Where each part of a checked head lies in its bytes.
#[derive(Debug, Default)]
pub struct ParsedHead {
    method: Range<usize>,
    target: Range<usize>,
    version: u8,
    /// Each field's name and value.
    fields: Vec<(Range<usize>, Range<usize>)>,
}

impl ParsedHead {
    /// Records what `httparse` found in `buf` (the head's first byte is `buf`'s first).
    pub(crate) fn record(&mut self, req: &httparse::Request, buf: &[u8]) {
        let base = buf.as_ptr() as usize;
        let range = |s: &[u8]| {
            let start = (s.as_ptr() as usize).saturating_sub(base);
            start..start.saturating_add(s.len())
        };
        self.method = range(req.method.unwrap_or("").as_bytes());
        self.target = range(req.path.unwrap_or("").as_bytes());
        self.version = req.version.unwrap_or(1);
        self.fields.clear();
        self.fields.extend(
            req.headers
                .iter()
                .map(|h| (range(h.name.as_bytes()), range(h.value))),
        );
    }

    /// Pingora's request header for `raw`, the head these offsets were recorded on (after
    /// it was split off the connection's bytes): names and values share `raw`'s storage.
    /// None if anything does not line up, and the caller lets Pingora parse `raw` instead.
    pub fn to_request_header(&self, raw: &Bytes) -> Option<Box<RequestHeader>> {
        let method = std::str::from_utf8(raw.get(self.method.clone())?).ok()?;
        // In range (checked), and a slice of `raw`: the URI shares the head's storage.
        raw.get(self.target.clone())?;
        let target = raw.slice(self.target.clone());
        // With room for what the app is told besides (X-Forwarded-*, ...): adding them then
        // grows no map, in this header or in the clone of it sent upstream.
        let room = self.fields.len() + crate::guards::forwarded::HEADERS_ADDED;
        let mut header = RequestHeader::build_shared(method, &target, Some(room)).ok()?;
        header.set_version(if self.version == 0 {
            Version::HTTP_10
        } else {
            Version::HTTP_11
        });
        for (name, value) in &self.fields {
            if name.end > raw.len() || value.end > raw.len() || name.is_empty() {
                return None;
            }
            let name = raw.slice(name.clone()).into_case_header_name();
            let value = HeaderValue::from_maybe_shared(raw.slice(value.clone())).ok()?;
            header.append_header(name, value).ok()?;
        }
        Some(Box::new(header))
    }

    /// Hands the head to the session: as parsed by the front door (one parse), or as bytes for
    /// Pingora to parse when an absolute-form target was rewritten (rare), or if the parse
    /// cannot be handed over as it is.
    pub fn hand_over(
        &self,
        session: &mut ServerSession,
        mut head: bytes::BytesMut,
        absolute: Option<(usize, usize)>,
    ) {
        if let Some(cut) = absolute {
            super::framing::to_origin_form(&mut head, cut);
            session.set_pipelined_prefix(head);
            return;
        }
        let raw = head.freeze();
        let handed_over = self
            .to_request_header(&raw)
            .is_some_and(|header| session.set_request_head(raw.clone(), header).is_ok());
        if !handed_over {
            // Pingora's own parse then says what is wrong, as it did before the handover.
            session.set_pipelined_prefix(bytes::BytesMut::from(&raw[..]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::Underscores;
    use crate::front::framing::{check_head_recording, HeadStatus};
    use crate::policy::HeadLimits;

    const LIMITS: HeadLimits = HeadLimits {
        max_uri_bytes: 1024,
        max_header_bytes: 4096,
        max_headers: 16,
        underscores: Underscores::Drop,
    };

    fn parsed(raw: &'static [u8]) -> Box<RequestHeader> {
        let mut head = ParsedHead::default();
        let status = check_head_recording(raw, &LIMITS, &mut head).unwrap();
        let HeadStatus::Complete { len, .. } = status else {
            panic!("partial head");
        };
        head.to_request_header(&Bytes::from_static(raw).slice(..len))
            .unwrap()
    }

    /// The header built from the front door's parse is the one Pingora builds from the
    /// same bytes: method, target, version, every field in order with its case.
    #[tokio::test]
    async fn same_header_as_pingoras_own_parse() {
        let raw: &'static [u8] = b"POST /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nX-Mixed-Case: v1\r\nAccept: */*\r\nx-mixed-case:  v2 \r\nContent-Length: 0\r\n\r\n";
        let ours = parsed(raw);
        let (client, server) = tokio::io::duplex(4096);
        let mut client = client;
        tokio::io::AsyncWriteExt::write_all(&mut client, raw)
            .await
            .unwrap();
        let mut session = pingora::protocols::http::ServerSession::new_http1(Box::new(server));
        assert!(session.read_request().await.unwrap());
        let theirs = session.req_header();
        assert_eq!(ours.method, theirs.method);
        assert_eq!(ours.uri, theirs.uri);
        assert_eq!(ours.version, theirs.version);
        assert_eq!(ours.headers, theirs.headers);
        let wire = |h: &RequestHeader| {
            let mut out = bytes::BytesMut::new();
            h.header_to_h1_wire(&mut out);
            out
        };
        assert_eq!(wire(&ours), wire(theirs));
    }

    #[test]
    fn http10_stays_http10() {
        let ours = parsed(b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(ours.version, Version::HTTP_10);
        assert!(ours.headers.is_empty());
    }

    #[test]
    fn offsets_that_do_not_fit_give_none() {
        let mut head = ParsedHead::default();
        let raw: &[u8] = b"GET /long/path HTTP/1.1\r\nHost: a\r\n\r\n";
        check_head_recording(raw, &LIMITS, &mut head).unwrap();
        assert!(head
            .to_request_header(&Bytes::from_static(b"GET /"))
            .is_none());
    }
}
