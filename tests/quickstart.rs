//! docs/quickstart.md, run as a reader would: its FastAPI app under uvicorn with the guide's
//! flags, its config written, `rampart check` on it, Rampart started, and each "what you
//! will see" answer compared with what the guide shows (status, the headers it lists, the
//! JSON body; a value written as `…` may be anything, a number stands for any number).
//! Ports are the guide's, moved to free ones.
mod common;
use common::tools::root;
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

/// Every "what you will see" block: (its marker, its text).
fn sights(doc: &str) -> Vec<(String, String)> {
    doc.match_indices("<!-- quickstart:see ")
        .map(|(at, m)| {
            let rest = &doc[at + m.len()..];
            let key = rest[..rest.find(" -->").unwrap()].to_string();
            (key.clone(), block(doc, &format!("see {key}")))
        })
        .collect()
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

    // 2. The config, its ports moved to free ones.
    let app_port = free_port();
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

    // 4. The app with the guide's uvicorn flags.
    let command = block(&doc, "app-command");
    let words: Vec<String> = command
        .trim()
        .trim_end_matches('&')
        .split_whitespace()
        .map(|w| {
            if w == "8000" {
                app_port.to_string()
            } else {
                w.to_string()
            }
        })
        .collect();
    assert_eq!(words[0], "uvicorn");
    for flag in ["--proxy-headers", "--forwarded-allow-ips"] {
        assert!(
            words.iter().any(|w| w == flag),
            "the guide's command lacks {flag}"
        );
    }
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let mut app = Command::new(python)
        .args(["-m", "uvicorn"])
        .args(&words[1..])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("uvicorn (./test installs fastapi and uvicorn)");
    let up = eventually(|| std::net::TcpStream::connect(("127.0.0.1", app_port)).is_ok());

    // 5. Rampart.
    assert_eq!(block(&doc, "run").trim(), "rampart --config rampart.yaml");
    let p = start_file(&config_path, &[]);
    let c = client();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert!(up, "the app did not start");
        let mut sent_to_items = 0;
        for (key, text) in sights(&doc) {
            let want = expected(&text);
            let path = key.split_whitespace().nth(1).unwrap();
            if key.contains("6th") {
                // Until refused: the guide says the 6th within the minute is.
                let refused = loop {
                    let resp = c.get(p.url(path)).send().unwrap();
                    sent_to_items += 1;
                    if resp.status() != 200 || sent_to_items > 10 {
                        break resp;
                    }
                };
                assert_eq!(sent_to_items, 6, "the request refused");
                assert_sees(&key, &want, refused);
            } else {
                if path.starts_with("/items") {
                    sent_to_items += 1;
                }
                assert_sees(&key, &want, c.get(p.url(path)).send().unwrap());
            }
        }
    }));
    let _ = app.kill();
    let _ = app.wait();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
