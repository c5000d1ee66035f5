"""What the buffer hands back: read batches for forwarders, statistics for people."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class SeqGap:
    """Sequence numbers a reader will never get (evicted, refused, quarantined or purged before
    delivery); the ledger says why."""

    first_seq: int
    last_seq: int

    @property
    def records(self) -> int:
        return self.last_seq - self.first_seq + 1


@dataclass(frozen=True, slots=True)
class ReadBatch:
    """Records `first_seq..last_seq` in order, contiguous; ack `last_seq` once delivered.
    `gap` is what was lost between the reader's position and `first_seq` (acking `last_seq`
    steps over it too). Empty batch: `last_seq` is the reader's position (or the end of a
    trailing gap)."""

    sink: str
    service: str
    records: list[bytes]
    first_seq: int
    last_seq: int
    gap: SeqGap | None = None
    more: bool = False  # more sealed data is waiting after this batch


@dataclass(frozen=True, slots=True)
class DropCount:
    records: int = 0
    bytes: int = 0


@dataclass(frozen=True, slots=True)
class ServiceStats:
    service: str
    records: int
    raw_bytes: int
    stored_bytes: int
    segments: int
    oldest: float | None  # receive time (epoch seconds) of the oldest stored record
    newest: float | None
    last_seq: int  # highest sequence number sealed (stored or accounted in the ledger)
    unsealed_records: int  # in memory, within the durability window
    unsealed_bytes: int
    dropped: Mapping[str, DropCount]  # by reason, including accounting not yet written
    quota_bytes: int
    fair_share_bytes: int  # what this service keeps if every busy service keeps ingesting
    ingest_records_per_s: float
    ingest_stored_bytes_per_s: float
    forecast_days: float | None  # None: nothing arriving and no age limit
    received_bytes: int = 0  # on the wire, for the records held (0: the collector does not say)

    @property
    def dropped_records(self) -> int:
        return sum(count.records for count in self.dropped.values())


@dataclass(frozen=True, slots=True)
class BufferStats:
    at: float
    services: Mapping[str, ServiceStats]
    records: int
    raw_bytes: int
    stored_bytes: int
    segments: int
    unsealed_records: int
    dropped: Mapping[str, DropCount]
    budget_bytes: int  # configured total budget
    effective_budget_bytes: int  # smaller when the disk is the limit
    disk_free_bytes: int | None
    disk_limited: bool  # the filesystem, not the budget, bounds the buffer now
    storage_failing: bool  # the last write failed (disk full); drops are held in memory
    quarantined_segments: int
    ingest_records_per_s: float
    ingest_stored_bytes_per_s: float
    forecast_days: float | None
    compression_ratio: float | None = field(default=None)
    received_bytes: int = 0
    ingest_raw_bytes_per_s: float = 0.0


@dataclass(frozen=True, slots=True)
class PurgeResult:
    service: str
    records: int
    bytes: int
