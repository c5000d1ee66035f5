"""Where the buffer evicts: one write transaction's placement of sealed segments and deletion of
old ones, executing the decisions of `limits` and recording each loss for the ledger.

Runs inside the caller's BEGIN IMMEDIATE; works on copies of the per-service state that the
store adopts only after COMMIT. Evictions run before the insert they make room for, so the
pages they free are reused by it (the file does not grow when the disk is the limit).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from nocraven.buffer import tables
from nocraven.buffer.ledger import Drop, DropReason
from nocraven.buffer.limits import Budget, BufferLimits, age_cutoff, over_limits, plan_admission, plan_enforcement
from nocraven.buffer.segment import EncodedSegment, OpenSegment, SealedSegment, SegmentMeta
from nocraven.buffer.tables import ServiceState

_EVICT_BATCH_ROWS = 64


def segment_drop(segment: EncodedSegment | SegmentMeta | OpenSegment, reason: DropReason) -> Drop:
    """The ledger entry for losing a whole segment (sealed, being sealed or still open)."""
    source = None
    if isinstance(segment, EncodedSegment):
        source = segment.source
    elif isinstance(segment, OpenSegment):
        source = segment.common_source
    return Drop(
        service=segment.service,
        reason=reason,
        records=segment.record_count,
        bytes=segment.raw_bytes,
        first_time=segment.first_received,
        last_time=segment.last_received,
        source=source,
        first_seq=segment.first_seq,
        last_seq=segment.last_seq,
    )


@dataclass(slots=True)
class WriteTransaction:
    """Working state of one write transaction."""

    conn: sqlite3.Connection
    limits: BufferLimits
    states: dict[str, ServiceState]
    drops: list[Drop] = field(default_factory=list)
    sealed: list[SealedSegment] = field(default_factory=list)
    evicted_ids: list[int] = field(default_factory=list)
    evicted_dictionaries: set[int] = field(default_factory=set)  # named by an evicted segment

    def state(self, service: str) -> ServiceState:
        return self.states.setdefault(service, ServiceState())

    def usage(self) -> dict[str, int]:
        return {service: state.stored_bytes for service, state in self.states.items()}

    def needs_enforcement(self, budget: Budget, now: float) -> bool:
        """Cheap in-memory check whether enforce() could have anything to do."""
        if over_limits(self.limits, self.usage(), budget):
            return True
        for service, state in self.states.items():
            cutoff = age_cutoff(self.limits, service, now)
            if cutoff is not None and state.oldest_received is not None and state.oldest_received < cutoff:
                return True
        return False

    def place(self, segment: EncodedSegment, budget: Budget) -> None:
        """Insert a sealed segment after the evictions that make room for it, or refuse it."""
        state = self.state(segment.service)
        # Refused seqs are accounted in the ledger, so they are never handed out again.
        state.last_seq = max(state.last_seq, segment.last_seq)
        if state.full:
            self.drops.append(segment_drop(segment, DropReason.OVERFLOW_NEWEST))
            return
        plan = plan_admission(self.limits, self.usage(), segment.service, segment.stored_bytes, budget)
        if not plan.admit:
            assert plan.refuse_reason is not None
            self.drops.append(segment_drop(segment, plan.refuse_reason))
            state.full = plan.refuse_reason is DropReason.OVERFLOW_NEWEST
            return
        for eviction in plan.evictions:
            self.evict_oldest(eviction.service, eviction.reason, bytes_to_free=eviction.bytes_to_free)
        segment_id = tables.insert_segment(self.conn, segment)
        state.add(segment)
        self.sealed.append(segment.meta(segment_id))

    def evict_expired(self, now: float) -> None:
        for service, state in list(self.states.items()):
            cutoff = age_cutoff(self.limits, service, now)
            if cutoff is None or state.oldest_received is None or state.oldest_received >= cutoff:
                continue
            self.evict_oldest(service, DropReason.AGE, received_before=cutoff)

    def enforce(self, budget: Budget) -> None:
        """Quotas and budget with nothing incoming (limits lowered, disk filling from elsewhere)."""
        for eviction in plan_enforcement(self.limits, self.usage(), budget):
            self.evict_oldest(eviction.service, eviction.reason, bytes_to_free=eviction.bytes_to_free)

    def evict_oldest(
        self, service: str, reason: DropReason, bytes_to_free: int = 0, received_before: float | None = None
    ) -> None:
        """Delete whole oldest segments of `service`: until `bytes_to_free` stored bytes are
        freed, or (age) while their newest record is older than `received_before`."""
        state = self.state(service)
        freed = 0
        while True:
            batch = tables.oldest_segments(self.conn, service, _EVICT_BATCH_ROWS)
            victims: list[SegmentMeta] = []
            for meta in batch:
                if received_before is not None:
                    if meta.last_received >= received_before:
                        break
                elif freed >= bytes_to_free:
                    break
                victims.append(meta)
                freed += meta.stored_bytes
            if not victims:
                break
            tables.delete_segments(self.conn, [meta.id for meta in victims])
            for meta in victims:
                state.remove(meta)
                self.drops.append(segment_drop(meta, reason))
                self.evicted_ids.append(meta.id)
                if meta.dict_id is not None:
                    self.evicted_dictionaries.add(meta.dict_id)
            if len(victims) < len(batch) or len(batch) < _EVICT_BATCH_ROWS:
                break
        state.oldest_received = tables.oldest_received(self.conn, service) if state.segments else None
