#!/usr/bin/env python3
"""Soak: mixed traffic through Rampart (release build) at a fixed rate for N minutes, with a
live reload every minute, printing per minute the requests and their statuses, p99 latency,
Rampart's RSS and its open file descriptors. Run through `bench/run soak --minutes N`.

The mix: proxied GETs on keep-alive connections, requests refused by the IP rules (403), by a
hot key's rate limit (429), by the body limit (413) and by the JSON schema (422), valid JSON
POSTs, Server-Sent Event streams, and fresh connections closed after one request. The target
is a flat RSS and fd count: anything that grows minute after minute is a leak.
"""

import argparse
import http.client
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402
from storm import rss_kib  # noqa: E402

# (weight, name, method, path, headers, body, fresh connection)
MIX = [
    (55, "proxied", "GET", "/api/items", {}, None, False),
    (10, "rate-limited", "GET", "/api/hot", {"X-Client": "hot"}, None, False),
    (8, "ip-refused", "GET", "/internal/stats", {}, None, False),
    (5, "too-large", "POST", "/api/items", {"Content-Type": "application/json"}, b"x" * 4096, False),
    (6, "schema-refused", "POST", "/api/items", {"Content-Type": "application/json"}, b'{"qty":"many"}', False),
    (6, "json-ok", "POST", "/api/items", {"Content-Type": "application/json"}, b'{"qty":3}', False),
    (5, "stream", "GET", "/stream", {}, None, False),
    (5, "fresh-connection", "GET", "/api/items", {}, None, True),
]


def config(port, admin, up_port, generation):
    # Each reload changes the hot key's rate (5 or 6 per second) and so the policy's hash.
    return (
        "server:\n"
        f"  listen: 127.0.0.1:{port}\n  admin_listen: 127.0.0.1:{admin}\n  watch_config: false\n"
        "  environment: development\n"
        f"upstreams:\n  app:\n    endpoints: [127.0.0.1:{up_port}]\n    max_in_flight: 32\n"
        "    queue: { max: 64, timeout: 2s }\n"
        "routes:\n"
        "  - { name: internal, match: { path_prefix: /internal }, upstream: app, allow_ips: [10.0.0.0/8] }\n"
        "  - name: hot\n    match: { path: /api/hot }\n    upstream: app\n"
        f"    rate_limit: [{{ rate: {5 + generation % 2}/second, key: 'header:X-Client' }}]\n"
        "  - name: items\n    match: { path_prefix: /api }\n    upstream: app\n    max_body_bytes: 1KiB\n"
        "    json_schema: item.json\n    rate_limit: [{ rate: 100000/second, key: client_ip }]\n"
        "  - { name: stream, match: { path_prefix: /stream }, upstream: app, timeout: 10s }\n"
        "logging:\n  level: warn\n  access_log: true\n"
    )


class Load:
    """Workers sending the mix at a fixed total rate; latencies and statuses per minute."""

    def __init__(self, port, rate, workers):
        self.port, self.interval, self.workers = port, workers / rate, workers
        self.lock = threading.Lock()
        self.latencies, self.streams, self.statuses = [], [], Counter()
        self.stop = threading.Event()
        self.weights = [m[0] for m in MIX]

    def take(self):
        with self.lock:
            taken = self.latencies, self.streams, self.statuses
            self.latencies, self.streams, self.statuses = [], [], Counter()
        return taken

    def worker(self, seed):
        rng = random.Random(seed)
        conn = None
        next_at = time.monotonic() + rng.random() * self.interval
        while not self.stop.is_set():
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            next_at += self.interval
            _, name, method, path, headers, body, fresh = rng.choices(MIX, self.weights)[0]
            if conn is None or fresh:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
            start = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                status = resp.status
                if resp.will_close or fresh:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                status = type(e).__name__
                conn.close()
                conn = None
            took = time.perf_counter() - start
            with self.lock:
                # A stream lasts its five events (100 ms): its own column.
                (self.streams if name == "stream" else self.latencies).append(took)
                self.statuses[f"{name} {status}"] += 1


def reload(admin):
    req = http.client.HTTPConnection("127.0.0.1", admin, timeout=10)
    req.request("POST", "/-/reload")
    status = req.getresponse().status
    req.close()
    return status


