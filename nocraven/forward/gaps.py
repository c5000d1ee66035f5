"""Gap events: the drop ledger, forwarded so the NOC can prove completeness.

Each ledger row becomes one record of `service: "gap"` (DESIGN §2.3) in a batch of its own whose
seq bounds are the row's id: ledger ids are monotonic and a row never changes, so a replay
rebuilds the same message id (`site.gap.ID-ID`). A sink keeps its own ledger cursor in the buffer.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

import msgspec

from nocraven.buffer.ledger import LedgerEntry
from nocraven.forward.batching import Batch

GAP_SERVICE = "gap"
_encoder = msgspec.json.Encoder()


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def gap_record(entry: LedgerEntry) -> bytes:
    drop = entry.drop
    record: dict[str, object] = {
        "service": GAP_SERVICE,
        "received_at": rfc3339(entry.recorded_at),
        "source": drop.source,
        "reason": drop.reason.value,
        "records": drop.records,
        "bytes": drop.bytes,
        "first": rfc3339(drop.first_time),
        "last": rfc3339(drop.last_time),
        "lost_service": drop.service,
        "first_seq": drop.first_seq,
        "last_seq": drop.last_seq,
        "ledger_id": entry.id,
    }
    return _encoder.encode(record)


def gap_batches(site: str, entries: list[LedgerEntry], services: Collection[str]) -> tuple[list[Batch], int]:
    """Batches for the rows about `services` (one each), and the last id looked at (rows about
    other services are stepped over)."""
    batches: list[Batch] = []
    last_id = 0
    for entry in entries:
        last_id = max(last_id, entry.id)
        if entry.drop.service not in services:
            continue
        record = gap_record(entry)
        batches.append(Batch(site, GAP_SERVICE, entry.id, entry.id, [record], len(record) + 1))
    return batches, last_id
