"""The engine's own bodies: status, system information, support bundles, stop."""

from __future__ import annotations

from typing import TypeVar

import msgspec

from nocraven.schema.base import Body, ComponentState

T = TypeVar("T")

EMPTY_DETAIL = msgspec.Raw(b"{}")


class ComponentStatus(Body):
    state: ComponentState
    since: float | None = None
    restarts: int = 0
    last_error: str | None = None
    # Each capability's own detail Struct (listeners, counters, ...), kept encoded so one
    # status body carries every capability's detail without a union of all of them.
    detail: msgspec.Raw = EMPTY_DETAIL

    def detail_as(self, tp: type[T]) -> T:
        return msgspec.json.decode(self.detail, type=tp)


class EngineStatus(Body):
    version: str
    hostname: str
    pid: int
    started_at: float
    uptime_s: float
    config: str
    socket: str
    api_tcp: str | None
    watchers: int
    components: dict[str, ComponentStatus]
    role: str = "none"
    # Who starts the engine again after a stop: "systemd", "demo", or None (a stop is final,
    # so a front end offers "Stop" rather than promising a restart).
    supervisor: str | None = None


class Interface(Body):
    name: str | None
    state: str
    mac: str | None
    mtu: int | None
    addresses: list[str]


class Listener(Body):
    """A socket some component listens on, as bound."""

    service: str
    listener: str  # e.g. "udp", "tcp", "tls"
    proto: str
    address: str
    state: ComponentState = ComponentState.RUNNING


class SystemInfo(Body):
    hostname: str
    version: str
    uptime_s: float
    interfaces: list[Interface]
    listeners: list[Listener]


class BundleWritten(Body):
    path: str
    bytes: int


class StopRequested(Body):
    stopping: bool = True


class Description(Body):
    """The detail of a capability this build does not have."""

    description: str
