"""Plain sqlite3 statements for the hot path: segment rows, per-service state, cursors.

Callers hold the store's connection lock and own the transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from nocraven.buffer.segment import EncodedSegment, SegmentMeta

_META_COLUMNS = (
    "id, service, first_seq, last_seq, record_count, raw_bytes, stored_bytes, first_received, last_received, checksum,"
    " format, dict_id, received_bytes"
)


@dataclass(slots=True)
class ServiceState:
    """The per-service summary row, mirrored in memory; `last_seq` survives eviction so
    sequence numbers never go back."""

    last_seq: int = 0
    segments: int = 0
    records: int = 0
    raw_bytes: int = 0
    stored_bytes: int = 0
    oldest_received: float | None = None
    newest_received: float | None = None
    # drop_newest refused a segment: later ones are refused too until records leave (age,
    # purge), so what is kept stays one unbroken oldest run. Not stored: a restart clears it.
    full: bool = False
    received_bytes: int = 0  # on the wire, for the records held (0 when the collector did not say)

    def copy(self) -> ServiceState:
        return ServiceState(
            self.last_seq,
            self.segments,
            self.records,
            self.raw_bytes,
            self.stored_bytes,
            self.oldest_received,
            self.newest_received,
            self.full,
            self.received_bytes,
        )

    def add(self, segment: EncodedSegment) -> None:
        self.segments += 1
        self.records += segment.record_count
        self.raw_bytes += segment.raw_bytes
        self.stored_bytes += segment.stored_bytes
        self.received_bytes += segment.received_bytes
        if self.oldest_received is None:
            self.oldest_received = segment.first_received
        self.newest_received = max(self.newest_received or 0.0, segment.last_received)

    def remove(self, segment: SegmentMeta) -> None:
        self.segments -= 1
        self.records -= segment.record_count
        self.raw_bytes -= segment.raw_bytes
        self.stored_bytes -= segment.stored_bytes
        self.received_bytes -= segment.received_bytes
        self.full = False
        if self.segments == 0:
            self.oldest_received = self.newest_received = None


def meta_from_row(row: Any) -> SegmentMeta:
    return SegmentMeta(*row)


def load_states(conn: sqlite3.Connection) -> dict[str, ServiceState]:
    rows = conn.execute(
        "SELECT service, last_seq, segments, records, raw_bytes, stored_bytes, oldest_received,"
        " newest_received, received_bytes FROM service_state"
    ).fetchall()
    return {
        service: ServiceState(last_seq, segments, records, raw, stored, oldest, newest, received_bytes=received)
        for service, last_seq, segments, records, raw, stored, oldest, newest, received in rows
    }


def save_states(conn: sqlite3.Connection, states: dict[str, ServiceState]) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO service_state (service, last_seq, segments, records, raw_bytes,"
        " stored_bytes, oldest_received, newest_received, received_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                service,
                s.last_seq,
                s.segments,
                s.records,
                s.raw_bytes,
                s.stored_bytes,
                s.oldest_received,
                s.newest_received,
                s.received_bytes,
            )
            for service, s in states.items()
        ],
    )


def insert_segment(conn: sqlite3.Connection, segment: EncodedSegment) -> int:
    cursor = conn.execute(
        "INSERT INTO segments (service, first_seq, last_seq, record_count, raw_bytes,"
        " stored_bytes, first_received, last_received, checksum, format, dict_id, received_bytes)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            segment.service,
            segment.first_seq,
            segment.last_seq,
            segment.record_count,
            segment.raw_bytes,
            segment.stored_bytes,
            segment.first_received,
            segment.last_received,
            segment.checksum,
            segment.format,
            segment.dict_id,
            segment.received_bytes,
        ),
    )
    segment_id = cursor.lastrowid
    assert segment_id is not None
    conn.execute("INSERT INTO segment_blobs (id, blob) VALUES (?, ?)", (segment_id, segment.blob))
    return segment_id


def delete_segments(conn: sqlite3.Connection, ids: Iterable[int]) -> None:
    params = [(segment_id,) for segment_id in ids]
    conn.executemany("DELETE FROM segments WHERE id = ?", params)
    conn.executemany("DELETE FROM segment_blobs WHERE id = ?", params)


def oldest_segments(conn: sqlite3.Connection, service: str, limit: int) -> list[SegmentMeta]:
    rows = conn.execute(
        f"SELECT {_META_COLUMNS} FROM segments WHERE service = ? ORDER BY last_seq LIMIT ?",
        (service, limit),
    ).fetchall()
    return [meta_from_row(row) for row in rows]


def segments_after(conn: sqlite3.Connection, service: str, after_seq: int, limit: int) -> list[SegmentMeta]:
    rows = conn.execute(
        f"SELECT {_META_COLUMNS} FROM segments WHERE service = ? AND last_seq > ? ORDER BY last_seq LIMIT ?",
        (service, after_seq, limit),
    ).fetchall()
    return [meta_from_row(row) for row in rows]


@dataclass(frozen=True, slots=True)
class HeldAfter:
    """What the stored segments hold in a range of seqs (evicted or refused ranges left out)."""

    records: int
    raw_bytes: int
    oldest_received: float | None


def held(conn: sqlite3.Connection, service: str, after_seq: int, until_seq: int | None = None) -> HeldAfter:
    # Segments straddling a bound count only their records inside it; raw bytes pro rata.
    until = (1 << 62) if until_seq is None else until_seq
    inside = "(record_count - max(0, ? - first_seq + 1) - max(0, last_seq - ?))"
    row = conn.execute(
        f"SELECT SUM({inside}), SUM(raw_bytes * {inside} / record_count), MIN(first_received)"
        " FROM segments WHERE service = ? AND last_seq > ? AND first_seq <= ?",
        (after_seq, until, after_seq, until, service, after_seq, until),
    ).fetchone()
    return HeldAfter(int(row[0] or 0), int(row[1] or 0), row[2])


def newest_segments(conn: sqlite3.Connection, service: str, before_seq: int, limit: int) -> list[SegmentMeta]:
    rows = conn.execute(
        f"SELECT {_META_COLUMNS} FROM segments WHERE service = ? AND last_seq < ? ORDER BY last_seq DESC LIMIT ?",
        (service, before_seq, limit),
    ).fetchall()
    return [meta_from_row(row) for row in rows]


def segments_in_range(conn: sqlite3.Connection, service: str, since: float, until: float) -> list[SegmentMeta]:
    rows = conn.execute(
        f"SELECT {_META_COLUMNS} FROM segments WHERE service = ? AND last_received >= ?"
        " AND first_received <= ? ORDER BY last_seq",
        (service, since, until),
    ).fetchall()
    return [meta_from_row(row) for row in rows]


_STORED_COLUMNS = ", ".join(f"s.{name.strip()}" for name in _META_COLUMNS.split(","))


def fetch_stored(conn: sqlite3.Connection, segment_id: int) -> tuple[SegmentMeta, bytes] | None:
    """A segment's metadata as it is now and its blob, read together: a segment repacked since
    the caller listed it has a new format, checksum and size, and they come with its blob."""
    row = conn.execute(
        f"SELECT {_STORED_COLUMNS}, b.blob FROM segments s JOIN segment_blobs b ON b.id = s.id WHERE s.id = ?",
        (segment_id,),
    ).fetchone()
    return None if row is None else (meta_from_row(row[:-1]), bytes(row[-1]))


def first_unpacked(conn: sqlite3.Connection, service: str, after_id: int, packed_format: int) -> SegmentMeta | None:
    """The oldest of the service's segments after `after_id` not yet in `packed_format`."""
    row = conn.execute(
        f"SELECT {_META_COLUMNS} FROM segments WHERE service = ? AND id > ? AND format != ? ORDER BY id LIMIT 1",
        (service, after_id, packed_format),
    ).fetchone()
    return None if row is None else meta_from_row(row)


