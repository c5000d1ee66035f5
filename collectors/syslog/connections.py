"""Which stream connections a listener keeps (sans-IO): limits, idle time, who makes room.

A listener holds at most `max_connections` connections and at most `max_per_source` from one
IP address; a TLS connection counts from the moment it is accepted, its handshake included, so
half-open handshakes cannot hold descriptors beyond the limit. When a newcomer finds the
listener (or its own source) full, the connection idle the longest makes room for it, provided
it has been idle for `evict_after_s`: a slowloris of idle connections cannot lock a sender out,
and a flood of fresh connections cannot push out senders that are busy. Only when nothing is
idle long enough is the newcomer refused. Connections idle for `idle_timeout_s` are closed.

"Idle" means no complete message: a sender trickling bytes that never finish a frame is idle.
Keys are whatever the listener uses for a connection; `now` is a monotonic time.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

K = TypeVar("K")

Refusal = Literal["connection_limit", "source_connection_limit"]


@dataclass(frozen=True, slots=True)
class Admission(Generic[K]):
    """The decision for a newcomer: the connection to close first (if any), or a refusal."""

    admitted: bool
    evict: K | None = None
    refusal: Refusal | None = None


class ConnectionTable(Generic[K]):
    def __init__(self, max_connections: int, max_per_source: int, idle_timeout_s: float, evict_after_s: float) -> None:
        self.max_connections = max_connections
        self.max_per_source = max_per_source
        self.idle_timeout_s = idle_timeout_s
        self.evict_after_s = evict_after_s
        # Least recently active first: the eviction candidate is at the front.
        self._last_active: OrderedDict[K, float] = OrderedDict()
        self._source_of: dict[K, str] = {}
        self._by_source: dict[str, set[K]] = {}

    def __len__(self) -> int:
        return len(self._last_active)

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._last_active))

    def __contains__(self, key: object) -> bool:
        return key in self._last_active

    def from_source(self, source: str) -> int:
        return len(self._by_source.get(source, ()))

    def admit(self, source: str, now: float) -> Admission[K]:
        """Whether a new connection from `source` may be added, and what must go first.
        The caller closes `evict` (and calls `remove`) before calling `add`."""
        own = self._by_source.get(source)
        if own is not None and len(own) >= self.max_per_source:
            victim = min(own, key=self._last_active.__getitem__)
            if now - self._last_active[victim] >= self.evict_after_s:
                return Admission(True, evict=victim)
            return Admission(False, refusal="source_connection_limit")
        if len(self._last_active) >= self.max_connections:
            victim = next(iter(self._last_active))
            if now - self._last_active[victim] >= self.evict_after_s:
                return Admission(True, evict=victim)
            return Admission(False, refusal="connection_limit")
        return Admission(True)

    def add(self, key: K, source: str, now: float) -> None:
        self._last_active[key] = now
        self._source_of[key] = source
        self._by_source.setdefault(source, set()).add(key)

    def active(self, key: K, now: float) -> None:
        """`key` completed a message: it is the most recently active now."""
        if key in self._last_active:
            self._last_active[key] = now
            self._last_active.move_to_end(key)

    def remove(self, key: K) -> None:
        if self._last_active.pop(key, None) is None:
            return
        source = self._source_of.pop(key)
        own = self._by_source[source]
        own.discard(key)
        if not own:
            del self._by_source[source]

    def idle(self, now: float) -> list[K]:
        """Connections idle for `idle_timeout_s` or longer, longest idle first."""
        expired: list[K] = []
        for key, last in self._last_active.items():
            if now - last < self.idle_timeout_s:
                break
            expired.append(key)
        return expired
