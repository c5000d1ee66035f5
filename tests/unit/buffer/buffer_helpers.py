"""Shared helpers for the buffer tests: deterministic records and raw views of the database."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from nocraven.buffer import INPUT_REASONS, DropReason, SegmentStore

T0 = 1_700_000_000.0


def rfc3339(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_record(service: str, n: int, moment: float, size: int = 200) -> bytes:
    """A JSON record of about `size` bytes whose payload compresses about 2x (hex noise)."""
    padding = hashlib.shake_256(f"{service}:{n}".encode()).hexdigest(max(1, size - 90) // 2 + 1)[: max(0, size - 90)]
    body = {"service": service, "received_at": rfc3339(moment), "n": n, "payload": padding}
    return json.dumps(body, separators=(",", ":")).encode()


def make_records(service: str, start: int, count: int, moment: float, size: int = 200) -> list[bytes]:
    return [make_record(service, start + i, moment, size) for i in range(count)]


def raw_connection(store: SegmentStore) -> sqlite3.Connection:
    return sqlite3.connect(store.path)


def stored_usage(path: Path) -> dict[str, tuple[int, int, int, int]]:
    """Per service from the segment rows: (segments, records, stored bytes, blob bytes)."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT s.service, count(*), sum(s.record_count), sum(s.stored_bytes), sum(length(b.blob))"
            " FROM segments s JOIN segment_blobs b ON b.id = s.id GROUP BY s.service"
        ).fetchall()
    return {row[0]: (row[1], row[2], row[3], row[4]) for row in rows}


def flip_blob_byte(path: Path, segment_id: int | None = None) -> int:
    """Corrupt one stored blob in place (the way a bad sector would); returns its segment id."""
    with sqlite3.connect(path) as conn:
        if segment_id is None:
            segment_id = conn.execute("SELECT min(id) FROM segment_blobs").fetchone()[0]
        blob = bytearray(conn.execute("SELECT blob FROM segment_blobs WHERE id = ?", (segment_id,)).fetchone()[0])
        middle = len(blob) // 2
        blob[middle] ^= 0xFF
        conn.execute("UPDATE segment_blobs SET blob = ? WHERE id = ?", (bytes(blob), segment_id))
    assert segment_id is not None
    return int(segment_id)


def seq_ranges(store: SegmentStore, service: str) -> list[tuple[int, int, str]]:
    """Every sealed seq range of a service: stored segments and ledger rows (store reasons)."""
    with sqlite3.connect(store.path) as conn:
        stored = conn.execute(
            "SELECT first_seq, last_seq FROM segments WHERE service = ? ORDER BY first_seq", (service,)
        ).fetchall()
    ranges = [(first, last, "stored") for first, last in stored]
    for entry in store.ledger(limit=1_000_000, service=service):
        drop = entry.drop
        if drop.reason in INPUT_REASONS:
            continue
        assert drop.first_seq is not None and drop.last_seq is not None, entry
        assert drop.records == drop.last_seq - drop.first_seq + 1, entry
        ranges.append((drop.first_seq, drop.last_seq, drop.reason.value))
    return sorted(ranges)


def assert_partition(ranges: list[tuple[int, int, str]], last_seq: int) -> None:
    """The ranges cover 1..last_seq exactly once."""
    expected = 1
    for first, last, kind in ranges:
        assert first == expected, f"seq {expected} missing or doubled at {(first, last, kind)}: {ranges}"
        assert last >= first
        expected = last + 1
    assert expected == last_seq + 1, f"covered up to {expected - 1}, sealed up to {last_seq}: {ranges}"


def ledger_totals(store: SegmentStore, service: str) -> dict[str, int]:
    totals: dict[str, int] = {}
    for entry in store.ledger(limit=1_000_000, service=service):
        totals[entry.drop.reason.value] = totals.get(entry.drop.reason.value, 0) + entry.drop.records
    return totals


def store_dropped(stats_dropped: dict[str, int]) -> int:
    """Records dropped after they were appended (input-side reasons excluded)."""
    return sum(count for reason, count in stats_dropped.items() if DropReason(reason) not in INPUT_REASONS)
