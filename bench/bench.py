#!/usr/bin/env python3
"""Rampart's benchmark harness (see shared BENCHMARKS.md): the pinned "proxy cost" placement.

The proxy under test runs alone on CPU 1; wrk and the upstream (nginx answering `return 200`)
share CPU 0. Targets: direct (no proxy), NGINX as a reverse proxy configured for the same job,
and Rampart with a pass-through route. For each: req/s (median and range of N runs), the
proxy's CPU microseconds per request (utime+stime from /proc), p50/p99 latency, and ratios.
Every figure is a ratio measured in the same run; absolute numbers drift on shared machines.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
SECURITY_HEADERS = [
    ("Strict-Transport-Security", "max-age=63072000; includeSubDomains"),
    ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Permissions-Policy", "geolocation=(), camera=(), microphone=()"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_all(procs, timeout=15):
    """Terminates every process, then kills those still running after `timeout` seconds."""
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()


def wait_port(port, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (FileNotFoundError, IndexError):
            pass
    return total


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def start_nginx(workdir, name, conf_body, cpu):
    d = Path(workdir) / name
    (d / "logs").mkdir(parents=True, exist_ok=True)
    conf = d / "nginx.conf"
    conf.write_text(
        "worker_processes 1;\ndaemon off;\nerror_log stderr error;\npid %s/nginx.pid;\n"
        "events { worker_connections 4096; }\nhttp {\n access_log off;\n"
        " client_body_temp_path %s/body; proxy_temp_path %s/proxy;\n"
        " fastcgi_temp_path %s/f; uwsgi_temp_path %s/u; scgi_temp_path %s/s;\n%s\n}\n"
        % (d, d, d, d, d, d, conf_body)
    )
    pin = [] if cpu is None else ["taskset", "-c", str(cpu)]
    proc = subprocess.Popen(pin + ["nginx", "-c", str(conf), "-p", str(d)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc


def publish(text, out):
    """Prints a placement's result and writes it to `out` (Markdown)."""
    print(text)
    Path(out).write_text(text)
    print(f"(written to {out})")


def fast_upstream(work, port, cpu=0, keepalive=True):
    """nginx answering `return 200 "ok"`, the upstream when a proxy's own cost is measured.
    keepalive=False: it closes every connection after its answer (as gunicorn's sync workers)."""
    reuse = "keepalive_requests 1000000;" if keepalive else "keepalive_timeout 0;"
    return start_nginx(work, "upstream", f" server {{ listen 127.0.0.1:{port}; {reuse}"
                       f" location / {{ return 200 \"ok\"; }} }}", cpu=cpu)


def nginx_proxy_config(port, up_port, body_limit="1m", upstream=None):
    """NGINX configured for Rampart's job (BENCHMARKS.md): upstream keep-alive, a `limit_req`
    keyed on the client that never refuses, a body limit, eight security headers. `upstream`:
    the app's address in NGINX's spelling instead of 127.0.0.1:up_port (`unix:/path`)."""
    headers = "\n".join(f"   add_header {k} \"{v}\" always;" for k, v in SECURITY_HEADERS)
    server = upstream or f"127.0.0.1:{up_port}"
    return f"""
 upstream app {{ server {server}; keepalive 64; }}
 limit_req_zone $binary_remote_addr zone=perip:10m rate=100000000r/s;
 server {{
  listen 127.0.0.1:{port};
  keepalive_requests 1000000;
  client_max_body_size {body_limit};
  location / {{
   limit_req zone=perip burst=100000 nodelay;
   proxy_pass http://app;
   proxy_http_version 1.1;
   proxy_set_header Connection "";
{headers}
  }}
 }}"""


def upstream_and_nginx(work, procs, keepalive=True):
    """The fast upstream on CPU 0 and NGINX in front of it on CPU 1, both added to `procs`:
    (upstream port, NGINX port, NGINX's master process)."""
    up_port, ng_port = free_port(), free_port()
    procs.append(fast_upstream(work, up_port, keepalive=keepalive))
    nginx = start_nginx(work, "proxy", nginx_proxy_config(ng_port, up_port), cpu=1)
    procs.append(nginx)
    return up_port, ng_port, nginx


def wrk(port, seconds, connections, path="/", script=None, cpu=0):
    extra = ["-s", script] if script else []
    pin = [] if cpu is None else ["taskset", "-c", str(cpu)]
    out = subprocess.run(
        pin + ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", *extra,
         f"http://127.0.0.1:{port}{path}"],
        capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {"rps": rps, "total": total, "p50": pct(50), "p99": pct(99),
            "non2xx": int(errors.group(1)) if errors else 0}


