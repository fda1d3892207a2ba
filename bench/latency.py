#!/usr/bin/env python3
"""Latency added (BENCHMARKS.md placement 3): p50/p99/p99.9 at a fixed request rate.

`oha` sends requests at a fixed rate with coordinated-omission correction (a late request is
timed from when it should have been sent, so a stall shows in the percentiles instead of
hiding them). The proxy runs alone on CPU 1; oha and the upstream (nginx `return 200`) on
CPU 0. Targets, interleaved per round: direct, NGINX configured for the same job, Rampart
with every guard on. Reported: each percentile's median over the rounds, what each proxy
adds over direct, and Rampart's p99 minus NGINX's (target: within 100 µs at 500 req/s).
Run through `bench/run latency` (which builds oha into .tools/ once).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import (ROOT, free_port, publish, rampart_config, stop_all, upstream_and_nginx,
                   wait_port)

PERCENTILES = ("p50", "p99", "p99.9")


def oha(port, rate, seconds, connections):
    out = subprocess.run(
        ["taskset", "-c", "0", "oha", "-z", f"{seconds}s", "-q", str(rate), "-c", str(connections),
         "--latency-correction", "--no-tui", "--output-format", "json",
         f"http://127.0.0.1:{port}/"],
        capture_output=True, text=True, check=True).stdout
    data = json.loads(out)
    codes = data.get("statusCodeDistribution", {})
    return {
        **{p: data["latencyPercentiles"][p] * 1e6 for p in PERCENTILES},  # µs
        "errors": sum(n for code, n in codes.items() if not code.startswith("2"))
        # Requests still in flight when the duration ends are "aborted due to deadline": not
        # failures of the target.
        + sum(n for e, n in data.get("errorDistribution", {}).items() if "deadline" not in e),
    }


def run(args):
    work = tempfile.mkdtemp(prefix="rampart-latency-")
    procs = []
    try:
        up_port, ng_port, _ = upstream_and_nginx(work, procs)
        rp_port, admin = free_port(), free_port()
        cfg = Path(work) / "rampart.yaml"
        cfg.write_text(rampart_config(rp_port, admin, up_port, all_features=True))
        procs.append(subprocess.Popen(["taskset", "-c", "1", args.binary, "--config", str(cfg)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port in (up_port, ng_port, rp_port):
            wait_port(port)
        targets = [("direct", up_port), ("nginx", ng_port), ("rampart (every guard on)", rp_port)]
        for _, port in targets:
            oha(port, 500, 2, args.connections)  # warm
        results = {(name, rate): [] for name, _ in targets for rate in args.rates}
        for _ in range(args.runs):
            for rate in args.rates:
                for name, port in targets:
                    results[(name, rate)].append(oha(port, rate, args.seconds, args.connections))
        return targets, results
    finally:
        stop_all(procs)


def report(args, targets, results):
    def med(name, rate, p):
        return statistics.median(r[p] for r in results[(name, rate)])

    lines = [
        f"Latency added at a fixed rate (oha --latency-correction, -c{args.connections}; proxy on CPU 1, "
        f"oha and the nginx upstream on CPU 0), {args.runs} interleaved rounds x {args.seconds}s, "
        f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs. Microseconds; medians over the rounds.",
        "",
        "| rate | target | p50 | p99 | p99.9 | added p50 / p99 / p99.9 over direct | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    summary = []
    for rate in args.rates:
        for name, _ in targets:
            vals = [med(name, rate, p) for p in PERCENTILES]
            added = " / ".join(f"{med(name, rate, p) - med('direct', rate, p):+.0f}"
                               for p in PERCENTILES) if name != "direct" else "-"
            errors = sum(r["errors"] for r in results[(name, rate)])
            lines.append(f"| {rate}/s | {name} | " + " | ".join(f"{v:.0f}" for v in vals)
                         + f" | {added} | {errors} |")
        gap = med(targets[2][0], rate, "p99") - med("nginx", rate, "p99")
        summary.append(f"at {rate}/s Rampart's p99 is {gap:+.0f} µs from NGINX's")
    lines += ["", "; ".join(summary) + " (target: within 100 µs at 500/s)."]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rates", type=int, nargs="+", default=[500, 2000])
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--binary", default=str(ROOT / "target/release/rampart"))
    ap.add_argument("--out", default=str(ROOT / "bench/results/latency.md"))
    args = ap.parse_args()
    if not shutil.which("oha"):
        sys.exit("oha is missing: run bench/run latency, which builds it into .tools/")
    targets, results = run(args)
    text = report(args, targets, results)
    publish(text, args.out)


if __name__ == "__main__":
    main()
