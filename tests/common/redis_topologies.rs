//! Real Redis topologies for the shared rate-limit store: a Redis Cluster (3 masters, a
//! replica each) and a Sentinel-watched master with a replica. TCP on loopback (a cluster's
//! bus listens on port + 10000, so ports are picked below 55535 with that one free too),
//! nothing persisted, every process stopped on drop.

use super::redis::spawn_until_ready;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A loopback port, free now, below 55535, whose cluster-bus port (+10000) is free too.
pub fn cluster_port() -> u16 {
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        if port < 55535 && TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
}

/// `redis-cli -p port args…`, its output.
pub fn cli(port: u16, args: &[&str]) -> String {
    cli_as(port, None, args)
}

/// `redis-cli` with a password (`--no-auth-warning -a`).
pub fn cli_as(port: u16, password: Option<&str>, args: &[&str]) -> String {
    let auth: Vec<&str> = password.map_or(vec![], |p| vec!["--no-auth-warning", "-a", p]);
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(auth)
        .args(args)
        .output()
        .expect("redis-cli is not installed: run ./test, which installs it");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Polls `done` until it holds, failing with `what` after a minute.
pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One `redis-server` process, killed on drop.
pub struct Node {
    pub port: u16,
    child: Option<Child>,
}

impl Node {
    /// Starts `redis-server` with `args` in `dir`; returns once it accepts connections.
    fn start(port: u16, dir: &Path, args: &[&str]) -> Node {
        let mut cmd = Command::new("redis-server");
        cmd.args(args)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(dir);
        let child = spawn_until_ready(cmd, &format!("redis-server on {port}"));
        Node {
            port,
            child: Some(child),
        }
    }

    /// Kills the process now (a crash: no shutdown, no last write).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

struct Master {
    id: String,
    port: u16,
    slots: Vec<std::ops::RangeInclusive<u16>>,
}

/// A Redis Cluster of three masters with a replica each.
pub struct Cluster {
    pub nodes: Vec<Node>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    pub fn start() -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let nodes: Vec<Node> = (0..6)
            .map(|i| {
                let port = cluster_port();
                let d = dir.path().join(i.to_string());
                std::fs::create_dir_all(&d).expect("mkdir");
                Node::start(
                    port,
                    &d,
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "1000",
                        "--cluster-replica-validity-factor",
                        "0",
                    ],
                )
            })
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let mut args = vec!["--cluster", "create"];
        args.extend(addrs.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "1", "--cluster-yes"]);
        let out = cli(nodes[0].port, &args);
        assert!(out.contains("All 16384 slots covered"), "{out}");
        let cluster = Cluster { nodes, _dir: dir };
        cluster.wait_healthy();
        cluster
    }

    fn live_ports(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| n.port)
            .collect()
    }

    /// Every live node says the cluster is ok and agrees who serves every slot.
    pub fn wait_healthy(&self) {
        wait_for("the cluster to be ok on every node", || {
            self.live_ports()
                .iter()
                .all(|p| cli(*p, &["cluster", "info"]).contains("cluster_state:ok"))
        });
    }

    /// The slot of `key`.
    pub fn slot(&self, key: &str) -> u16 {
        let port = self.live_ports()[0];
        cli(port, &["cluster", "keyslot", key])
            .trim()
            .parse()
            .expect("slot")
    }

    /// `(node id, port)` of the master serving `slot`, as a live node sees it.
    pub fn master_of(&self, slot: u16) -> (String, u16) {
        self.find_master(slot)
            .unwrap_or_else(|| panic!("no master serves slot {slot}"))
    }

    /// The master serving `slot`, if one does (none while a failover is under way).
    pub fn find_master(&self, slot: u16) -> Option<(String, u16)> {
        self.masters()
            .into_iter()
            .find(|m| m.slots.iter().any(|r| r.contains(&slot)))
            .map(|m| (m.id, m.port))
    }

    /// Another master than the one with `id`.
    pub fn other_master(&self, id: &str) -> (String, u16) {
        self.masters()
            .into_iter()
            .find(|m| m.id != id)
            .map(|m| (m.id, m.port))
            .expect("another master")
    }

    /// The masters not marked failing, as a live node's `CLUSTER NODES` lists them.
    fn masters(&self) -> Vec<Master> {
        let port = self.live_ports()[0];
        let nodes = cli(port, &["cluster", "nodes"]);
        nodes
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .filter(|f| f.len() >= 8 && f[2].contains("master") && !f[2].contains("fail"))
            .map(|f| Master {
                id: f[0].to_string(),
                port: f[1]
                    .split(['@', ':'])
                    .nth(1)
                    .and_then(|p| p.parse().ok())
                    .expect("port"),
                slots: f[8..]
                    .iter()
                    .filter_map(|r| match r.split_once('-') {
                        Some((a, b)) => Some(a.parse().ok()?..=b.parse().ok()?),
                        None => r.parse().ok().map(|s| s..=s),
                    })
                    .collect(),
            })
            .collect()
    }

    /// `rate_limit_store.redis`'s `cluster:` entry for the first two nodes as seeds.
    pub fn backend(&self) -> String {
        let seeds: Vec<String> = self.nodes[..2]
            .iter()
            .map(|n| format!("\"{}\"", n.url()))
            .collect();
        format!("cluster: [{}]", seeds.join(", "))
    }

    /// Moves `slot` (and its keys) to another master, the way `redis-cli --cluster reshard`
    /// does: IMPORTING/MIGRATING, MIGRATE of every key, then the new owner announced.
    pub fn migrate_slot(&self, slot: u16) {
        let (src_id, src) = self.master_of(slot);
        let (dst_id, dst) = self.other_master(&src_id);
        let s = slot.to_string();
        let ok = |out: String| assert!(out.contains("OK"), "{out}");
        ok(cli(dst, &["cluster", "setslot", &s, "importing", &src_id]));
        ok(cli(src, &["cluster", "setslot", &s, "migrating", &dst_id]));
        let keys = cli(src, &["cluster", "getkeysinslot", &s, "1000"]);
        for key in keys.lines().filter(|k| !k.is_empty()) {
            let out = cli(
                src,
                &["migrate", "127.0.0.1", &dst.to_string(), key, "0", "5000"],
            );
            assert!(out.contains("OK") || out.contains("NOKEY"), "{out}");
        }
        for port in self.live_ports() {
            cli(port, &["cluster", "setslot", &s, "node", &dst_id]);
        }
        wait_for("every node to see the slot's new owner", || {
            self.master_of(slot).0 == dst_id
        });
    }

    /// Kills the master serving `slot` and waits for its replica to take over.
    pub fn kill_master_of(&mut self, slot: u16) {
        let (id, port) = self.master_of(slot);
        if let Some(n) = self.nodes.iter_mut().find(|n| n.port == port) {
            n.kill();
        }
        wait_for("a replica to take the slot over", || {
            self.find_master(slot).is_some_and(|(now, _)| now != id)
        });
        self.wait_healthy();
    }
}

