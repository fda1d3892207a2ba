#!/usr/bin/env python3
"""Reloads under load: wrk keeps 32 connections busy through Rampart (release build) while
100 valid reloads and then 100 invalid files go through `POST /-/reload`. Reports requests,
non-2xx answers and socket errors seen by wrk (target: 0 and 0), and what the reloads answered.
"""

import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402


def config(port, admin, up_port, body):
    return (
        "server:\n"
        f"  listen: 127.0.0.1:{port}\n  admin_listen: 127.0.0.1:{admin}\n  threads: 1\n"
        "  watch_config: false\n"
        "upstreams:\n"
        f"  app:\n    endpoints: [127.0.0.1:{up_port}]\n"
        "routes:\n"
        f"  - {{ name: api, match: {{ path_prefix: / }}, upstream: app, max_body_bytes: {body} }}\n"
        "logging:\n  access_log: false\n  level: warn\n"
    )


def reload(admin):
    req = urllib.request.Request(f"http://127.0.0.1:{admin}/-/reload", method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def main():
    work = tempfile.mkdtemp(prefix="rampart-reload-")
    procs = []
    try:
        up_port = bench.free_port()
        procs.append(bench.start_nginx(work, "upstream",
                                       f" server {{ listen 127.0.0.1:{up_port}; keepalive_requests 1000000;"
                                       f" location / {{ return 200 \"ok\"; }} }}", cpu=0))
        port, admin = bench.free_port(), bench.free_port()
        cfg = Path(work) / "rampart.yaml"
        cfg.write_text(config(port, admin, up_port, 1000))
        rampart = subprocess.Popen(["taskset", "-c", "1", str(bench.ROOT / "target/release/rampart"),
                                    "--config", str(cfg)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(rampart)
        bench.wait_port(port)
        bench.wait_port(admin)
        seconds = 12
        result = {}
        load = threading.Thread(target=lambda: result.update(
            out=subprocess.run(["taskset", "-c", "0", "wrk", "-t1", "-c32", f"-d{seconds}s",
                                f"http://127.0.0.1:{port}/"], capture_output=True, text=True).stdout))
        load.start()
        time.sleep(1)
        valid = [reload_with(cfg, config(port, admin, up_port, 1000 + i), admin) for i in range(100)]
        invalid = [reload_with(cfg, config(port, admin, up_port, i).replace("max_body_bytes", "max_body_bites"), admin)
                   for i in range(100)]
        load.join()
        out = result["out"]
        total = int(bench.re.search(r"(\d+) requests in", out).group(1))
        rps = float(bench.re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        non2xx = bench.re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        sock = bench.re.search(r"Socket errors: (.*)", out)
        print(f"{total} requests in {seconds}s ({rps:,.0f} req/s) through 100 valid and 100 invalid reloads")
        print(f"  reload answers: valid {sorted(set(valid))}, invalid {sorted(set(invalid))}")
        print(f"  non-2xx: {non2xx.group(1) if non2xx else 0}; socket errors: {sock.group(1) if sock else 'none'}")
    finally:
        bench.stop_all(procs)


def reload_with(path, text, admin):
    path.write_text(text)
    status = reload(admin)
    time.sleep(0.05)  # pace the reloads across the run (a benchmark, not a test)
    return status


if __name__ == "__main__":
    main()
