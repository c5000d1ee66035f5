"""One service's way to a sink: what is acknowledged, what is planned, what is in flight.

Two streams feed a lane. `live` follows new seals as they come, so after an outage new records
go out at once; `backlog` replays what piled up while the path was down, oldest first. Both cut
the same deterministic batches (`batching.plan`), so a batch is the same whichever stream sends
it. Deliveries may complete out of order (pipelining, live beside backlog): `delivered` keeps the
ranges done beyond the cursor, and the cursor (what the buffer persists) only moves over a
contiguous prefix. After a crash everything past the cursor is sent again and the NOC removes the
batches it already had by their ids.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

from nocraven.forward.batching import Plan, SeqRange


class Kind(StrEnum):
    LIVE = "live"
    BACKLOG = "backlog"


class RangeSet:
    """Disjoint seq ranges above a floor; the floor rises over any range that touches it."""

    def __init__(self, floor: int) -> None:
        self.floor = floor
        self._ranges: list[tuple[int, int]] = []

    def add(self, seqs: SeqRange) -> int:
        """Mark `seqs` done; returns the floor (the highest seq with everything below done)."""
        first, last = max(seqs.first, self.floor + 1), seqs.last
        if last < first:
            return self.floor
        index = bisect.bisect_left(self._ranges, (first, last))
        self._ranges.insert(index, (first, last))
        merged: list[tuple[int, int]] = []
        for low, high in self._ranges:
            if merged and low <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], high))
            else:
                merged.append((low, high))
        if merged and merged[0][0] <= self.floor + 1:
            self.floor = max(self.floor, merged[0][1])
            merged.pop(0)
        self._ranges = merged
        return self.floor

    def covers(self, seqs: SeqRange) -> bool:
        if seqs.last <= self.floor:
            return True
        index = bisect.bisect_right(self._ranges, (seqs.first, 1 << 62)) - 1
        return index >= 0 and self._ranges[index][0] <= seqs.first and seqs.last <= self._ranges[index][1]

    def ranges_above(self) -> list[tuple[int, int]]:
        """The delivered ranges above the floor (first, last), in order."""
        return list(self._ranges)

    def count_above(self) -> int:
        """Seqs done beyond the floor."""
        return sum(high - low + 1 for low, high in self._ranges)

    def __repr__(self) -> str:
        return f"RangeSet(floor={self.floor}, ranges={self._ranges})"


@dataclass
class Stream:
    position: int  # the last seq planned
    end: int | None  # backlog: the last seq it replays; live: None (follows new seals)
    queue: deque[SeqRange] = field(default_factory=deque)

    def finished(self) -> bool:
        return self.end is not None and self.position >= self.end and not self.queue


class Lane:
    """See module doc. Sans-IO: the forwarder plans with segment metadata it read and reports
    deliveries; the lane answers what to send next and where the cursor now is."""

    def __init__(self, service: str, acked: int) -> None:
        self.service = service
        self.delivered = RangeSet(acked)
        self.live = Stream(acked, None)
        self.backlog: Stream | None = None
        self.retry: list[SeqRange] = []  # failed batches, sent again first, oldest first
        self.in_flight: set[SeqRange] = set()

    @property
    def acked(self) -> int:
        return self.delivered.floor

    def rearm(self, sealed: int) -> None:
        """The path came (back) up: everything sealed and not delivered is backlog, replanned
        from the cursor (ranges already delivered are skipped), and new seals are live."""
        self.backlog = Stream(self.acked, sealed) if sealed > self.acked else None
        self.live = Stream(max(sealed, self.acked), None)

    def stream(self, kind: Kind) -> Stream | None:
        return self.live if kind is Kind.LIVE else self.backlog

    def wants_plan(self, kind: Kind, sealed: int) -> tuple[int, int] | None:
        """(position, until) to plan from when the stream's queue is empty and there is more."""
        stream = self.stream(kind)
        if stream is None or stream.queue:
            return None
        until = sealed if stream.end is None else min(stream.end, sealed)
        if stream.position >= until:
            return None
        return stream.position, until

    def take_plan(self, kind: Kind, planned: Plan) -> None:
        stream = self.stream(kind)
        if stream is None:
            return
        for lost in planned.lost:
            self.delivered.add(lost)
        stream.queue.extend(batch for batch in planned.batches if not self.delivered.covers(batch))
        stream.position = max(stream.position, planned.position)

    def next(self, kind: Kind) -> SeqRange | None:
        """The next range to read and send: retries first, then the stream's queue."""
        while self.retry:
            seqs = self.retry.pop(0)
            if not self.delivered.covers(seqs):
                self.in_flight.add(seqs)
                return seqs
        stream = self.stream(kind)
        while stream is not None and stream.queue:
            seqs = stream.queue.popleft()
            if not self.delivered.covers(seqs) and seqs not in self.in_flight:
                self.in_flight.add(seqs)
                self._retire_backlog()
                return seqs
        self._retire_backlog()
        return None

    def has_retry(self) -> bool:
        return bool(self.retry)

    def _retire_backlog(self) -> None:
        # Kept until its last batches are acknowledged: until then the sink is still draining.
        if self.backlog is not None and self.backlog.finished() and not self.in_flight:
            self.backlog = None

    def sent(self, seqs: SeqRange) -> int:
        """`seqs` were delivered (or lost for good); returns the cursor to persist."""
        self.in_flight.discard(seqs)
        acked = self.delivered.add(seqs)
        self._retire_backlog()
        return acked

    def failed(self, seqs: SeqRange) -> None:
        self.in_flight.discard(seqs)
        bisect.insort(self.retry, seqs, key=lambda r: r.first)

    def started(self, seqs: SeqRange) -> None:
        """A sub-range of a planned range went out (a big cell split by bytes)."""
        self.in_flight.add(seqs)

    def pending_records(self, sealed: int) -> int:
        """Sealed records not yet delivered (live and backlog)."""
        return max(0, sealed - self.acked - self.delivered.count_above())

    def draining(self) -> bool:
        return self.backlog is not None or bool(self.retry)
