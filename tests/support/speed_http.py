"""An HTTP server on 127.0.0.1 (a free port) in its own thread, for bandwidth checks from tests
that are not async themselves: GET /bytes/N sends N bytes; POST /upload counts what it gets."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class SpeedServer:
    base_url: str = ""
    uploaded: list[int] = field(default_factory=list)  # bytes received by each upload


def _app(server: SpeedServer) -> web.Application:
    async def download(request: web.Request) -> web.StreamResponse:
        count = int(request.match_info["count"])
        response = web.StreamResponse(headers={"Content-Length": str(count)})
        await response.prepare(request)
        block = bytes(64 * 1024)
        sent = 0
        while sent < count:
            size = min(len(block), count - sent)
            await response.write(block[:size])
            sent += size
        await response.write_eof()
        return response

    async def upload(request: web.Request) -> web.Response:
        total = 0
        while chunk := await request.content.read(64 * 1024):
            total += len(chunk)
        server.uploaded.append(total)
        return web.json_response({"bytes": total})

    app = web.Application()
    app.router.add_get("/bytes/{count}", download)
    app.router.add_post("/upload", upload)
    return app


@contextmanager
def speed_server() -> Iterator[SpeedServer]:
    server = SpeedServer()
    loop = asyncio.new_event_loop()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server.base_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    runner = web.AppRunner(_app(server), access_log=None)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.SockSite(runner, listener).start())
    thread = threading.Thread(target=loop.run_forever, name="speed-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.run_until_complete(runner.cleanup())
        loop.close()
