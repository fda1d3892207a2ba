#!/usr/bin/env python3
"""Sidecar placement (BENCHMARKS.md placement 2): what the app keeps of its throughput.

The example Flask app under gunicorn (4 sync workers) and the proxy share the machine's CPUs,
unpinned, as they would share a pod; `wrk -t1 -c16` drives GET /api/items. Targets, in
interleaved rounds: direct; NGINX (one worker, upstream keep-alive, `limit_req` that never
refuses, body limit, eight security headers); Rampart (one thread, every guard on); and the
same protections written as Flask middleware (bench/sidecar_app.py); then both proxies in
front of the same app bound to a unix socket (`gunicorn --bind unix:`), the placement of its own
that a pod should use. Each is reported as a share of direct's req/s in the same run, with the
proxy's CPU per request. Run through
`bench/run sidecar`.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import (ROOT, publish, children, cpu_ticks, free_port, nginx_proxy_config,
                   rampart_config, start_nginx, stop_all, wait_port, wrk, CLK_TCK)

PATH = "/api/items"


def gunicorn(port, module, workers, bind=None, extra=()):
    app_dir = ROOT / "examples/legacy_app"
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", bind or f"127.0.0.1:{port}",
         *extra,
         "--pythonpath", f"{ROOT / 'bench'},{app_dir}", module],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run(args):
    work = tempfile.mkdtemp(prefix="rampart-sidecar-")
    procs = []
    try:
        app_port, inapp_port = free_port(), free_port()
        procs.append(gunicorn(app_port, "app:app", args.workers))
        procs.append(gunicorn(inapp_port, "sidecar_app:app", args.workers))
        ng_port = free_port()
        nginx = start_nginx(work, "proxy", nginx_proxy_config(ng_port, app_port, "64k"), cpu=None)
        procs.append(nginx)
        rp_port, admin = free_port(), free_port()
        cfg = Path(work) / "rampart.yaml"
        cfg.write_text(rampart_config(rp_port, admin, app_port, all_features=True))
        rampart = subprocess.Popen([args.binary, "--config", str(cfg)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(rampart)
        # The same app on a unix socket, behind both proxies: what a pod should use when the
        # proxy and the app share it (no TCP handshake, no port to reach from outside).
        sock = Path(work) / "app.sock"
        # NGINX's workers run as nobody when started as root: the folder must be searchable
        # and the socket writable for them (gunicorn --umask 0).
        os.chmod(work, 0o755)
        procs.append(gunicorn(0, "app:app", args.workers, bind=f"unix:{sock}",
                              extra=["--umask", "0"]))
        ngu_port = free_port()
        nginx_unix = start_nginx(work, "proxy-unix", nginx_proxy_config(
            ngu_port, 0, "64k", upstream=f"unix:{sock}"), cpu=None)
        procs.append(nginx_unix)
        rpu_port, admin_u = free_port(), free_port()
        cfg_u = Path(work) / "rampart-unix.yaml"
        cfg_u.write_text(rampart_config(rpu_port, admin_u, 0, all_features=True,
                                        endpoint=f"unix:{sock}"))
        rampart_unix = subprocess.Popen([args.binary, "--config", str(cfg_u)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(rampart_unix)
        for port in (app_port, inapp_port, ng_port, rp_port, ngu_port, rpu_port):
            wait_port(port, timeout=60)
        deadline = time.time() + 60
        while not sock.exists() and time.time() < deadline:
            time.sleep(0.1)
        targets = [
            ("direct (gunicorn -w 4)", app_port, []),
            ("nginx (limit_req, body limit, 8 headers)", ng_port, [nginx.pid] + children(nginx.pid)),
            ("rampart (every guard on)", rp_port, [rampart.pid]),
            ("in-app middleware (Flask-Limiter, Talisman, MAX_CONTENT_LENGTH, request id)",
             inapp_port, []),
            ("nginx, app on unix:", ngu_port, [nginx_unix.pid] + children(nginx_unix.pid)),
            ("rampart, app on unix:", rpu_port, [rampart_unix.pid]),
        ]
        for _, port, _ in targets:  # warm: imports, pools, caches
            wrk(port, 2, args.connections, path=PATH, cpu=None)
        results = {name: [] for name, _, _ in targets}
        for _ in range(args.runs):
            for name, port, pids in targets:
                before = cpu_ticks(pids)
                r = wrk(port, args.seconds, args.connections, path=PATH, cpu=None)
                ticks = cpu_ticks(pids) - before
                r["cpu_us"] = ticks / CLK_TCK * 1e6 / r["total"] if pids else None
                results[name].append(r)
        return targets, results
    finally:
        stop_all(procs)


def report(args, targets, results):
    direct = statistics.median(r["rps"] for r in results[targets[0][0]])
    rows, shares = [], {}
    for name, _, _ in targets:
        runs = results[name]
        rps = [r["rps"] for r in runs]
        share = statistics.median(rps) / direct
        shares[name] = share
        cpu = [r["cpu_us"] for r in runs if r["cpu_us"] is not None]
        rows.append(f"| {name} | {statistics.median(rps):,.0f} ({min(rps):,.0f}-{max(rps):,.0f}) | "
                    f"{share:.2f} | {f'{statistics.median(cpu):.0f}' if cpu else '-'} | "
                    f"{statistics.median(r['p50'] for r in runs):.2f} / "
                    f"{statistics.median(r['p99'] for r in runs):.2f} | {sum(r['non2xx'] for r in runs)} |")
    names = [n for n, _, _ in targets]
    lines = [
        f"Sidecar placement (Flask under gunicorn -w {args.workers} sync and the proxy sharing "
        f"{os.cpu_count()} CPUs unpinned; wrk -t1 -c{args.connections} GET {PATH}), {args.runs} "
        f"interleaved rounds x {args.seconds}s, {time.strftime('%Y-%m-%d')}.",
        "",
        "| target | req/s median (min-max) | share of direct | proxy CPU µs/req | p50 / p99 ms | non-2xx |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"Rampart keeps {shares[names[2]]:.2f} of direct, NGINX {shares[names[1]]:.2f} "
        f"(Rampart/NGINX share: {shares[names[2]] / shares[names[1]]:.2f}; target at least 1.00); "
        f"Rampart/in-app throughput: {shares[names[2]] / shares[names[3]]:.2f}x (target at least 1.5x).",
        f"App on a unix socket: Rampart keeps {shares[names[5]]:.2f} of direct (TCP) where NGINX "
        f"keeps {shares[names[4]]:.2f} (Rampart/NGINX: {shares[names[5]] / shares[names[4]]:.2f}); "
        f"unix: against TCP: Rampart {shares[names[5]] / shares[names[2]]:.2f}x, NGINX "
        f"{shares[names[4]] / shares[names[1]]:.2f}x.",
    ]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--binary", default=str(ROOT / "target/release/rampart"))
    ap.add_argument("--out", default=str(ROOT / "bench/results/sidecar.md"))
    args = ap.parse_args()
    targets, results = run(args)
    text = report(args, targets, results)
    publish(text, args.out)


if __name__ == "__main__":
    main()
