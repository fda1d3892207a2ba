//! docs/quickstart.md, run as a reader would: its FastAPI app under uvicorn with the guide's
//! flags, its config written, `rampart check` on it, Rampart started, and each "what you
//! will see" answer compared with what the guide shows (status, the headers it lists, the
//! JSON body; a value written as `…` may be anything, a number stands for any number).
//! Ports are the guide's, moved to free ones.
mod common;
use common::gunicorn::{Bind, Gunicorn};
use common::tools::{root, run};
use common::*;
use std::process::Command;

fn guide() -> String {
    std::fs::read_to_string(root().join("docs/quickstart.md")).unwrap()
}

/// The fenced block after `<!-- quickstart:KEY -->`.
fn block(doc: &str, key: &str) -> String {
    let marker = format!("<!-- quickstart:{key} -->");
    let after = doc
        .split_once(&marker)
        .unwrap_or_else(|| panic!("no {marker}"))
        .1;
    let open = after.find("```").unwrap();
    let body = &after[open..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..body.find("```").unwrap()].to_string()
}

/// Every "what you will see" block in the guide's order: (`see` or `loop`, its marker, its
/// text). A `see` block shows one whole answer, a `loop` block the status codes a shell loop
/// prints.
fn sights(doc: &str) -> Vec<(&'static str, String, String)> {
    let mut found: Vec<(usize, &'static str, String, String)> = vec![];
    for kind in ["see", "loop"] {
        for (at, m) in doc.match_indices(&format!("<!-- quickstart:{kind} ")) {
            let rest = &doc[at + m.len()..];
            let key = rest[..rest.find(" -->").unwrap()].to_string();
            let text = block(doc, &format!("{kind} {key}"));
            found.push((at, kind, key, text));
        }
    }
    found.sort_by_key(|f| f.0);
    found
        .into_iter()
        .map(|(_, k, key, text)| (k, key, text))
        .collect()
}

/// A guide command line as words, the guide's port 8000 moved to `port`.
fn words(line: &str, port: u16) -> Vec<String> {
    line.trim()
        .trim_end_matches('&')
        .split_whitespace()
        .map(|w| {
            if w == "8000" {
                port.to_string()
            } else {
                w.to_string()
            }
        })
        .collect()
}

fn uvicorn(words: &[String], dir: &std::path::Path) -> std::process::Child {
    assert_eq!(words[0], "uvicorn");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    Command::new(python)
        .args(["-m", "uvicorn"])
        .args(&words[1..])
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("uvicorn (./test installs fastapi and uvicorn)")
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

struct Expected {
    status: u16,
    headers: Vec<(String, String)>,
    body: serde_json::Value,
}

fn expected(text: &str) -> Expected {
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("HTTP/1.1 "))
        .unwrap();
    let status = lines[at][9..12].parse().unwrap();
    let mut headers = vec![];
    let mut i = at + 1;
    while i < lines.len() && !lines[i].is_empty() {
        let (name, value) = lines[i].split_once(": ").unwrap();
        headers.push((name.to_string(), value.to_string()));
        i += 1;
    }
    let body = serde_json::from_str(lines[i + 1]).unwrap();
    Expected {
        status,
        headers,
        body,
    }
}

/// What the guide shows against what came: `…` matches anything, digits any number.
fn matches(shown: &str, got: &str) -> bool {
    if shown.contains('…') {
        let prefix = shown.split('…').next().unwrap_or("");
        return got.starts_with(prefix);
    }
    if !shown.is_empty() && shown.chars().all(|c| c.is_ascii_digit()) {
        return !got.is_empty() && got.chars().all(|c| c.is_ascii_digit());
    }
    shown == got
}

fn assert_sees(what: &str, want: &Expected, resp: reqwest::blocking::Response) {
    assert_eq!(resp.status().as_u16(), want.status, "{what}");
    for (name, value) in &want.headers {
        let got = resp
            .headers()
            .get(name.as_str())
            .map(|v| v.to_str().unwrap().to_string());
        let got = got.unwrap_or_else(|| panic!("{what}: no {name} header"));
        assert!(
            matches(value, &got),
            "{what}: {name}: {got} (the guide: {value})"
        );
    }
    let body: serde_json::Value = resp.json().unwrap();
    for (key, value) in want.body.as_object().unwrap() {
        let got = &body[key];
        let ok = match (value.as_str(), got.as_str()) {
            (Some(shown), Some(g)) => matches(shown, g),
            _ => value == got,
        };
        assert!(ok, "{what}: {key} is {got} (the guide: {value})");
    }
}

#[test]
fn the_quick_start_does_what_it_says() {
    let doc = guide();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.py"), block(&doc, "app")).unwrap();
    // The app as it runs today, on the guide's port (moved to a free one, on loopback here).
    let app_port = free_port();
    let today = words(
        &block(&doc, "app-today").replace("0.0.0.0", "127.0.0.1"),
        app_port,
    );
    let mut today = uvicorn(&today, dir.path());
    assert!(eventually(|| std::net::TcpStream::connect((
        "127.0.0.1",
        app_port
    ))
    .is_ok()));

    // 2. The config, its ports moved to free ones.
    let heredoc = block(&doc, "config");
    let config = heredoc
        .split_once("<<'EOF'\n")
        .unwrap()
        .1
        .split("\nEOF")
        .next()
        .unwrap()
        .replace("0.0.0.0:8080", "127.0.0.1:0")
        .replace("127.0.0.1:9901", "127.0.0.1:0")
        .replace("127.0.0.1:8000", &format!("127.0.0.1:{app_port}"));
    let config_path = dir.path().join("rampart.yaml");
    std::fs::write(&config_path, &config).unwrap();

    // 3. `rampart check` prints ok.
    let check = block(&doc, "check");
    let args: Vec<&str> = check.split_whitespace().skip(1).collect();
    assert_eq!(args, ["check", "--config", "rampart.yaml"]);
    let out = Command::new(rampart_bin())
        .args(&args)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok", "{out:?}");

    // 4. The app restarted with the guide's flags: the guide's first line stops today's app
    // (else the port is taken and the new one exits at once), the second starts it again.
    let command = block(&doc, "app-command");
    let lines: Vec<&str> = command.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 2, "{command}");
    let pattern = lines[0]
        .strip_prefix("pkill -f '")
        .and_then(|l| l.split('\'').next())
        .unwrap_or_else(|| panic!("step 4 first stops today's app: {}", lines[0]));
    run(Command::new("pkill").args(["-f", pattern]));
    today.wait().unwrap();
    let words = words(lines[1], app_port);
    for flag in ["--proxy-headers", "--forwarded-allow-ips"] {
        assert!(
            words.iter().any(|w| w == flag),
            "the guide's command lacks {flag}"
        );
    }
    let mut app = uvicorn(&words, dir.path());
    let up = eventually(|| std::net::TcpStream::connect(("127.0.0.1", app_port)).is_ok());

    // 5. Rampart.
    assert_eq!(block(&doc, "run").trim(), "rampart --config rampart.yaml");
    let p = start_file(&config_path, &[]);
    let c = client();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert!(up, "the app did not start");
        let mut sent_to_items = 0;
        for (kind, key, text) in sights(&doc) {
            let path = key.split_whitespace().nth(1).unwrap();
            if path.starts_with("/items") {
                sent_to_items += 1;
            }
            if kind == "loop" {
                // The codes the shell loop prints, one request per item it loops over.
                let shown: Vec<&str> = text.lines().skip(1).collect();
                let times = text.lines().next().unwrap();
                let times = times
                    .split(" in ")
                    .nth(1)
                    .unwrap()
                    .split(';')
                    .next()
                    .unwrap();
                let times = times.split_whitespace().count();
                assert_eq!(times, shown.len(), "the loop prints one code per request");
                sent_to_items += times - 1;
                let got: Vec<String> = (0..times)
                    .map(|_| {
                        c.get(p.url(path))
                            .send()
                            .unwrap()
                            .status()
                            .as_u16()
                            .to_string()
                    })
                    .collect();
                assert_eq!(got, shown, "{key}");
                continue;
            }
            assert_sees(&key, &expected(&text), c.get(p.url(path)).send().unwrap());
        }
        assert!(
            sent_to_items >= 6,
            "the guide shows the sixth request of the minute refused"
        );
    }));
    let _ = app.kill();
    let _ = app.wait();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// The guide's table on gunicorn: `--forwarded-allow-ips` alone gives a Flask app no client
