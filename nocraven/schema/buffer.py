"""The buffer's bodies: statistics, the drop ledger, purge."""

from __future__ import annotations

from nocraven.schema.base import Body


class DropCount(Body):
    records: int = 0
    bytes: int = 0


class ServiceStats(Body):
    records: int
    raw_bytes: int
    stored_bytes: int
    segments: int
    oldest: str | None
    newest: str | None
    unsealed_records: int
    dropped_records: int
    dropped_bytes: int
    dropped_by_reason: dict[str, DropCount]
    quota_bytes: int
    fair_share_bytes: int
    ingest_records_per_s: float
    forecast_days: float | None
    # What arrived on the wire for the records held (0: the collector does not report it);
    # raw_bytes is the same records as JSON, stored_bytes what they take on disk.
    received_bytes: int = 0
    ingest_stored_bytes_per_s: float = 0.0


class TotalStats(Body):
    records: int
    raw_bytes: int
    stored_bytes: int
    segments: int
    unsealed_records: int
    budget_bytes: int
    effective_budget_bytes: int
    fill_percent: float
    disk_free_bytes: int | None
    disk_limited: bool
    storage_failing: bool
    quarantined_segments: int
    compression_ratio: float | None
    ingest_records_per_s: float
    dropped_by_reason: dict[str, DropCount]
    received_bytes: int = 0
    ingest_stored_bytes_per_s: float = 0.0  # what the retention forecast divides the budget by


class BufferStats(Body):
    services: dict[str, ServiceStats]
    total: TotalStats
    forecast_days: float | None


class BufferCounters(Body):
    """The buffer's live figures: its status detail and its `counters.updated` events."""

    records: int = 0
    raw_bytes: int = 0
    stored_bytes: int = 0
    received_bytes: int = 0
    fill_percent: float = 0.0
    forecast_days: float | None = None
    dropped_records: int = 0
    storage_failing: bool = False
    path: str | None = None


class LedgerEntry(Body):
    id: int
    recorded_at: str | None
    service: str
    source: str | None
    reason: str
    records: int
    bytes: int
    first: str | None
    last: str | None


class Ledger(Body):
    entries: list[LedgerEntry]


class PurgeRequest(Body):
    service: str


class Purged(Body):
    service: str
    records: int
    bytes: int
