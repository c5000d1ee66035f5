"""Data sets that arrived before their template, held until it comes (or until they expire).

Exporters send templates every so often and data all the time, so after a collector or exporter
restart the first data sets usually precede their template. Dropping them (what most collectors
do) loses the first minutes of flows; holding them costs memory, so the hold is bounded in sets,
bytes and age, and what leaves it unreleased is counted as expired.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from collectors.flow.plan import SetContext
from collectors.flow.templates import Scope

HoldKey = tuple[Scope, int]  # (scope, template id)


@dataclass(slots=True)
class HeldSet:
    key: HoldKey
    arrived: float
    body: bytes
    context: SetContext
    released: bool = field(default=False)


class HoldQueue:
    def __init__(self, max_sets: int = 10_000, max_bytes: int = 16 * 1024 * 1024, max_age_s: float = 60.0) -> None:
        self.max_sets = max_sets
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self._by_key: dict[HoldKey, list[HeldSet]] = {}
        self._order: deque[HeldSet] = deque()  # arrival order, for expiry; released sets are skipped
        self.sets = 0
        self.bytes = 0

    def hold(self, held: HeldSet) -> list[HeldSet]:
        """Keep a set; returns the oldest ones pushed out to stay within the limits."""
        if len(held.body) > self.max_bytes or self.max_sets == 0:
            return [held]
        self._by_key.setdefault(held.key, []).append(held)
        if len(self._order) > 2 * self.max_sets + 1024:
            # released sets wait in the arrival queue until they reach its head: compact it
            self._order = deque(h for h in self._order if not h.released)
        self._order.append(held)
        self.sets += 1
        self.bytes += len(held.body)
        pushed: list[HeldSet] = []
        while self.sets > self.max_sets or self.bytes > self.max_bytes:
            pushed.append(self._pop_oldest())
        return pushed

    def release(self, key: HoldKey) -> list[HeldSet]:
        """The sets waiting for this template, oldest first, taken out of the hold."""
        waiting = self._by_key.pop(key, None)
        if not waiting:
            return []
        for held in waiting:
            held.released = True
            self.sets -= 1
            self.bytes -= len(held.body)
        return waiting

    def expire(self, now: float) -> list[HeldSet]:
        """The sets older than the age limit, taken out of the hold."""
        expired: list[HeldSet] = []
        limit = now - self.max_age_s
        while self._order and (self._order[0].released or self._order[0].arrived <= limit):
            if self._order[0].released:
                self._order.popleft()
                continue
            expired.append(self._pop_oldest())
        return expired

    def _pop_oldest(self) -> HeldSet:
        while True:
            held = self._order.popleft()
            if not held.released:
                break
        waiting = self._by_key[held.key]
        waiting.remove(held)
        if not waiting:
            del self._by_key[held.key]
        held.released = True
        self.sets -= 1
        self.bytes -= len(held.body)
        return held
