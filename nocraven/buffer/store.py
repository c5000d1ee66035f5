"""SegmentStore: the buffer's facade. Collectors append, a worker seals, forwarders read and ack.

Threads: `append` and `record_drop` only touch memory under a short lock. One seal worker loops
`wait_for_full_segment(0.2)` then `seal_due(now)`: it compresses outside any lock the collectors
wait on, then writes one transaction (seal, evict, ledger) and checkpoints. Everything that
touches the database is serialized on one connection. Lock order: seal -> database -> memory.

Only sealed data is readable by forwarders: what they ship is on disk, so a sequence number
they saw is never reused after a crash. `tail` and `export` also show unsealed records.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from types import TracebackType

import zstandard

from collectors.common import ndjson
from nocraven.buffer import dictionaries, tables
from nocraven.buffer.eviction import WriteTransaction, segment_drop
from nocraven.buffer.forecast import RateWindow
from nocraven.buffer.forms import FORMS, StoredForm
from nocraven.buffer.ledger import (
    Drop,
    DropAccumulator,
    DropReason,
    LedgerEntry,
    coalesce,
    read_ledger,
    read_totals,
    trim_ledger,
    write_drops,
)
from nocraven.buffer.limits import Budget, BufferLimits, effective_budget, write_reserve
from nocraven.buffer.reporting import StoreSnapshot, build_stats
from nocraven.buffer.results import BufferStats, DropCount, PurgeResult, ReadBatch, SeqGap
from nocraven.buffer.schema import DB_FILENAME, connect, migrate
from nocraven.buffer.segment import (
    FORMAT_PACKED,
    NEWLINE,
    ZSTD_LEVEL,
    CorruptSegment,
    EncodedSegment,
    FramedBatch,
    OpenSegment,
    SealedSegment,
    SegmentMeta,
    checksum,
    decode,
    decode_ndjson,
    encode,
    frame_records,
    unpack_packed,
)
from nocraven.buffer.tables import ServiceState
from nocraven.buffer.timestamps import as_epoch, received_at

log = logging.getLogger(__name__)

_DECODED_CACHE_SEGMENTS = 8  # a reader resuming mid-segment need not decompress it again
# Full segments sealed in one transaction at most (about; at least one), when a backlog waits:
# its memory is given back commit by commit, and collectors paused for it (BufferAccess) resume
# after a pass of this, not after the whole backlog is compressed.
_SEAL_PASS_BYTES = 8 * 1024 * 1024
_READ_BATCH_ROWS = 16
# Records are stamped before their batch is appended: widen segment time ranges by this much
# when choosing segments to export, then filter each record by its own received_at.
_EXPORT_SLACK_S = 300.0
_TIME_MIN, _TIME_MAX = -1e18, 1e18
# The cursors table row that holds a sink's drop-ledger position (not a service name).
LEDGER_CURSOR = "#ledger"


def _with_received(batch: FramedBatch, received_bytes: int) -> FramedBatch:
    """The batch with its wire size; what was refused from it takes its share along."""
    kept = received_bytes
    if batch.rejected_records:
        kept = received_bytes * batch.raw_bytes // max(1, batch.raw_bytes + batch.rejected_bytes)
    return FramedBatch(batch.chunk, batch.records, batch.raw_bytes, batch.rejected_records, batch.rejected_bytes, kept)


def _first_bytes(segments: list[OpenSegment], limit: int) -> tuple[list[OpenSegment], list[OpenSegment]]:
    """The first segments up to about `limit` raw bytes (at least one), and the rest."""
    total = 0
    for index, segment in enumerate(segments):
        total += segment.raw_bytes
        if total >= limit:
            return segments[: index + 1], segments[index + 1 :]
    return segments, []


def _storage_failure(exc: sqlite3.Error, fs_free: int | None, min_free: int) -> DropReason | None:
    """The drop reason when the database could not take a write; None for programming errors."""
    if isinstance(exc, sqlite3.IntegrityError | sqlite3.ProgrammingError | sqlite3.InterfaceError):
        return None
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code == sqlite3.SQLITE_FULL:
        return DropReason.DISK_FULL
    if code == sqlite3.SQLITE_IOERR and fs_free is not None and fs_free < max(min_free, 1):
        return DropReason.DISK_FULL  # ENOSPC while growing the WAL index surfaces as IOERR
    return DropReason.STORAGE_ERROR


class SegmentStore:
    """Store-and-forward buffer of sealed zstd segments in one SQLite file (see module doc)."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        data_dir: Path,
        limits: BufferLimits,
        now: float,
        forms: Mapping[str, StoredForm] = FORMS,
    ) -> None:
        self._conn = conn
        self._dir = data_dir
        self._limits = limits
        self._seal_lock = threading.Lock()
        self._db_lock = threading.RLock()
        self._lock = threading.Lock()
        self._dictionaries = dictionaries.load_book(conn)
        self._dictionary_data: dict[int, zstandard.ZstdCompressionDict] = {}
        self._local = threading.local()
        self._decoded: OrderedDict[int, list[bytes]] = OrderedDict()
        self._page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])

        self._states = tables.load_states(conn)
        self._cursors = tables.load_cursors(conn)
        self._dirty_cursors: set[tuple[str, str]] = set()
        self._drop_totals = {key: DropCount(records, size) for key, (records, size) in read_totals(conn).items()}
        self._quarantined = tables.count_quarantined(conn)
        self._next_seq = {service: state.last_seq + 1 for service, state in self._states.items()}
        self._open: dict[str, OpenSegment] = {}
        self._ready: list[OpenSegment] = []
        self._segment_ready = threading.Event()  # set while full segments wait for sealing
        self._in_flight: list[OpenSegment] = []
        self._unsealed_bytes = 0
        self._pending = DropAccumulator()
        self._rates = RateWindow(limits.rate_window_s, now)
        self._storage_failing = False
        self._last_now = now
        self._closed = False
        self._forms = forms
        self._packed_up_to: dict[str, int] = {}  # per service, the last segment id compact_cold looked at
        self._awaited: Mapping[str, Collection[str]] | None = None  # see await_deliveries
        self._seed_rates(now)

    # ----------------------------------------------------------------------------- lifecycle

    @classmethod
    def open(
        cls,
        data_dir: str | os.PathLike[str],
        limits: BufferLimits | None,
        now: float,
        forms: Mapping[str, StoredForm] = FORMS,
    ) -> SegmentStore:
        """Open (creating if needed) `data_dir/buffer.db`. Reads only the per-service summary,
        cursors, drop totals and recent segment metadata: never the backlog's blobs."""
        directory = Path(data_dir)
        directory.mkdir(parents=True, exist_ok=True)
        conn = connect(directory / DB_FILENAME)
        try:
            migrate(conn)
            return cls(conn, directory, limits or BufferLimits(), now, forms)
        except BaseException:
            conn.close()
            raise

    def close(self) -> None:
        """Release the database. Unsealed records are discarded: call seal_all first."""
        with self._seal_lock, self._db_lock:
            if self._closed:
                return
            unsealed = sum(s.record_count for s in [*self._ready, *self._open.values()])
            if unsealed:
                log.warning("buffer closed with %d unsealed records discarded", unsealed)
            self._closed = True
            self._conn.close()

    def __enter__(self) -> SegmentStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def path(self) -> Path:
        return self._dir / DB_FILENAME

    @property
    def limits(self) -> BufferLimits:
        return self._limits

    @property
    def unsealed_bytes(self) -> int:
        """Raw bytes waiting for the seal worker; a TCP listener may stop reading above a
        threshold (real backpressure) before appends start being refused."""
        with self._lock:
            return self._unsealed_bytes

    # ---------------------------------------------------------------------------- write side

    def append(
        self,
        service: str,
        records: Sequence[bytes],
        now: float,
        source: str | None = None,
        received_bytes: int = 0,
    ) -> None:
        """Add records (JSON objects without newline) to the service's open segment. Cheap
        and thread-safe: no disk, no compression. Invalid records are refused and accounted
        as rejected_input; if the seal worker lags by more than max_unsealed_bytes the batch
        is accounted as unsealed_overflow. `received_bytes`: what these records were on the
        wire (datagram or frame bytes), for `stats` (stored bytes per received byte)."""
        if not records:
            return
        batch = frame_records(records)
        if received_bytes:
            batch = _with_received(batch, received_bytes)
        self._append_framed(service, batch, now, source)

    def append_ndjson(
        self, service: str, chunk: bytes, now: float, source: str | None = None, received_bytes: int = 0
    ) -> int:
        """Add records already joined by newlines (what a collector process sends), without
        splitting them; returns how many were taken. A chunk with an empty line is split and
        checked record by record, as `append` does."""
        if not chunk:
            return 0
        count = ndjson.records(chunk)  # one C pass: the records, or -1 for an empty one
        if count < 0:
            records = chunk.split(NEWLINE)
            self.append(service, records, now, source, received_bytes)
            return sum(1 for record in records if record)
        batch = FramedBatch.of_ndjson(chunk, self._limits.seal_bytes, received_bytes, records=count)
        self._append_framed(service, batch, now, source)
        return batch.records

    def _append_framed(self, service: str, batch: FramedBatch, now: float, source: str | None) -> None:
        with self._lock:
            self._last_now = now
            if batch.rejected_records:
                self._pending.add(
                    Drop(
                        service,
                        DropReason.REJECTED_INPUT,
                        batch.rejected_records,
                        batch.rejected_bytes,
                        now,
                        now,
                        source,
                    )
                )
            if not batch.records:
                return
            if self._unsealed_bytes + batch.raw_bytes > self._limits.max_unsealed_bytes:
                self._pending.add(
                    Drop(
                        service,
                        DropReason.UNSEALED_OVERFLOW,
                        batch.records,
                        batch.raw_bytes,
                        now,
                        now,
                        source,
                    )
                )
                return
            self._add_to_open(service, batch, now, source)

    def _add_to_open(self, service: str, batch: FramedBatch, now: float, source: str | None) -> None:
        for piece in batch.pieces(self._limits.seal_bytes):
            self._add_piece(service, piece, now, source)

    def _add_piece(self, service: str, batch: FramedBatch, now: float, source: str | None) -> None:
        segment = self._open.get(service)
        if segment is None:
            first_seq = self._next_seq.get(service, 1)
            segment = OpenSegment(service, first_seq, now, now, source)
            self._open[service] = segment
        segment.add(batch, now, source)
        self._next_seq[service] = segment.last_seq + 1
        self._unsealed_bytes += batch.raw_bytes
        if segment.raw_bytes >= self._limits.seal_bytes:
            self._ready.append(segment)
            del self._open[service]
            self._segment_ready.set()

    def record_drop(
        self,
        service: str,
        reason: DropReason | str,
        records: int,
        raw_bytes: int,
        now: float,
        source: str | None = None,
    ) -> None:
        """Account records lost before reaching the buffer (collectors: rejected_input,
        kernel_drop). Coalesced in memory, written with the next seal transaction."""
        if records <= 0 and raw_bytes <= 0:
            return
        drop = Drop(service, DropReason(reason), records, raw_bytes, now, now, source)
        with self._lock:
            self._pending.add(drop)

    def wait_for_full_segment(self, timeout: float) -> bool:
        """Block until a segment reached seal_bytes, or `timeout` passed. The seal worker's
        loop: `wait_for_full_segment(0.2)` then `seal_due(now)`, so bursts are sealed as soon
        as a segment fills and the age-based seal still runs every 0.2 s."""
        return self._segment_ready.wait(timeout)

    def seal_due(self, now: float) -> list[SealedSegment]:
        """Seal segments that are full or older than seal_interval_s, then enforce limits and
        write pending accounting, all in one transaction. Never raises for a full disk."""
        return self._seal(now, everything=False)

    def seal_all(self, now: float) -> list[SealedSegment]:
        """Seal every open segment (clean shutdown, or before a consistent read)."""
        return self._seal(now, everything=True)

    def _seal(self, now: float, everything: bool) -> list[SealedSegment]:
        with self._seal_lock:
            self._check_open()
            with self._lock:
                self._last_now = now
                due, self._ready = (self._ready, []) if everything else _first_bytes(self._ready, _SEAL_PASS_BYTES)
                # Open segments only once no full one waits: each service's segments seal in seq order.
                if not self._ready:
                    self._segment_ready.clear()
                    for service in list(self._open):
                        segment = self._open[service]
                        if everything or now - segment.first_received >= self._limits.seal_interval_s:
                            due.append(segment)
                            del self._open[service]
                self._in_flight = due
            encoded = []
            for segment in due:
                dict_id, compressor = self._dictionaries.compressor(segment.service)
                encoded.append(encode(segment, compressor, dict_id))
                self._dictionaries.observe(segment, now)
            # Trained now, used from the next seal on: stored with this commit, or the next.
            self._dictionaries.train_due(now)
            with self._db_lock:
                try:
                    return self._commit(encoded, now)
                finally:
                    with self._lock:
                        self._in_flight = []
                        self._unsealed_bytes -= sum(segment.raw_bytes for segment in due)

    def compact_cold(self, now: float) -> SegmentMeta | None:
        """Repack one cold segment into its service's compact form (forms.py): the oldest
        segment not yet packed whose records are `compact_after_s` old and delivered to every
        sink that forwards its service (see await_deliveries). Returns the segment as repacked,
        or None when there is nothing to do (the caller then waits: this is background work,
        one segment a call). A segment the form cannot shrink is left as it is."""
        if self._limits.compact_after_s is None:
            return None
        with self._seal_lock:  # the dictionary book is the seal worker's
            with self._db_lock:
                self._check_open()
                candidate = self._cold_candidate(now - self._limits.compact_after_s)
                if candidate is None:
                    return None
                meta, form = candidate
                self._packed_up_to[meta.service] = meta.id
                lines = self._lines(meta, cache=False)  # cold: not worth a place readers use
                if lines is None:
                    return None
            body = form.pack(lines)
            key = form.dictionary_key(meta.service)
            dict_id, compressor = self._dictionaries.compressor(key)
            blob = compressor.compress(body)
            self._dictionaries.sample(key, lambda: body.split(NEWLINE)[:-1], now)
            self._dictionaries.train_due(now)
            if len(blob) >= meta.stored_bytes:
                return None
            size, crc = len(blob), checksum(blob)
            packed = replace(meta, format=FORMAT_PACKED, dict_id=dict_id, stored_bytes=size, checksum=crc)
            with self._db_lock:
                return self._commit_packed(meta, packed, blob, now)

    def await_deliveries(self, sinks: Mapping[str, Collection[str]]) -> None:
        """The sinks configured for each service: compact_cold repacks only what all of them
        delivered (a sink that never acked has delivered nothing), and a cursor left by a sink
        since removed no longer holds it back. Until this is called, every cursor counts."""
        with self._lock:
            self._awaited = {service: tuple(names) for service, names in sinks.items()}

    def _cold_candidate(self, received_before: float) -> tuple[SegmentMeta, StoredForm] | None:
        for service, form in self._forms.items():
            meta = tables.first_unpacked(self._conn, service, self._packed_up_to.get(service, 0), FORMAT_PACKED)
            if meta is None or meta.last_received > received_before:
                continue
            with self._lock:
                if self._awaited is None:
                    delivered = [acked for (_, of), acked in self._cursors.items() if of == service]
                else:
                    delivered = [self._cursors.get((sink, service), 0) for sink in self._awaited.get(service, ())]
            # Packed records cost a parse each to read: what a sink still has to send stays as it is.
            if meta.last_seq <= min(delivered, default=meta.last_seq):
                return meta, form
        return None

    def _commit_packed(self, meta: SegmentMeta, packed: SegmentMeta, blob: bytes, now: float) -> SegmentMeta | None:
        self._check_open()
        unstored = self._dictionaries.unstored()
        state = self._states.get(meta.service, ServiceState()).copy()
        saved = meta.stored_bytes - packed.stored_bytes
        state.stored_bytes -= saved
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            found = tables.fetch_stored(self._conn, meta.id)
            if found is None or found[0] != meta:
                self._conn.execute("ROLLBACK")  # evicted or quarantined meanwhile
                return None
            tables.repack_segment(self._conn, packed, blob)
            dictionaries.insert_dictionaries(self._conn, unstored, now)
            if meta.dict_id is not None:
                dictionaries.delete_unused(self._conn, {meta.dict_id}, self._dictionaries.current_ids())
            tables.save_states(self._conn, {meta.service: state})
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            log.debug("buffer: segment %d not repacked now (%s)", meta.id, exc)
            return None
        self._dictionaries.stored([d.id for d in unstored])
        with self._lock:
            self._states = {**self._states, meta.service: state}
            if meta.last_received >= now - self._limits.rate_window_s:
                # The forecast's stored rate counts what the service costs once packed.
                self._rates.add(meta.service, now, 0, 0, -saved)
        self._checkpoint()
        return packed

    def _commit(self, encoded: list[EncodedSegment], now: float) -> list[SealedSegment]:
        with self._lock:
            pending = self._pending.take()
            cursors = {key: self._cursors[key] for key in self._dirty_cursors}
        budget, fs_free = self._measure_budget()
        txn = self._transaction()
        if not (encoded or pending or cursors or txn.needs_enforcement(budget, now)):
            return []
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            txn.evict_expired(now)
            for segment in encoded:
                txn.place(segment, budget)
            txn.enforce(budget)
            unstored = self._dictionaries.unstored()
            dictionaries.insert_dictionaries(self._conn, unstored, now)
            if txn.evicted_dictionaries:
                keep = self._dictionaries.current_ids()
                dictionaries.delete_unused(self._conn, txn.evicted_dictionaries, keep)
            drops = coalesce([*pending, *txn.drops])
            write_drops(self._conn, drops, now)
            if drops:
                trim_ledger(self._conn, self._limits.ledger_max_rows)
            tables.save_states(self._conn, txn.states)
            tables.save_cursors(self._conn, cursors, now)
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            reason = _storage_failure(exc, fs_free, self._limits.min_free_disk_bytes)
            lost = [segment_drop(segment, reason or DropReason.STORAGE_ERROR) for segment in encoded]
            with self._lock:
                self._pending.restore([*pending, *lost])
            if reason is None:
                raise
            if not self._storage_failing:
                log.warning("buffer write failed (%s): dropping with accounting until it recovers", exc)
            self._storage_failing = True
            return []
        self._dictionaries.stored([d.id for d in unstored])
        self._apply(txn, drops, encoded, cursors)
        self._checkpoint()
        return txn.sealed

    def _transaction(self) -> WriteTransaction:
        states = {service: state.copy() for service, state in self._states.items()}
        return WriteTransaction(self._conn, self._limits, states)

    def _checkpoint(self) -> None:
        """Copy the WAL into the database file right away. Left to autocheckpoint, up to 4 MiB
        of committed data would sit in the WAL and double its disk cost later, invisible to
        the free-space check; checkpointed, the next write also reuses the WAL from its start."""
        try:
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            log.debug("buffer checkpoint deferred: %s", exc)

    def _apply(
        self,
        txn: WriteTransaction,
        drops: list[Drop],
        encoded: list[EncodedSegment],
        cursors: dict[tuple[str, str], int],
    ) -> None:
        for segment_id in txn.evicted_ids:
            self._decoded.pop(segment_id, None)
        # Recovered means records are stored again: a transaction carrying only the ledger rows
        # of what was lost must not flip the state back and forth while data writes still fail.
        if self._storage_failing and encoded:
            log.warning("buffer writes recovered")
            self._storage_failing = False
        with self._lock:
            self._states = txn.states
            self._count_drops(drops)
            for segment in encoded:
                self._rates.add(
                    segment.service,
                    segment.last_received,
                    segment.record_count,
                    segment.raw_bytes,
                    segment.stored_bytes,
                )
            for key, acked in cursors.items():
                if self._cursors.get(key) == acked:
                    self._dirty_cursors.discard(key)

    def _count_drops(self, drops: list[Drop]) -> None:
        for drop in drops:
            key = (drop.service, drop.reason)
            before = self._drop_totals.get(key, DropCount())
            self._drop_totals[key] = DropCount(before.records + drop.records, before.bytes + drop.bytes)

    def _rollback(self) -> None:
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            log.exception("buffer rollback failed")

    def _measure_budget(self) -> tuple[Budget, int | None]:
        try:
            stat = os.statvfs(self._dir)
            fs_free: int | None = stat.f_bavail * stat.f_frsize
        except OSError:
            fs_free = None
        free_pages = int(self._conn.execute("PRAGMA freelist_count").fetchone()[0])
        used = sum(state.stored_bytes for state in self._states.values())
        budget = effective_budget(
            self._limits.total_bytes,
            used,
            fs_free,
            free_pages * self._page_size,
            max(self._limits.min_free_disk_bytes, write_reserve(self._limits)),
        )
        return budget, fs_free

    # ----------------------------------------------------------------------------- read side

    def read(self, sink: str, service: str, max_records: int = 10_000, after_seq: int | None = None) -> ReadBatch:
        """Sealed records after the sink's acknowledged seq (or `after_seq`, to pipeline reads
        before acking), in order and contiguous; stops before the next gap."""
        with self._db_lock:
            self._check_open()
            start = self._cursors.get((sink, service), 0) if after_seq is None else after_seq
            position = start
            records: list[bytes] = []
            gap: SeqGap | None = None
            exhausted = done = False
            while not done:
                metas = tables.segments_after(self._conn, service, position, _READ_BATCH_ROWS)
                if not metas:
                    exhausted = True
                    break
                for meta in metas:
                    if meta.first_seq > position + 1:
                        if records:
                            done = True  # stop before the gap: a batch is contiguous
                            break
                        gap = SeqGap(start + 1, meta.first_seq - 1)
                        position = meta.first_seq - 1
                    lines = self._lines(meta)
                    if lines is None:
                        continue  # quarantined: the next segment starts after a gap
                    offset = position + 1 - meta.first_seq
                    taken = lines[offset : offset + max_records - len(records)]
                    records.extend(taken)
                    position += len(taken)
                    if len(records) >= max_records:
                        done = True
                        break
            committed = self._states.get(service, ServiceState()).last_seq
            if exhausted and not records and position < committed:
                # Everything after the reader was dropped and nothing newer is sealed yet.
                gap = SeqGap(start + 1, committed)
                position = committed
            first_seq = position - len(records) + 1
            return ReadBatch(sink, service, records, first_seq, position, gap, position < committed)

    def segment_blob(self, meta: SegmentMeta) -> tuple[bytes, bytes | None] | None:
        """A sealed segment as stored: its compressed blob (checksum checked) and the data of
        the zstd dictionary it was compressed with (None: plain zstd), for a forwarder sending
        the blob as it is. A packed segment (format 3) is not NDJSON inside: its records are
        rebuilt and sent as plain zstd. None when it is gone, or failed its checksum or its
        dictionary is missing (then quarantined, as `read` does)."""
        with self._db_lock:
            self._check_open()
            found = tables.fetch_stored(self._conn, meta.id)
            if found is None:
                return None
            meta, blob = found
            if meta.format == FORMAT_PACKED:
                lines = self._lines(meta)
                if lines is None:
                    return None
                ndjson = b"".join(line + NEWLINE for line in lines)
                return zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(ndjson), None
            dictionary: bytes | None = None
            try:
                if checksum(blob) != meta.checksum:
                    raise CorruptSegment("checksum mismatch")
                if meta.dict_id is not None:
                    dictionary = self._dictionary(meta.dict_id).as_bytes()
            except CorruptSegment as exc:
                self._decoded.pop(meta.id, None)
                self._quarantine(meta, blob, str(exc))
                return None
            return blob, dictionary

    def segment_ndjson(self, meta: SegmentMeta) -> bytes | None:
        """A sealed segment's records as stored, NDJSON (each record followed by a newline), for
        a forwarder sending the whole segment as one batch: no split into records and no join
        back. None when the segment is gone, or failed its checks (then quarantined, as `read`
        does). Decompression runs outside the database lock, so two readers overlap."""
        with self._db_lock:
            self._check_open()
            found = tables.fetch_stored(self._conn, meta.id)
            if found is None:
                return None
            meta, blob = found
            try:
                decompressor = self._decompressor(meta.dict_id)
            except CorruptSegment as exc:
                self._quarantine(meta, blob, str(exc))
                return None
        try:
            if meta.format == FORMAT_PACKED:
                return b"".join(line + NEWLINE for line in self._unpack(meta, blob, decompressor))
            return decode_ndjson(blob, meta.checksum, meta.record_count, meta.raw_bytes, decompressor)
        except CorruptSegment:
            pass
        # Quarantined under the lock by the usual path, which looks again (it may have been
        # evicted meanwhile) and accounts for the loss once.
        with self._db_lock:
            self._check_open()
            self._decoded.pop(meta.id, None)
            lines = self._lines(meta)
        return None if lines is None else b"".join(line + NEWLINE for line in lines)

    def ack(self, sink: str, service: str, last_seq: int, now: float | None = None) -> None:
        """Record that `sink` delivered `service` records up to `last_seq` (monotonic: lower
        values are ignored). Written through (fsync); kept in memory and retried with the next
        seal if the disk is full (a lost ack only means a redelivery)."""
        key = (sink, service)
        with self._db_lock:
            self._check_open()
            committed = self._states.get(service, ServiceState()).last_seq
            if last_seq > committed:
                raise ValueError(f"cannot ack {service} seq {last_seq}: highest sealed is {committed}")
            if last_seq <= self._cursors.get(key, 0):
                return
            with self._lock:
                self._cursors[key] = last_seq
                stamp = self._last_now if now is None else now
            try:
                tables.save_cursors(self._conn, {key: last_seq}, stamp)
            except sqlite3.Error as exc:
                if _storage_failure(exc, None, 0) is None:
                    raise
                with self._lock:
                    self._dirty_cursors.add(key)
                return
            with self._lock:
                self._dirty_cursors.discard(key)

    def sealed_seq(self, service: str) -> int:
        """The highest sequence number sealed for `service` (stored or accounted in the ledger):
        a forwarder may read and ack up to it."""
        with self._lock:
            return self._states.get(service, ServiceState()).last_seq

    def held(self, service: str, after_seq: int, until_seq: int | None = None) -> tables.HeldAfter:
        """Records (and raw bytes) kept in sealed segments in (after_seq, until_seq]: a
        forwarder's backlog, without the ranges evicted or refused since (the ledger accounts
        for those)."""
        with self._db_lock:
            self._check_open()
            return tables.held(self._conn, service, after_seq, until_seq)

    def segments_after(self, service: str, after_seq: int, limit: int = 64) -> list[SegmentMeta]:
        """Metadata (no blobs) of sealed segments holding seqs after `after_seq`, oldest first.
        Segment bounds never change once sealed, so a forwarder cuts its batches on them and a
        replay after a crash rebuilds the same batches."""
        with self._db_lock:
            self._check_open()
            return tables.segments_after(self._conn, service, after_seq, limit)

    def ledger_cursor(self, sink: str) -> int:
        """The last drop-ledger id `sink` delivered as a gap event (0: none)."""
        with self._lock:
            return self._cursors.get((sink, LEDGER_CURSOR), 0)

    def ack_ledger(self, sink: str, ledger_id: int, now: float | None = None) -> None:
        """Record that `sink` delivered ledger rows up to `ledger_id` (monotonic; written
        through like `ack`, kept for the next seal if the disk is full)."""
        key = (sink, LEDGER_CURSOR)
        with self._db_lock:
            self._check_open()
            if ledger_id <= self._cursors.get(key, 0):
                return
            with self._lock:
                self._cursors[key] = ledger_id
                stamp = self._last_now if now is None else now
            try:
                tables.save_cursors(self._conn, {key: ledger_id}, stamp)
            except sqlite3.Error as exc:
                if _storage_failure(exc, None, 0) is None:
                    raise
                with self._lock:
                    self._dirty_cursors.add(key)

    def cursor(self, sink: str, service: str) -> int:
        with self._lock:
            return self._cursors.get((sink, service), 0)

    def cursors(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._cursors)

    def _decompressor(self, dict_id: int | None) -> zstandard.ZstdDecompressor:
        """A decompressor for segments using `dict_id` (None: plain), one per thread. Raises
        CorruptSegment when the dictionary is missing."""
        found: dict[int | None, zstandard.ZstdDecompressor] | None = getattr(self._local, "decompressors", None)
        if found is None:
            found = self._local.decompressors = {}
        decompressor = found.get(dict_id)
        if decompressor is None:
            if dict_id is None:
                decompressor = zstandard.ZstdDecompressor()
            else:
                decompressor = zstandard.ZstdDecompressor(dict_data=self._dictionary(dict_id))
            if len(found) > 64:
                found.clear()  # dictionaries retire as their segments age out
            found[dict_id] = decompressor
        return decompressor

    def _dictionary(self, dict_id: int) -> zstandard.ZstdCompressionDict:
        data = self._dictionary_data.get(dict_id)
        if data is None:
            raw = dictionaries.fetch_dictionary(self._conn, dict_id)
            if raw is None:
                raise CorruptSegment(f"dictionary {dict_id} is missing")
            data = zstandard.ZstdCompressionDict(raw, dict_type=zstandard.DICT_TYPE_FULLDICT)
            if len(self._dictionary_data) > 64:
                self._dictionary_data.clear()
            self._dictionary_data[dict_id] = data
        return data

    def _lines(self, meta: SegmentMeta, cache: bool = True) -> list[bytes] | None:
        """A segment's records (cached), or None when it is gone or failed and was quarantined."""
        cached = self._decoded.get(meta.id)
        if cached is not None:
            self._decoded.move_to_end(meta.id)
            return cached
        found = tables.fetch_stored(self._conn, meta.id)
        if found is None:
            return None
        meta, blob = found
        try:
            decompressor = self._decompressor(meta.dict_id)
            if meta.format == FORMAT_PACKED:
                lines = self._unpack(meta, blob, decompressor)
            else:
                lines = decode(blob, meta.checksum, meta.record_count, meta.raw_bytes, decompressor)
        except CorruptSegment as exc:
            self._quarantine(meta, blob, str(exc))
            return None
        if not cache:
            return lines
        self._decoded[meta.id] = lines
        if len(self._decoded) > _DECODED_CACHE_SEGMENTS:
            self._decoded.popitem(last=False)
        return lines

    def _unpack(self, meta: SegmentMeta, blob: bytes, decompressor: zstandard.ZstdDecompressor) -> list[bytes]:
        form = self._forms.get(meta.service)
        if form is None:
            raise CorruptSegment(f"packed, and this version has no compact form for {meta.service}")
        return unpack_packed(blob, meta.checksum, meta.record_count, decompressor, form.unpack)

    def _quarantine(self, meta: SegmentMeta, blob: bytes | None, error: str) -> None:
        now = self._last_now
        log.error(
            "buffer segment %d (%s seq %d..%d) is corrupt: %s",
            meta.id,
            meta.service,
            meta.first_seq,
            meta.last_seq,
            error,
        )
        txn = self._transaction()
        drop = segment_drop(meta, DropReason.CORRUPT_SEGMENT)
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            tables.quarantine_segment(self._conn, meta, blob, error, now, self._limits.quarantine_max_bytes)
            state = txn.state(meta.service)
            state.remove(meta)
            state.oldest_received = tables.oldest_received(self._conn, meta.service) if state.segments else None
            write_drops(self._conn, [drop], now)
            tables.save_states(self._conn, {meta.service: state})
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            if _storage_failure(exc, None, 0) is None:
                raise
            log.warning("could not quarantine segment %d now (%s); skipping it", meta.id, exc)
            return
        with self._lock:
            self._states = txn.states
            self._count_drops([drop])
            self._quarantined += 1

    # ---------------------------------------------------------------------------- query side

    def _unsealed(self, service: str | None) -> dict[str, list[OpenSegment]]:
        """Snapshot of records not yet on disk, per service in seq order."""
        found: dict[str, list[OpenSegment]] = {}
        with self._lock:
            for segment in [*self._in_flight, *self._ready, *self._open.values()]:
                if service is None or segment.service == service:
                    copy = OpenSegment(
                        segment.service,
                        segment.first_seq,
                        segment.first_received,
                        segment.last_received,
                        segment.source,
                        list(segment.chunks),
                        segment.record_count,
                        segment.raw_bytes,
                    )
                    found.setdefault(segment.service, []).append(copy)
        for segments in found.values():
            segments.sort(key=lambda segment: segment.first_seq)
        return found

    def tail(
        self,
        service: str | None = None,
        limit: int = 100,
        match: Callable[[bytes], bool] | None = None,
        scan_limit: int = 1_000_000,
    ) -> list[bytes]:
        """The newest `limit` records, oldest first, including unsealed ones. Across services
        they are ordered by their received_at. With `match`, the newest `limit` records it
        accepts, looking back over at most `scan_limit` records per service."""
        if limit <= 0:
            return []
        with self._db_lock:
            self._check_open()
            unsealed = self._unsealed(service)
            services = [service] if service is not None else sorted({*self._states, *unsealed})
            picked: list[tuple[float, bytes]] = []
            for name in services:
                picked.extend(self._tail_service(name, limit, unsealed.get(name, []), match, scan_limit))
        if service is None and len(services) > 1:
            picked.sort(key=lambda item: received_at(item[1]) or item[0])
        return [record for _, record in picked[-limit:]]

    def _tail_service(
        self,
        service: str,
        limit: int,
        unsealed: list[OpenSegment],
        match: Callable[[bytes], bool] | None = None,
        scan_limit: int = 1_000_000,
    ) -> list[tuple[float, bytes]]:
        chunks: list[list[tuple[float, bytes]]] = []  # newest first
        count = scanned = 0

        def accepted(lines: list[bytes]) -> list[bytes]:
            nonlocal scanned
            scanned += len(lines)
            return lines if match is None else [line for line in lines if match(line)]

        for segment in reversed(unsealed):
            records = accepted(segment.records())[-(limit - count) :]
            chunks.append([(segment.last_received, record) for record in records])
            count += len(records)
            if count >= limit or scanned >= scan_limit:
                return [item for chunk in reversed(chunks) for item in chunk]
        before_seq = unsealed[0].first_seq if unsealed else 1 << 62
        while count < limit and scanned < scan_limit:
            metas = tables.newest_segments(self._conn, service, before_seq, _READ_BATCH_ROWS)
            if not metas:
                break
            for meta in metas:
                before_seq = meta.last_seq
                lines = self._lines(meta)
                if lines is None:
                    continue
                records = accepted(lines)[-(limit - count) :]
                chunks.append([(meta.last_received, record) for record in records])
                count += len(records)
                if count >= limit or scanned >= scan_limit:
                    break
        return [item for chunk in reversed(chunks) for item in chunk]

    def export(
        self,
        service: str,
        since: float | datetime | None = None,
        until: float | datetime | None = None,
    ) -> Iterator[bytes]:
        """Records of `service` with since <= received_at < until, in receive order, sealed
        then unsealed. The set is fixed when called; segments evicted meanwhile are skipped."""
        low = _TIME_MIN if since is None else as_epoch(since)
        high = _TIME_MAX if until is None else as_epoch(until)
        with self._db_lock:
            self._check_open()
            metas = tables.segments_in_range(self._conn, service, low - _EXPORT_SLACK_S, high + _EXPORT_SLACK_S)
            unsealed = self._unsealed(service).get(service, [])
        return self._export_records(metas, unsealed, low, high)

    def _export_records(
        self, metas: list[SegmentMeta], unsealed: list[OpenSegment], low: float, high: float
    ) -> Iterator[bytes]:
        for meta in metas:
            with self._db_lock:
                if self._closed:
                    return
                lines = self._lines(meta)
            for record in lines or ():
                moment = received_at(record)
                if low <= (meta.last_received if moment is None else moment) < high:
                    yield record
        for segment in unsealed:
            for record in segment.records():
                moment = received_at(record)
                if low <= (segment.last_received if moment is None else moment) < high:
                    yield record

    def purge(self, service: str, now: float) -> PurgeResult:
        """Remove all of a service's data, sealed and unsealed; ledger reason "purged". A person
        asked for it, so a database that cannot be written (disk full) raises sqlite3.Error and
        nothing is purged."""
        with self._seal_lock, self._db_lock, self._lock:
            self._check_open()
            unsealed = [s for s in [*self._ready, *self._open.values()] if s.service == service]
            state = self._states.get(service, ServiceState()).copy()
            rows = tables.oldest_segments(self._conn, service, 1 << 62)
            drops = coalesce(
                [segment_drop(meta, DropReason.PURGED) for meta in rows]
                + [segment_drop(segment, DropReason.PURGED) for segment in unsealed]
            )
            purged_state = ServiceState(last_seq=max(state.last_seq, self._next_seq.get(service, 1) - 1))
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                tables.delete_segments(self._conn, [meta.id for meta in rows])
                used = {meta.dict_id for meta in rows if meta.dict_id is not None}
                dictionaries.delete_unused(self._conn, used, self._dictionaries.current_ids())
                write_drops(self._conn, drops, now)
                tables.save_states(self._conn, {service: purged_state})
                self._conn.execute("COMMIT")
            except sqlite3.Error:
                self._rollback()
                raise
            self._ready = [s for s in self._ready if s.service != service]
            self._open.pop(service, None)
            self._unsealed_bytes -= sum(segment.raw_bytes for segment in unsealed)
            self._states = {**self._states, service: purged_state}
            self._count_drops(drops)
            for meta in rows:
                self._decoded.pop(meta.id, None)
        return PurgeResult(service, sum(d.records for d in drops), sum(d.bytes for d in drops))

    def ledger(self, since_id: int | None = None, limit: int = 1000, service: str | None = None) -> list[LedgerEntry]:
        """Committed ledger rows with id > since_id, oldest first."""
        with self._db_lock:
            self._check_open()
            return read_ledger(self._conn, since_id, limit, service)

    # ---------------------------------------------------------------------------------- stats

    def stats(self, now: float) -> BufferStats:
        """Per-service and total usage, drops by reason (including accounting not yet
        written), ingest rates and the capacity forecast."""
        with self._db_lock:
            self._check_open()
            budget, fs_free = self._measure_budget()
        with self._lock:
            unsealed: dict[str, tuple[int, int]] = {}
            for segment in [*self._in_flight, *self._ready, *self._open.values()]:
                records, size = unsealed.get(segment.service, (0, 0))
                unsealed[segment.service] = (records + segment.record_count, size + segment.raw_bytes)
            snapshot = StoreSnapshot(
                now=now,
                limits=self._limits,
                states=dict(self._states),
                drop_totals=dict(self._drop_totals),
                pending_drops=self._pending.peek(),
                unsealed=unsealed,
                rates=self._rates.rates(now),
                budget=budget,
                fs_free_bytes=fs_free,
                storage_failing=self._storage_failing,
                quarantined_segments=self._quarantined,
            )
        return build_stats(snapshot)

    def _seed_rates(self, now: float) -> None:
        """Start the rate window from recent segment metadata, so the forecast is meaningful
        right after a restart (bounded: at most a few thousand rows, no blobs)."""
        window_start = now - self._limits.rate_window_s
        oldest = [s.oldest_received for s in self._states.values() if s.oldest_received is not None]
        if not oldest:
            return
        self._rates.seed_origin(max(window_start, min(oldest)))
        for service in self._states:
            for meta in reversed(tables.newest_segments(self._conn, service, 1 << 62, 2000)):
                if window_start <= meta.last_received <= now:
                    self._rates.add(service, meta.last_received, meta.record_count, meta.raw_bytes, meta.stored_bytes)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the buffer is closed")
