#!/usr/bin/env python3
"""Connection storm: open N idle keep-alive connections to Rampart (each answered one request,
then left open), close them all, and report Rampart's RSS before, during, and 10 s after, and
per idle connection. Run through `bench/run storm` (ulimit raised there).
"""

import argparse
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from bench import ROOT, fast_upstream, free_port, wait_port


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def storm_config(port, admin, up_port, connections):
    """Rampart for a storm: room for the connections, heads allowed to wait, no access log."""
    return ("server:\n"
            f"  listen: 127.0.0.1:{port}\n  admin_listen: 127.0.0.1:{admin}\n  threads: 2\n"
            "  environment: development\n"
            f"client:\n  max_connections: {connections * 2}\n  header_timeout: 120s\n"
            f"upstreams:\n  app:\n    endpoints: [127.0.0.1:{up_port}]\n"
            "routes:\n  - { name: all, match: { path_prefix: / }, upstream: app }\n"
            "logging:\n  access_log: false\n  level: warn\n")


def open_idle(port, connections):
    """`connections` keep-alive connections, each answered one request, left open."""
    conns = []
    for _ in range(connections):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        s.recv(4096)  # answered: from now on an idle keep-alive connection
        conns.append(s)
    return conns


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connections", type=int, default=5000)
    ap.add_argument("--binary", help="the Rampart to run (default: target/release/rampart, or "
                                     "target/alloc-count/rampart with --alloc-count)")
    ap.add_argument("--out", help="also write the result (Markdown) here")
    ap.add_argument("--alloc-count", action="store_true",
                    help="run the allocation-counting build (target/alloc-count/rampart, built by "
                         "bench/run) and report the heap bytes an idle connection keeps, by size")
    args = ap.parse_args()
    if args.binary is None:
        args.binary = str(ROOT / ("target/alloc-count/rampart" if args.alloc_count
                                  else "target/release/rampart"))

    work = tempfile.mkdtemp(prefix="rampart-storm-")
    up_port = free_port()
    nginx = fast_upstream(work, up_port)
    port, admin = free_port(), free_port()
    cfg = Path(work) / "rampart.yaml"
    cfg.write_text(storm_config(port, admin, up_port, args.connections))
    count_file = Path(work) / "allocs"
    env = dict(os.environ, RAMPART_ALLOC_COUNT_FILE=str(count_file))
    proc = subprocess.Popen([args.binary, "--config", str(cfg)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def live():
        """Live heap bytes by size class (alloc-count build), else None."""
        if not args.alloc_count:
            return None
        time.sleep(0.3)  # rewritten every 100 ms
        return [int(x) for x in count_file.read_text().split()[1:]]
    try:
        wait_port(port)
        # Warm: one request, so the pool and the runtime are in their steady state.
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            s.recv(4096)
        time.sleep(1)
        before = rss_kib(proc.pid)
        heap_before = live()
        conns = open_idle(port, args.connections)
        time.sleep(2)
        during = rss_kib(proc.pid)
        heap_during = live()
        for s in conns:
            s.close()
        time.sleep(10)
        after = rss_kib(proc.pid)
        heap_after = live()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        nginx.terminate()
    per_conn = (during - before) * 1024 / args.connections
    text = (f"Memory: {args.connections} idle keep-alive connections (each answered one request), "
            f"{time.strftime('%Y-%m-%d')}; target: at most 16 KB per idle connection.\n\n"
            f"| RSS before | with the connections open | 10 s after closing them | per idle connection |\n"
            f"|---|---|---|---|\n"
            f"| {before / 1024:.1f} MiB | {during / 1024:.1f} MiB | {after / 1024:.1f} MiB | "
            f"{per_conn / 1024:.1f} KiB ({per_conn / 1000:.1f} KB) |\n")
    if heap_before is not None:
        grown = [(d - b) / args.connections for b, d in zip(heap_before, heap_during)]
        text += (f"\nHeap bytes an idle connection keeps (live, alloc-count build): "
                 f"{sum(grown):,.0f} B, by allocation size:\n\n| size | bytes per connection |\n"
                 "|---|---|\n")
        text += "".join(f"| {1 << i}-{(2 << i) - 1} B | {g:,.0f} |\n"
                        for i, g in enumerate(grown) if abs(g) >= 16)
        # What RSS kept after the storm is either objects still alive or pages the allocator
        # holds: the live heap before and 10 s after tells which.
        kept = [(a - b) for b, a in zip(heap_before, heap_after)]
        text += (f"\nLive heap 10 s after closing, against before: {sum(kept) / 1024:+,.1f} KiB"
                 f" ({sum(heap_before) / 1024:,.1f} KiB before)\n")
        text += "".join(f"| {1 << i}-{(2 << i) - 1} B | {k / 1024:+,.1f} KiB |\n"
                        for i, k in enumerate(kept) if abs(k) >= 4096)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
