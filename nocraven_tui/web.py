"""The web panel: the same console in a browser through textual-serve, behind a random token.

textual-serve has no authentication: every route (page, websocket, static files, downloads)
goes through `require_token` first. The token arrives once in the URL (`/?token=...`); the page
answer sets it as an HttpOnly, SameSite=Strict cookie, which the websocket and static requests
then carry. A websocket from another origin is refused even with the cookie.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import shlex
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from textual_serve.server import Server

COOKIE = "nocraven_panel"
TITLE = "NoC Raven console"

FORBIDDEN_PAGE = """<!DOCTYPE html>
<html><head><title>403 Forbidden - NoC Raven</title></head>
<body style="font-family: monospace; background: #0f161d; color: #d8dee6; padding: 2em">
<h1>403 Forbidden</h1>
<p>This NoC Raven web panel needs the token printed when it was started
(<code>nocraven web</code>). Open the URL with <code>?token=...</code> exactly as printed.</p>
</body></html>
"""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def console_command(socket_path: Path | None) -> str:
    """The command textual-serve runs (through a shell) for each browser session."""
    argv = [sys.executable, "-m", "nocraven_tui"]
    if socket_path is not None:
        argv += ["--socket", str(socket_path)]
    return shlex.join(argv)


def token_middleware(token: str) -> Any:
    @web.middleware
    async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        from_query = request.query.get("token", "")
        supplied = from_query or request.cookies.get(COOKIE, "")
        if not supplied or not hmac.compare_digest(supplied.encode(), token.encode()):
            return web.Response(status=403, text=FORBIDDEN_PAGE, content_type="text/html")
        origin = request.headers.get("Origin")
        if origin and urlsplit(origin).netloc != request.host:
            return web.Response(status=403, text=FORBIDDEN_PAGE, content_type="text/html")
        response = await handler(request)
        if from_query and request.path == "/" and not response.prepared:
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    return require_token


class PanelServer(Server):
    """textual-serve's Server with the token check in front and URLs built from the request's host."""

    def __init__(self, command: str, host: str, port: int, token: str) -> None:
        super().__init__(command, host=host, port=port, title=TITLE)
        self.token = token

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.insert(0, token_middleware(self.token))
        return app

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        # Asset and websocket URLs follow the address the browser used (e.g. through an SSH
        # tunnel). The parent handler reads self.public_url without awaiting in between.
        self.public_url = f"{request.scheme}://{request.host}"
        response: web.StreamResponse = await super().handle_index(request)
        return response

    async def on_startup(self, app: web.Application) -> None:
        """textual-serve prints a banner here; run() prints the URL with the token instead."""


async def run(host: str, port: int, socket_path: Path | None, token: str, ready: Callable[[str], None]) -> None:
    server = PanelServer(console_command(socket_path), host, port, token)
    runner = web.AppRunner(await server._make_app(), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_port = runner.addresses[0][1] if runner.addresses else port  # the real one when port is 0
    shown_host = f"[{host}]" if ":" in host else host
    server.public_url = f"http://{shown_host}:{bound_port}"
    ready(f"{server.public_url}/?token={token}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def serve(host: str, port: int, socket_path: Path | None) -> int:
    token = secrets.token_urlsafe(24)

    def ready(url: str) -> None:
        print(f"NoC Raven web panel on {url.split('/?')[0]}", flush=True)
        print(f"token: {token}", flush=True)
        print(f"open: {url}", flush=True)
        if host not in ("127.0.0.1", "::1", "localhost"):
            print("warning: the panel is reachable from the network; keep it on loopback or the VPN", flush=True)

    try:
        asyncio.run(run(host, port, socket_path, token, ready))
    except OSError as exc:
        print(f"nocraven web: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0
