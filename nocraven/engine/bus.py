"""The event bus: fan-out of engine events to subscribers, each with a bounded queue.

Subscribers (watch streams, and components that react to each other) receive `Published`
event objects; only the watch stream turns them into bytes. Publishing never blocks and never
waits for a reader. A subscriber that falls more than its limit behind is dropped and told why;
coalescing events replace their older copy in place, so a subscriber only drowns in real
events, not in counters.
"""

from __future__ import annotations

import asyncio
import itertools
import time

from nocraven.schema.events import Event, Published


class Subscription:
    def __init__(self, bus: EventBus, limit: int, kinds: frozenset[str] | None, component: str | None = None) -> None:
        self._bus = bus
        self._limit = limit
        self.kinds = kinds
        self.component = component  # the engine component that reacts to these events; None: a watcher
        self._pending: dict[object, Published] = {}  # insertion-ordered
        self._unique = itertools.count()
        self._wake = asyncio.Event()
        self.dropped_reason: str | None = None

    def offer(self, published: Published) -> None:
        if self.dropped_reason is not None:
            return
        if self.kinds is not None and published.event.kind not in self.kinds:
            return
        coalesce_key = published.event.coalesce_key
        key: object = coalesce_key if coalesce_key is not None else ("seq", next(self._unique))
        if key in self._pending:
            self._pending[key] = published  # keeps its place, carries the newest value
        elif len(self._pending) >= self._limit:
            self.dropped_reason = f"watcher fell {self._limit} events behind; reconnect and start again from a snapshot"
            self._pending.clear()
            self._bus.unsubscribe(self)
        else:
            self._pending[key] = published
        self._wake.set()

    async def next_batch(self) -> list[Published]:
        """Wait for events; an empty list means the subscriber was dropped (see dropped_reason)."""
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
        self._retained: dict[str, Published] = {}  # the latest event per retain_key

    @property
    def watcher_count(self) -> int:
        """Watch streams (API clients): subscribers to every kind that no component owns. A
        component reacting to a few kinds (diagnostics waiting for engine.stopping, the forwarder
        following the VPN) is not someone watching the engine."""
        return sum(1 for sub in self._subscribers if sub.kinds is None and sub.component is None)

    def subscribe(
        self, limit: int | None = None, kinds: set[str] | None = None, component: str | None = None
    ) -> Subscription:
        """`kinds` narrows what this subscriber receives (a component that reacts to one event);
        a component names itself in `component`. The latest retained event of each of those
        kinds is handed over at once. (Watchers, who subscribe to everything, read the current
        state from their snapshot instead.)"""
        sub = Subscription(self, limit or self.watcher_limit, frozenset(kinds) if kinds else None, component)
        self._subscribers.add(sub)
        if kinds:
            for published in self._retained.values():
                if published.event.kind in kinds:
                    sub.offer(published)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    def publish(self, event: Event) -> Published:
        self.seq += 1
        published = Published(seq=self.seq, at=time.time(), event=event)
        retain_key = event.retain_key
        if retain_key is not None:
            self._retained[retain_key] = published
        for sub in list(self._subscribers):
            sub.offer(published)
        return published
