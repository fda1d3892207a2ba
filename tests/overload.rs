//! Overload protection toward the app: `max_in_flight`, the bounded FIFO queue, 503
//! `overloaded`, and slots given back exactly once however a request ends.
mod common;
use common::*;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::thread;

/// One upstream `app` at `upstream` with the given admission settings, one catch-all route.
fn capped(upstream: SocketAddr, admission: &str, route_extra: &str) -> String {
    format!(
        "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  threads: 2\n\
upstreams:\n  app:\n    endpoints: [\"{upstream}\"]\n    read_timeout: 30s\n{admission}\
routes:\n  - {{ name: api, match: {{ path_prefix: / }}, upstream: app{route_extra} }}\n"
    )
}

fn gauge(p: &RampartProcess, name: &str) -> f64 {
    metric(p, &format!("{name}{{upstream=\"app\"}}")).unwrap_or(-1.0)
}

#[test]
fn a_burst_of_200_clients_never_puts_more_than_max_in_flight_on_the_app() {
    let up = RecordingUpstream::start();
    let p = start(&capped(
        up.addr,
        "    max_in_flight: 4\n    queue: { max: 300, timeout: 60s }\n",
        "",
    ));
    let url = p.url("/hold");
    let clients: Vec<_> = (0..200)
        .map(|_| {
            let url = url.clone();
            thread::spawn(move || client().get(url).send().map(|r| r.status().as_u16()))
        })
        .collect();
    // Four are with the app, the other 196 wait in Rampart's queue.
    assert!(eventually(
        || up.held() == 4 && gauge(&p, "rampart_queue_depth") == 196.0
    ));
    assert_eq!(gauge(&p, "rampart_in_flight_requests"), 4.0);
    up.release(200);
    let statuses: Vec<u16> = clients
        .into_iter()
        .map(|c| c.join().unwrap().unwrap())
        .collect();
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    assert_eq!(up.hits(), 200);
    assert_eq!(
        up.high_water(),
        4,
        "the app saw at most max_in_flight at once"
    );
    assert!(eventually(|| gauge(&p, "rampart_in_flight_requests")
        == 0.0
        && gauge(&p, "rampart_queue_depth") == 0.0));
}

#[test]
fn a_full_queue_answers_503_overloaded_at_once() {
    let up = RecordingUpstream::start();
    let p = start(&capped(
        up.addr,
        "    max_in_flight: 1\n    queue: { max: 1, timeout: 60s }\n",
        "",
    ));
    let first = {
        let url = p.url("/hold");
        thread::spawn(move || client().get(url).send().unwrap().status())
    };
    assert!(eventually(|| up.held() == 1));
    let second = {
        let url = p.url("/hold");
        thread::spawn(move || client().get(url).send().unwrap().status())
    };
    assert!(eventually(|| gauge(&p, "rampart_queue_depth") == 1.0));
    let resp = client().get(p.url("/third")).send().unwrap();
    assert_eq!(resp.headers()["retry-after"], "60");
    let body = assert_problem(resp, 503, "overloaded");
    assert_eq!(body["detail"], "too many requests are waiting for the app");
    assert_eq!(
        up.hits(),
        1,
        "neither the queued nor the refused one reached the app"
    );
    up.release(2);
    assert_eq!(first.join().unwrap(), 200);
    assert_eq!(second.join().unwrap(), 200);
    assert_eq!(up.hits(), 2);
    assert_eq!(
        metric(
            &p,
            "rampart_rejections_total{code=\"overloaded\",route=\"api\"}"
        ),
        Some(1.0)
    );
}

