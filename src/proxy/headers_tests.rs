use super::*;
use crate::guards::cors::CorsHeaders;
use std::sync::Arc;

/// The app's answer is read with room for every header added on its way out (the security
/// set, the request id, CORS, RateLimit, and Pingora's `Date` and `Connection`): adding them
/// all grows no map. A header added without counting it in `response_headroom` fails this.
#[test]
fn an_answer_read_with_the_headroom_gains_every_header_without_growing() {
    let yaml = "server: { listen: 127.0.0.1:0, admin_listen: 127.0.0.1:0 }\n\
        upstreams: { app: { endpoints: [127.0.0.1:9] } }\n\
        routes:\n  - name: r\n    match: { path_prefix: / }\n    upstream: app\n\
        \x20   rate_limit: [ { rate: 10/second } ]\n\
        \x20   cors: { allow_origins: [https://a.example], allow_credentials: true, expose_headers: [X-A] }\n";
    let loaded =
        crate::config::load_str(yaml, "t.yaml", std::path::Path::new("."), &|_| None).unwrap();
    let policy = Arc::new(Policy::compile(&loaded, None, 1).unwrap());
    let cors = policy.routes[0].cors.as_ref().unwrap();
    let mut ctx = Ctx::new();
    ctx.policy = Some(policy.clone());
    ctx.route = Some(0);
    ctx.request_id = Some(HeaderValue::from_static("id-1"));
    ctx.cors = CorsHeaders {
        allow: cors.actual(&HeaderValue::from_static("https://a.example")),
        vary_origin: true,
    };
    assert_eq!(ctx.cors.allow.len(), 3, "the most an actual request gets");
    // None of them on the set's `remove` list.
    let app_headers = [
        "content-type",
        "content-length",
        "etag",
        "last-modified",
        "age",
    ];
    let room = app_headers.len() + response_headroom(&ctx);
    let mut head = ResponseHeader::build(200, Some(room)).unwrap();
    for name in app_headers {
        head.append_header(name, "x").unwrap();
    }
    let capacity = head.headers.capacity();
    decorate(&mut head, &ctx, true);
    let value = HeaderValue::from_static("\"r\";r=9;t=1");
    crate::guards::rate_limit::decide::apply(&mut head, Some(&value), Some(value.clone()));
    // What Pingora sets as it writes the head (`prepare_response`).
    head.insert_header(http::header::DATE, "Mon, 07 Dec 2026 00:00:00 GMT")
        .unwrap();
    head.insert_header(http::header::CONNECTION, "keep-alive")
        .unwrap();
    assert!(head.headers.contains_key("ratelimit"));
    assert!(head.headers.contains_key("access-control-expose-headers"));
    assert!(head.headers.contains_key("x-request-id"));
    let added = head.headers.len() - app_headers.len();
    assert!(
        added <= response_headroom(&ctx),
        "{added} added: {:?}",
        head.headers
    );
    assert_eq!(head.headers.capacity(), capacity, "{:?}", head.headers);
}
