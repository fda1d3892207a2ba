//! Config validation: each bad snippet -> the exact field path, line and column, all problems
//! at once; and the `rampart check` command line.
mod common;
use common::self_signed;
use rampart::config::{load_str, ConfigError};
use std::path::Path;
use std::process::Command;

const HEAD: &str = "server:\n  listen: 0.0.0.0:8080\n  admin_listen: 127.0.0.1:9901\n";
const UPSTREAM: &str = "upstreams:\n  app:\n    endpoints: [127.0.0.1:8000]\n";
const ROUTE: &str =
    "routes:\n  - name: default\n    match: { path_prefix: / }\n    upstream: app\n";

fn env(name: &str) -> Option<String> {
    match name {
        "GOOD_TOKEN" => Some("9f8a7c6b5d4e3f2a1b0c9d8e7f6a5b4c".into()),
        "REPETITIVE_TOKEN" => Some("abababababababababababababababab".into()),
        "SHORT_TOKEN" => Some("abc".into()),
        _ => None,
    }
}

fn errors(yaml: &str) -> Vec<ConfigError> {
    match load_str(yaml, "conf/rampart.yaml", Path::new("."), &env) {
        Ok(_) => Vec::new(),
        Err(e) => e.0,
    }
}

/// (snippet, expected path, line, column, message fragment)
const CASES: &[(&str, &str, usize, usize, &str)] = &[
    // unknown keys, at the key
    ("server:\n  listen: 0.0.0.0:8080\n  admin_listen: 127.0.0.1:9901\n  treads: 2\n", "server.treads", 4, 3, "unknown key `treads`"),
    ("server:\n  listen: 0.0.0.0:8080\n  admin_listen: 127.0.0.1:9901\nrouts: []\n", "routs", 4, 1, "unknown key"),
    // units
    ("server:\n  listen: 0.0.0.0:8080\n  admin_listen: 127.0.0.1:9901\n  grace_period: ten seconds\n", "server.grace_period", 4, 17, "expected a duration"),
    ("server:\n  listen: 0.0.0.0:8080\n  admin_listen: 127.0.0.1:9901\nclient:\n  max_body_bytes: 1 parsec\n", "client.max_body_bytes", 5, 19, "expected a size"),
    ("server:\n  listen: 0.0.0.0:8080\n  admin_listen: 127.0.0.1:9901\nclient:\n  trusted_proxies: [10.0.0.0/33]\n", "client.trusted_proxies[0]", 5, 21, "expected a CIDR"),
    // addresses and required fields
    ("server:\n  listen: everywhere\n  admin_listen: 127.0.0.1:9901\n", "server.listen", 2, 11, "expected an address"),
    ("server:\n  listen: 0.0.0.0:8080\n", "server", 2, 3, "missing field `admin_listen`"),
    ("server:\n  listen: 0.0.0.0:8080\n  admin_listen: 127.0.0.1:9901\n  threads: 0\n", "server.threads", 4, 12, "from 1 to 1024"),
    // names reach headers and metric labels (found on 0.1: a `"` broke RateLimit-Policy)
    ("server:\n  listen: 0.0.0.0:8080\n  admin_listen: 127.0.0.1:9901\nupstreams:\n  app:\n    endpoints: [127.0.0.1:8000]\nroutes:\n  - name: 'a\"b'\n    match: { path_prefix: / }\n    upstream: app\n", "routes[0].name", 8, 11, "1-64 characters"),
    ("server:\n  listen: 0.0.0.0:8080\n  admin_listen: 127.0.0.1:9901\nupstreams:\n  'my app':\n    endpoints: [127.0.0.1:8000]\n", "upstreams.my app", 5, 3, "1-64 characters"),
    // ranges (found on 0.1: accepted, then an abort on the first connection or at start)
    ("server:\n  listen: 0.0.0.0:8080\n  admin_listen: 127.0.0.1:9901\n  threads: 100000\n", "server.threads", 4, 12, "from 1 to 1024"),
    ("server:\n  listen: 0.0.0.0:8080\n  admin_listen: 127.0.0.1:9901\nclient:\n  header_timeout: 500000000000y\n", "client.header_timeout", 5, 19, "maximum of 1 year"),
    ("server:\n  listen: 0.0.0.0:8080\n  admin_listen: 127.0.0.1:9901\nclient:\n  max_body_bytes: 2000000000000000\n", "client.max_body_bytes", 5, 19, "maximum of 1 TiB"),
    // environment variables
    ("server:\n  listen: 0.0.0.0:8080\n  admin_listen: 127.0.0.1:9901\n  admin_token: ${NOT_SET}\n", "server.admin_token", 4, 16, "NOT_SET is not set"),
    // production secrets
    ("server:\n  listen: 0.0.0.0:8080\n  admin_listen: 127.0.0.1:9901\n  admin_token: ${SHORT_TOKEN}\n", "server.admin_token", 4, 16, "at least 32 characters"),
    ("server:\n  listen: 0.0.0.0:8080\n  admin_listen: 127.0.0.1:9901\n  admin_token: ${REPETITIVE_TOKEN}\n", "server.admin_token", 4, 16, "16 different"),
    // found on 0.1: a production admin port on every interface served an unauthenticated reload
    ("server:\n  listen: 0.0.0.0:8080\n  admin_listen: 0.0.0.0:9901\n", "server.admin_listen", 3, 17, "set server.admin_token"),
    ("server:\n  listen: 0.0.0.0:8080\n  admin_listen: 127.0.0.1:9901\n  admin_token: changeme-changeme-0123456789abcdefghij\n", "server.admin_token", 4, 16, "placeholder"),
    // cross references
    ("%H%%U%routes:\n  - name: r\n    match: { path: /x }\n    upstream: nope\n", "routes[0].upstream", 10, 15, "unknown upstream \"nope\""),
    ("%H%%U%routes:\n  - name: r\n    match: { path_regex: '([a-z' }\n    upstream: app\n", "routes[0].match.path_regex", 9, 26, "invalid regular expression"),
    ("%H%%U%routes:\n  - name: r\n    match: { path: /x }\n    upstream: app\n  - name: r\n    match: { path: /y }\n    upstream: app\n", "routes[1].name", 11, 11, "duplicate route name"),
    ("%H%%U%routes:\n  - name: r\n    match: { path: /x }\n    upstream: app\n    json_schema: schemas/missing.json\n", "routes[0].json_schema", 11, 18, "cannot read schema file"),
    ("%H%%U%routes:\n  - name: r\n    match: { methods: [GET] }\n    upstream: app\n", "routes[0].match", 9, 12, "needs one of"),
    ("%H%%U%routes:\n  - name: r\n    match: { path: /x, methods: [get] }\n    upstream: app\n", "routes[0].match.methods[0]", 9, 34, "upper-case HTTP method"),
    ("%H%%U%routes:\n  - name: r\n    match: { path: x }\n    upstream: app\n", "routes[0].match.path", 9, 20, "must start with /"),
    // rate limits
    ("%H%%U%routes:\n  - name: r\n    match: { path: /x }\n    upstream: app\n    rate_limit:\n      - rate: 60 per min\n", "routes[0].rate_limit[0].rate", 12, 15, "expected \"<n>/<unit>\""),
    ("%H%%U%routes:\n  - name: r\n    match: { path: /x }\n    upstream: app\n    rate_limit:\n      - { rate: 6/s, key: cookie }\n", "routes[0].rate_limit[0].key", 12, 27, "client_ip, global"),
    // found by the rate-limit fuzzer: a burst whose refill outlasts u64 nanoseconds wrapped
    // governor's tolerance (a panic with overflow checks, a wrong limit without)
    ("%H%%U%routes:\n  - name: r\n    match: { path: /x }\n    upstream: app\n    rate_limit:\n      - { rate: 1/day, burst: 300000 }\n", "routes[0].rate_limit[0].burst", 12, 31, "at most 365"),
    ("%H%%U%routes:\n  - name: r\n    match: { path: /x }\n    upstream: app\n    rate_limit:\n      - rate: 4000000000/second\n", "routes[0].rate_limit[0].rate", 12, 15, "at most 1000000/second"),
    // upstream settings
    ("%H%upstreams:\n  app:\n    endpoints: [nohostport]\n", "upstreams.app.endpoints[0]", 6, 17, "expected host:port"),
    ("%H%upstreams:\n  app:\n    endpoints: [127.0.0.1:1]\n    circuit_breaker: { failure_ratio: 1.5 }\n", "upstreams.app.circuit_breaker.failure_ratio", 7, 39, "(0, 1]"),
    ("%H%upstreams:\n  app:\n    endpoints: [127.0.0.1:1]\n    retry: { retry_on: [418] }\n", "upstreams.app.retry.retry_on[0]", 7, 25, "500-599"),
    ("%H%upstreams:\n  app:\n    endpoints: [127.0.0.1:1]\n    queue: { max: 10 }\n", "upstreams.app.queue", 7, 12, "needs max_in_flight"),
    // headers and CORS
    ("%H%security_headers:\n  x_frame_options: \"DENY\\n\"\n", "security_headers.x_frame_options", 5, 20, "not a valid header value"),
    ("%H%cors:\n  allow_origins: [\"*\"]\n  allow_credentials: true\n", "cors.allow_origins[0]", 5, 19, "refused with environment: production"),
    ("%H%cors:\n  allow_origins: [app.example.com]\n", "cors.allow_origins[0]", 5, 19, "expected an origin"),
    // other sections
    ("%H%health:\n  dependencies:\n    - { name: db, critical: true }\n", "health.dependencies[0]", 6, 7, "exactly one of"),
    ("%H%rate_limit_store:\n  kind: redis\n", "rate_limit_store", 5, 3, "needs a `redis:` section"),
    ("%H%rate_limit_store:\n  kind: redis\n  redis: { url: \"redis://a:1\", cluster: [\"redis://b:1\"] }\n", "rate_limit_store.redis", 6, 10, "exactly one of url, cluster or sentinel"),
    ("%H%rate_limit_store:\n  kind: redis\n  redis: { sentinel: { master: m, nodes: [] } }\n", "rate_limit_store.redis.sentinel.nodes", 6, 42, "at least one sentinel"),
    ("%H%rate_limit_store:\n  kind: redis\n  redis: { url: \"redis://:pw@a:1\", password: x }\n", "rate_limit_store.redis.url", 6, 17, "so does rate_limit_store.redis.password"),
    ("%H%rate_limit_store:\n  kind: redis\n  redis:\n    cluster: [\"redis://a:1\", nohost]\n", "rate_limit_store.redis.cluster[1]", 7, 30, "expected redis://host:port"),
    ("%H%%U%routes:\n  - name: r\n    match: { path: /x }\n    upstream: app\n    rate_limit:\n      - { rate: 6/s, sharing: leased }\n", "routes[0].rate_limit[0].sharing", 12, 31, "leased needs rate_limit_store.kind: redis"),
    ("%H%%U%routes:\n  - name: r\n    match: { path: /x }\n    upstream: app\n    rate_limit:\n      - { rate: 6/s, sharing: lazy }\n", "routes[0].rate_limit[0].sharing", 12, 31, "unknown variant"),
    ("%H%logging:\n  level: loud\n", "logging.level", 5, 10, "expected trace"),
    ("%H%logging:\n  format: xml\n", "logging.format", 5, 11, "unknown variant"),
];

