"""Live first, backlog fair and capped: which service's batch goes next, and how fast it drains.

The forwarder fills its window of in-flight batches by asking `pick` again and again. Every
service with a live batch ready goes before any backlog, in turn, so a new record never waits
behind the backlog. Backlog batches follow, one service after the other (a service with a huge
backlog cannot starve one with a small one), and only while the token bucket of
`max_bytes_per_s` has tokens (a drain that fills the tunnel would delay live records and
everything else the venue sends). Live records are never capped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from nocraven.forward.lanes import Kind


class TokenBucket:
    """`rate` bytes per second, bursts up to `burst` bytes; 0 = no cap. A batch may take more
    tokens than there are (the bucket goes into debt), so one big batch is never stuck."""

    def __init__(self, rate: float, now: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(rate, 1.0)
        self.tokens = self.burst
        self.updated = now

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = max(self.updated, now)

    def ready(self, now: float) -> bool:
        if self.rate <= 0:
            return True
        self._refill(now)
        return self.tokens > 0

    def take(self, size: int, now: float) -> None:
        if self.rate <= 0:
            return
        self._refill(now)
        self.tokens -= size

    def wait_s(self, now: float) -> float:
        """Seconds until `ready` (0 when it is)."""
        if self.rate <= 0:
            return 0.0
        self._refill(now)
        return 0.0 if self.tokens > 0 else (-self.tokens + 1) / self.rate


class Rotation:
    """Round-robin over services, remembering who went last."""

    def __init__(self, services: Sequence[str]) -> None:
        self._order: deque[str] = deque(services)

    def first_of(self, ready: Collection[str]) -> str | None:
        for _ in range(len(self._order)):
            service = self._order[0]
            self._order.rotate(-1)
            if service in ready:
                return service
        return None


def pick(
    live: Rotation,
    backlog: Rotation,
    live_ready: Collection[str],
    backlog_ready: Collection[str],
    bucket: TokenBucket,
    now: float,
) -> tuple[str, Kind] | None:
    """The next (service, stream) to send from: live first, then backlog if the cap allows."""
    service = live.first_of(live_ready)
    if service is not None:
        return service, Kind.LIVE
    if backlog_ready and bucket.ready(now):
        service = backlog.first_of(backlog_ready)
        if service is not None:
            return service, Kind.BACKLOG
    return None


class DrainMeter:
    """Records delivered per second over a sliding window, and the time to empty a backlog."""

    def __init__(self, window_s: float = 10.0) -> None:
        self.window_s = window_s
        self._events: deque[tuple[float, int]] = deque()
        self._total = 0

    def add(self, records: int, now: float) -> None:
        self._events.append((now, records))
        self._total += records
        self._trim(now)

    def _trim(self, now: float) -> None:
        while self._events and self._events[0][0] < now - self.window_s:
            self._total -= self._events.popleft()[1]

    def rate(self, now: float) -> float:
        self._trim(now)
        if not self._events:
            return 0.0
        span = max(now - self._events[0][0], 1.0)
        return self._total / span


@dataclass(frozen=True, slots=True)
class Progress:
    backlog_records: int
    backlog_bytes: int
    oldest_age_s: float | None
    rate_rps: float
    eta_s: float | None  # None: no backlog or nothing moving


def progress(backlog_records: int, backlog_bytes: int, oldest_at: float | None, rate: float, now: float) -> Progress:
    eta: float | None = None
    if backlog_records == 0:
        eta = 0.0
    elif rate > 0:
        eta = backlog_records / rate
    oldest = None if oldest_at is None or backlog_records == 0 else max(0.0, now - oldest_at)
    return Progress(backlog_records, backlog_bytes, oldest, rate, eta)
