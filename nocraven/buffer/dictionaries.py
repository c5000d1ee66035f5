"""Per-service zstd dictionaries: trained from the service's own recent records, stored in the
database under an id each segment names, kept while any segment uses them.

A segment seals ~200 syslog records; zstd alone relearns their shape (keys, hostnames, message
templates) in every segment. A 64 KiB dictionary trained on ~1 MiB of the service's records
carries that shape across segments (measured in bench/buffer.py). The seal worker owns the
book: it picks the compressor for each segment, feeds sealed records in as samples while a
(re)training is due, and trains between seals. Training takes tens of milliseconds and runs
when a service starts, then after RETRAIN_SEGMENTS segments and RETRAIN_MIN_S, so drift (new
firmware, new devices) is followed without paying for it on every seal, nor every few seconds
under a flood (1024 segments are 2.5 s at 200,000 syslog messages/s).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import zstandard

from nocraven.buffer.segment import PACKED_LEVEL, ZSTD_LEVEL, OpenSegment

log = logging.getLogger(__name__)

DICT_BYTES = 64 * 1024
SAMPLE_BYTES = 1024 * 1024  # records gathered before training
MIN_SAMPLES = 64  # fewer records than this make a dictionary that does not generalise
RETRAIN_SEGMENTS = 1024  # ~256 MiB of records at the default seal size
RETRAIN_MIN_S = 600.0  # and at least this long after the last training (either way: clock jumps)


def _level(key: str) -> int:
    """A book key is a service, or "service:form" for packed bodies (forms.py), which are
    compressed off the hot path at a higher level."""
    return PACKED_LEVEL if ":" in key else ZSTD_LEVEL


@dataclass(frozen=True, slots=True)
class Dictionary:
    id: int
    service: str
    data: bytes

    def compression_dict(self) -> zstandard.ZstdCompressionDict:
        return zstandard.ZstdCompressionDict(self.data, dict_type=zstandard.DICT_TYPE_FULLDICT)


@dataclass(slots=True)
class _ServiceBook:
    current: Dictionary | None = None
    compressor: zstandard.ZstdCompressor | None = None
    samples: list[bytes | bytearray | memoryview] = field(default_factory=list)
    sample_bytes: int = 0
    segments_since_training: int = 0
    trained_at: float = float("-inf")

    def collecting(self, now: float) -> bool:
        if self.current is None:
            return True
        return self.segments_since_training >= RETRAIN_SEGMENTS and abs(now - self.trained_at) >= RETRAIN_MIN_S

    @property
    def ready(self) -> bool:
        """Enough to train on: SAMPLE_BYTES in at least MIN_SAMPLES records (or, with huge
        records, 8x SAMPLE_BYTES in fewer: memory stays bounded and training may decline)."""
        if self.sample_bytes >= 8 * SAMPLE_BYTES:
            return True
        return self.sample_bytes >= SAMPLE_BYTES and len(self.samples) >= MIN_SAMPLES


class DictionaryBook:
    """The current dictionary of each service and the training in progress. Seal worker only
    (the store calls it under its seal lock)."""

    def __init__(self, current: list[Dictionary], next_id: int) -> None:
        self._plain = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        self._packed = zstandard.ZstdCompressor(level=PACKED_LEVEL)
        self._books: dict[str, _ServiceBook] = {}
        self._next_id = next_id
        self._unstored: dict[int, Dictionary] = {}
        for dictionary in current:
            self._adopt(dictionary)

    def compressor(self, service: str) -> tuple[int | None, zstandard.ZstdCompressor]:
        """The dictionary id (None: plain zstd) and compressor for `service`'s next segment
        (or packed body, for a "service:form" key)."""
        book = self._books.get(service)
        if book is None or book.current is None or book.compressor is None:
            return None, self._plain if _level(service) == ZSTD_LEVEL else self._packed
        return book.current.id, book.compressor

    def observe(self, segment: OpenSegment, now: float) -> None:
        """A segment was sealed at `now`: count it, and keep its records as samples if training
        is due."""
        self.sample(segment.service, segment.records, now)

    def sample(self, key: str, records: Callable[[], Sequence[bytes]], now: float) -> None:
        """A segment was compressed under `key` at `now`: count it, and keep its records (or
        packed entries) as samples if training is due. `records` is called only then: splitting
        every sealed segment was an eighth of the engine's CPU at 150,000 syslog messages/s."""
        book = self._books.setdefault(key, _ServiceBook())
        book.segments_since_training += 1
        if not book.collecting(now) or book.ready:
            return
        for record in records():
            book.samples.append(record)
            book.sample_bytes += len(record)
            if book.ready:
                break

    def train_due(self, now: float) -> list[Dictionary]:
        """Train every service that has gathered enough samples; returns the new dictionaries
        (they are current from now on and wait in `unstored` until committed)."""
        trained = []
        for service, book in self._books.items():
            if not book.ready:
                continue
            samples, book.samples, book.sample_bytes = book.samples, [], 0
            try:
                data = zstandard.train_dictionary(DICT_BYTES, samples, level=_level(service))
            except zstandard.ZstdError as exc:
                # Too uniform or too few distinct samples: stay as we are and try again later.
                log.info("buffer: no dictionary for %s this time (%s)", service, exc)
                book.segments_since_training = 0 if book.current is not None else RETRAIN_SEGMENTS
                continue
            dictionary = Dictionary(self._next_id, service, data.as_bytes())
            self._next_id += 1
            self._adopt(dictionary)
            book.trained_at = now
            self._unstored[dictionary.id] = dictionary
            trained.append(dictionary)
        return trained

    def unstored(self) -> list[Dictionary]:
        """Dictionaries in use that the database does not hold yet (a failed commit keeps them
        here, so the next one writes them with the segments that name them)."""
        return list(self._unstored.values())

    def stored(self, ids: list[int]) -> None:
        for dictionary_id in ids:
            self._unstored.pop(dictionary_id, None)

    def current_ids(self) -> set[int]:
        return {book.current.id for book in self._books.values() if book.current is not None}

    def forget(self, service: str) -> None:
        """The service was purged: its next records (and packed bodies) start over without a
        dictionary."""
        for key in [key for key in self._books if key == service or key.startswith(f"{service}:")]:
            book = self._books.pop(key)
            if book.current is not None:
                self._unstored.pop(book.current.id, None)

    def _adopt(self, dictionary: Dictionary) -> None:
        book = self._books.setdefault(dictionary.service, _ServiceBook())
        book.current = dictionary
        book.compressor = zstandard.ZstdCompressor(
            level=_level(dictionary.service), dict_data=dictionary.compression_dict()
        )
        book.segments_since_training = 0
        self._next_id = max(self._next_id, dictionary.id + 1)


