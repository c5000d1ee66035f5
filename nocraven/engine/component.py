"""What a capability plugs into the engine: a Component, and the context it is given.

A capability (buffer, syslog, flow, forward, vpn, ...) brings one Component: `run()` does its
work until cancelled and cleans up in `finally` (that is where it flushes); raising is a crash,
and the supervisor restarts it with backoff. `status()` feeds /v1/status and the console;
`routes()` adds its handlers to the control API's table.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from nocraven.config import Config
from nocraven.engine.bus import EventBus

if TYPE_CHECKING:
    from nocraven.api.routes import Route


@dataclass
class EngineContext:
    """What every component may use: the config, the event bus and shared services."""

    config: Config
    bus: EventBus
    services: dict[str, Any] = field(default_factory=dict)  # e.g. "buffer" -> the buffer facade


class Component(ABC):
    name: ClassVar[str]

    def __init__(self, ctx: EngineContext) -> None:
        self.ctx = ctx

    @abstractmethod
    async def run(self, ready: Callable[[], None]) -> None:
        """Work until cancelled; call `ready()` once listening/open. Clean up in `finally`."""

    def status(self) -> dict[str, Any]:
        """Details for /v1/status: counters, listeners, anything a technician should see."""
        return {}

    def routes(self) -> list[Route]:
        return []
