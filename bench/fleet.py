#!/usr/bin/env python3
"""Shared limits for a fleet: 4 Rampart processes on one Redis, then on a 3-master Redis
Cluster; exact against leased. A hot key (one global limit) is driven at 5x its limit, then
many cold keys (one per query value, never over their limit). Reports admitted against the
limit (accuracy; the leased bound is limit + replicas x lease_max), Redis commands per proxied
request (summed over every master), and p99 latency (noisy: everything shares 2 cores).
Run through `bench/run fleet` (which builds oha into .tools/ once).
"""

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench import ROOT, fast_upstream, free_port, publish, stop_all, wait_port

REPLICAS = 4
HOT_RATE = 200            # per second, burst 200 (GCRA: burst + T x rate in T seconds)
LEASE_MAX = HOT_RATE // 10
COLD_KEYS = 1000
COLD_RATE = 10            # per second per key


def cluster_port():
    while True:
        p = free_port()
        if p < 55535:
            return p


def redis_server(work, name, port, cluster):
    d = Path(work) / name
    d.mkdir(parents=True, exist_ok=True)
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(d)]
    if cluster:
        args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc


def cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True,
                          text=True).stdout


def commands(ports):
    """(round trips, commands) Redis has served: script calls (EVAL/EVALSHA, one per round
    trip), and every command, those a script runs (TIME, GET, SET) included."""
    calls = total = 0
    for p in ports:
        for line in cli(p, "info", "commandstats").splitlines():
            if line.startswith("cmdstat_eval"):
                calls += int(line.split("calls=")[1].split(",")[0])
        for line in cli(p, "info", "stats").splitlines():
            if line.startswith("total_commands_processed:"):
                total += int(line.split(":")[1])
    # Each INFO call is itself a command.
    return calls, total - 2 * len(ports)


def per_request(before, after, sent):
    n = max(sent, 1)
    return (after[0] - before[0]) / n, (after[1] - before[1]) / n


def oha(url, rate, seconds, regex=False):
    args = [shutil.which("oha") or str(ROOT / ".tools/bin/oha"), "-z", f"{seconds}s", "-q",
            str(rate), "-c", "8", "--no-tui", "--output-format", "json"]
    if regex:
        args.append("--rand-regex-url")
    return subprocess.Popen(args + [url], stdout=subprocess.PIPE, text=True)


def collect(procs):
    codes, p99s = {}, []
    for p in procs:
        data = json.loads(p.communicate()[0])
        for code, n in data.get("statusCodeDistribution", {}).items():
            codes[code] = codes.get(code, 0) + n
        p99 = data.get("latencyPercentiles", {}).get("p99")
        if p99 is not None:
            p99s.append(p99 * 1e3)
    return codes, max(p99s) if p99s else float("nan")


def rampart_config(port, admin, up_port, store, sharing):
    return (
        "server:\n"
        f"  listen: 127.0.0.1:{port}\n  admin_listen: 127.0.0.1:{admin}\n  threads: 1\n"
        "  environment: development\n"
        f"upstreams:\n  app:\n    endpoints: [127.0.0.1:{up_port}]\n"
        "routes:\n"
        f"  - {{ name: hot, match: {{ path_prefix: /hot }}, upstream: app, rate_limit: "
        f"[{{ rate: {HOT_RATE}/second, key: global, sharing: {sharing} }}] }}\n"
        f"  - {{ name: cold, match: {{ path_prefix: /cold }}, upstream: app, rate_limit: "
        f"[{{ rate: {COLD_RATE}/second, key: \"query:k\", sharing: {sharing} }}] }}\n"
        f"rate_limit_store:\n  kind: redis\n  redis: {{ {store}, timeout: 200ms }}\n"
        "logging:\n  access_log: false\n  level: warn\n")


