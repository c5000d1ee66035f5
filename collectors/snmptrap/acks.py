"""The trap collector's decisions about answering senders (sans-IO, the clock passed in).

- `AckQueue`: INFORM acknowledgements wait here, grouped by the durable batch that carried
  their records, until the engine says that batch is committed. The engine commits in the order
  batches were sent, so "batch n is on disk" means every batch before it is too: acks leave in
  arrival order, never ahead of an earlier INFORM's storage (a retransmission's ack included).
- `ReportLimit`: SNMPv3 Reports go out at once but at a bounded rate. A Report answers a
  probe from any address without authentication, so a spoofed flood must not turn the
  receiver into an amplifier towards its victim.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Generic, TypeVar

A = TypeVar("A")  # what one ack is to the caller: (datagram, peer) for the service


class AckQueue(Generic[A]):
    def __init__(self) -> None:
        self._batches: OrderedDict[int, list[A]] = OrderedDict()
        self.sent = 0
        self.withheld = 0

    def waiting(self) -> int:
        """Acks waiting for a commit."""
        return sum(len(acks) for acks in self._batches.values())

    def pending(self) -> Iterator[A]:
        """Every ack waiting for a commit."""
        for acks in self._batches.values():
            yield from acks

    def add(self, batch: int, acks: list[A]) -> None:
        """Acks of durable batch `batch` (numbers grow in the order the batches were sent)."""
        self._batches[batch] = acks

    def confirmed(self, batch: int, stored: bool) -> list[A]:
        """The engine's answer for `batch`: the acks that may go out now, in arrival order.

        Stored: this batch and every earlier one still waiting are on disk. Not stored (no buffer
        was open): its acks are withheld, and the senders retransmit."""
        if not stored:
            withheld = self._batches.pop(batch, [])
            self.withheld += len(withheld)
            return []
        ready: list[A] = []
        while self._batches:
            number = next(iter(self._batches))
            if number > batch:
                break
            ready += self._batches.pop(number)
        self.sent += len(ready)
        return ready

    def abandon(self) -> int:
        """The engine is gone: nothing waiting will be acknowledged."""
        count = self.waiting()
        self.withheld += count
        self._batches.clear()
        return count


class ReportLimit:
    """A token bucket: `rate_per_s` Reports a second on average, `burst` at once."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate = rate_per_s
        self.burst = float(burst)
        self._tokens = float(burst)
        self._at: float | None = None
        self.sent = 0
        self.suppressed = 0

    def allow(self, now: float) -> bool:
        if self._at is not None and now > self._at:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now if self._at is None else max(self._at, now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            self.sent += 1
            return True
        self.suppressed += 1
        return False