/// A master, its replica and one sentinel watching them (quorum 1, down after 1 s).
pub struct SentinelSet {
    pub master: Node,
    pub replica: Node,
    pub sentinel: Node,
    password: Option<String>,
    _dir: tempfile::TempDir,
}

pub const SENTINEL_MASTER: &str = "mymaster";

impl SentinelSet {
    pub fn start() -> SentinelSet {
        Self::start_with(None)
    }

    /// With `password`: every node (the sentinel too) requires it.
    pub fn start_with(password: Option<&str>) -> SentinelSet {
        let dir = tempfile::tempdir().expect("tempdir");
        let sub = |name: &str| {
            let d = dir.path().join(name);
            std::fs::create_dir_all(&d).expect("mkdir");
            d
        };
        let auth: Vec<&str> =
            password.map_or(vec![], |p| vec!["--requirepass", p, "--masterauth", p]);
        let (mp, rp, sp) = (cluster_port(), cluster_port(), cluster_port());
        let master = Node::start(mp, &sub("master"), &auth);
        let mut replica_args = auth.clone();
        let mp_text = mp.to_string();
        replica_args.extend(["--replicaof", "127.0.0.1", mp_text.as_str()]);
        let replica = Node::start(rp, &sub("replica"), &replica_args);
        let sdir = sub("sentinel");
        let conf = sdir.join("sentinel.conf");
        let secured = password.map_or(String::new(), |p| {
            format!("requirepass {p}\nsentinel auth-pass {SENTINEL_MASTER} {p}\n")
        });
        std::fs::write(
            &conf,
            format!(
                "sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {mp} 1\n\
                 sentinel down-after-milliseconds {SENTINEL_MASTER} 1000\n\
                 sentinel failover-timeout {SENTINEL_MASTER} 5000\n{secured}"
            ),
        )
        .expect("sentinel.conf");
        let conf = conf.to_string_lossy().into_owned();
        let sentinel = Node::start(sp, &sdir, &[conf.as_str(), "--sentinel"]);
        let set = SentinelSet {
            master,
            replica,
            sentinel,
            password: password.map(str::to_owned),
            _dir: dir,
        };
        wait_for("the replica to be in sync", || {
            set.cli(rp, &["info", "replication"])
                .contains("master_link_status:up")
        });
        wait_for("the sentinel to see the replica", || {
            set.cli(sp, &["sentinel", "replicas", SENTINEL_MASTER])
                .contains(&rp.to_string())
        });
        set
    }

    fn cli(&self, port: u16, args: &[&str]) -> String {
        cli_as(port, self.password.as_deref(), args)
    }

    /// The port the sentinel names as the master's.
    pub fn master_port(&self) -> u16 {
        let out = self.cli(
            self.sentinel.port,
            &["sentinel", "get-master-addr-by-name", SENTINEL_MASTER],
        );
        out.lines()
            .nth(1)
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Kills the master and waits until the sentinel has promoted the replica.
    pub fn kill_master(&mut self) {
        self.master.kill();
        let rp = self.replica.port;
        wait_for("the sentinel to promote the replica", || {
            self.master_port() == rp && self.cli(rp, &["role"]).starts_with("master")
        });
    }
}
