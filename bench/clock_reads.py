#!/usr/bin/env python3
"""Clock reads per proxied request: bare Pingora, Rampart pass-through and every guard on.

A uprobe on libc's `__clock_gettime` (every `Instant::now()` and `SystemTime::now()` goes
through it) counted by `perf stat` while `h2load --h1` sends exactly N requests over 32
keep-alive connections to a keep-alive nginx `return 200` upstream; the count is divided by
N. Needs `perf` with uprobes (root). Run through `bench/run clock-reads [--binary B]`.
"""

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from bench import ROOT, fast_upstream, free_port, rampart_config, stop_all, wait_port

PROBE = "probe_libc:clock_gettime"


def libc_path(binary):
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    return next(line.split()[2] for line in out.splitlines() if "libc.so" in line)


def add_probe(binary):
    """The uprobe, once: perf keeps it until `perf probe -d`."""
    listed = subprocess.run(["perf", "probe", "-l"], capture_output=True, text=True).stdout
    if PROBE not in listed:
        subprocess.run(["perf", "probe", "-x", libc_path(binary), "-a",
                        "clock_gettime=__clock_gettime"], capture_output=True, check=True)


def reads_per_request(cmd, port, requests, work):
    proc = subprocess.Popen(["taskset", "-c", "1"] + cmd, cwd=work,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        load = ["h2load", "--h1", "-c32", f"http://127.0.0.1:{port}/"]
        subprocess.run(load + ["-n", "2000"], capture_output=True, check=True)  # warm
        out = Path(work) / "stat.txt"
        stat = subprocess.Popen(["perf", "stat", "-x,", "-e", PROBE, "-p", str(proc.pid),
                                 "-o", str(out)])
        time.sleep(0.5)  # attached
        subprocess.run(load + ["-n", str(requests)], capture_output=True, check=True)
        stat.send_signal(2)
        stat.wait()
        for line in out.read_text().splitlines():
            fields = line.split(",")
            if len(fields) > 2 and fields[2] == PROBE:
                return int(fields[0]) / requests
        raise RuntimeError(f"no count for {PROBE} in {out}")
    finally:
        stop_all([proc])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--binary", default=str(ROOT / "target/release/rampart"))
    ap.add_argument("--bare", default=str(ROOT / "target/release/examples/bare_pingora"))
    args = ap.parse_args()
    add_probe(args.binary)
    work = tempfile.mkdtemp(prefix="rampart-clock-")
    procs = []
    try:
        up = free_port()
        procs.append(fast_upstream(work, up))
        wait_port(up)
        rows = []
        if Path(args.bare).exists():
            port = free_port()
            rows.append(("bare pingora", reads_per_request(
                [args.bare, f"127.0.0.1:{port}", f"127.0.0.1:{up}"], port, args.requests, work)))
        for name, every_guard in (("rampart (pass-through)", False), ("rampart (every guard on)", True)):
            port, admin = free_port(), free_port()
            cfg = Path(work) / f"{every_guard}.yaml"
            cfg.write_text(rampart_config(port, admin, up, every_guard))
            rows.append((name, reads_per_request([args.binary, "--config", str(cfg)], port,
                                                 args.requests, work)))
    finally:
        stop_all(procs)
    print(f"Clock reads per request ({args.requests} requests, h2load --h1 -c32, keep-alive both sides):\n")
    print("| target | clock reads/request |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value:.1f} |")


if __name__ == "__main__":
    main()
