"""The API server: aiohttp on the Unix socket (peer-credential roles) and optionally TCP+TLS (tokens).

The Unix socket is created with its final mode (umask around bind). A socket file left by a
dead engine is replaced; one that still answers means another engine runs, and we refuse.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import ssl
import stat
import struct
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from nocraven.api import wire
from nocraven.api.roles import Peer, Role, TokenRoles, UnixRoles, group_id, peer_credentials
from nocraven.api.routes import JsonDocument, Route, TextBody
from nocraven.capabilities import planned
from nocraven.config import ApiConfig, parse_listen
from nocraven.errors import ApiError, ErrorCode, not_available
from nocraven.ports_in_use import holder_of

log = logging.getLogger("nocraven.api")

PEER_KEY = web.AppKey("peer", Peer)
SOCKET_MODE = 0o660  # owner and the socket's group (the tech group) may connect


class SocketBusy(Exception):
    """The control socket path is held: another engine answers there, or it is not a socket."""


class ListenerFailed(Exception):
    """A listener of the API could not start; `key` is the config key a person changes."""

    def __init__(self, key: str, value: object, reason: str) -> None:
        self.key = key
        super().__init__(f"{key} = {str(value)!r}: {reason}")


def error_response(exc: ApiError) -> web.Response:
    return web.Response(body=wire.dumps(exc.envelope()), status=exc.status, content_type=wire.JSON)


def _role_needed(route_role: Role, peer: Peer, request: web.Request) -> None:
    if peer.role >= route_role:
        return
    if peer.role == Role.NONE:
        raise ApiError(
            ErrorCode.FORBIDDEN,
            f"{peer.who} is not allowed to use the NoC Raven engine; "
            "ask an administrator to add you to the nocraven group",
        )
    raise ApiError(
        ErrorCode.FORBIDDEN,
        f"{request.method} {request.path} needs the {route_role.name.lower()} role; "
        f"{peer.who} has {peer.role.name.lower()}",
    )


class _JsonErrorHandler(RequestHandler):
    """aiohttp answers requests it cannot parse (a 200 KB header, a bad request line) before any
    middleware runs, in plain text; a client of ours expects the JSON envelope for those too.
    And one log line at debug per bad request, not a traceback: anyone may send garbage."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        log.debug("bad HTTP request (%d): %s", status, message or exc)
        if request.writer is not None and request.writer.output_size > 0:
            raise ConnectionError("response already started; cannot send the error")
        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "error"
        code = ErrorCode.INTERNAL if status >= 500 else ErrorCode.BAD_REQUEST
        detail = (message or reason).strip().splitlines()[0] if (message or reason).strip() else reason
        response = error_response(ApiError(code, f"the request could not be read: {detail}", status))
        response.force_close()
        return response


class _JsonErrorServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _JsonErrorHandler(self, loop=self._loop, **self._kwargs)


INFLIGHT = web.AppKey("inflight", dict)


# Streams that end by themselves when the engine stops (the watch stream after its notice, a
# diagnostic after its `job.ended`) get this long to finish; the others are ended.
STREAM_GRACE_S = 1.0


def streams_in_progress(app: web.Application) -> list[asyncio.Task[Any]]:
    """Handlers that have started answering and have not finished: the NDJSON streams (watch,
    `tail --follow`, a diagnostic). A follow never ends by itself, and the runner would wait out
    its shutdown timeout for each. Requests not answering yet are left to finish normally."""
    return [
        task for task, request in app[INFLIGHT].items() if request.writer is not None and request.writer.output_size > 0
    ]


