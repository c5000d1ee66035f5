"""Ingest rates over a sliding window, and "at this rate the buffer holds N days".

Rates count sealed segments (their stored size is only known once compressed), keyed by the
time of their newest record, so the clock is whatever `now` the caller passes.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class IngestRate:
    records_per_s: float = 0.0
    raw_bytes_per_s: float = 0.0
    stored_bytes_per_s: float = 0.0


class RateWindow:
    """Per-service totals of the segments sealed in the last `window_s` seconds."""

    def __init__(self, window_s: float, origin: float) -> None:
        self._window_s = window_s
        self._origin = origin  # rates before this time are unknown, not zero
        self._entries: dict[str, deque[tuple[float, int, int, int]]] = {}

    def add(self, service: str, at: float, records: int, raw_bytes: int, stored_bytes: int) -> None:
        self._entries.setdefault(service, deque()).append((at, records, raw_bytes, stored_bytes))

    def seed_origin(self, origin: float) -> None:
        """Reopened with history: the window may reach back to the oldest data on disk."""
        self._origin = min(self._origin, origin)

    def rates(self, now: float) -> dict[str, IngestRate]:
        start = now - self._window_s
        # Right after start the window is short; never divide by less than one second.
        span = max(1.0, now - max(start, self._origin))
        found: dict[str, IngestRate] = {}
        for service, entries in self._entries.items():
            while entries and entries[0][0] < start:
                entries.popleft()
            records = sum(entry[1] for entry in entries)
            raw = sum(entry[2] for entry in entries)
            # Never below zero: repacking (store.compact_cold) subtracts what it saved.
            stored = max(0, sum(entry[3] for entry in entries))
            found[service] = IngestRate(records / span, raw / span, stored / span)
        return found


def forecast_days(capacity_bytes: int, stored_bytes_per_s: float, max_age_s: float | None = None) -> float | None:
    """How many days of data fit at this rate; capped by the age limit. None when neither the
    rate nor an age limit bounds it (nothing is arriving)."""
    age_days = None if max_age_s is None else max_age_s / SECONDS_PER_DAY
    if stored_bytes_per_s <= 0:
        return age_days
    days = capacity_bytes / stored_bytes_per_s / SECONDS_PER_DAY
    return days if age_days is None else min(days, age_days)
