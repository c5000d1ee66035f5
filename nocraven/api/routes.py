"""The handler table: every API path, its method, the role it needs and its handler.

Capabilities add their own routes (Component.routes()); paths of capabilities that are not in
this build answer `not_available` so scripts get the same clear refusal as people.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from nocraven.api.roles import Peer, Role

# A handler gets the request and the peer and returns a JSON-able body, or a StreamResponse.
Handler = Callable[[web.Request, Peer], Awaitable[Any]]


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


# Capabilities the product has but this build does not (yet): path prefix -> what to call it.
PLANNED: dict[str, str] = {
    "/v1/ports": "listener port management",
    "/v1/flow": "the flow collector (NetFlow/IPFIX/sFlow)",
    "/v1/snmptrap": "the SNMP trap collector",
    "/v1/winevents": "the Windows event collector",
    "/v1/forward": "forwarding to the NOC",
    "/v1/vpn": "VPN management",
    "/v1/diag": "network diagnostics",
    "/v1/health": "health monitoring",
}
