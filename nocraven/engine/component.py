"""What a capability plugs into the engine: a Component, and the context it is given.

A capability (buffer, syslog, flow, forward, vpn, ...) brings one Component: `run()` does its
work until cancelled and cleans up in `finally` (that is where it flushes); raising is a crash,
and the supervisor restarts it with backoff. `status()` returns its detail Struct for
/v1/status and the console; `routes()` adds its handlers to the control API's table.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import msgspec

from nocraven.buffer.access import BufferAccess
from nocraven.config import Config
from nocraven.engine.bus import EventBus
from nocraven.schema.engine import Listener

if TYPE_CHECKING:
    from nocraven.api.routes import Route
    from nocraven.engine.supervisor import Supervisor


class NoDetail(msgspec.Struct):
    pass


@dataclass
class EngineContext:
    """What every component may use: the config, the event bus, the buffer, and the supervisor
    (to restart another component, e.g. after a port change)."""

    config: Config
    bus: EventBus
    buffer: BufferAccess = field(default_factory=BufferAccess)
    supervisor: Supervisor | None = None


class Component(ABC):
    name: ClassVar[str]

    def __init__(self, ctx: EngineContext) -> None:
        self.ctx = ctx

    @abstractmethod
    async def run(self, ready: Callable[[], None]) -> None:
        """Work until cancelled; call `ready()` once listening/open. Clean up in `finally`."""

    def status(self) -> msgspec.Struct:
        """Its detail for /v1/status: counters, listeners, anything a technician should see."""
        return NoDetail()

    def listeners(self) -> list[Listener]:
        """The sockets it listens on, as bound (for /v1/system and the ports registry)."""
        return []

    def routes(self) -> list[Route]:
        return []