def build_app(
    routes: list[Route],
    identify: Callable[[web.Request], Peer],
) -> web.Application:
    """One app per listener; both share the handler table, each has its own way to identify."""
    table: dict[tuple[str, str], Route] = {}

    @web.middleware
    async def envelope(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            # A browser page could reach a local socket through a proxy or a DNS-rebinding
            # trick; no legitimate client of ours sends these headers.
            if "Origin" in request.headers or "Referer" in request.headers:
                raise ApiError(ErrorCode.ORIGIN_REFUSED, "requests from web pages are refused")
            return await handler(request)
        except ApiError as exc:
            return error_response(exc)
        except web.HTTPNotFound:
            missing = planned()
            prefix = next((p for p in missing if request.path == p or request.path.startswith(p + "/")), None)
            if prefix is not None:
                return error_response(not_available(missing[prefix]))
            return error_response(ApiError(ErrorCode.NOT_FOUND, f"no such API path: {request.path}"))
        except web.HTTPMethodNotAllowed as exc:
            return error_response(
                ApiError(
                    ErrorCode.METHOD_NOT_ALLOWED,
                    f"{request.method} is not allowed on {request.path}; use {', '.join(sorted(exc.allowed_methods))}",
                )
            )
        except web.HTTPException as exc:
            return error_response(ApiError(ErrorCode.BAD_REQUEST, exc.reason or "bad request", exc.status))
        except (ConnectionResetError, ConnectionAbortedError):
            raise
        except Exception:
            log.exception("handler for %s %s failed", request.method, request.path)
            return error_response(ApiError(ErrorCode.INTERNAL, "internal error in the engine; see its log"))

    def wrap(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            peer = identify(request)
            _role_needed(route.role, peer, request)
            task = asyncio.current_task()
            assert task is not None  # aiohttp runs each request in its own task
            inflight[task] = request
            try:
                result = await route.handler(request, peer)
            finally:
                del inflight[task]
            if isinstance(result, web.StreamResponse):
                return result
            if isinstance(result, TextBody):
                return web.Response(text=result.text, headers={"Content-Type": result.content_type})
            body = result.document if isinstance(result, JsonDocument) else result
            return web.Response(body=wire.dumps(body), content_type=wire.JSON)

        return handle

    inflight: dict[asyncio.Task[Any], web.Request] = {}
    app = web.Application(middlewares=[envelope], client_max_size=4 * 1024 * 1024)
    app[INFLIGHT] = inflight
    for route in routes:
        key = (route.method, route.path)
        if key in table:
            raise ValueError(f"two handlers for {route.method} {route.path}")
        table[key] = route
        app.router.add_route(route.method, route.path, wrap(route))
    return app


def unix_identify(roles: UnixRoles) -> Callable[[web.Request], Peer]:
    def identify(request: web.Request) -> Peer:
        sock = request.transport.get_extra_info("socket") if request.transport else None
        if sock is None:
            return Peer(Role.NONE, "unknown peer")
        return roles.role_of(peer_credentials(sock))

    return identify


def token_identify(roles: TokenRoles) -> Callable[[web.Request], Peer]:
    def identify(request: web.Request) -> Peer:
        peer = roles.role_of(request.headers.get("Authorization"))
        if peer.role == Role.NONE:
            raise ApiError(ErrorCode.UNAUTHORIZED, "a valid bearer token is required on this listener")
        return peer

    return identify


def _socket_answers(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
        return True
    except OSError as exc:
        # EACCES or a timeout: something is there that we may not talk to; do not take it over.
        return exc.errno not in (errno.ECONNREFUSED, errno.ENOENT)
    finally:
        probe.close()


_ACL_USER_OBJ, _ACL_GROUP_OBJ, _ACL_GROUP, _ACL_MASK, _ACL_OTHER = 0x01, 0x04, 0x08, 0x10, 0x20
_ACL_UNDEFINED_ID = 0xFFFFFFFF
_ACL_RW = 0o6


def grant_group(path: Path, gid: int) -> None:
    """Let a second group connect too (the admin group, when the socket's group is the tech
    group): a POSIX access ACL with the same rights as the owning group, nothing for others.
    Raises OSError where the filesystem has no ACLs."""
    entries = [
        (_ACL_USER_OBJ, _ACL_RW, _ACL_UNDEFINED_ID),
        (_ACL_GROUP_OBJ, _ACL_RW, _ACL_UNDEFINED_ID),
        (_ACL_GROUP, _ACL_RW, gid),
        (_ACL_MASK, _ACL_RW, _ACL_UNDEFINED_ID),
        (_ACL_OTHER, 0, _ACL_UNDEFINED_ID),
    ]
    data = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", tag, perm, ident) for tag, perm, ident in entries)
    os.setxattr(path, "system.posix_acl_access", data)


def bind_control_socket(path: Path, tech_group: str, admin_group: str | None = None) -> socket.socket:
    """Create the listening control socket with its final mode; refuse if another engine answers."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None:
        if not stat.S_ISSOCK(mode):
            raise SocketBusy(f"{path} exists and is not a socket; remove it or choose another engine.socket")
        if _socket_answers(path):
            raise SocketBusy(
                f"another engine is already answering on {path}; stop it first (or give this one another engine.socket)"
            )
        path.unlink()  # stale: left by an engine that died
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o777 & ~SOCKET_MODE)
    try:
        sock.bind(str(path))
    except OSError:
        sock.close()
        raise
    finally:
        os.umask(old_umask)
    gid = group_id(tech_group)
    if gid is not None and os.getuid() == 0:
        # Ownership, not mode: the socket was never more open than 0660 to its first group.
        with contextlib.suppress(OSError):
            os.chown(path, -1, gid)
    admin_gid = group_id(admin_group) if admin_group else None
    if admin_gid is not None and admin_gid != gid and os.getuid() == 0:
        # Members of either group connect; the role decides what they may do.
        try:
            grant_group(path, admin_gid)
        except OSError as exc:
            log.warning(
                "cannot let group %s reach %s (%s): its members need the %s group too",
                admin_group,
                path,
                exc.strerror,
                tech_group,
            )
    sock.listen(128)
    sock.setblocking(False)
    return sock


class ApiServer:
    """Runs the listeners; the engine owns it and stops it before the components."""

    def __init__(
        self,
        routes: list[Route],
        socket_path: Path,
        admin_group: str,
        tech_group: str,
        tcp: ApiConfig | None = None,
    ) -> None:
        self._routes = routes
        self._socket_path = socket_path
        self._tech_group = tech_group
        self._admin_group = admin_group
        self._unix_roles = UnixRoles(admin_group, tech_group)
        self._tcp = tcp
        self._runners: list[web.AppRunner] = []
        self.tcp_port: int | None = None
        self._sock: socket.socket | None = None

    async def start(self) -> None:
        try:
            self._sock = bind_control_socket(self._socket_path, self._tech_group, self._admin_group)
        except OSError as exc:
            raise ListenerFailed(
                "engine.socket", self._socket_path, f"cannot create the socket: {exc.strerror}"
            ) from None
        await self._start_site(build_app(self._routes, unix_identify(self._unix_roles)), self._sock)
        if self._tcp is not None and self._tcp.tcp:
            await self._start_tcp(self._tcp)

    async def _start_site(self, app: web.Application, sock: socket.socket, ssl_context: Any = None) -> None:
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        if runner.server is not None:
            runner.server.__class__ = _JsonErrorServer
        await web.SockSite(runner, sock, ssl_context=ssl_context).start()
        self._runners.append(runner)

    async def _start_tcp(self, api: ApiConfig) -> None:
        host, port = parse_listen(api.tcp)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(api.tls_cert, api.tls_key)
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
            raise ListenerFailed(
                "api.tls_cert", api.tls_cert, f"cannot load the certificate and key: {reason}"
            ) from None
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise ListenerFailed("api.tcp", api.tcp, f"port {port}/tcp is in use{holder_of(port, 'tcp')}") from None
            raise ListenerFailed("api.tcp", api.tcp, f"cannot listen: {exc.strerror}") from None
        sock.listen(128)
        sock.setblocking(False)
        self.tcp_port = sock.getsockname()[1]
        await self._start_site(
            build_app(self._routes, token_identify(TokenRoles(api.tokens, api.admin_tokens))),
            sock,
            context,
        )
        log.info("API also listening on %s:%d (TLS, bearer token)", host, self.tcp_port)

    async def stop(self) -> None:
        streams = [task for runner in self._runners for task in streams_in_progress(runner.app)]
        if streams:
            _done, stuck = await asyncio.wait(streams, timeout=STREAM_GRACE_S)
            for task in stuck:
                task.cancel()
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        with contextlib.suppress(FileNotFoundError):
            if self._sock is not None:
                self._socket_path.unlink()
