"""Stored small: per-service zstd dictionaries (segment format 2), old segments still read,
received/record/stored bytes in stats, and the benchmark's stored-per-received figure."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import sqlite_utils
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors.syslog.parse import parse_batch
from nocraven.buffer import BufferLimits, SegmentStore, dictionaries, schema
from nocraven.buffer.component import stats_to_wire
from nocraven.buffer.segment import FORMAT_DICTIONARY, FORMAT_PLAIN, OpenSegment, decode, encode, frame_records
from nocraven.simulate.venue_mix import venue_mix
from tests.unit.buffer.buffer_helpers import T0

KIB = 1024
REPO = Path(__file__).resolve().parents[3]


def venue_records(count: int, seed: int = 7, start: float = T0) -> tuple[list[bytes], list[bytes]]:
    """Records as the syslog collector hands them over, and their datagrams."""
    items = list(venue_mix(seed, count, start))
    encode_json = msgspec.json.Encoder().encode
    return [encode_json(r) for r in parse_batch(items)], [data for data, _, _ in items]


@pytest.fixture(scope="module")
def venue() -> tuple[list[bytes], list[bytes]]:
    return venue_records(1500)


@pytest.fixture(scope="module")
def trained(venue: tuple[list[bytes], list[bytes]]) -> zstandard.ZstdCompressionDict:
    data = zstandard.train_dictionary(dictionaries.DICT_BYTES, list(venue[0][:800]), level=3)
    return zstandard.ZstdCompressionDict(data.as_bytes(), dict_type=zstandard.DICT_TYPE_FULLDICT)


@pytest.fixture
def quick_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Train after 64 KiB of samples instead of 1 MiB, so a test sees format 2 within a few seals."""
    monkeypatch.setattr(dictionaries, "SAMPLE_BYTES", 64 * KIB)


def limits() -> BufferLimits:
    return BufferLimits(total_bytes=64 * 1024 * KIB, seal_bytes=16 * KIB, min_free_disk_bytes=0)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SegmentStore]:
    opened = SegmentStore.open(tmp_path / "data", limits(), T0)
    yield opened
    opened.close()


def append_all(store: SegmentStore, records: list[bytes], wire: list[bytes], now: float = T0) -> None:
    for start in range(0, len(records), 50):
        size = sum(map(len, wire[start : start + 50]))
        store.append("syslog", records[start : start + 50], now, received_bytes=size)
        store.seal_due(now)
    store.seal_all(now)


def read_all(store: SegmentStore, service: str = "syslog") -> list[bytes]:
    out: list[bytes] = []
    position = 0
    while (batch := store.read("check", service, 1000, after_seq=position)).records:
        out.extend(batch.records)
        position = batch.last_seq
    return out


def segment_rows(store: SegmentStore) -> list[tuple[int, int | None]]:
    with sqlite3.connect(store.path) as conn:
        return conn.execute("SELECT format, dict_id FROM segments ORDER BY id").fetchall()


# --- round trip -----------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
json_records = st.lists(st.dictionaries(st.text(max_size=10), json_values, min_size=1, max_size=6), max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=json_records)
def test_any_json_records_come_back_byte_for_byte_through_a_dictionary(
    records: list[dict[str, object]], trained: zstandard.ZstdCompressionDict
) -> None:
    # Records unlike what the dictionary was trained on still round-trip exactly.
    lines = [msgspec.json.encode(r) for r in records]
    if not lines:
        return
    segment = OpenSegment("syslog", 1, T0, T0, None)
    segment.add(frame_records(lines), T0, None)
    sealed = encode(segment, zstandard.ZstdCompressor(level=3, dict_data=trained), dict_id=7)
    assert (sealed.format, sealed.dict_id) == (FORMAT_DICTIONARY, 7)
    back = decode(
        sealed.blob,
        sealed.checksum,
        sealed.record_count,
        sealed.raw_bytes,
        zstandard.ZstdDecompressor(dict_data=trained),
    )
    assert back == lines