def rampart_config(listen, admin, upstream_port, all_features, rate_limited=False,
                   endpoint=None):
    """`endpoint`: the app's address in Rampart's spelling instead of 127.0.0.1:upstream_port
    (`unix:/path`)."""
    route = "  - { name: bench, match: { path_prefix: / }, upstream: app }\n"
    client = ""
    upstream_extra = ""
    if rate_limited:
        # A quota that never rejects, keyed on the client address behind a trusted proxy:
        # with bench/random_xff.lua every request is a new key.
        route = ("  - { name: bench, match: { path_prefix: / }, upstream: app,\n"
                 "      rate_limit: [ { rate: 1000000/second, key: client_ip } ] }\n")
        client = "client:\n  trusted_proxies: [127.0.0.0/8]\nrate_limit_store:\n  max_keys: 2000000\n"
    logging = "logging:\n  access_log: false\n  level: warn\n"
    if all_features:
        # Every guard on the one route: IP rules, a rate limit keyed on the client that never
        # refuses, body limit, content types, CORS, security headers (on by default), the
        # breaker, max_in_flight with a queue, retries, and the access log.
        route = ("  - name: bench\n    match: { path_prefix: /, methods: [GET, POST] }\n    upstream: app\n"
                 "    max_body_bytes: 64KiB\n    content_types: [application/json]\n    timeout: 10s\n"
                 "    allow_ips: [127.0.0.0/8]\n    deny_ips: [10.66.0.0/16]\n"
                 "    rate_limit: [ { rate: 1000000/second, key: client_ip } ]\n"
                 "    cors: { allow_origins: [https://app.example.com] }\n")
        client = ("client:\n  trusted_proxies: [10.0.0.0/8]\n  header_timeout: 10s\n  max_uri_bytes: 8KiB\n"
                  "  max_header_bytes: 32KiB\n  max_headers: 100\n")
        # Never full, never open, never retrying with a healthy upstream: their cost is the
        # bookkeeping every request pays.
        upstream_extra = ("    max_in_flight: 64\n    queue: { max: 256, timeout: 2s }\n"
                          "    circuit_breaker: { consecutive_failures: 5, open_for: 30s }\n"
                          "    retry: { attempts: 2, backoff: 10ms }\n")
        logging = "logging:\n  access_log: true\n  level: warn\n"
    return (
        "server:\n"
        f"  listen: 127.0.0.1:{listen}\n  admin_listen: 127.0.0.1:{admin}\n  threads: 1\n"
        "  environment: development\n"
        + client +
        "upstreams:\n"
        f"  app:\n    endpoints: [\"{endpoint or f'127.0.0.1:{upstream_port}'}\"]\n"
        + upstream_extra +
        "routes:\n" + route + logging
    )


def read_alloc_count(count_file):
    """The alloc-count build's running total, from the file `src/alloc_count.rs` rewrites every
    100 ms (renamed over; builds before that wrote it in place, so an empty read is retried)."""
    for _ in range(20):
        time.sleep(0.3)
        fields = count_file.read_text().split()
        if fields:
            return int(fields[0])
    raise RuntimeError(f"no allocation count in {count_file}")


