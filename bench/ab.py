#!/usr/bin/env python3
"""Two Rampart binaries against each other in the pinned placement (`bench/run ab A B`).

How each patch is measured on its own: build the binary before the change, copy it aside,
build after, and run both here. Each binary runs alone on CPU 1 with every guard on (or
pass-through with --pass-through), wrk and the nginx upstream on CPU 0; runs alternate A, B,
A, B... so drift hits both alike. Prints the median CPU µs per request of each, their ratio,
and NGINX's figure from the same runs for scale. With `--alloc A B`, two builds with
`--features alloc-count` are compared in allocations per request as well.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", help="the binary before the change")
    ap.add_argument("b", help="the binary after it")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--pass-through", action="store_true", help="no guard configured")
    ap.add_argument("--alloc", nargs=2, metavar=("A", "B"),
                    help="alloc-count builds of A and B: allocations per request too")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="rampart-ab-")
    procs = []
    try:
        up_port, ng_port, nginx = bench.upstream_and_nginx(work, procs)

        def start(binary, name):
            port, admin = bench.free_port(), bench.free_port()
            cfg = Path(work) / f"{name}.yaml"
            cfg.write_text(bench.rampart_config(port, admin, up_port,
                                                all_features=not args.pass_through))
            env = dict(os.environ, RAMPART_ALLOC_COUNT_FILE=str(Path(work) / f"{name}.allocs"))
            proc = subprocess.Popen(["taskset", "-c", "1", binary, "--config", str(cfg)],
                                    env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            procs.append(proc)
            bench.wait_port(port)
            return port, proc

        targets = [("A", *start(args.a, "a")), ("B", *start(args.b, "b"))]
        nginx_pids = [nginx.pid] + bench.children(nginx.pid)
        targets.append(("nginx", ng_port, nginx))
        for _, port, _ in targets:
            bench.wrk(port, 1, args.connections)
        cpu = {name: [] for name, _, _ in targets}
        for _ in range(args.runs):
            for name, port, proc in targets:
                pids = nginx_pids if name == "nginx" else [proc.pid]
                before = bench.cpu_ticks(pids)
                r = bench.wrk(port, args.seconds, args.connections)
                ticks = bench.cpu_ticks(pids) - before
                cpu[name].append(ticks / CLK_TCK * 1e6 / r["total"])
        allocs = {}
        if args.alloc:
            for name, binary in zip(("A", "B"), args.alloc):
                port, _ = start(binary, f"alloc-{name}")
                allocs[name] = alloc_per_request(port, Path(work) / f"alloc-{name}.allocs", args)
    finally:
        bench.stop_all(procs)
    med = {name: statistics.median(v) for name, v in cpu.items()}
    mode = "pass-through" if args.pass_through else "every guard on"
    print(f"pinned, {mode}, {args.runs} alternating runs x {args.seconds}s, CPU µs/request "
          f"(median, min-max):")
    for name in ("A", "B", "nginx"):
        print(f"  {name:6} {med[name]:6.2f}  ({min(cpu[name]):.2f}-{max(cpu[name]):.2f})"
              f"  {med[name] / med['nginx']:.2f}x NGINX")
    print(f"  B/A    {med['B'] / med['A']:.3f}")
    for name, value in allocs.items():
        print(f"  allocations/request {name}: {value:.1f}")


def alloc_per_request(port, count_file, args):
    """The alloc-count build's running total (rewritten every 100 ms into `count_file` by
    `src/alloc_count.rs`) before and after one wrk run, as bench.py's measure_allocs reads it."""
    def total():
        return bench.read_alloc_count(count_file)

    bench.wrk(port, 1, args.connections)
    before = total()
    r = bench.wrk(port, args.seconds, args.connections)
    return (total() - before) / r["total"]


if __name__ == "__main__":
    main()