#[test]
fn a_request_waiting_past_the_queue_timeout_gets_503_overloaded() {
    let up = RecordingUpstream::start();
    let p = start(&capped(
        up.addr,
        "    max_in_flight: 1\n    queue: { max: 5, timeout: 300ms }\n",
        "",
    ));
    let first = {
        let url = p.url("/hold");
        thread::spawn(move || client().get(url).send().unwrap().status())
    };
    assert!(eventually(|| up.held() == 1));
    let resp = client().get(p.url("/waits")).send().unwrap();
    assert_eq!(resp.headers()["retry-after"], "1");
    let body = assert_problem(resp, 503, "overloaded");
    assert_eq!(
        body["detail"],
        "no capacity toward the app within the queue timeout"
    );
    assert_eq!(gauge(&p, "rampart_queue_depth"), 0.0);
    up.release(1);
    assert_eq!(first.join().unwrap(), 200);
    let line = p
        .wait_for_log(|l| l.contains("\"code\":\"overloaded\""))
        .unwrap();
    assert!(line.contains("\"status\":503"), "{line}");
}

#[test]
fn clients_that_abort_while_with_the_app_or_queued_give_their_slots_back() {
    let up = RecordingUpstream::start();
    let p = start(&capped(
        up.addr,
        "    max_in_flight: 2\n    queue: { max: 10, timeout: 60s }\n",
        "",
    ));
    let streams: Vec<TcpStream> = (0..5)
        .map(|_| {
            let mut s = TcpStream::connect(p.addr).unwrap();
            s.write_all(b"GET /hold HTTP/1.1\r\nHost: t\r\n\r\n")
                .unwrap();
            s
        })
        .collect();
    assert!(eventually(
        || up.held() == 2 && gauge(&p, "rampart_queue_depth") == 3.0
    ));
    assert_eq!(gauge(&p, "rampart_in_flight_requests"), 2.0);
    drop(streams);
    assert!(eventually(|| gauge(&p, "rampart_in_flight_requests")
        == 0.0
        && gauge(&p, "rampart_queue_depth") == 0.0));
    // Rampart also hung up on the app for the two it was serving.
    assert!(eventually(|| up.held() == 0));
    // Both slots are really free: two new requests reach the app together.
    let again: Vec<_> = (0..2)
        .map(|_| {
            let url = p.url("/hold");
            thread::spawn(move || client().get(url).send().unwrap().status())
        })
        .collect();
    assert!(eventually(|| up.held() == 2));
    up.release(2);
    for c in again {
        assert_eq!(c.join().unwrap(), 200);
    }
}

#[test]
fn upstream_errors_and_timeouts_give_their_slot_back() {
    // One slot and no queue: a slot leaked by any failure turns the next request into 503.
    let up = RecordingUpstream::start();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let admission = "    max_in_flight: 1\n    queue: { max: 0, timeout: 0s }\n";
    let yaml = format!(
        "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n\
upstreams:\n  app:\n    endpoints: [\"{}\"]\n{admission}  dead:\n    endpoints: [\"{closed}\"]\n{admission}\
routes:\n  - {{ name: dead, match: {{ path_prefix: /dead }}, upstream: dead }}\n  \
- {{ name: quick, match: {{ path_prefix: /delay }}, upstream: app, timeout: 200ms }}\n  \
- {{ name: api, match: {{ path_prefix: / }}, upstream: app }}\n",
        up.addr
    );
    let p = start(&yaml);
    let c = client();
    for _ in 0..3 {
        assert_eq!(c.get(p.url("/status/500")).send().unwrap().status(), 500);
        assert_problem(
            c.get(p.url("/delay/3000")).send().unwrap(),
            504,
            "upstream_timeout",
        );
        let dead = c.get(p.url("/dead")).send().unwrap();
        // Pingora drops the connection after a failed attempt: the answer must say so.
        assert_eq!(dead.headers()["connection"], "close");
        assert_problem(dead, 502, "upstream_unavailable");
        assert_eq!(c.get(p.url("/ok")).send().unwrap().status(), 200);
    }
    assert_eq!(
        metric(
            &p,
            "rampart_rejections_total{code=\"overloaded\",route=\"api\"}"
        ),
        None
    );
    assert!(eventually(|| gauge(&p, "rampart_in_flight_requests") == 0.0));
}
