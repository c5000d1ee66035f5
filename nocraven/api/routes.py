"""The handler table: every API path, its method, the role it needs and its handler.

Capabilities add their own routes (Component.routes()); paths of capabilities that are not in
this build answer `not_available` (see `nocraven.capabilities`) so scripts get the same clear
refusal as people. A handler returns a wire Struct (`nocraven.schema`), text for a client that
asked for it (`TextBody`), or a StreamResponse it wrote itself (NDJSON streams).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import msgspec
from aiohttp import web

from nocraven.api.roles import Peer, Role


@dataclass(frozen=True)
class TextBody:
    """A non-JSON answer, such as Prometheus metrics."""

    text: str
    content_type: str = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class JsonDocument:
    """A JSON object whose keys are data, not a schema (the running config's sections)."""

    document: dict[str, object]


Result = msgspec.Struct | TextBody | JsonDocument | web.StreamResponse
Handler = Callable[[web.Request, Peer], Awaitable[Result]]


@dataclass(frozen=True)
class Route:
    method: str  # "GET" reads, "POST" writes
    path: str  # "/v1/..." (aiohttp patterns such as /v1/vpn/{name} allowed)
    handler: Handler
    role: Role = Role.READ

    def __post_init__(self) -> None:
        if not self.path.startswith("/v1/"):
            raise ValueError(f"API paths are versioned: {self.path!r} must start with /v1/")
        if self.method == "POST" and self.role < Role.TECH:
            raise ValueError(f"{self.path}: a write needs at least the tech role")
