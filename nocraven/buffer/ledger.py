"""The drop ledger: every record the buffer lost or refused, with its reason and exact counts.

Rows are written in the same transaction as the eviction that caused them. Drops that happen
outside a transaction (collector reports, appends refused while the seal worker lags, batches
lost to a full disk) are coalesced in memory and written with the next successful transaction;
they are the only accounting a crash can lose.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any


class DropReason(StrEnum):
    QUOTA = "quota"
    AGE = "age"
    TOTAL_BUDGET = "total_budget"
    DISK_FULL = "disk_full"
    CORRUPT_SEGMENT = "corrupt_segment"
    REJECTED_INPUT = "rejected_input"
    KERNEL_DROP = "kernel_drop"
    PURGED = "purged"
    OVERFLOW_NEWEST = "overflow_newest"
    # Appends refused because more than max_unsealed_bytes waited for the seal worker.
    UNSEALED_OVERFLOW = "unsealed_overflow"
    # The database refused a seal for another reason than a full disk (I/O error).
    STORAGE_ERROR = "storage_error"
    # Received by a collector process that died before handing them on (a UDP worker's batch).
    COLLECTOR_CRASH = "collector_crash"
    # Stream connections (TCP, TLS) open when their collector died: reset, records = connections.
    CONNECTION_RESET = "connection_reset"


# Reasons for records that never got a sequence number (reported by collectors or refused at
# append); every other reason covers records that were appended.
INPUT_REASONS = frozenset(
    {
        DropReason.REJECTED_INPUT,
        DropReason.KERNEL_DROP,
        DropReason.UNSEALED_OVERFLOW,
        DropReason.COLLECTOR_CRASH,
        DropReason.CONNECTION_RESET,
    }
)


@dataclass(frozen=True, slots=True)
class Drop:
    """Records lost together; `bytes` counts raw record bytes (one newline each included for
    appended records). Seq bounds are set when the records had sequence numbers."""

    service: str
    reason: DropReason
    records: int
    bytes: int
    first_time: float
    last_time: float
    source: str | None = None
    first_seq: int | None = None
    last_seq: int | None = None

    def merged_with(self, other: Drop) -> Drop | None:
        """One drop covering both, when they have the same key and adjacent seqs."""
        if (self.service, self.reason, self.source) != (other.service, other.reason, other.source):
            return None
        first_seq, last_seq = self.first_seq, self.last_seq
        if self.last_seq is not None or other.first_seq is not None:
            if self.last_seq is None or other.first_seq is None or other.last_seq is None:
                return None
            if other.first_seq != self.last_seq + 1:
                return None
            last_seq = other.last_seq
        return replace(
            self,
            records=self.records + other.records,
            bytes=self.bytes + other.bytes,
            first_time=min(self.first_time, other.first_time),
            last_time=max(self.last_time, other.last_time),
            first_seq=first_seq,
            last_seq=last_seq,
        )


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """A committed ledger row; `id` is monotonic, so a forwarder can ship the ledger too."""

    id: int
    recorded_at: float
    drop: Drop


class DropAccumulator:
    """In-memory drops waiting for the next transaction, coalesced per key."""

    def __init__(self) -> None:
        self._drops: list[Drop] = []
        self._last_index: dict[tuple[str, str, str | None], int] = {}

    def __len__(self) -> int:
        return len(self._drops)

    def add(self, drop: Drop) -> None:
        key = (drop.service, drop.reason.value, drop.source)
        index = self._last_index.get(key)
        if index is not None:
            merged = self._drops[index].merged_with(drop)
            if merged is not None:
                self._drops[index] = merged
                return
        self._last_index[key] = len(self._drops)
        self._drops.append(drop)

    def take(self) -> list[Drop]:
        drops, self._drops, self._last_index = self._drops, [], {}
        return drops

    def restore(self, drops: Iterable[Drop]) -> None:
        """Put back drops whose transaction failed, ahead of those added since."""
        newer = self.take()
        for drop in [*drops, *newer]:
            self.add(drop)

    def peek(self) -> list[Drop]:
        return list(self._drops)


def coalesce(drops: Iterable[Drop]) -> list[Drop]:
    accumulator = DropAccumulator()
    for drop in drops:
        accumulator.add(drop)
    return accumulator.take()


_INSERT = (
    "INSERT INTO ledger (recorded_at, service, source, reason, records, bytes, first_time,"
    " last_time, first_seq, last_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_ADD_TOTAL = (
    "INSERT INTO drop_totals (service, reason, records, bytes) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (service, reason) DO UPDATE SET records = records + excluded.records,"
    " bytes = bytes + excluded.bytes"
)
_COLUMNS = "id, recorded_at, service, source, reason, records, bytes, first_time, last_time, first_seq, last_seq"


def write_drops(conn: sqlite3.Connection, drops: list[Drop], recorded_at: float) -> None:
    """Insert ledger rows and bump the per-reason totals; call inside the caller's transaction."""
    if not drops:
        return
    conn.executemany(
        _INSERT,
        [
            (
                recorded_at,
                d.service,
                d.source,
                d.reason.value,
                d.records,
                d.bytes,
                d.first_time,
                d.last_time,
                d.first_seq,
                d.last_seq,
            )
            for d in drops
        ],
    )
    conn.executemany(_ADD_TOTAL, [(d.service, d.reason.value, d.records, d.bytes) for d in drops])


def trim_ledger(conn: sqlite3.Connection, max_rows: int) -> None:
    """Keep the newest `max_rows` rows; totals in drop_totals are kept whole."""
    conn.execute("DELETE FROM ledger WHERE id <= (SELECT max(id) FROM ledger) - ?", (max(0, max_rows),))


def _entry(row: Sequence[Any]) -> LedgerEntry:
    (ident, recorded_at, service, source, reason, records, size, first_time, last_time) = row[:9]
    drop = Drop(
        service=service,
        reason=DropReason(reason),
        records=records,
        bytes=size,
        first_time=first_time,
        last_time=last_time,
        source=source,
        first_seq=row[9],
        last_seq=row[10],
    )
    return LedgerEntry(ident, recorded_at, drop)


def read_ledger(conn: sqlite3.Connection, since_id: int | None, limit: int, service: str | None) -> list[LedgerEntry]:
    where = ["id > ?"]
    params: list[object] = [since_id or 0]
    if service is not None:
        where.append("service = ?")
        params.append(service)
    params.append(limit)
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM ledger WHERE {' AND '.join(where)} ORDER BY id LIMIT ?", params
    ).fetchall()
    return [_entry(row) for row in rows]


def read_totals(conn: sqlite3.Connection) -> dict[tuple[str, DropReason], tuple[int, int]]:
    rows = conn.execute("SELECT service, reason, records, bytes FROM drop_totals").fetchall()
    return {(service, DropReason(reason)): (records, size) for service, reason, records, size in rows}
