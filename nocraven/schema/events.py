"""Engine events: facts, named in the past tense, and their wire form.

Every event is a frozen Struct with a `kind` (the same name on the wire and, in the console, as
a Textual message). In the engine, subscribers receive these objects; the watch stream encodes
them only at its edge as `{"seq", "kind", "at", "data"}`. Events whose `coalesce_key` is set are
rate-like (counters, samples): a slow reader keeps only the latest one per key.
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

import msgspec

from nocraven.schema.base import ComponentState
from nocraven.schema.engine import EngineStatus
from nocraven.schema.records import Record, decode_record

T = TypeVar("T")
E = TypeVar("E", bound="Event")


class Event(msgspec.Struct, frozen=True, kw_only=True):
    kind: ClassVar[str] = "event"

    @property
    def coalesce_key(self) -> str | None:
        return None

    @property
    def retain_key(self) -> str | None:
        """Set on state-like facts (the tunnel is up): the bus keeps the latest per key and hands
        it to a component subscribing to its kind later, so it need not wait for the next change."""
        return None


class ComponentStateChanged(Event, frozen=True, kw_only=True):
    kind: ClassVar[str] = "component.state_changed"
    component: str
    state: ComponentState
    previous: ComponentState
    error: str | None = None
    restarts: int = 0


class CountersUpdated(Event, frozen=True, kw_only=True):
    """A component's live figures, about once a second; only the latest matters. `counters` is
    the component's own counters Struct (e.g. `CollectorSummary`, `BufferCounters`) on the wire."""

    kind: ClassVar[str] = "counters.updated"
    component: str
    counters: msgspec.Raw = msgspec.Raw(b"{}")

    @classmethod
    def of(cls, component: str, counters: msgspec.Struct) -> CountersUpdated:
        return cls(component=component, counters=msgspec.Raw(msgspec.json.encode(counters)))

    def counters_as(self, tp: type[T]) -> T:
        return msgspec.json.decode(self.counters, type=tp)

    @property
    def coalesce_key(self) -> str | None:
        return f"{self.kind}:{self.component}"


class RecordsSampled(Event, frozen=True, kw_only=True):
    """A sample of records just ingested, for live views; never all of them at high rates."""

    kind: ClassVar[str] = "records.sampled"
    service: str
    records: list[msgspec.Raw] = msgspec.field(default_factory=list)  # NDJSON lines as stored
    total: int = 0  # how many records this sample stands for

    def decoded(self) -> list[Record]:
        return [decode_record(raw) for raw in self.records]


class EngineStopping(Event, frozen=True, kw_only=True):
    kind: ClassVar[str] = "engine.stopping"
    reason: str


# Sent by the watch stream itself, not published on the bus. On the wire its `data` is the
# status itself (the same body as GET /v1/status).
class Snapshot(Event, frozen=True, kw_only=True):
    kind: ClassVar[str] = "snapshot"
    status: EngineStatus


class WatchDropped(Event, frozen=True, kw_only=True):
    kind: ClassVar[str] = "watch.dropped"
    reason: str


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (ComponentStateChanged, CountersUpdated, RecordsSampled, EngineStopping, Snapshot, WatchDropped)
}


def register(cls: type[E]) -> type[E]:
    """Capabilities add their event kinds here (a class decorator) so clients can decode them."""
    EVENT_TYPES[cls.kind] = cls
    return cls


class Published(msgspec.Struct, frozen=True):
    """An event as the bus numbered it: what watchers receive and what the wire carries."""

    seq: int
    at: float
    event: Event
