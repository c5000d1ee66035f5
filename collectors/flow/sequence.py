"""Loss from sequence numbers when several workers decode one exporter's datagrams.

UDP workers take turns at a socket, so one worker sees datagrams 0-40 and 90-130 of an exporter
and its sibling 41-89: each alone would count gaps that are not there. So with workers the
decoder only notes the runs of sequence numbers it saw (`SequenceLog`, in the worker) and the
collector's main process puts every worker's runs together (`SequenceTracker`): a run that
continues the exporter's count moves it on, a run ahead of it waits for the runs between to
come from the other workers, and only a hole still open after `wait_s` is counted as lost.
Sans-IO: `now` is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MASK = 0xFFFFFFFF
RESET = -1  # a run's count when the exporter's count cannot be followed (IPFIX data held)
MAX_KEYS = 100_000
MAX_PENDING = 1024  # runs waiting per key before the oldest hole is counted anyway

Key = tuple[Any, ...]  # (exporter address, unit, the decoder's own sequence key ...)
Run = tuple[int, int]  # (first sequence number, how many it covers, or RESET)


class SequenceLog:
    """A worker's runs since the last `take`, contiguous ones joined (sans-IO)."""

    def __init__(self) -> None:
        self.runs: dict[Key, list[list[int]]] = {}

    def note(self, key: Key, sequence: int, count: int | None) -> None:
        runs = self.runs.get(key)
        if runs is None:
            runs = self.runs[key] = []
        if count is None:
            runs.append([sequence, RESET])
            return
        if runs and runs[-1][1] != RESET and (runs[-1][0] + runs[-1][1]) & MASK == sequence:
            runs[-1][1] += count
        else:
            runs.append([sequence, count])

    def take(self) -> list[tuple[list[Any], list[Run]]]:
        runs, self.runs = self.runs, {}
        return [(list(key), [(r[0], r[1]) for r in ranges]) for key, ranges in runs.items()]


@dataclass
class _State:
    next: int | None = None
    pending: dict[int, tuple[int, float]] = field(default_factory=dict)  # start -> (count, arrived)


class SequenceTracker:
    """Every worker's runs put together; gaps, losses and resets counted into `entries`
    (address -> the exporter's counters, as `FlowStats.exporter` gives them)."""

    def __init__(self, wait_s: float = 2.0) -> None:
        self.wait_s = wait_s
        self._keys: dict[Key, _State] = {}

    def observe(self, key: Key, runs: list[Run], now: float, entry: dict[str, Any]) -> None:
        state = self._keys.get(key)
        if state is None:
            if len(self._keys) >= MAX_KEYS:
                self._keys.clear()
            state = self._keys[key] = _State()
        unit = key[1]
        for start, count in runs:
            if count == RESET:
                state.next = None
                state.pending.clear()
                continue
            if state.next is None:
                # A new exporter (or one that reset): which worker's run is its first is only
                # known once every worker has reported, so its runs wait like runs ahead do.
                state.pending[start] = (count, now)
                if len(state.pending) > MAX_PENDING:
                    self._skip_hole(state, entry, unit)
                continue
            else:
                ahead = (start - state.next) & MASK
                if ahead == 0:
                    state.next = (start + count) & MASK
                elif ahead < 0x80000000:
                    state.pending[start] = (count, now)  # the runs between may still come
                    if len(state.pending) > MAX_PENDING:
                        self._skip_hole(state, entry, unit)
                    continue
                else:
                    # Behind the count: the exporter restarted (or a datagram came very late).
                    entry["sequence_resets"] += 1
                    state.next = (start + count) & MASK
                    state.pending.clear()
                    continue
            self._drain(state)

    def settle(self, now: float, entry_of: Any) -> None:
        """Count the holes that stayed open longer than `wait_s` (call it now and then)."""
        limit = now - self.wait_s
        for key, state in self._keys.items():
            while state.pending and min(arrived for _, arrived in state.pending.values()) <= limit:
                self._skip_hole(state, entry_of(key[0]), key[1])

    def _skip_hole(self, state: _State, entry: dict[str, Any], unit: str) -> None:
        if state.next is None:
            state.next = _earliest(state.pending)
            self._drain(state)
            return
        nearest = min(state.pending, key=lambda start: (start - state.next) & MASK)  # type: ignore[operator]
        entry["sequence_gaps"] += 1
        entry[unit] += (nearest - state.next) & MASK
        state.next = nearest
        self._drain(state)

    @staticmethod
    def _drain(state: _State) -> None:
        while state.next in state.pending:
            count, _ = state.pending.pop(state.next)
            state.next = (state.next + count) & MASK


def _earliest(starts: dict[int, Any]) -> int:
    """The first of some sequence numbers that may wrap around: the one after the widest gap."""
    ordered = sorted(starts)
    widest, first = -1, ordered[0]
    for i, start in enumerate(ordered):
        previous = ordered[i - 1]  # for i == 0, the highest: the gap across the wrap
        gap = (start - previous) & MASK
        if gap > widest:
            widest, first = gap, start
    return first
