"""Engine events: facts, named in the past tense, and their wire form.

Every event is a frozen dataclass with a `kind` (the same name on the wire and, in the console,
as a Textual message). Events whose `coalesce_key` is set are rate-like (counters, samples): a
slow reader keeps only the latest one per key instead of falling behind.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = "event"

    @property
    def coalesce_key(self) -> str | None:
        return None

    def data(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ComponentStateChanged(Event):
    kind: ClassVar[str] = "component.state_changed"
    component: str
    state: str
    previous: str
    error: str | None = None
    restarts: int = 0


@dataclass(frozen=True)
class CountersUpdated(Event):
    """A component's counters, sent about once a second; only the latest matters."""

    kind: ClassVar[str] = "counters.updated"
    component: str
    counters: dict[str, Any] = field(default_factory=dict)

    @property
    def coalesce_key(self) -> str | None:
        return f"{self.kind}:{self.component}"


@dataclass(frozen=True)
class RecordsSampled(Event):
    """A sample of records just ingested, for live views; never all of them at high rates."""

    kind: ClassVar[str] = "records.sampled"
    service: str
    records: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0  # how many records this sample stands for


@dataclass(frozen=True)
class EngineStopping(Event):
    kind: ClassVar[str] = "engine.stopping"
    reason: str


# Wire-only kinds, sent by the watch stream itself rather than published on the bus.
SNAPSHOT = "snapshot"
WATCH_DROPPED = "watch.dropped"