def test_venue_mix_reads_back_exactly_and_smaller_once_a_dictionary_is_trained(
    store: SegmentStore, venue: tuple[list[bytes], list[bytes]], quick_training: None
) -> None:
    records, wire = venue
    append_all(store, records, wire)
    rows = segment_rows(store)
    assert rows[0] == (FORMAT_PLAIN, None)  # nothing to train on yet
    assert rows[-1][0] == FORMAT_DICTIONARY and rows[-1][1] is not None
    assert read_all(store) == records
    assert store.tail("syslog", limit=len(records)) == records
    assert list(store.export("syslog")) == records

    # The same records in format 1 take more room than in format 2, segment for segment.
    plain, with_dict = [], []
    with sqlite3.connect(store.path) as conn:
        for segment_id, count in conn.execute(
            "SELECT id, record_count FROM segments WHERE dict_id IS NOT NULL ORDER BY id"
        ):
            first = conn.execute("SELECT first_seq FROM segments WHERE id = ?", (segment_id,)).fetchone()[0]
            data = b"\n".join(records[first - 1 : first - 1 + count]) + b"\n"
            plain.append(len(zstandard.ZstdCompressor(level=3).compress(data)))
            with_dict.append(
                len(conn.execute("SELECT blob FROM segment_blobs WHERE id = ?", (segment_id,)).fetchone()[0])
            )
    assert plain and sum(with_dict) < 0.95 * sum(plain)