/// address; the Flask row's ProxyFix line does. A client from 127.0.0.5 through Rampart.
#[test]
fn behind_gunicorn_the_flask_row_gives_the_client_address_and_the_gunicorn_flag_alone_does_not() {
    let doc = guide();
    let row = doc
        .lines()
        .find(|l| l.starts_with("| Flask / Werkzeug"))
        .expect("the Flask row");
    let fix = row.split('`').nth(1).expect("the ProxyFix line");
    assert!(fix.starts_with("app.wsgi_app = ProxyFix("), "{fix}");
    let gunicorn_row = doc
        .lines()
        .find(|l| l.starts_with("| gunicorn with Flask"))
        .expect("the gunicorn row for Flask and Django");
    assert!(
        gunicorn_row.contains("Flask or Django row"),
        "{gunicorn_row}"
    );
    let seen_with = |fixed: bool| -> String {
        let dir = tempfile::tempdir().unwrap();
        let app = format!(
            "from flask import Flask, request\nfrom werkzeug.middleware.proxy_fix import ProxyFix\n\
             app = Flask(__name__)\n{}\n\n@app.get('/')\ndef who():\n    return request.remote_addr\n",
            if fixed { fix } else { "" }
        );
        std::fs::write(dir.path().join("app.py"), app).unwrap();
        let app = Gunicorn::start(
            dir.path(),
            Bind::Tcp,
            &["--forwarded-allow-ips", "127.0.0.1"],
        );
        let upstream = app.endpoint.parse().expect("gunicorn's address");
        let p = start(&config(upstream, DEFAULT_ROUTE));
        let from = reqwest::blocking::Client::builder()
            .no_proxy()
            .local_address(std::net::IpAddr::from([127, 0, 0, 5]))
            .build()
            .unwrap();
        let seen = from
            .get(p.url("/"))
            .send()
            .and_then(|r| Ok((r.status(), r.text()?)));
        match seen {
            Ok((status, text)) if status == 200 => text,
            other => panic!("{other:?}; gunicorn printed:\n{}", app.log()),
        }
    };
    assert_eq!(seen_with(false), "127.0.0.1", "gunicorn's flag alone");
    assert_eq!(
        seen_with(true),
        "127.0.0.5",
        "with the Flask row's ProxyFix"
    );
}
