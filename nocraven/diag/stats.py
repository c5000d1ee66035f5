"""Round-trip statistics for ping and for each traceroute hop, sans-IO.

A probe counts as sent once it is settled (answered or given up on), so loss never includes
probes still in flight. The standard deviation is the population one, as ping(8)'s `mdev` and
mtr's `StDev` report it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class RttStats:
    sent: int = 0
    received: int = 0
    last_ms: float | None = None
    best_ms: float | None = None
    worst_ms: float | None = None
    _samples: list[float] = field(default_factory=list, repr=False)

    def answered(self, rtt_ms: float) -> None:
        self.sent += 1
        self.received += 1
        self.last_ms = rtt_ms
        self.best_ms = rtt_ms if self.best_ms is None else min(self.best_ms, rtt_ms)
        self.worst_ms = rtt_ms if self.worst_ms is None else max(self.worst_ms, rtt_ms)
        self._samples.append(rtt_ms)

    def lost(self) -> None:
        self.sent += 1

    @property
    def loss_pct(self) -> float:
        if self.sent == 0:
            return 0.0
        return round(100.0 * (self.sent - self.received) / self.sent, 2)

    @property
    def avg_ms(self) -> float | None:
        if not self._samples:
            return None
        return math.fsum(self._samples) / len(self._samples)

    @property
    def stddev_ms(self) -> float | None:
        mean = self.avg_ms
        if mean is None:
            return None
        return math.sqrt(math.fsum((x - mean) ** 2 for x in self._samples) / len(self._samples))


def rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)
