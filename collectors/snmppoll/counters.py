"""Rates from successive counter samples, sans-IO: wraps and device restarts decided here.

A Counter32 that went down wrapped once at 2^32 (the poll interval is assumed shorter than a
second wrap: at 1 Gb/s a 32-bit octet counter wraps every 34 s, which is why the 64-bit
ifHC counters are preferred when the device has them). A Counter64 that went down was reset.
A device that restarted (sysUpTime went back, or grew less than the wall clock did) has reset
all its counters, so no rate is computed across the restart: one missing rate beats one absurd
spike on every interface.
"""

from __future__ import annotations

from collectors.snmptrap.ber import COUNTER32, COUNTER64

COUNTER_TAGS = frozenset({COUNTER32, COUNTER64})
_WRAP32 = 1 << 32
# sysUpTime may lag the wall clock by this much (agent caching, clock rates) before we call it
# a restart: a few seconds plus a tenth of the elapsed time.
_UPTIME_SLACK_S = 5.0
_UPTIME_SLACK_SHARE = 0.1
TICKS_PER_S = 100


def counter_delta(previous: int, current: int, tag: int) -> int | None:
    """How much a counter grew, or None when it cannot be known (a 64-bit counter went back)."""
    if current >= previous:
        return current - previous
    if tag == COUNTER32:
        return current + _WRAP32 - previous
    return None


def restarted(previous_ticks: int | None, ticks: int | None, elapsed_s: float) -> bool:
    """Whether the device restarted between two samples `elapsed_s` apart (sysUpTime in ticks)."""
    if previous_ticks is None or ticks is None:
        return False
    if ticks < previous_ticks:
        return True
    grown_s = (ticks - previous_ticks) / TICKS_PER_S
    return grown_s < elapsed_s - _UPTIME_SLACK_S - _UPTIME_SLACK_SHARE * elapsed_s


class CounterMemory:
    """The previous sample of every counter of one device: key -> (value, tag)."""

    def __init__(self) -> None:
        self.at: float | None = None  # Unix time of the previous sample
        self.ticks: int | None = None  # the device's sysUpTime then
        self._values: dict[object, tuple[int, int]] = {}
        self._next: dict[object, tuple[int, int]] = {}
        self.elapsed_s: float | None = None  # since the previous sample, None on the first
        self.restart_seen = False

    def begin(self, now: float, ticks: int | None) -> None:
        """Start a sample taken at `now` with sysUpTime `ticks`."""
        self.elapsed_s = now - self.at if self.at is not None and now > self.at else None
        self.restart_seen = self.elapsed_s is not None and restarted(self.ticks, ticks, self.elapsed_s)
        self._next = {}
        self._now, self._ticks = now, ticks

    def rate(self, key: object, value: int, tag: int) -> float | None:
        """Per-second growth of counter `key` since the previous sample, or None."""
        self._next[key] = (value, tag)
        before = self._values.get(key)
        if before is None or self.elapsed_s is None or self.restart_seen or before[1] != tag:
            return None
        delta = counter_delta(before[0], value, tag)
        return None if delta is None else delta / self.elapsed_s

    def commit(self) -> None:
        """The sample is complete: it is the baseline of the next one."""
        self._values = self._next
        self.at, self.ticks = self._now, self._ticks