def test_a_service_is_retrained_after_retrain_segments_seals_and_ten_minutes(
    venue: tuple[list[bytes], list[bytes]], quick_training: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Firmware changes, devices come and go: the dictionary follows the records. Not too often
    either: a flood seals RETRAIN_SEGMENTS segments in seconds, and training costs tens of ms."""
    monkeypatch.setattr(dictionaries, "RETRAIN_SEGMENTS", 6)
    book = dictionaries.DictionaryBook([], next_id=1)
    records = venue[0]
    trained: list[tuple[int, float]] = []

    def seal(number: int, now: float) -> None:
        segment = OpenSegment("syslog", 1 + 100 * number, now, now, None)
        segment.add(frame_records(records[(100 * number) % 1500 :][:100]), now, None)
        book.observe(segment, now)
        trained.extend((d.id, now) for d in book.train_due(now))

    for number in range(40):  # a flood: 40 segments in 4 seconds
        seal(number, T0 + number / 10)
    assert [d for d, _ in trained] == [1]  # the first training only
    for number in range(40, 70):  # then a segment every 30 s, for 15 minutes
        seal(number, T0 + 4 + 30 * (number - 39))
    first_after = trained[1][1] - trained[0][1]
    assert dictionaries.RETRAIN_MIN_S <= first_after < dictionaries.RETRAIN_MIN_S + 6 * 30
    assert [d for d, _ in trained] == [1, 2]
    assert book.compressor("syslog")[0] == 2
    # A clock set back by hours is not a reason to stop following the records.
    for number in range(70, 80):
        seal(number, T0 - 86400 + number)
    assert [d for d, _ in trained] == [1, 2, 3]


def test_dictionaries_survive_a_restart_and_leave_with_their_last_segment(
    tmp_path: Path, venue: tuple[list[bytes], list[bytes]], quick_training: None
) -> None:
    records, wire = venue
    first = SegmentStore.open(tmp_path / "data", limits(), T0)
    append_all(first, records, wire)
    used = {dict_id for _, dict_id in segment_rows(first) if dict_id is not None}
    first.close()

    again = SegmentStore.open(tmp_path / "data", limits(), T0 + 1)
    try:
        assert read_all(again) == records  # dictionaries come from the database
        again.append("syslog", records[:50], T0 + 1)
        again.seal_all(T0 + 1)
        # The reopened store keeps compressing with the newest dictionary, not a new one.
        assert segment_rows(again)[-1][1] == max(used)
        again.purge("syslog", T0 + 2)
        with sqlite3.connect(again.path) as conn:
            kept = [row[0] for row in conn.execute("SELECT id FROM dictionaries")]
        # No segment names the older ones any more; the current one stays for what comes next.
        assert kept == [max(used)]
        again.append("syslog", records[:200], T0 + 3)
        again.seal_all(T0 + 3)
        assert read_all(again)[-200:] == records[:200]
    finally:
        again.close()


def test_eviction_retires_dictionaries_no_segment_names(
    tmp_path: Path, venue: tuple[list[bytes], list[bytes]], quick_training: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dictionaries, "RETRAIN_SEGMENTS", 4)  # a new dictionary every few segments
    monkeypatch.setattr(dictionaries, "RETRAIN_MIN_S", 0.0)
    tight = BufferLimits(total_bytes=160 * KIB, seal_bytes=16 * KIB, min_free_disk_bytes=0, evict_batch_fraction=0.0)
    store = SegmentStore.open(tmp_path / "data", tight, T0)
    try:
        records, wire = venue
        append_all(store, records, wire)
        append_all(store, records, wire, now=T0 + 1)
        with sqlite3.connect(store.path) as conn:
            named = {row[0] for row in conn.execute("SELECT DISTINCT dict_id FROM segments WHERE dict_id IS NOT NULL")}
            kept = {row[0] for row in conn.execute("SELECT id FROM dictionaries")}
            newest = conn.execute("SELECT max(id) FROM dictionaries").fetchone()[0]
        assert store.stats(T0 + 1).services["syslog"].dropped_records > 0  # evicted to fit the budget
        assert newest > len(kept)  # several were trained and the early ones are gone
        assert kept == named | {newest}  # exactly those still named, and the current one
        held = read_all(store)
        assert held and held == (records + records)[-len(held) :]
    finally:
        store.close()


def test_a_missing_dictionary_quarantines_its_segments_instead_of_failing_reads(
    store: SegmentStore, venue: tuple[list[bytes], list[bytes]], quick_training: None
) -> None:
    records, wire = venue
    append_all(store, records, wire)
    with sqlite3.connect(store.path) as conn:
        conn.execute("DELETE FROM dictionaries")
    back = read_all(store)
    assert back and back == records[: len(back)]  # the plain segments before training still read
    stats = store.stats(T0)
    assert stats.quarantined_segments > 0
    assert stats.services["syslog"].dropped["corrupt_segment"].records == len(records) - len(back)


# --- old format -----------------------------------------------------------------------------


def write_v1_database(directory: Path, records: list[bytes]) -> None:
    """A buffer as the software before segment formats wrote it: schema v1, plain zstd."""
    directory.mkdir(parents=True)
    conn = schema.connect(directory / schema.DB_FILENAME)
    db = sqlite_utils.Database(conn)
    db.table("schema_version").create({"version": int, "applied_at": float}, pk="version")
    schema._v1(db)
    conn.execute("INSERT INTO schema_version VALUES (1, ?)", (T0,))
    data = b"\n".join(records) + b"\n"
    blob = zstandard.ZstdCompressor(level=3).compress(data)
    conn.execute(
        "INSERT INTO segments (service, first_seq, last_seq, record_count, raw_bytes, stored_bytes,"
        " first_received, last_received, checksum) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ("syslog", 1, len(records), len(records), len(data), len(blob), T0, T0, zlib.crc32(blob)),
    )
    conn.execute("INSERT INTO segment_blobs (id, blob) VALUES (1, ?)", (blob,))
    conn.execute(
        "INSERT INTO service_state VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        ("syslog", len(records), 1, len(records), len(data), len(blob), T0, T0),
    )
    conn.close()


def test_segments_written_before_formats_existed_still_read(
    tmp_path: Path, venue: tuple[list[bytes], list[bytes]], quick_training: None
) -> None:
    records, wire = venue
    old = records[:300]
    write_v1_database(tmp_path / "data", old)
    store = SegmentStore.open(tmp_path / "data", limits(), T0 + 1)
    try:
        assert segment_rows(store) == [(FORMAT_PLAIN, None)]
        assert read_all(store) == old
        assert list(store.export("syslog")) == old
        stats = store.stats(T0 + 1).services["syslog"]
        assert (stats.records, stats.received_bytes) == (300, 0)  # the old rows never knew
        append_all(store, records[300:], wire[300:], now=T0 + 1)
        assert read_all(store) == records
        assert {row[0] for row in segment_rows(store)} == {FORMAT_PLAIN, FORMAT_DICTIONARY}
    finally:
        store.close()
    with sqlite3.connect(tmp_path / "data" / schema.DB_FILENAME) as conn:
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] == schema.SCHEMA_VERSION


# --- stats ----------------------------------------------------------------------------------


def test_stats_report_received_record_and_stored_bytes(
    store: SegmentStore, venue: tuple[list[bytes], list[bytes]]
) -> None:
    records, wire = venue
    append_all(store, records[:600], wire[:600])
    store.append("flow", [b'{"service":"flow","n":1}'], T0)  # a collector that does not say
    store.seal_all(T0)
    stats = store.stats(T0 + 1)
    syslog = stats.services["syslog"]
    assert syslog.received_bytes == sum(map(len, wire[:600]))
    assert syslog.raw_bytes == sum(len(r) + 1 for r in records[:600])
    assert 0 < syslog.stored_bytes < syslog.received_bytes < syslog.raw_bytes
    assert stats.services["flow"].received_bytes == 0
    assert stats.received_bytes == syslog.received_bytes
    wire_stats = stats_to_wire(stats)
    assert wire_stats.services["syslog"].received_bytes == syslog.received_bytes
    assert wire_stats.total.received_bytes == syslog.received_bytes
    assert wire_stats.total.ingest_stored_bytes_per_s > 0  # what the forecast divides by
    # The retention forecast counts what is stored, not what arrived or the records' size.
    assert stats.forecast_days == pytest.approx(
        stats.effective_budget_bytes / stats.ingest_stored_bytes_per_s / 86_400, rel=1e-6
    )

    store.purge("syslog", T0 + 2)
    assert store.stats(T0 + 2).services["syslog"].received_bytes == 0


def test_received_bytes_follow_a_burst_cut_into_several_segments(store: SegmentStore) -> None:
    records = [json.dumps({"service": "syslog", "n": n, "pad": "x" * 300}).encode() for n in range(400)]
    store.append_ndjson("syslog", b"\n".join(records), T0, received_bytes=40_000)
    store.seal_all(T0)
    stats = store.stats(T0).services["syslog"]
    assert stats.segments > 1
    assert stats.received_bytes == 40_000  # shared out pro rata, nothing lost to rounding


# --- benchmark ------------------------------------------------------------------------------


@pytest.mark.slow
def test_bench_buffer_reports_stored_bytes_per_received_byte() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "bench/buffer.py", "--records", "2000", "--mix", "6000", "--pool", "3000"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    assert time.monotonic() - started < 180
    result = json.loads(done.stdout)
    before, after = result["storage"]["before_format1"], result["storage"]["after_format2"]
    packed = result["storage"]["cold_format3_packed"]
    for figures in (before, after, packed):
        assert figures["read_back_exact"] is True
        assert figures["records"] == 6000
        assert figures["stored_per_received"] == pytest.approx(
            figures["stored_bytes"] / figures["received_bytes"], abs=1e-4
        )
        assert figures["received_bytes"] < figures["record_bytes"]
    assert packed["stored_bytes"] < after["stored_bytes"] < before["stored_bytes"]
    assert packed["repack_cpu_us_per_record"] > 0
    candidates = result["storage"]["candidates"]
    assert {"zstd3_format1_main", "zstd3_dictionary_format2", "columnar_zstd3"} <= set(candidates)
    assert result["met"]["stored_fraction"] == (packed["stored_per_received"] <= 0.125)
