//! A real `redis-server` for the shared rate-limit store: on a Unix socket in a fresh
//! folder (no port to pick), nothing persisted, stopped on drop.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub struct RedisServer {
    pub socket: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts one and returns once it accepts connections.
    pub fn start() -> RedisServer {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_at(dir.path().join("redis.sock"), dir)
    }

    /// A socket path in a fresh folder where no server listens (yet).
    pub fn unused_socket() -> (PathBuf, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        (dir.path().join("redis.sock"), dir)
    }

    /// Starts one on `socket` (in `dir`, kept until the server is dropped).
    pub fn start_at(socket: PathBuf, dir: tempfile::TempDir) -> RedisServer {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", "0", "--save", "", "--appendonly", "no"])
            .arg("--unixsocket")
            .arg(&socket)
            .arg("--dir")
            .arg(dir.path());
        let child = spawn_until_ready(cmd, "redis-server");
        RedisServer {
            socket,
            child,
            _dir: dir,
        }
    }

    /// A field of `INFO` (`total_connections_received`, ...), read with redis-cli (whose
    /// own connection counts too).
    pub fn info(&self, field: &str) -> Option<u64> {
        let out = Command::new("redis-cli")
            .arg("-s")
            .arg(&self.socket)
            .arg("info")
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
            l.strip_prefix(field)?
                .strip_prefix(':')?
                .trim()
                .parse()
                .ok()
        })
    }

    pub fn url(&self) -> String {
        format!("unix://{}", self.socket.display())
    }
}

/// Starts `cmd` (a `redis-server`, data node or sentinel) and returns once it says it is
/// ready; its output is drained from then on so it never blocks on a full pipe.
pub fn spawn_until_ready(mut cmd: Command, what: &str) -> Child {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server is not installed: run ./test, which installs it");
    let out = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(out).lines();
    let ready = lines.by_ref().map_while(Result::ok).any(|l| {
        let l = l.to_ascii_lowercase();
        l.contains("ready to accept connections") || l.contains("sentinel id is")
    });
    assert!(ready, "{what} did not start");
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    child
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
