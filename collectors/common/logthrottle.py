"""Repeated log lines, rate-limited (sans-IO): the first line of a kind is logged, the same kind
again within `interval_s` is only counted, and the count comes out as one line later.

Under attack the same warning can come thousands of times a second (refused connections, a
descriptor limit hit on every accept); the log must stay readable and the disk must not fill.
"""

from __future__ import annotations


class LogThrottle:
    def __init__(self, interval_s: float = 10.0, max_kinds: int = 1000) -> None:
        self.interval_s = interval_s
        self._max_kinds = max_kinds
        self._kinds: dict[str, list[float]] = {}  # kind -> [time of the last line logged, lines held back]

    def allow(self, kind: str, now: float) -> int | None:
        """None: hold this line back (counted). Otherwise log it, saying how many lines of this
        kind were held back before it (0 for none)."""
        state = self._kinds.get(kind)
        if state is None:
            if len(self._kinds) >= self._max_kinds:
                self._kinds.clear()  # bounded memory; at worst a kind is logged once more
            self._kinds[kind] = [now, 0]
            return 0
        if now - state[0] < self.interval_s:
            state[1] += 1
            return None
        held, state[0], state[1] = int(state[1]), now, 0
        return held

    def held_back(self, now: float) -> list[tuple[str, int]]:
        """Kinds whose held-back lines are due as a count (no line of theirs came since)."""
        due: list[tuple[str, int]] = []
        for kind, state in self._kinds.items():
            if state[1] and now - state[0] >= self.interval_s:
                due.append((kind, int(state[1])))
                state[0], state[1] = now, 0
        return due
