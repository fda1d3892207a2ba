#!/usr/bin/env python3
"""System calls per proxied request: Rampart (pass-through) next to NGINX doing the same job.

Each proxy is traced with `strace -c -f` while `h2load --h1` sends exactly N requests over 32
keep-alive connections, first to a keep-alive nginx `return 200` upstream, then to one that
closes every connection after its answer (as gunicorn's sync workers do, the sidecar
placement); every count is divided by N. (strace slows the proxy down: only the counts mean anything here, not the times.) Run
through `bench/run syscalls`.
"""

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from bench import (ROOT, children, free_port, publish, rampart_config, stop_all,
                   upstream_and_nginx, wait_port)


def traced_counts(pid, port, requests, work, name):
    subprocess.run(["h2load", "--h1", "-n", "2000", "-c32", f"http://127.0.0.1:{port}/"],
                   capture_output=True, check=True)  # warm: pools filled, connections open
    out = Path(work) / f"strace-{name}.txt"
    tracer = subprocess.Popen(["strace", "-c", "-f", "-p", str(pid), "-o", str(out)],
                              stderr=subprocess.DEVNULL)
    time.sleep(1)  # attached
    subprocess.run(["h2load", "--h1", "-n", str(requests), "-c32", f"http://127.0.0.1:{port}/"],
                   capture_output=True, check=True)
    tracer.terminate()
    tracer.wait()
    counts = {}
    for line in out.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
            counts[parts[-1]] = int(parts[3])
    return counts


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--binary", default=str(ROOT / "target/release/rampart"))
    ap.add_argument("--out", default=str(ROOT / "bench/results/syscalls.md"))
    args = ap.parse_args()
    lines = [f"System calls per request ({args.requests} requests, h2load --h1 -c32, keep-alive clients, "
             f"{time.strftime('%Y-%m-%d')}):", ""]
    for closing in (False, True):
        lines += table(args, closing) + [""]
    text = "\n".join(lines)
    publish(text, args.out)


def table(args, closing):
    work = tempfile.mkdtemp(prefix="rampart-syscalls-")
    procs = []
    try:
        up, ng, nginx = upstream_and_nginx(work, procs, keepalive=not closing)
        port, admin = free_port(), free_port()
        cfg = Path(work) / "rampart.yaml"
        cfg.write_text(rampart_config(port, admin, up, all_features=False))
        rampart = subprocess.Popen(["taskset", "-c", "1", args.binary, "--config", str(cfg)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(rampart)
        for p in (up, ng, port):
            wait_port(p)
        results = {
            "rampart (pass-through)": traced_counts(rampart.pid, port, args.requests, work, "rampart"),
            "nginx": traced_counts(children(nginx.pid)[0], ng, args.requests, work, "nginx"),
        }
    finally:
        stop_all(procs)
    names = sorted({c for counts in results.values() for c in counts})
    per_request = {n: {c: counts.get(c, 0) / args.requests for c in names} for n, counts in results.items()}
    shown = [c for c in names if any(per_request[n][c] >= 0.05 for n in per_request)]
    title = ("Upstream closing every connection (a new upstream connection per request):" if closing
             else "Upstream keep-alive (pooled connections):")
    lines = [title, "", "| proxy | " + " | ".join(shown) + " | total |", "|---|" + "---|" * (len(shown) + 1)]
    for n, counts in per_request.items():
        lines.append(f"| {n} | " + " | ".join(f"{counts[c]:.2f}" for c in shown)
                     + f" | {sum(counts.values()):.2f} |")
    return lines


if __name__ == "__main__":
    main()