#[test]
fn each_bad_snippet_reports_its_path_and_position() {
    for (snippet, path, line, column, fragment) in CASES {
        let yaml = snippet.replace("%H%", HEAD).replace("%U%", UPSTREAM);
        let errs = errors(&yaml);
        let found = errs.iter().find(|e| e.path == *path);
        let Some(e) = found else {
            panic!("no error at {path} for:\n{yaml}\ngot: {errs:#?}");
        };
        assert_eq!(
            (e.line, e.column),
            (*line, *column),
            "position of {path}: {e}"
        );
        assert!(e.message.contains(fragment), "message of {path}: {e}");
        assert_eq!(e.file, "conf/rampart.yaml");
        assert!(e
            .to_string()
            .starts_with(&format!("conf/rampart.yaml:{line}:{column}: {path}: ")));
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let yaml = format!(
        "{HEAD}  treads: 2\n  grace_period: soon\n{UPSTREAM}    conect_timeout: 5s\nroutes:\n  - name: a\n    match: {{ path: /a }}\n    upstream: ghost\n    rate_limit: [{{ rate: fast }}]\n"
    );
    let errs = errors(&yaml);
    let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    // Unknown keys are all found even when a value fails to parse.
    assert!(paths.contains(&"server.treads"), "{paths:?}");
    assert!(paths.contains(&"upstreams.app.conect_timeout"), "{paths:?}");
    assert!(errs.len() >= 3, "{errs:#?}");

    // With the structure right, every semantic problem shows up together.
    let yaml = format!(
        "{HEAD}  threads: 0\n{UPSTREAM}    max_in_flight: 0\nroutes:\n  - name: a\n    match: {{ path: a }}\n    upstream: ghost\n  - name: a\n    match: {{ path_prefix: / }}\n    upstream: app\n"
    );
    let errs = errors(&yaml);
    let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "server.threads",
            "upstreams.app.max_in_flight",
            "routes[0].match.path",
            "routes[0].upstream",
            "routes[1].name"
        ]
    );
}