def repack_segment(conn: sqlite3.Connection, meta: SegmentMeta, blob: bytes) -> None:
    """Replace a segment's blob and what describes it (`meta`: the segment as repacked)."""
    conn.execute("UPDATE segment_blobs SET blob = ? WHERE id = ?", (blob, meta.id))
    conn.execute(
        "UPDATE segments SET format = ?, dict_id = ?, stored_bytes = ?, checksum = ? WHERE id = ?",
        (meta.format, meta.dict_id, meta.stored_bytes, meta.checksum, meta.id),
    )


def oldest_received(conn: sqlite3.Connection, service: str) -> float | None:
    row = conn.execute(
        "SELECT first_received FROM segments WHERE service = ? ORDER BY last_seq LIMIT 1",
        (service,),
    ).fetchone()
    return None if row is None else float(row[0])


def load_cursors(conn: sqlite3.Connection) -> dict[tuple[str, str], int]:
    rows = conn.execute("SELECT sink, service, acked_seq FROM cursors").fetchall()
    return {(sink, service): acked for sink, service, acked in rows}


def save_cursors(conn: sqlite3.Connection, cursors: dict[tuple[str, str], int], now: float) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO cursors (sink, service, acked_seq, updated_at) VALUES (?, ?, ?, ?)",
        [(sink, service, acked, now) for (sink, service), acked in cursors.items()],
    )


def quarantine_segment(
    conn: sqlite3.Connection,
    meta: SegmentMeta,
    blob: bytes | None,
    error: str,
    now: float,
    max_blob_bytes: int,
) -> None:
    kept = conn.execute("SELECT coalesce(sum(length(blob)), 0) FROM quarantine").fetchone()[0]
    if blob is not None and kept + len(blob) > max_blob_bytes:
        blob = None  # keep the metadata, not the evidence, once the quarantine is full
    conn.execute(
        "INSERT INTO quarantine (segment_id, service, first_seq, last_seq, record_count,"
        " raw_bytes, stored_bytes, first_received, last_received, checksum, quarantined_at,"
        " error, blob, format, dict_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            meta.id,
            meta.service,
            meta.first_seq,
            meta.last_seq,
            meta.record_count,
            meta.raw_bytes,
            meta.stored_bytes,
            meta.first_received,
            meta.last_received,
            meta.checksum,
            now,
            error,
            blob,
            meta.format,
            meta.dict_id,
        ),
    )
    delete_segments(conn, [meta.id])


def count_quarantined(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM quarantine").fetchone()[0])