def measure_allocs(args, work, up_port, procs):
    """Allocations per request of bare Pingora, Rampart pass-through and every guard on,
    from the counting builds: (total after - total before) / requests served."""
    alloc_dir = Path(args.alloc_dir)
    rampart_bin, bare_bin = alloc_dir / "rampart", alloc_dir / "bare_pingora"
    if not (rampart_bin.exists() and bare_bin.exists()):
        print(f"(no counting builds in {alloc_dir}: allocations per request skipped)")
        return []
    out = []
    variants = [("bare pingora", None), ("rampart (pass-through)", False), ("rampart (every guard on)", True)]
    for name, all_features in variants:
        port, admin = free_port(), free_port()
        count_file = Path(work) / f"allocs-{port}"
        env = dict(os.environ, RAMPART_ALLOC_COUNT_FILE=str(count_file))
        if all_features is None:
            cmd = [str(bare_bin), f"127.0.0.1:{port}", f"127.0.0.1:{up_port}"]
        else:
            cfg = Path(work) / f"alloc-{port}.yaml"
            cfg.write_text(rampart_config(port, admin, up_port, all_features=all_features))
            cmd = [str(rampart_bin), "--config", str(cfg)]
        proc = subprocess.Popen(["taskset", "-c", "1"] + cmd, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        wait_port(port)
        wrk(port, 1, args.connections)

        def total():
            return read_alloc_count(count_file)

        before = total()
        r = wrk(port, args.seconds, args.connections)
        out.append((name, (total() - before) / r["total"]))
        proc.send_signal(signal.SIGTERM)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--binary", default=str(ROOT / "target/release/rampart"))
    ap.add_argument("--out", default=str(ROOT / "bench/results/latest.md"))
    ap.add_argument("--alloc-dir", default=str(ROOT / "target/alloc-count"),
                    help="binaries built with --features alloc-count (by bench/run); skipped if absent")
    ap.add_argument("--bare", default=str(ROOT / "target/release/examples/bare_pingora"),
                    help="bare Pingora pass-through binary (built by bench/run); skipped if absent")
    args = ap.parse_args()

    for tool in ("wrk", "nginx", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: run bench/run, which installs it")
    if os.cpu_count() < 2:
        sys.exit("the pinned placement needs 2 CPUs")

    work = tempfile.mkdtemp(prefix="rampart-bench-")
    procs = []
    try:
        up_port, ng_port, _ = upstream_and_nginx(work, procs)
        def start_rampart(name, **features):
            port, admin = free_port(), free_port()
            cfg = Path(work) / f"{name}.yaml"
            cfg.write_text(rampart_config(port, admin, up_port, **features))
            proc = subprocess.Popen(["taskset", "-c", "1", args.binary, "--config", str(cfg)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(proc)
            return port, proc

        rp_port, rampart = start_rampart("rampart", all_features=False)
        rg_port, guarded = start_rampart("rampart-guards", all_features=True)
        rl_port, limited = start_rampart("rampart-ratelimit", all_features=False, rate_limited=True)
        bare = None
        if Path(args.bare).exists():
            bare_port = free_port()
            bare = subprocess.Popen(["taskset", "-c", "1", args.bare, f"127.0.0.1:{bare_port}",
                                     f"127.0.0.1:{up_port}"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(bare)
            wait_port(bare_port)
        for port in (up_port, ng_port, rp_port, rg_port, rl_port):
            wait_port(port)
        nginx_pids = [procs[1].pid] + children(procs[1].pid)

        targets = [
            ("direct", up_port, []),
            ("nginx (proxy, limit_req, 8 headers)", ng_port, nginx_pids),
            ("rampart (pass-through)", rp_port, [rampart.pid]),
            ("rampart (every guard on)", rg_port, [guarded.pid]),
            ("rampart (rate limit, a new key per request)", rl_port, [limited.pid]),
        ]
        scripts = {"rampart (rate limit, a new key per request)": str(ROOT / "bench/random_xff.lua")}
        if bare:
            targets.insert(2, ("bare pingora (floor)", bare_port, [bare.pid]))
        # Warm up every target, then interleave runs so drift hits all of them alike.
        for name, port, _ in targets:
            wrk(port, 1, args.connections, script=scripts.get(name))
        results = {name: [] for name, _, _ in targets}
        for _ in range(args.runs):
            for name, port, pids in targets:
                before = cpu_ticks(pids)
                r = wrk(port, args.seconds, args.connections, script=scripts.get(name))
                ticks = cpu_ticks(pids) - before
                r["cpu_us"] = (ticks / CLK_TCK * 1e6 / r["total"]) if pids else None
                results[name].append(r)
        allocs = measure_allocs(args, work, up_port, procs)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)

    direct = statistics.median(r["rps"] for r in results["direct"])
    nginx_name = targets[1][0]
    nginx_cpu = statistics.median(r["cpu_us"] for r in results[nginx_name])
    rows = []
    for name, _, _ in targets:
        runs = results[name]
        rps = [r["rps"] for r in runs]
        cpu = [r["cpu_us"] for r in runs if r["cpu_us"] is not None]
        med_cpu = statistics.median(cpu) if cpu else None
        rows.append((
            name,
            f"{statistics.median(rps):,.0f} ({min(rps):,.0f}-{max(rps):,.0f})",
            f"{med_cpu:.1f}" if med_cpu else "-",
            f"{statistics.median(rps) / direct:.2f}",
            f"{med_cpu / nginx_cpu:.2f}x" if med_cpu else "-",
            f"{statistics.median(r['p50'] for r in runs):.3f} / {statistics.median(r['p99'] for r in runs):.3f}",
            str(sum(r["non2xx"] for r in runs)),
        ))
    header = ("target", "req/s median (min-max)", "CPU µs/req", "req/s vs direct", "CPU vs NGINX",
              "p50 / p99 ms", "non-2xx")
    lines = [
        f"Pinned placement (proxy on CPU 1; wrk -t1 -c{args.connections} and the nginx upstream on CPU 0), "
        f"{args.runs} runs x {args.seconds}s, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ] + ["| " + " | ".join(r) + " |" for r in rows]
    if allocs:
        lines += ["", "Heap allocations per request (builds with `--features alloc-count`, same placement, "
                  "one run of the same length):", "", "| target | allocations/req |", "|---|---|"]
        lines += [f"| {name} | {n:.1f} |" for name, n in allocs]
    text = "\n".join(lines) + "\n"
    publish(text, args.out)


if __name__ == "__main__":
    main()
