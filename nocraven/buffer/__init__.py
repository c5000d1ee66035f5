"""The store-and-forward buffer: sealed zstd segments in SQLite, quotas, exact drop accounting.

Layout: `store` the facade (write, read, query), `limits` the sans-IO eviction policy,
`segment` framing and encoding, `ledger` drop accounting, `schema` tables and migrations,
`tables` hot-path SQL, `forecast` ingest rates and capacity.
"""

from __future__ import annotations

from nocraven.buffer.ledger import INPUT_REASONS, Drop, DropReason, LedgerEntry
from nocraven.buffer.limits import (
    SEAL_BYTES_MAX,
    SEAL_BYTES_MIN,
    BufferLimits,
    Overflow,
    ServiceLimits,
)
from nocraven.buffer.results import (
    BufferStats,
    DropCount,
    PurgeResult,
    ReadBatch,
    SeqGap,
    ServiceStats,
)
from nocraven.buffer.schema import DB_FILENAME
from nocraven.buffer.segment import SealedSegment
from nocraven.buffer.store import SegmentStore

__all__ = [
    "DB_FILENAME",
    "INPUT_REASONS",
    "SEAL_BYTES_MAX",
    "SEAL_BYTES_MIN",
    "BufferLimits",
    "BufferStats",
    "Drop",
    "DropCount",
    "DropReason",
    "LedgerEntry",
    "Overflow",
    "PurgeResult",
    "ReadBatch",
    "SealedSegment",
    "SegmentStore",
    "SeqGap",
    "ServiceLimits",
    "ServiceStats",
]
