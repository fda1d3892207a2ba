#!/usr/bin/env python3
"""WebSocket client scenarios for the integration tests; prints one JSON line of results.
Usage: ws_client.py URL echo | hold N | wait-close | until-closed | pause SECONDS"""

import asyncio
import json
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus


async def echo(url):
    async with connect(url, max_size=8 << 20, ping_interval=None) as ws:
        for i in range(1000):
            await ws.send(f"message {i}")
            if await ws.recv() != f"message {i}":
                return {"ok": False, "at": i}
        big = bytes(range(256)) * (4 * 1024 * 1024 // 256)
        await ws.send(big)
        return {"ok": await ws.recv() == big, "messages": 1001}


async def hold(url, n):
    sockets = [await connect(url, ping_interval=None) for _ in range(n)]
    print(json.dumps({"open": n}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    alive = 0
    for ws in sockets:
        try:
            await ws.send("still there?")
            alive += await ws.recv() == "still there?"
        except ConnectionClosed:
            pass
    return {"alive": alive}


async def wait_close(url):
    async with connect(url, ping_interval=None) as ws:
        try:
            await asyncio.wait_for(ws.recv(), timeout=30)
            return {"closed": False}
        except ConnectionClosed:
            return {"closed": True}
        except asyncio.TimeoutError:
            return {"closed": False}


async def until_closed(url):
    """Opens a socket, says so, and reports how it was closed (the close code it received)."""
    async with connect(url, ping_interval=None) as ws:
        await ws.send("before")
        await ws.recv()
        print(json.dumps({"open": 1}), flush=True)
        try:
            await asyncio.wait_for(ws.recv(), timeout=60)
            return {"closed": False}
        except ConnectionClosed as e:
            return {"closed": True, "code": e.rcvd.code if e.rcvd else None}
        except asyncio.TimeoutError:
            return {"closed": False}


async def pause(url, seconds):
    async with connect(url, ping_interval=None) as ws:
        await ws.send("before")
        first = await ws.recv()
        await asyncio.sleep(seconds)
        await ws.send("after")
        return {"ok": first == "before" and await ws.recv() == "after"}


async def main():
    url, mode = sys.argv[1], sys.argv[2]
    try:
        if mode == "echo":
            result = await echo(url)
        elif mode == "hold":
            result = await hold(url, int(sys.argv[3]))
        elif mode == "wait-close":
            result = await wait_close(url)
        elif mode == "until-closed":
            result = await until_closed(url)
        else:
            result = await pause(url, float(sys.argv[3]))
    except InvalidStatus as e:
        result = {"status": e.response.status_code}
    except (ConnectionClosed, OSError) as e:
        result = {"error": type(e).__name__}
    print(json.dumps(result), flush=True)


asyncio.run(main())