#[test]
fn good_configs_pass_and_defaults_apply() {
    let yaml = format!("{HEAD}{UPSTREAM}{ROUTE}");
    let loaded = load_str(&yaml, "x.yaml", Path::new("."), &env).expect("valid");
    let c = loaded.config;
    assert_eq!(
        c.server.grace_period.0.as_secs(),
        10,
        "grace period defaults to 10s, not pingora's 300s"
    );
    assert_eq!(c.client.max_body_bytes.0, 1 << 20);
    assert_eq!(c.upstreams["app"].connect_timeout.0.as_secs(), 5);
    let yaml = format!("{HEAD}  admin_token: ${{GOOD_TOKEN}}\n{UPSTREAM}{ROUTE}");
    let loaded =
        load_str(&yaml, "x.yaml", Path::new("."), &env).expect("valid with a strong token");
    assert_eq!(
        loaded.config.server.admin_token.as_deref(),
        Some("9f8a7c6b5d4e3f2a1b0c9d8e7f6a5b4c")
    );
    // Weak tokens are fine outside production.
    let yaml = format!("{HEAD}  environment: development\n  admin_token: test\n{UPSTREAM}{ROUTE}");
    assert!(load_str(&yaml, "x.yaml", Path::new("."), &env).is_ok());
}

fn rampart() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rampart"))
}

