#!/usr/bin/env python3
"""A WebSocket echo app for the integration tests (the `websockets` package, as FastAPI and
Django Channels apps speak it). Plain HTTP requests to /plain get 200 "plain"; every other
WebSocket handshake is accepted and echoes each message back. Prints its address first."""

import asyncio
import http

from websockets.asyncio.server import serve


async def echo(ws):
    async for message in ws:
        await ws.send(message)


def plain(connection, request):
    if request.path == "/plain":
        return connection.respond(http.HTTPStatus.OK, "plain\n")
    return None


async def main():
    async with serve(echo, "127.0.0.1", 0, process_request=plain, max_size=8 << 20,
                     ping_interval=None) as server:
        host, port = server.sockets[0].getsockname()[:2]
        print(f"listening on {host}:{port}", flush=True)
        await asyncio.get_running_loop().create_future()


asyncio.run(main())
