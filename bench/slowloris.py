#!/usr/bin/env python3
"""Slowloris against Rampart: N slow connections (one header byte every few seconds) held
open while normal traffic runs. Reports when each slow connection was closed relative to
`client.header_timeout`, and how the normal requests fared. Run through `bench/run slowloris`.
"""

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench import ROOT, free_port, start_nginx, wait_port


async def slow_client(port, drip_every, results, started):
    t0 = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as e:
        results.append(("connect-error", 0.0, str(e)))
        return
    started.append(1)
    payload = b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"a" * 1000
    answer = b""
    try:
        for byte in payload:
            writer.write(bytes([byte]))
            await writer.drain()
            try:
                answer += await asyncio.wait_for(reader.read(4096), timeout=drip_every)
                if answer == b"" or reader.at_eof():
                    break
            except asyncio.TimeoutError:
                continue
        else:
            results.append(("never-closed", time.monotonic() - t0, ""))
            return
    except (ConnectionError, OSError):
        pass
    # Drain whatever is left until the server closes.
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(4096), timeout=30)
            if not chunk:
                break
            answer += chunk
    except (asyncio.TimeoutError, ConnectionError, OSError):
        pass
    status = answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/1.1 ") else "closed"
    results.append((status, time.monotonic() - t0, ""))
    writer.close()


async def normal_traffic(port, stop, counts):
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            await writer.drain()
            data = await asyncio.wait_for(reader.read(), timeout=10)
            counts["ok" if data.startswith(b"HTTP/1.1 200") else "failed"] += 1
            writer.close()
        except (asyncio.TimeoutError, ConnectionError, OSError):
            counts["failed"] += 1


async def run(port, conns, drip_every, workers):
    results, started = [], []
    stop = asyncio.Event()
    counts = {"ok": 0, "failed": 0}
    traffic = [asyncio.create_task(normal_traffic(port, stop, counts)) for _ in range(workers)]
    t0 = time.monotonic()
    await asyncio.gather(*(slow_client(port, drip_every, results, started) for _ in range(conns)))
    elapsed = time.monotonic() - t0
    stop.set()
    await asyncio.gather(*traffic)
    return results, counts, elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--header-timeout", type=float, default=5.0)
    ap.add_argument("--drip-every", type=float, default=2.0)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--binary", default=str(ROOT / "target/release/rampart"))
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="rampart-slowloris-")
    up_port, port, admin = free_port(), free_port(), free_port()
    upstream = start_nginx(work, "upstream", f" server {{ listen 127.0.0.1:{up_port}; location / {{ return 200 \"ok\"; }} }}", cpu=0)
    cfg = Path(work) / "rampart.yaml"
    cfg.write_text(
        f"server: {{ listen: 127.0.0.1:{port}, admin_listen: 127.0.0.1:{admin}, environment: development }}\n"
        f"client: {{ header_timeout: {args.header_timeout}s, max_connections: {args.connections * 2} }}\n"
        f"upstreams: {{ app: {{ endpoints: [127.0.0.1:{up_port}] }} }}\n"
        "routes: [ { name: all, match: { path_prefix: / }, upstream: app } ]\n"
        "logging: { access_log: false, level: warn }\n")
    rampart = subprocess.Popen([args.binary, "--config", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(up_port)
        wait_port(port)
        results, counts, elapsed = asyncio.run(run(port, args.connections, args.drip_every, args.workers))
    finally:
        rampart.terminate()
        upstream.terminate()
        rampart.wait()
        upstream.wait()

    closed = [t for status, t, _ in results if status not in ("never-closed", "connect-error")]
    statuses = {}
    for status, _, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    # A slow client is checked every `drip_every` seconds, so it notices the close that late.
    within = sum(1 for t in closed if t <= args.header_timeout + args.drip_every + 1.0)
    print(f"{args.connections} slow connections (1 byte every {args.drip_every}s), header_timeout {args.header_timeout}s, "
          f"{args.workers} normal clients, {elapsed:.1f}s")
    print(f"  closed by Rampart: {len(closed)}/{args.connections}; within timeout + one drip interval: {within}")
    if closed:
        print(f"  time to close: median {statistics.median(closed):.2f}s, max {max(closed):.2f}s")
    print(f"  answers to slow clients: {statuses}")
    print(f"  normal requests meanwhile: {counts['ok']} ok, {counts['failed']} failed")


if __name__ == "__main__":
    main()