# --------------------------------------------------------------------------------- table access


def load_book(conn: sqlite3.Connection) -> DictionaryBook:
    """The newest dictionary of each service becomes its current one."""
    rows = conn.execute(
        "SELECT id, service, data FROM dictionaries WHERE id IN (SELECT max(id) FROM dictionaries GROUP BY service)"
    ).fetchall()
    top = conn.execute("SELECT coalesce(max(id), 0) FROM dictionaries").fetchone()[0]
    return DictionaryBook([Dictionary(row[0], row[1], bytes(row[2])) for row in rows], int(top) + 1)


def insert_dictionaries(conn: sqlite3.Connection, dictionaries: list[Dictionary], now: float) -> None:
    conn.executemany(
        "INSERT OR IGNORE INTO dictionaries (id, service, created_at, data) VALUES (?, ?, ?, ?)",
        [(d.id, d.service, now, d.data) for d in dictionaries],
    )


def fetch_dictionary(conn: sqlite3.Connection, dictionary_id: int) -> bytes | None:
    row = conn.execute("SELECT data FROM dictionaries WHERE id = ?", (dictionary_id,)).fetchone()
    return None if row is None else bytes(row[0])


def delete_unused(conn: sqlite3.Connection, candidates: set[int], keep: set[int]) -> int:
    """Delete those of `candidates` (the dictionaries of segments just deleted) that no segment
    names any more, except `keep` (the current ones). One indexed lookup each."""
    unused = [
        (dictionary_id,)
        for dictionary_id in sorted(candidates - keep)
        if conn.execute("SELECT 1 FROM segments WHERE dict_id = ? LIMIT 1", (dictionary_id,)).fetchone() is None
    ]
    conn.executemany("DELETE FROM dictionaries WHERE id = ?", unused)
    return len(unused)
