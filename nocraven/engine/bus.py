"""The event bus: fan-out of engine events to watchers, each with a bounded queue.

Publishing never blocks and never waits for a reader. A watcher that falls more than its limit
behind is dropped and told why; coalescing events replace their older copy in place, so a
watcher only drowns in real events, not in counters.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from nocraven.events import Event


class Subscription:
    def __init__(self, bus: EventBus, limit: int) -> None:
        self._bus = bus
        self._limit = limit
        self._pending: dict[object, dict[str, Any]] = {}  # insertion-ordered
        self._unique = itertools.count()
        self._wake = asyncio.Event()
        self.dropped_reason: str | None = None

    def offer(self, wire: dict[str, Any], coalesce_key: str | None) -> None:
        if self.dropped_reason is not None:
            return
        key: object = coalesce_key if coalesce_key is not None else ("seq", next(self._unique))
        if key in self._pending:
            self._pending[key] = wire  # keeps its place, carries the newest value
        elif len(self._pending) >= self._limit:
            self.dropped_reason = f"watcher fell {self._limit} events behind; reconnect and start again from a snapshot"
            self._pending.clear()
            self._bus.unsubscribe(self)
        else:
            self._pending[key] = wire
        self._wake.set()

    async def next_batch(self) -> list[dict[str, Any]]:
        """Wait for events; an empty list means the watcher was dropped (see dropped_reason)."""
        while not self._pending and self.dropped_reason is None:
            self._wake.clear()
            await self._wake.wait()
        batch = list(self._pending.values())
        self._pending.clear()
        return batch

    def close(self) -> None:
        self._bus.unsubscribe(self)


class EventBus:
    def __init__(self, watcher_limit: int = 1000) -> None:
        self.seq = 0
        self.watcher_limit = watcher_limit
        self._subscribers: set[Subscription] = set()

    @property
    def watcher_count(self) -> int:
        return len(self._subscribers)

    def subscribe(self, limit: int | None = None) -> Subscription:
        sub = Subscription(self, limit or self.watcher_limit)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    def publish(self, event: Event) -> dict[str, Any]:
        self.seq += 1
        wire = {"seq": self.seq, "kind": event.kind, "at": time.time(), "data": event.data()}
        key = event.coalesce_key
        for sub in list(self._subscribers):
            sub.offer(wire, key)
        return wire
