#!/usr/bin/env python3
"""A WebSocket echo app for the integration tests (the `websockets` package, as FastAPI and
Django Channels apps speak it). Plain HTTP requests to /plain get 200 "plain"; every other
WebSocket handshake is accepted and echoes each message back. GET /closes answers the close
codes received from ended sockets so far (JSON; null: none received). Prints its address
first."""

import asyncio
import http
import json

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed


CLOSES = []


async def echo(ws):
    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        pass
    finally:
        received = ws.protocol.close_rcvd
        CLOSES.append(received.code if received else None)


def plain(connection, request):
    if request.path == "/plain":
        return connection.respond(http.HTTPStatus.OK, "plain\n")
    if request.path == "/fail":
        return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "down\n")
    if request.path == "/closes":
        return connection.respond(http.HTTPStatus.OK, json.dumps(CLOSES))
    return None


async def main():
    async with serve(echo, "127.0.0.1", 0, process_request=plain, max_size=8 << 20,
                     ping_interval=None) as server:
        host, port = server.sockets[0].getsockname()[:2]
        print(f"listening on {host}:{port}", flush=True)
        await asyncio.get_running_loop().create_future()


asyncio.run(main())
