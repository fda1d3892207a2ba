#!/usr/bin/env python3
"""The body-buffering trade-off: the same POSTs through a route that reads the whole body
before contacting the app (max_body_bytes <= client.buffer_body_bytes) and through one that
streams it (buffer_body_bytes: 0). Prints latency and Rampart's CPU per request for each.
Run through `bench/run buffering`.
"""

import argparse
import http.client
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench import CLK_TCK, ROOT, cpu_ticks, free_port, start_nginx, wait_port


def measure(port, pid, body, count):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies = []
    before = cpu_ticks([pid])
    for _ in range(count):
        t0 = time.perf_counter()
        conn.request("POST", "/upload", body=body, headers={"Content-Type": "application/octet-stream"})
        resp = conn.getresponse()
        resp.read()
        latencies.append((time.perf_counter() - t0) * 1000)
        if resp.status != 200:
            raise SystemExit(f"unexpected status {resp.status}")
    cpu_us = (cpu_ticks([pid]) - before) / CLK_TCK * 1e6 / count
    latencies.sort()
    return statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1], cpu_us


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512 * 1024)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--binary", default=str(ROOT / "target/release/rampart"))
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="rampart-buffering-")
    up_port = free_port()
    upstream = start_nginx(work, "upstream", f""" client_max_body_size 10m; client_body_buffer_size 1m;
 server {{ listen 127.0.0.1:{up_port}; location / {{ proxy_pass http://127.0.0.1:{up_port}/sink; }}
   location /sink {{ return 200 "ok"; }} }}""", cpu=0)
    procs = [upstream]
    body = bytes(i % 251 for i in range(args.size))
    rows = []
    try:
        wait_port(up_port)
        for name, threshold in (("buffered (read whole body first)", "1MiB"), ("streamed", "0")):
            port, admin = free_port(), free_port()
            cfg = Path(work) / f"{threshold}.yaml"
            cfg.write_text(
                f"server: {{ listen: 127.0.0.1:{port}, admin_listen: 127.0.0.1:{admin}, threads: 1, environment: development }}\n"
                f"client: {{ buffer_body_bytes: {threshold} }}\n"
                f"upstreams: {{ app: {{ endpoints: [127.0.0.1:{up_port}] }} }}\n"
                "routes: [ { name: upload, match: { path_prefix: / }, upstream: app, max_body_bytes: 1MiB } ]\n"
                "logging: { access_log: false, level: warn }\n")
            p = subprocess.Popen(["taskset", "-c", "1", args.binary, "--config", str(cfg)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(p)
            wait_port(port)
            measure(port, p.pid, body, 20)  # warm up
            rows.append((name, *measure(port, p.pid, body, args.count)))
    finally:
        for p in procs:
            p.terminate()
            p.wait()
    print(f"{args.count} POSTs of {args.size // 1024} KiB, one client, keep-alive; nginx upstream reads the body")
    print("| route | p50 ms | p99 ms | Rampart CPU µs/request |\n|---|---|---|---|")
    for name, p50, p99, cpu in rows:
        print(f"| {name} | {p50:.2f} | {p99:.2f} | {cpu:.0f} |")


if __name__ == "__main__":
    main()
