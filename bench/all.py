#!/usr/bin/env python3
"""The four placements of BENCHMARKS.md in one run: pinned proxy cost, sidecar in front of the
app, latency added at a fixed rate, and memory (10,000 idle connections, 1,000,000 rate-limit
keys, idle wake-ups). Each
placement's own script runs in turn with its defaults; their tables are gathered, with the
commit and the machine, into bench/results/<date>-all.md. Run through `bench/run all`
(about 15 minutes).
"""

import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

from bench import ROOT

PLACEMENTS = [
    ("1. Pinned: proxy cost", "bench.py", []),
    ("2. Sidecar: what the app keeps", "sidecar.py", []),
    ("3. Latency added at a fixed rate", "latency.py", []),
    ("4a. Memory per idle connection", "storm.py", ["--connections", "10000"]),
    ("4b. Idle wake-ups", "idle.py", []),
]
KEYS = 1_000_000
# Allocations per request of bare Pingora 0.9.1 as released, the pinned placement: 67.1 in
# every `bench/run all` of 0.2 (bench/results/2026-11-30-*-all.md) and up to vendor patch 16;
# patch 17 (the timing digest) lowers the bare build's count as well.
BARE_PINGORA_ALLOCATIONS = 67.1


def main():
    stamp = time.strftime("%Y-%m-%d-%H%M")
    results = ROOT / "bench/results"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    sections = [f"# bench/run all, {time.strftime('%Y-%m-%d %H:%M')}",
                "",
                f"Commit {commit}{' (with local changes)' if dirty else ''}; {os.cpu_count()} CPUs, "
                f"{platform.machine()}, Linux {platform.release()}.",
                ""]
    texts = {}
    for title, script, extra in PLACEMENTS:
        out = results / f"{stamp}-{Path(script).stem}.md"
        print(f"==> {title} (bench/{script})", flush=True)
        subprocess.run([sys.executable, str(ROOT / "bench" / script), "--out", str(out), *extra],
                       cwd=ROOT, check=True)
        texts[script] = out.read_text()
        sections += [f"## {title}", "", texts[script].strip(), ""]
        out.unlink()
    sections[4:4] = targets(texts)
    print("==> 4c. Memory for 1,000,000 rate-limit keys (bench/rate_limit_memory.rs)", flush=True)
    subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "rate_limit_memory"],
                   cwd=ROOT, check=True)
    keys = subprocess.run([str(ROOT / "target/release/examples/rate_limit_memory"), str(KEYS)],
                          cwd=ROOT, capture_output=True, text=True, check=True).stdout
    print(keys)
    sections += ["## 4c. Memory for rate-limit keys", "",
                 f"The rate limiter's key table with {KEYS:,} distinct keys (target: at most 100 MB).",
                 "", keys.strip(), ""]
    combined = results / f"{stamp}-all.md"
    combined.write_text("\n".join(sections))
    print(f"(all four placements written to {combined})")


def targets(texts):
    """The 0.3 performance targets (issue "Below bare Pingora") against this run's figures,
    read back from the placements' tables: met, or the distance."""
    def find(pattern, script, cast=float):
        m = re.search(pattern, texts.get(script, ""), re.M)
        return cast(m.group(1).replace(",", "")) if m else None

    rows = []

    def row(what, target, value, met):
        shown = "not measured" if value is None else value
        verdict = "-" if value is None else ("met" if met else "not met")
        rows.append(f"| {what} | {target} | {shown} | {verdict} |")

    ratio = find(r"^\| rampart \(every guard on\) \|[^|]*\|[^|]*\|[^|]*\| ([\d.]+)x", "bench.py")
    row("pinned: CPU per request, every guard on, vs NGINX", "at most 1.30x",
        ratio and f"{ratio:.2f}x", ratio is not None and ratio <= 1.30)
    allocs = find(r"^\| rampart \(every guard on\) \| ([\d.]+) \|$", "bench.py")
    bare = find(r"^\| bare pingora \| ([\d.]+) \|$", "bench.py")
    # The bound is bare Pingora as 0.9.1 ships (67.1 in every run of 0.2). This run's
    # bare Pingora is built on the vendored crates, so Rampart's patches lower its count too:
    # shown beside it.
    row("pinned: allocations per request, every guard on",
        f"at most bare Pingora 0.9.1's ({BARE_PINGORA_ALLOCATIONS}; this run's, on the patched "
        f"crates: {bare})",
        allocs, allocs is not None and allocs <= BARE_PINGORA_ALLOCATIONS)
    share = find(r"Rampart/NGINX share: ([\d.]+)", "sidecar.py")
    row("sidecar: Rampart's share of direct / NGINX's", "at least 1.00", share,
        share is not None and share >= 1.0)
    inapp = find(r"Rampart/in-app throughput: ([\d.]+)x", "sidecar.py")
    row("sidecar: Rampart / in-app middleware", "at least 1.5x", inapp and f"{inapp:.2f}x",
        inapp is not None and inapp >= 1.5)
    storm = re.search(r"^\| ([\d.]+) MiB \| ([\d.]+) MiB \| ([\d.]+) MiB \| [\d.]+ KiB \(([\d.]+) KB\)",
                      texts.get("storm.py", ""), re.M)
    if storm:
        before, after, per = float(storm.group(1)), float(storm.group(3)), float(storm.group(4))
        kept = 100 * (after - before) / before
        row("RSS 10 s after 10,000 idle connections closed", "within 20% of before",
            f"{after:.1f} MiB against {before:.1f} ({kept:+.0f}%)", kept <= 20)
        row("memory per idle keep-alive connection (10,000)", "at most 8 KB (stretch 4)",
            f"{per:.1f} KB", per <= 8)
    else:
        row("RSS after a storm / per idle connection", "-", None, False)
    idle = find(r"^\| rampart, conf/rampart.yaml \| 2 s after a request \| ([\d.]+) \|", "idle.py")
    row("idle wake-ups/s, conf/rampart.yaml", "at most 1", idle, idle is not None and idle <= 1)
    return ["## Targets", "", "| measure | target | this run | |", "|---|---|---|---|", *rows, ""]


if __name__ == "__main__":
    main()
