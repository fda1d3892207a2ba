#!/usr/bin/env python3
"""`rampart replay` throughput: a generated Rampart access log of N lines (default 1,000,000:
a day of a busy API at ~12 req/s, 5,000 client addresses, four routes, some bodies) replayed
on one core (taskset) against a config with IP rules, rate limits and body limits. Prints
lines per second and the peak RSS (memory must not grow with the log). Run through
`bench/run replay`."""

import argparse
import json
import random
import resource
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CONFIG = """server: { listen: 127.0.0.1:0, admin_listen: 127.0.0.1:0 }
client: { max_body_bytes: 64KiB }
upstreams:
  app: { endpoints: ["127.0.0.1:8000"] }
routes:
  - name: items
    match: { path_regex: "^/items/[0-9]+$", methods: [GET] }
    upstream: app
    rate_limit: [ { rate: 60/minute }, { rate: 300/minute, key: global } ]
  - name: orders
    match: { path_prefix: /orders, methods: [GET, POST] }
    upstream: app
    deny_ips: [10.99.0.0/16]
    max_body_bytes: 8KiB
    rate_limit: [ { rate: 10/second, burst: 20 } ]
  - { name: health, match: { path: /health }, upstream: app }
"""


def generate(path, lines, seed=7):
    rng = random.Random(seed)
    start = time.time() - 86_400
    with open(path, "w") as f:
        for i in range(lines):
            ts = start + i * 86_400 / lines
            ip = f"10.{rng.randrange(100)}.{rng.randrange(50)}.{rng.randrange(1, 255)}"
            r = rng.random()
            if r < 0.6:
                method, p, route, body = "GET", f"/items/{rng.randrange(10_000)}", "items", 0
            elif r < 0.9:
                method, route = rng.choice(["GET", "POST"]), "orders"
                p, body = "/orders", (rng.choice([200, 2_000, 20_000]) if method == "POST" else 0)
            elif r < 0.97:
                method, p, route, body = "GET", "/health", "health", 0
            else:
                method, p, route, body = "GET", f"/admin/{rng.randrange(9)}", None, 0
            f.write(json.dumps({
                "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts * 1000) % 1000:03d}Z",
                "level": "info", "request_id": f"{i:032x}", "trace_id": f"{i:032x}",
                "client_ip": ip, "method": method, "path": p, "route": route,
                "upstream": "app" if route else None, "endpoint": "127.0.0.1:8000" if route else None,
                "status": 200 if route else 404, "code": None if route else "not_found", "shadow": None,
                "bytes_in": body, "bytes_out": 120, "duration_ms": 1.2, "upstream_ms": 1.0,
                "retries": 0, "user_agent": "python-requests/2.32",
            }, separators=(",", ":")) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rampart-replay-"))
    log, cfg = work / "access.log", work / "candidate.yaml"
    cfg.write_text(CONFIG)
    t = time.time()
    generate(log, args.lines)
    print(f"generated {args.lines:,} lines ({log.stat().st_size / 1e6:.0f} MB) in {time.time() - t:.1f} s")
    rates = []
    for _ in range(args.runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        out = subprocess.run(["taskset", "-c", "1", str(ROOT / "target/release/rampart"), "replay",
                              "--config", str(cfg), "--log", str(log), "--format", "json"],
                             capture_output=True, text=True, check=True)
        elapsed = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        report = json.loads(out.stdout)
        rates.append(report["total"] / elapsed)
        print(f"  {report['total']:,} lines in {elapsed:.2f} s = {report['total'] / elapsed:,.0f} lines/s "
              f"(CPU {after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime:.2f} s, "
              f"peak RSS of any child so far {after.ru_maxrss / 1024:.0f} MiB); refused {report['refused']:,}")
    rates.sort()
    print(f"median: {rates[len(rates) // 2]:,.0f} lines/s on one core")


if __name__ == "__main__":
    main()
