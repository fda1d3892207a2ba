#!/usr/bin/env python3
"""Where heap allocations come from, by the function that made them: `perf probe` on the
allocator's entry points (mimalloc's `mi_malloc_aligned`, `mi_zalloc_aligned`,
`mi_realloc_aligned`: every Rust allocation goes through them), their return values, and
`mi_free`, matched by address. The allocating function is the probe's return address, looked
up in the binary's symbol table (release builds inline much: it is the function the allocation
was inlined into).

  storm: what is still allocated 10 s after a storm of idle keep-alive connections closed
         (what pins the pages RSS keeps), by allocating function.
  load:  allocations per proxied request in the pinned, every-guard-on setup of bench.py, by
         allocating function, over a few seconds of wrk load.

Needs `perf` with uprobes (root). Run as `python3 bench/alloc_sites.py storm|load [--binary B]`.
"""

import argparse
import bisect
import collections
import re
import subprocess
import tempfile
import time
from pathlib import Path

import bench
import storm

PROBES = [
    "mi_malloc_aligned size=%di:u64", "mi_malloc_aligned%return $retval",
    "mi_zalloc_aligned size=%di:u64", "mi_zalloc_aligned%return $retval",
    "mi_realloc_aligned p=%di:u64 size=%si:u64", "mi_realloc_aligned%return $retval",
    "mi_free p=%di:u64",
]
GROUP = "rampart_alloc_sites"
EVENT = re.compile(r"^\s*(\d+)\s+\w+:(\w+):\s+\((\w+)(?: <- (\w+))?\)\s*(.*)$")


def add_probes(binary):
    subprocess.run(["perf", "probe", "-q", "-d", f"{GROUP}:*"], capture_output=True)
    for spec in PROBES:
        # A return probe gets its name with `__return` appended by perf.
        name = spec.split()[0].replace("%return", "")
        subprocess.run(["perf", "probe", "-q", "-x", binary, "--add", f"{GROUP}:{name}={spec}"],
                       check=True, capture_output=True)


def record(pid, out):
    """`perf record` on the process's allocation probes until stopped (SIGINT)."""
    events = [arg for name in ("mi_malloc_aligned", "mi_zalloc_aligned", "mi_realloc_aligned",
                               "mi_malloc_aligned__return", "mi_zalloc_aligned__return",
                               "mi_realloc_aligned__return", "mi_free")
              for arg in ("-e", f"{GROUP}:{name}")]
    return subprocess.Popen(["perf", "record", "-q", "-m", "16384", "-p", str(pid), "-o", out]
                            + events, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def symbols(binary):
    table = []
    nm = subprocess.run(["nm", "-C", "--defined-only", binary], capture_output=True, text=True)
    for line in nm.stdout.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in "tTwW":
            table.append((int(parts[0], 16), parts[2]))
    table.sort()
    return table


def replay(data, binary):
    """The recording's allocations: (counts per function, what is still live per function)."""
    table = symbols(binary)
    starts = [a for a, _ in table]
    entry = next(a for a, n in table if n == "mi_malloc_aligned")
    text = subprocess.run(["perf", "script", "-i", data, "-F", "tid,event,trace"],
                          capture_output=True, text=True).stdout
    base, pending, live = None, {}, {}
    made = collections.Counter()
    for line in text.splitlines():
        m = EVENT.match(line)
        if not m:
            continue
        tid, name, ip, ret, args = m.groups()
        kv = {k: int(v, 0) for k, v in (a.split("=") for a in args.split() if "=" in a)}
        if name == "mi_free":
            live.pop(kv["p"], None)
        elif name.endswith("__return"):
            if tid in pending and base is not None:
                size = pending.pop(tid)
                at = int(ret, 16) - base
                i = bisect.bisect_right(starts, at) - 1
                site = table[i][1] if i >= 0 else "?"
                made[site] += 1
                live[kv["arg1"]] = (size, site)
        else:
            if base is None and name == "mi_malloc_aligned":
                base = int(ip, 16) - entry
            if name == "mi_realloc_aligned":
                live.pop(kv["p"], None)
            pending[tid] = kv["size"]
    kept = collections.defaultdict(lambda: [0, 0])
    for size, site in live.values():
        kept[site][0] += 1
        kept[site][1] += size
    return made, kept


def storm_run(args, work):
    up, port, admin = bench.free_port(), bench.free_port(), bench.free_port()
    procs = [bench.fast_upstream(work, up)]
    cfg = Path(work) / "rampart.yaml"
    cfg.write_text(storm.storm_config(port, admin, up, args.connections))
    proc = subprocess.Popen([args.binary, "--config", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(proc)
    try:
        bench.wait_port(port)
        storm.open_idle(port, 1)[0].close()
        time.sleep(1)
        rec = record(proc.pid, str(Path(work) / "perf.data"))
        time.sleep(2)
        conns = storm.open_idle(port, args.connections)
        time.sleep(2)
        for s in conns:
            s.close()
        time.sleep(10)
        rec.send_signal(2)
        rec.wait()
    finally:
        bench.stop_all(procs)
    _, kept = replay(str(Path(work) / "perf.data"), args.binary)
    rows = sorted(kept.items(), key=lambda kv: -kv[1][1])[:args.top]
    print(f"Still allocated 10 s after {args.connections} idle connections closed, "
          f"by allocating function ({sum(c for c, _ in kept.values())} objects, "
          f"{sum(b for _, b in kept.values()):,} bytes in all):\n")
    print("| objects | bytes | function |\n|---|---|---|")
    for site, (count, size) in rows:
        print(f"| {count} | {size:,} | `{site[:110]}` |")


def load_run(args, work):
    procs = []
    try:
        up_port, _, _ = bench.upstream_and_nginx(work, procs)
        port, admin = bench.free_port(), bench.free_port()
        cfg = Path(work) / "rampart.yaml"
        cfg.write_text(bench.rampart_config(port, admin, up_port, all_features=True))
        proc = subprocess.Popen(["taskset", "-c", "1", args.binary, "--config", str(cfg)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        bench.wait_port(port)
        bench.wrk(port, 1, 32)
        rec = record(proc.pid, str(Path(work) / "perf.data"))
        time.sleep(1)
        served = bench.wrk(port, args.seconds, 32)["total"]
        rec.send_signal(2)
        rec.wait()
    finally:
        bench.stop_all(procs)
    made, _ = replay(str(Path(work) / "perf.data"), args.binary)
    # perf slows every allocation down: the requests counted are the ones wrk saw answered
    # while the probes were on (the recording covers them and a little idle time).
    total = sum(made.values())
    print(f"Allocations per request, pinned, every guard on: {total / served:.1f} over {served} "
          f"requests, by allocating function:\n")
    print("| per request | function |\n|---|---|")
    for site, count in made.most_common(args.top):
        print(f"| {count / served:.2f} | `{site[:110]}` |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["storm", "load"])
    ap.add_argument("--binary", default=str(bench.ROOT / "target/release/rampart"))
    ap.add_argument("--connections", type=int, default=1000, help="storm: idle connections")
    ap.add_argument("--seconds", type=int, default=3, help="load: seconds of wrk load")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    add_probes(args.binary)
    work = tempfile.mkdtemp(prefix="rampart-alloc-sites-")
    try:
        (storm_run if args.mode == "storm" else load_run)(args, work)
    finally:
        subprocess.run(["perf", "probe", "-q", "-d", f"{GROUP}:*"], capture_output=True)


if __name__ == "__main__":
    main()