#[test]
fn check_command_exit_codes_and_output() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, format!("{HEAD}{UPSTREAM}{ROUTE}")).unwrap();
    let out = rampart()
        .args(["check", "--config"])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");

    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        format!("{HEAD}  treads: 2\n  grace_period: soon\n{UPSTREAM}{ROUTE}"),
    )
    .unwrap();
    let out = rampart()
        .args(["check", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].ends_with(":4:3: server.treads: unknown key `treads`"),
        "{stderr}"
    );
    assert!(
        lines[1].contains(":5:17: server.grace_period: expected a duration"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());

    // RAMPART_CONFIG stands in for --config; a bad file never starts the proxy.
    let out = rampart()
        .arg("check")
        .env("RAMPART_CONFIG", &good)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let out = rampart().arg("--config").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.treads"));

    let out = rampart().arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("rampart {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn shipped_configs_are_valid() {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf");
    let mut checked = 0;
    for entry in std::fs::read_dir(&conf).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let out = rampart()
                .args(["check", "--config"])
                .arg(&path)
                .env("RAMPART_ADMIN_TOKEN", "a-long-random-admin-token-42")
                .output()
                .unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            checked += 1;
        }
    }
    assert!(checked >= 1);
}

#[test]
fn check_reads_and_compiles_schemas_as_the_start_does() {
    // Found on 0.1: `json_schema: /dev/zero` made `check` hang growing its memory, and a
    // schema that compiles only in OpenAPI 3.0 passed `check` and failed the start.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("oas30.json"),
        r#"{"type":"object","properties":{"n":{"type":"number","minimum":1,"exclusiveMinimum":true}}}"#,
    )
    .unwrap();
    let routes = "routes:\n  - name: zero\n    match: { path: /z }\n    upstream: app\n    json_schema: /dev/zero\n  - name: oas\n    match: { path: /o }\n    upstream: app\n    json_schema: oas30.json\n";
    let file = dir.path().join("rampart.yaml");
    std::fs::write(&file, format!("{HEAD}{UPSTREAM}{routes}")).unwrap();
    for args in [&["check", "--config"][..], &["--config"][..]] {
        let out = rampart().args(args).arg(&file).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(
                ":11:18: routes[0].json_schema: schema file \"/dev/zero\" is not a regular file"
            ),
            "{stderr}"
        );
        assert!(
            stderr.contains(":15:18: routes[1].json_schema:")
                && stderr.contains("true is not of type"),
            "{stderr}"
        );
        assert!(!stderr.contains("rampart started"));
    }
}