def p99(values):
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * 0.99))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=int, default=10)
    ap.add_argument("--rate", type=int, default=200, help="requests per second in all")
    ap.add_argument("--workers", type=int, default=32)
    ap.add_argument("--out", help="results file (default bench/results/<date>-soak.md)")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="rampart-soak-"))
    (work / "item.json").write_text(json.dumps({
        "type": "object", "required": ["qty"],
        "properties": {"qty": {"type": "integer", "minimum": 1}}}))
    procs = []
    rows = []
    try:
        up_port = bench.free_port()
        procs.append(subprocess.Popen([sys.executable, str(bench.ROOT / "bench/soak_app.py"), str(up_port)]))
        port, admin = bench.free_port(), bench.free_port()
        cfg = work / "rampart.yaml"
        cfg.write_text(config(port, admin, up_port, 0))
        log = open(work / "access.log", "wb")
        rampart = subprocess.Popen([str(bench.ROOT / "target/release/rampart"), "--config", str(cfg)],
                                   stdout=log, stderr=subprocess.DEVNULL)
        procs.append(rampart)
        bench.wait_port(up_port)
        bench.wait_port(port)
        bench.wait_port(admin)
        load = Load(port, args.rate, args.workers)
        threads = [threading.Thread(target=load.worker, args=(i,), daemon=True) for i in range(args.workers)]
        for t in threads:
            t.start()
        print("minute  requests  p99 ms  stream p99  RSS MiB  fds  reload  errors  statuses")
        for minute in range(1, args.minutes + 1):
            time.sleep(60)
            cfg.write_text(config(port, admin, up_port, minute))
            reloaded = reload(admin)
            lat, streams, st = load.take()
            fds = len(list(Path(f"/proc/{rampart.pid}/fd").iterdir()))
            rss = rss_kib(rampart.pid) / 1024
            errors = sum(n for k, n in st.items() if not k.split()[-1].isdigit())
            row = (minute, len(lat) + len(streams), p99(lat) * 1000, rss, fds, reloaded, errors,
                   ", ".join(f"{k}: {n}" for k, n in sorted(st.items())), p99(streams) * 1000)
            rows.append(row)
            print("%6d  %8d  %6.1f  %10.1f  %7.1f  %3d  %6d  %6d  %s"
                  % (row[:3] + (row[8],) + row[3:8]), flush=True)
        load.stop.set()
        for t in threads:
            t.join(timeout=20)
    finally:
        bench.stop_all(procs)
    write_results(args, rows)


def write_results(args, rows):
    if not rows:
        return
    out = Path(args.out) if args.out else bench.ROOT / f"bench/results/{time.strftime('%Y-%m-%d')}-soak.md"
    first, last = rows[0], rows[-1]
    rss, fds, p99s = [r[3] for r in rows], [r[4] for r in rows], [r[2] for r in rows]
    streams = [r[8] for r in rows]
    summary = (
        f"{len(rows)} minutes at {args.rate} req/s ({sum(r[1] for r in rows):,} requests, "
        f"{sum(r[6] for r in rows)} client errors), a reload every minute "
        f"({sum(1 for r in rows if r[5] == 200)}/{len(rows)} answered 200).\n"
        f"RSS: minute 1 {first[3]:.1f} MiB, last {last[3]:.1f} MiB, max {max(rss):.1f} MiB.\n"
        f"Open fds: minute 1 {first[4]}, last {last[4]}, max {max(fds)}.\n"
        f"p99 (streams aside): median of minutes {sorted(p99s)[len(p99s) // 2]:.1f} ms, "
        f"worst minute {max(p99s):.1f} ms; streams (five events 20 ms apart): median "
        f"{sorted(streams)[len(streams) // 2]:.1f} ms, worst {max(streams):.1f} ms.\n")
    table = "\n".join("| %d | %d | %.1f | %.1f | %.1f | %d | %d | %d |" % (r[:3] + (r[8],) + r[3:7])
                      for r in rows)
    out.write_text(
        f"# Soak, {time.strftime('%Y-%m-%d %H:%M')}\n\n`bench/run soak --minutes {args.minutes} "
        f"--rate {args.rate}`\n\n{summary}\n"
        "| minute | requests | p99 ms | stream p99 ms | RSS MiB | fds | reload | errors |\n"
        "|---|---|---|---|---|---|---|---|\n"
        f"{table}\n\nStatuses of the last minute: {last[7]}\n")
    print(summary + f"written to {out}")


if __name__ == "__main__":
    main()
