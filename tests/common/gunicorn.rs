//! A real gunicorn serving a Flask app, for the tests that must see what gunicorn itself does.
//!
//! It binds where the kernel says (`127.0.0.1:0`, or a unix socket in its own folder) and is
//! ready once a request straight to it is answered, not merely once its socket accepts: a
//! port picked beforehand can be taken by another test's listener before gunicorn binds it,
//! and the master accepts connections before its worker can serve them. What gunicorn
//! printed is kept for the failure message.
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// Where the app is served.
pub enum Bind {
    Tcp,
    Unix,
}

pub struct Gunicorn {
    child: Child,
    /// `host:port` for `Bind::Tcp`, the socket's path for `Bind::Unix`.
    pub endpoint: String,
    log: Arc<Mutex<String>>,
    _dir: Option<tempfile::TempDir>,
}

impl Gunicorn {
    /// gunicorn (one sync worker) serving `app:app` from `app_dir` with `extra` arguments.
    pub fn start(app_dir: &Path, bind: Bind, extra: &[&str]) -> Gunicorn {
        let (dir, bind_arg) = match bind {
            Bind::Tcp => (None, "127.0.0.1:0".to_string()),
            Bind::Unix => {
                let dir = tempfile::tempdir().expect("socket folder");
                let arg = format!("unix:{}", dir.path().join("app.sock").display());
                (Some(dir), arg)
            }
        };
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        let mut child = Command::new(python)
            .args(["-m", "gunicorn", "-w", "1", "--no-control-socket", "--bind"])
            .arg(&bind_arg)
            .args(extra)
            .arg("app:app")
            .current_dir(app_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("gunicorn (./test installs the example app's packages)");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().expect("gunicorn's stderr");
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.split("Listening at: ").nth(1) {
                    let _ = tx.send(at.split_whitespace().next().unwrap_or("").to_string());
                }
                if let Ok(mut log) = kept.lock() {
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
        let listening = rx.recv_timeout(Duration::from_secs(30));
        let mut g = Gunicorn {
            child,
            endpoint: String::new(),
            log,
            _dir: dir,
        };
        let url = listening.unwrap_or_else(|_| panic!("gunicorn did not bind:\n{}", g.log()));
        g.endpoint = url
            .trim_start_matches("http://")
            .trim_start_matches("unix:")
            .to_string();
        let ready = super::eventually(|| g.get("/").is_some());
        assert!(ready, "gunicorn's worker never answered:\n{}", g.log());
        g
    }

    /// `GET path` straight to gunicorn: the raw answer, or `None` when none came.
    pub fn get(&self, path: &str) -> Option<String> {
        let request = format!("GET {path} HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n");
        let mut answer = String::new();
        if self.endpoint.starts_with('/') {
            let mut s = std::os::unix::net::UnixStream::connect(&self.endpoint).ok()?;
            s.write_all(request.as_bytes()).ok()?;
            s.read_to_string(&mut answer).ok()?;
        } else {
            let mut s = std::net::TcpStream::connect(&self.endpoint).ok()?;
            s.write_all(request.as_bytes()).ok()?;
            s.read_to_string(&mut answer).ok()?;
        }
        answer.starts_with("HTTP/1.1 ").then_some(answer)
    }

    pub fn socket(&self) -> PathBuf {
        PathBuf::from(&self.endpoint)
    }

    /// What gunicorn printed so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Drop for Gunicorn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
