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
    for title, script, extra in PLACEMENTS:
        out = results / f"{stamp}-{Path(script).stem}.md"
        print(f"==> {title} (bench/{script})", flush=True)
        subprocess.run([sys.executable, str(ROOT / "bench" / script), "--out", str(out), *extra],
                       cwd=ROOT, check=True)
        sections += [f"## {title}", "", out.read_text().strip(), ""]
        out.unlink()
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


if __name__ == "__main__":
    main()