#[test]
fn check_proves_the_tls_pair_parses_and_matches() {
    // Found on 0.1: a garbage certificate, a garbage key or a key of another certificate
    // passed `check`, then aborted the start.
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path(), "a");
    let (_, other_key) = self_signed(dir.path(), "b");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a pem file\n").unwrap();
    let run = |cert: &Path, key: &Path| {
        let file = dir.path().join("rampart.yaml");
        let tls = format!(
            "  tls:\n    cert_file: {}\n    key_file: {}\n",
            cert.display(),
            key.display()
        );
        std::fs::write(&file, format!("{HEAD}{tls}{UPSTREAM}{ROUTE}")).unwrap();
        let out = rampart()
            .args(["check", "--config"])
            .arg(&file)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(run(&cert, &key).0, Some(0), "{}", run(&cert, &key).1);
    let (code, err) = run(&garbage, &key);
    assert_eq!(code, Some(1));
    assert!(
        err.contains(":5:16: server.tls.cert_file: holds no PEM certificate"),
        "{err}"
    );
    let (code, err) = run(&cert, &garbage);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("server.tls.key_file: is not a PEM private key"),
        "{err}"
    );
    let (code, err) = run(&cert, &other_key);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("server.tls.key_file: does not belong to the certificate"),
        "{err}"
    );
}

#[test]
fn type_errors_hide_no_other_problem_and_derive_none() {
    // Found on 0.1: after a type error the unknown upstream was not reported, and the bad
    // rate gave a second, derived `missing field rate` line.
    let yaml = format!(
        "{HEAD}  threads: lots\n{UPSTREAM}routes:\n  - name: a\n    match: {{ path_prefix: / }}\n    upstream: ghost\n    rate_limit:\n      - rate: 60 per min\n"
    );
    let got: Vec<(String, usize, usize)> = errors(&yaml)
        .into_iter()
        .map(|e| (e.path, e.line, e.column))
        .collect();
    assert_eq!(
        got,
        vec![
            ("server.threads".to_string(), 4, 12),
            ("routes[0].upstream".to_string(), 11, 15),
            ("routes[0].rate_limit[0].rate".to_string(), 13, 15),
        ]
    );
}
