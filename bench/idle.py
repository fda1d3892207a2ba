#!/usr/bin/env python3
"""Idle wake-ups: how often an idle proxy's threads wake, before any traffic and after some.

A sidecar idles most of its life next to a quiet app; every wake-up is a context switch the
pod pays for and keeps a CPU out of its deepest sleep. Counted as voluntary + nonvoluntary
context switches summed over every thread in /proc/PID/task, over a window, for Rampart
(one thread, no health checks, config in its own folder), for Rampart on the shipped
conf/rampart.yaml (one upstream health check every 5 s; target: at most 1 wake-up/s), and for
NGINX (one worker) doing the same job. Run through `bench/run idle`.
"""

import argparse
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from bench import (ROOT, free_port, publish, rampart_config, stop_all, upstream_and_nginx,
                   wait_port)


def switches(pid):
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            for line in (task / "status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass  # a thread that ended during the walk
    return total


def per_second(pids, seconds):
    before = sum(switches(p) for p in pids)
    time.sleep(seconds)
    return (sum(switches(p) for p in pids) - before) / seconds


def one_request(port):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        while s.recv(4096):
            pass


def shipped_config(work, up_port, binary):
    """Starts the binary on conf/rampart.yaml as shipped (its routes, limits, schema and its one
    health check every 5 s), only its ports moved to free ones and its app to the bench's
    upstream. Its own folder, with the schema it names."""
    folder = Path(work) / "shipped"
    shutil.copytree(ROOT / "conf", folder)
    port, admin = free_port(), free_port()
    text = (folder / "rampart.yaml").read_text()
    text = (text.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
                .replace("127.0.0.1:9901", f"127.0.0.1:{admin}")
                .replace("127.0.0.1:8000", f"127.0.0.1:{up_port}"))
    for other in folder.glob("*.yaml"):
        if other.name != "rampart.yaml":
            other.unlink()
    cfg = folder / "rampart.yaml"
    cfg.write_text(text)
    proc = subprocess.Popen([binary, "--config", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return {"proc": proc, "port": port}


def measure(args):
    work = tempfile.mkdtemp(prefix="rampart-idle-")
    procs = []
    try:
        up_port, ng_port, nginx = upstream_and_nginx(work, procs)
        port, admin = free_port(), free_port()
        folder = Path(work) / "rampart"  # its own folder: the watcher sees only this file
        folder.mkdir()
        cfg = folder / "rampart.yaml"
        cfg.write_text(rampart_config(port, admin, up_port, all_features=False))
        rampart = subprocess.Popen([args.binary, "--config", str(cfg)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(rampart)
        for p in (up_port, ng_port, port):
            wait_port(p)
        nginx_pids = [int(x) for x in subprocess.run(["pgrep", "-P", str(nginx.pid)],
                                                      capture_output=True, text=True).stdout.split()]
        shipped = shipped_config(work, up_port, args.binary)
        procs.append(shipped["proc"])
        wait_port(shipped["port"])
        time.sleep(2)  # start-up settles
        rows = [("rampart", "before any request", per_second([rampart.pid], args.seconds)),
                ("rampart, conf/rampart.yaml", "before any request",
                 per_second([shipped["proc"].pid], args.seconds))]
        one_request(port)
        one_request(ng_port)
        one_request(shipped["port"])
        time.sleep(args.settle)
        rows.append(("rampart", f"{args.settle} s after a request", per_second([rampart.pid], args.seconds)))
        rows.append(("rampart, conf/rampart.yaml", f"{args.settle} s after a request",
                     per_second([shipped["proc"].pid], args.seconds)))
        rows.append(("nginx", f"{args.settle} s after a request",
                     per_second([nginx.pid] + nginx_pids, args.seconds)))
        return rows
    finally:
        stop_all(procs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--settle", type=int, default=2, help="seconds to wait after the request")
    ap.add_argument("--binary", default=str(ROOT / "target/release/rampart"))
    ap.add_argument("--out", default=str(ROOT / "bench/results/idle.md"))
    args = ap.parse_args()
    rows = measure(args)
    lines = [f"Idle wake-ups per second (context switches over every thread, {args.seconds:g} s window, "
             f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs; target: at most 5).", "",
             "| proxy | when | wake-ups/s |", "|---|---|---|"]
    lines += [f"| {name} | {when} | {rate:.1f} |" for name, when, rate in rows]
    text = "\n".join(lines) + "\n"
    publish(text, args.out)


if __name__ == "__main__":
    main()
