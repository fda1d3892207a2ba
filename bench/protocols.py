#!/usr/bin/env python3
"""What TLS and HTTP/2 cost per request: Rampart (pass-through, release build, pinned to
CPU 1) driven by h2load (CPU 0) over cleartext HTTP/1.1, HTTP/1.1 over TLS, HTTP/2 over TLS
(ALPN) and cleartext HTTP/2 (h2c), same connections and requests; CPU µs per request of
the Rampart process and ratios to cleartext HTTP/1.1, interleaved runs. Run through
`bench/run protocols`.
"""

import argparse
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import bench

CLK_TCK = bench.CLK_TCK


def h2load(url, requests, connections, h1, cpu=0):
    args = ["taskset", "-c", str(cpu), "h2load", "-n", str(requests), "-c", str(connections),
            "-m", "1"]
    if h1:
        args.append("--h1")
    out = subprocess.run(args + [url], capture_output=True, text=True, timeout=300).stdout
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out)
    rps = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    if not done or not rps:
        raise SystemExit(f"h2load failed for {url}:\n{out}")
    return {"done": int(done.group(1)), "ok": int(done.group(2)), "rps": float(rps.group(1))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", default=str(bench.ROOT / f"bench/results/{time.strftime('%Y-%m-%d')}-protocols.md"))
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="rampart-protocols-"))
    cert, key = work / "tls.crt", work / "tls.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    procs = []
    try:
        up_port = bench.free_port()
        procs.append(bench.start_nginx(str(work), "upstream",
                                       f" server {{ listen 127.0.0.1:{up_port}; keepalive_requests 1000000;"
                                       f" location / {{ return 200 \"ok\"; }} }}", cpu=0))

        def start(name, extra):
            port, admin = bench.free_port(), bench.free_port()
            cfg = work / f"{name}.yaml"
            cfg.write_text(bench.rampart_config(port, admin, up_port, all_features=False)
                           .replace("server:\n", f"server:\n{extra}", 1))
            proc = subprocess.Popen(["taskset", "-c", "1", str(bench.ROOT / "target/release/rampart"),
                                     "--config", str(cfg)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(proc)
            bench.wait_port(port)
            return port, proc

        tls = f"  tls:\n    cert_file: {cert}\n    key_file: {key}\n"
        plain_port, plain = start("plain", "  h2c: true\n")
        tls_port, tls_proc = start("tls", tls)
        targets = [
            ("HTTP/1.1 cleartext", f"http://127.0.0.1:{plain_port}/", True, plain),
            ("HTTP/1.1 over TLS", f"https://127.0.0.1:{tls_port}/", True, tls_proc),
            ("HTTP/2 over TLS (ALPN h2)", f"https://127.0.0.1:{tls_port}/", False, tls_proc),
            ("HTTP/2 cleartext (h2c)", f"http://127.0.0.1:{plain_port}/", False, plain),
        ]
        for _, url, h1, _ in targets:
            h2load(url, 2000, args.connections, h1)
        results = {name: [] for name, *_ in targets}
        for _ in range(args.runs):
            for name, url, h1, proc in targets:
                before = bench.cpu_ticks([proc.pid])
                r = h2load(url, args.requests, args.connections, h1)
                r["cpu_us"] = (bench.cpu_ticks([proc.pid]) - before) / CLK_TCK * 1e6 / max(r["done"], 1)
                results[name].append(r)
    finally:
        bench.stop_all(procs)

    base = statistics.median(r["cpu_us"] for r in results[targets[0][0]])
    lines = [
        f"Rampart pass-through pinned to CPU 1, h2load -c{args.connections} -m1 -n{args.requests} on CPU 0, "
        f"{args.runs} interleaved runs, {time.strftime('%Y-%m-%d')}. Connections are reused: the TLS "
        "handshake is amortised over each connection's requests.",
        "",
        "| protocol | req/s median | CPU µs/req | CPU vs HTTP/1.1 cleartext | failed |",
        "|---|---|---|---|---|",
    ]
    for name, *_ in targets:
        runs = results[name]
        cpu = statistics.median(r["cpu_us"] for r in runs)
        failed = sum(r["done"] - r["ok"] for r in runs)
        lines.append(f"| {name} | {statistics.median(r['rps'] for r in runs):,.0f} | {cpu:.1f} | "
                     f"{cpu / base:.2f}x | {failed} |")
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).write_text(text)
    print(f"(written to {args.out})")


if __name__ == "__main__":
    main()