def run_fleet(args, work, up_port, store, redis_ports, sharing):
    procs, ports = [], []
    try:
        for i in range(REPLICAS):
            port, admin = free_port(), free_port()
            cfg = Path(work) / f"rampart-{sharing}-{i}.yaml"
            cfg.write_text(rampart_config(port, admin, up_port, store, sharing))
            procs.append(subprocess.Popen([args.binary, "--config", str(cfg)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            ports.append(port)
        for p in ports:
            wait_port(p)
        for p in redis_ports:
            cli(p, "flushall")
        rows = {}
        # Hot: 5x the limit, spread over the replicas.
        before = commands(redis_ports)
        started = time.time()
        load = [oha(f"http://127.0.0.1:{p}/hot", HOT_RATE * 5 // REPLICAS, args.seconds)
                for p in ports]
        codes, p99 = collect(load)
        elapsed = time.time() - started
        sent = sum(codes.values())
        admitted = codes.get("200", 0)
        limit = HOT_RATE + HOT_RATE * elapsed
        rows["hot"] = dict(sent=sent, admitted=admitted, limit=limit,
                           cmds=per_request(before, commands(redis_ports), sent), p99=p99)
        # Cold: many keys, each well under its limit.
        before = commands(redis_ports)
        load = [oha(f"http://127.0.0.1:{p}/cold\\?k=[0-9]{{3}}", args.cold_rate // REPLICAS,
                    args.seconds, regex=True) for p in ports]
        codes, p99 = collect(load)
        sent = sum(codes.values())
        rows["cold"] = dict(sent=sent, admitted=codes.get("200", 0), limit=None,
                            cmds=per_request(before, commands(redis_ports), sent), p99=p99)
        return rows
    finally:
        stop_all(procs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--cold-rate", type=int, default=400, help="cold requests/s in all")
    ap.add_argument("--binary", default=str(ROOT / "target/release/rampart"))
    ap.add_argument("--out", default=str(ROOT / f"bench/results/{time.strftime('%Y-%m-%d')}-fleet.md"))
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="rampart-fleet-")
    up_port = free_port()
    infra = [fast_upstream(work, up_port, cpu=None)]
    try:
        wait_port(up_port)
        single = cluster_port()
        infra.append(redis_server(work, "single", single, cluster=False))
        masters = [cluster_port() for _ in range(3)]
        for i, p in enumerate(masters):
            infra.append(redis_server(work, f"master-{i}", p, cluster=True))
        out = cli(masters[0], "--cluster", "create", *[f"127.0.0.1:{p}" for p in masters],
                  "--cluster-yes")
        if "All 16384 slots covered" not in out:
            raise RuntimeError(out)
        while not all("cluster_state:ok" in cli(p, "cluster", "info") for p in masters):
            time.sleep(0.1)
        backends = [
            ("one Redis", f"url: \"redis://127.0.0.1:{single}\"", [single]),
            ("3-master cluster", "cluster: [" + ", ".join(
                f"\"redis://127.0.0.1:{p}\"" for p in masters) + "]", masters),
        ]
        lines = [
            f"Shared limits, {REPLICAS} Rampart processes (1 thread each), {args.seconds} s per "
            f"row, {time.strftime('%Y-%m-%d')}. Hot: one global key, {HOT_RATE}/second, driven at "
            f"{HOT_RATE * 5}/s; admitted against the GCRA limit (burst + T x rate); the leased "
            f"bound adds {REPLICAS} x {LEASE_MAX}. Cold: {COLD_KEYS} keys at {args.cold_rate}/s in "
            "all, none over its limit. Round trips: script calls per proxied request; commands: every "
            "command Redis ran (those inside the scripts too), per proxied request, every master. "
            "p99: the slowest client's, in ms (2 cores shared by everything: noisy).",
            "",
            "| store | sharing | hot: admitted / limit | hot: round trips / commands per request "
            "| hot p99 | cold: admitted / sent | cold: round trips / commands per request | cold p99 |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, store, ports in backends:
            for sharing in ("exact", "leased"):
                r = run_fleet(args, work, up_port, store, ports, sharing)
                hot, cold = r["hot"], r["cold"]
                lines.append(
                    f"| {name} | {sharing} | {hot['admitted']} / {hot['limit']:.0f} "
                    f"({hot['admitted'] / hot['limit']:.3f}) | {hot['cmds'][0]:.3f} / "
                    f"{hot['cmds'][1]:.3f} | {hot['p99']:.1f} | {cold['admitted']} / {cold['sent']} "
                    f"| {cold['cmds'][0]:.3f} / {cold['cmds'][1]:.3f} | {cold['p99']:.1f} |")
                print(lines[-1], flush=True)
        publish("\n".join(lines) + "\n", args.out)
    finally:
        stop_all(infra)


if __name__ == "__main__":
    main()
