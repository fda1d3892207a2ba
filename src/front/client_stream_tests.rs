//! Unit tests of the client stream: Pingora reads exactly the body, never what follows.
use super::*;
use crate::reject::Code;
use std::task::Waker;
use tokio::io::{duplex, AsyncWriteExt};

/// A client stream whose client already sent `sent` (and, if `end`, closed its side).
async fn client(sent: &[u8], end: bool) -> (Box<ClientStream>, tokio::io::DuplexStream) {
    let (ours, mut theirs) = duplex(1 << 20);
    theirs.write_all(sent).await.unwrap();
    if end {
        theirs.shutdown().await.unwrap();
    }
    (ClientStream::new(Box::new(ours)), theirs)
}

/// Reads one head into pending and starts its request; returns the head.
async fn head(conn: &mut ClientStream, framing: BodyFraming) -> Vec<u8> {
    while !conn.pending().windows(4).any(|w| w == b"\r\n\r\n") {
        assert!(conn.read_more().await.unwrap() > 0);
    }
    let len = conn
        .pending()
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap()
        + 4;
    conn.start_request(len, framing, false).to_vec()
}

/// What Pingora would read without waiting: (bytes, ended).
fn read_ready(conn: &mut ClientStream) -> (Vec<u8>, Result<bool, std::io::ErrorKind>) {
    let mut got = Vec::new();
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        let mut space = [0u8; 7];
        let mut buf = ReadBuf::new(&mut space);
        match Pin::new(&mut *conn).poll_read(&mut cx, &mut buf) {
            Poll::Ready(Ok(())) if buf.filled().is_empty() => return (got, Ok(true)),
            Poll::Ready(Ok(())) => got.extend_from_slice(buf.filled()),
            Poll::Ready(Err(e)) => return (got, Err(e.kind())),
            Poll::Pending => return (got, Ok(false)),
        }
    }
}

const NEXT: &[u8] = b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n";

#[tokio::test]
async fn a_length_body_and_not_a_byte_more() {
    let sent = [
        &b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"[..],
        NEXT,
    ]
    .concat();
    let (mut conn, _client) = client(&sent, false).await;
    head(&mut conn, BodyFraming::Length(5)).await;
    let (body, ended) = read_ready(&mut conn);
    assert_eq!(body, b"hello");
    assert_eq!(
        ended,
        Ok(false),
        "what follows is held, not given to Pingora"
    );
    assert_eq!(
        &conn.pending()[..],
        NEXT,
        "the pipelined request waits for the front door"
    );
}

#[tokio::test]
async fn bytes_after_a_bodiless_request_wait_for_the_front_door() {
    let sent = [&b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n"[..], NEXT].concat();
    let (mut conn, _client) = client(&sent, true).await;
    head(&mut conn, BodyFraming::None).await;
    assert_eq!(
        read_ready(&mut conn),
        (Vec::new(), Ok(false)),
        "end held back: a request waits"
    );
    let mut conn = ClientStream::take_back(conn).unwrap();
    assert_eq!(&conn.pending()[..], NEXT);
    head(&mut conn, BodyFraming::None).await;
    assert_eq!(
        read_ready(&mut conn),
        (Vec::new(), Ok(true)),
        "nothing waits: the end shows"
    );
}

#[tokio::test]
async fn chunked_bodies_are_reframed_canonically() {
    let sent = [
        &b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n"[..],
        b"0005;ext=1\r\nhello\r\n00000000000000000006\r\n world\r\n0\r\nX-T: 1\r\n\r\n",
        NEXT,
    ]
    .concat();
    let (mut conn, _client) = client(&sent, false).await;
    head(&mut conn, BodyFraming::Chunked).await;
    let (body, ended) = read_ready(&mut conn);
    assert_eq!(body, b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    assert_eq!(ended, Ok(false));
    let mut conn = ClientStream::take_back(conn).unwrap();
    assert_eq!(&conn.pending()[..], NEXT);
}

#[tokio::test]
async fn a_malformed_chunk_stops_before_its_bytes() {
    let sent =
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n\nsmuggled";
    let (mut conn, _client) = client(sent, false).await;
    head(&mut conn, BodyFraming::Chunked).await;
    let (body, ended) = read_ready(&mut conn);
    assert_eq!(
        body, b"5\r\nhello\r\n",
        "only the well-formed chunk went through"
    );
    assert_eq!(ended, Err(std::io::ErrorKind::InvalidData));
    let failure = conn.take_failure().expect("kept for the proxy");
    assert_eq!(failure.code, Code::BadRequest);
    assert!(
        ClientStream::take_back(conn).is_none(),
        "the connection is not reused"
    );
}

#[tokio::test]
async fn read_ahead_keeps_what_follows_the_body() {
    let sent = [
        &b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
        b"3\r\nabc\r\n02\r\nde\r\n0\r\n\r\n",
        NEXT,
    ]
    .concat();
    let (mut conn, _client) = client(&sent, false).await;
    head(&mut conn, BodyFraming::Chunked).await;
    let plan = Plan {
        limit: 100,
        expect_continue: false,
        shadow: false,
    };
    let ReadAhead::Ready(Some(body)) = conn.read_ahead(plan, Duration::from_secs(60)).await else {
        panic!("read ahead");
    };
    assert_eq!(&body[..], b"abcde");
    let (forwarded, _) = read_ready(&mut conn);
    assert_eq!(forwarded, b"5\r\nabcde\r\n0\r\n\r\n");
    let mut conn = ClientStream::take_back(conn).unwrap();
    assert_eq!(&conn.pending()[..], NEXT);
}

#[tokio::test]
async fn read_ahead_refuses_an_oversized_chunked_body() {
    let sent = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nff\r\n";
    let (mut conn, _client) = client(sent, false).await;
    head(&mut conn, BodyFraming::Chunked).await;
    let plan = Plan {
        limit: 10,
        expect_continue: false,
        shadow: false,
    };
    let read = conn.read_ahead(plan, Duration::from_secs(60)).await;
    assert!(matches!(read, ReadAhead::Refused(r) if r.code == Code::BodyTooLarge));
}

#[tokio::test]
async fn a_pipelined_request_keeps_its_answer_when_the_client_ends_while_it_is_served() {
    // Seen on CI under load: the client pipelined two requests and half-closed; the end of
    // its stream arrived while the second was being served, and Pingora was told the client
    // had left, so the second answer was never written.
    let (ours, mut theirs) = duplex(1 << 20);
    theirs
        .write_all(b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let mut conn = ClientStream::new(Box::new(ours));
    while !conn.pending().ends_with(b"\r\n\r\n") {
        assert!(conn.read_more().await.unwrap() > 0);
    }
    let len = conn.pending().len();
    conn.start_request(len, BodyFraming::None, true);
    assert_eq!(read_ready(&mut conn), (vec![], Ok(false)));
    theirs.shutdown().await.unwrap();
    assert_eq!(
        read_ready(&mut conn),
        (vec![], Ok(false)),
        "a pipelined request's end of stream is held until it is answered"
    );
    assert!(conn.client_ended());
}
