"""Duplicate recognition: the same event delivered twice is stored once.

At-least-once delivery means an agent whose acknowledgement was lost sends the batch again.
An event is identified by (computer, channel, record_id, time_created): the record id is
unique per channel on one computer, and the creation time keeps a record id reused after the
log was cleared (ids restart at 1) from passing for an old event. Events without a record id
or computer are never taken for duplicates.

The window is bounded by count: the last `capacity` identities are remembered, the oldest
forgotten first. Identities are remembered only once the batch is stored (`remember`), so a
batch whose store failed is not mistaken for a duplicate when the agent retries it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Identity = tuple[str, str, int, str]


def identity(record: Mapping[str, Any]) -> Identity | None:
    record_id = record.get("record_id")
    computer = record.get("computer")
    if record_id is None or not computer:
        return None
    return (computer.lower(), (record.get("channel") or "").lower(), record_id, record.get("time_created") or "")


class RecentEvents:
    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[Identity, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def split(self, records: Sequence[Mapping[str, Any]]) -> tuple[list[int], list[int]]:
        """Indexes of the fresh records and of the duplicates (already remembered, or repeated
        earlier in this same batch)."""
        fresh, duplicates, _keys = self.sort_out(records)
        return fresh, duplicates

    def sort_out(self, records: Sequence[Mapping[str, Any]]) -> tuple[list[int], list[int], list[Identity]]:
        """As `split`, plus the identities of the fresh records, so that `remember_identities`
        need not work them out again once the batch is stored."""
        return self.sort_out_identities([identity(record) for record in records])

    def sort_out_identities(self, identities: Sequence[Identity | None]) -> tuple[list[int], list[int], list[Identity]]:
        """`sort_out` for records whose identities were worked out already (by a parse worker)."""
        fresh: list[int] = []
        duplicates: list[int] = []
        keys: list[Identity] = []
        in_batch: set[Identity] = set()
        seen = self._seen
        for index, key in enumerate(identities):
            if key is None:
                fresh.append(index)
            elif key in seen or key in in_batch:
                duplicates.append(index)
            else:
                in_batch.add(key)
                keys.append(key)
                fresh.append(index)
        return fresh, duplicates, keys

    def remember(self, records: Iterable[Mapping[str, Any]]) -> None:
        self.remember_identities([key for key in map(identity, records) if key is not None])

    def remember_identities(self, keys: Iterable[Identity]) -> None:
        seen = self._seen
        for key in keys:
            seen[key] = None
            seen.move_to_end(key)
        while len(seen) > self.capacity:
            seen.popitem(last=False)
