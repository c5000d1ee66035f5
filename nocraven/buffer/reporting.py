"""Statistics from a snapshot of the store's state: per-service usage, drops by reason, rates
and the capacity forecast. Pure: the store takes the snapshot under its locks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nocraven.buffer.forecast import IngestRate, forecast_days
from nocraven.buffer.ledger import Drop, DropReason
from nocraven.buffer.limits import Budget, BufferLimits, fair_shares
from nocraven.buffer.results import BufferStats, DropCount, ServiceStats
from nocraven.buffer.tables import ServiceState


@dataclass(frozen=True, slots=True)
class StoreSnapshot:
    now: float
    limits: BufferLimits
    states: Mapping[str, ServiceState]
    drop_totals: Mapping[tuple[str, DropReason], DropCount]  # committed
    pending_drops: Sequence[Drop]  # not yet written
    unsealed: Mapping[str, tuple[int, int]]  # service -> (records, raw bytes) in memory
    rates: Mapping[str, IngestRate]
    budget: Budget
    fs_free_bytes: int | None
    storage_failing: bool
    quarantined_segments: int


def _add(counts: dict[str, DropCount], reason: str, records: int, size: int) -> None:
    before = counts.get(reason, DropCount())
    counts[reason] = DropCount(before.records + records, before.bytes + size)


def _dropped_by_service(snapshot: StoreSnapshot) -> dict[str, dict[str, DropCount]]:
    dropped: dict[str, dict[str, DropCount]] = {}
    for (service, reason), count in snapshot.drop_totals.items():
        _add(dropped.setdefault(service, {}), reason.value, count.records, count.bytes)
    for drop in snapshot.pending_drops:
        _add(dropped.setdefault(drop.service, {}), drop.reason.value, drop.records, drop.bytes)
    return dropped


def _steady_state_shares(snapshot: StoreSnapshot, names: list[str]) -> tuple[dict[str, int], dict[str, int]]:
    """Quotas, and what each service keeps once the buffer is full if every service that is
    ingesting now keeps ingesting (idle ones keep what they hold)."""
    limits = snapshot.limits
    quotas = {name: limits.quota_of(name) for name in names}
    demands = {}
    for name in names:
        rate = snapshot.rates.get(name)
        busy = rate is not None and rate.stored_bytes_per_s > 0
        demands[name] = quotas[name] if busy else snapshot.states.get(name, ServiceState()).stored_bytes
    return quotas, fair_shares(quotas, demands, snapshot.budget.bytes)


def build_stats(snapshot: StoreSnapshot) -> BufferStats:
    limits = snapshot.limits
    dropped = _dropped_by_service(snapshot)
    names = sorted({*snapshot.states, *snapshot.unsealed, *limits.services, *dropped})
    quotas, shares = _steady_state_shares(snapshot, names)
    services: dict[str, ServiceStats] = {}
    for name in names:
        state = snapshot.states.get(name, ServiceState())
        rate = snapshot.rates.get(name, IngestRate())
        unsealed_records, unsealed_bytes = snapshot.unsealed.get(name, (0, 0))
        services[name] = ServiceStats(
            service=name,
            records=state.records,
            received_bytes=state.received_bytes,
            raw_bytes=state.raw_bytes,
            stored_bytes=state.stored_bytes,
            segments=state.segments,
            oldest=state.oldest_received,
            newest=state.newest_received,
            last_seq=state.last_seq,
            unsealed_records=unsealed_records,
            unsealed_bytes=unsealed_bytes,
            dropped=dropped.get(name, {}),
            quota_bytes=quotas[name],
            fair_share_bytes=shares.get(name, 0),
            ingest_records_per_s=rate.records_per_s,
            ingest_stored_bytes_per_s=rate.stored_bytes_per_s,
            forecast_days=forecast_days(
                min(quotas[name], shares.get(name, 0)), rate.stored_bytes_per_s, limits.for_service(name).max_age_s
            ),
        )
    return _with_totals(snapshot, services)


def _with_totals(snapshot: StoreSnapshot, services: dict[str, ServiceStats]) -> BufferStats:
    dropped: dict[str, DropCount] = {}
    for stats in services.values():
        for reason, count in stats.dropped.items():
            _add(dropped, reason, count.records, count.bytes)
    raw = sum(s.raw_bytes for s in services.values())
    stored = sum(s.stored_bytes for s in services.values())
    stored_rate = sum(s.ingest_stored_bytes_per_s for s in services.values())
    ages = [snapshot.limits.for_service(name).max_age_s for name in services]
    bounded = [age for age in ages if age is not None]
    # The whole buffer is age-bounded only if every service is.
    max_age = max(bounded) if bounded and len(bounded) == len(ages) else None
    return BufferStats(
        at=snapshot.now,
        services=services,
        records=sum(s.records for s in services.values()),
        raw_bytes=raw,
        stored_bytes=stored,
        segments=sum(s.segments for s in services.values()),
        unsealed_records=sum(s.unsealed_records for s in services.values()),
        dropped=dropped,
        budget_bytes=snapshot.limits.total_bytes,
        effective_budget_bytes=snapshot.budget.bytes,
        disk_free_bytes=snapshot.fs_free_bytes,
        disk_limited=snapshot.budget.reason == DropReason.DISK_FULL,
        storage_failing=snapshot.storage_failing,
        quarantined_segments=snapshot.quarantined_segments,
        ingest_records_per_s=sum(s.ingest_records_per_s for s in services.values()),
        ingest_stored_bytes_per_s=stored_rate,
        forecast_days=forecast_days(snapshot.budget.bytes, stored_rate, max_age),
        compression_ratio=raw / stored if stored else None,
        received_bytes=sum(s.received_bytes for s in services.values()),
        ingest_raw_bytes_per_s=sum(r.raw_bytes_per_s for r in snapshot.rates.values()),
    )
