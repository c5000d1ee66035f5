"""What bounds the buffer's memory under load. The sealing backlog: a collector's pipe stops
being read while more than the pause level waits for the seal worker, and is read again once half
of it is sealed; a writer that obeys never has records refused, and what waits in memory stays
near the pause level instead of growing to max_unsealed_bytes. And sealed segments waiting for
their commit hold their compressed size, not the compressor's worst case. And a backlog is sealed
a bounded pass at a time, each service's segments in seq order, so readers never see a gap."""

from __future__ import annotations

import asyncio
import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from nocraven.buffer import BufferLimits, SegmentStore
from nocraven.buffer import store as store_module
from nocraven.buffer.access import BufferAccess
from nocraven.buffer.dictionaries import DictionaryBook
from nocraven.buffer.segment import FramedBatch, OpenSegment, encode
from nocraven.ingest.collector import ChannelReader
from tests.unit.buffer.buffer_helpers import T0, make_records

KIB = 1024
MIB = 1024 * KIB


@pytest.fixture
def access(tmp_path: Path) -> Iterator[BufferAccess]:
    # Sealed only when a test says so: the backlog is whatever was appended since.
    limits = BufferLimits(
        seal_bytes=64 * KIB, seal_interval_s=3600.0, max_unsealed_bytes=1 * MIB, min_free_disk_bytes=0
    )
    store = SegmentStore.open(tmp_path, limits, T0)
    buffer = BufferAccess()
    buffer.attach(store)
    yield buffer
    buffer.detach()
    store.close()


def chunk(start: int, count: int = 100) -> bytes:
    return b"\n".join(make_records("syslog", start, count, T0))  # ~20 KiB


def test_a_writer_that_pauses_when_full_is_never_refused_and_stays_below_the_hard_limit(
    access: BufferAccess,
) -> None:
    store = access.require_store()
    pause_level = store.limits.max_unsealed_bytes // 2  # below BACKLOG_PAUSE_BYTES: half the hard limit
    appended = highest = 0
    for _ in range(200):  # 4 MiB at most: four times the hard limit
        if access.backlog_full():
            break
        assert access.append_ndjson("syslog", chunk(appended), T0) == 100
        appended += 100
        highest = max(highest, store.unsealed_bytes)
    assert access.backlog_full()
    assert pause_level < highest <= pause_level + 32 * KIB  # one chunk past the level, no more
    stats = store.stats(T0).services["syslog"]
    assert stats.unsealed_records == appended
    assert stats.dropped == {}


def test_reading_may_resume_once_half_the_backlog_is_sealed(access: BufferAccess) -> None:
    store = access.require_store()
    appended = 0
    for _ in range(200):
        if access.backlog_full():
            break
        access.append_ndjson("syslog", chunk(appended), T0)
        appended += 100
    assert access.backlog_full() and not access.backlog_eased()  # just over the level: not yet eased
    store.seal_all(T0)
    assert access.backlog_eased() and not access.backlog_full()
    assert store.stats(T0).services["syslog"].records == appended


def test_without_a_buffer_nothing_is_held_back() -> None:
    access = BufferAccess()
    assert not access.backlog_full()
    assert access.backlog_eased()


class FakePipe(asyncio.ReadTransport):
    def __init__(self) -> None:
        super().__init__()
        self.reading = True
        self.pauses = 0

    def pause_reading(self) -> None:
        self.reading = False
        self.pauses += 1

    def resume_reading(self) -> None:
        self.reading = True

    def is_reading(self) -> bool:
        return self.reading

    def is_closing(self) -> bool:
        return False


class FakeBacklog:
    def __init__(self) -> None:
        self.waiting = 0
        self.pause_above = 100

    def backlog_full(self) -> bool:
        return self.waiting > self.pause_above

    def backlog_eased(self) -> bool:
        return self.waiting <= self.pause_above // 2


async def wait_for(condition: object, seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition() and asyncio.get_running_loop().time() < deadline:  # type: ignore[operator]
        await asyncio.sleep(0.001)


def test_the_collector_pipe_pauses_while_the_backlog_is_full_and_resumes_when_it_eased() -> None:
    async def scenario() -> None:
        backlog = FakeBacklog()
        handed: list[bytes] = []

        def on_data(data: bytes) -> None:
            handed.append(data)
            backlog.waiting += len(data)

        reader = ChannelReader(on_data, backlog)
        pipe = FakePipe()
        reader.connection_made(pipe)
        reader.data_received(b"x" * 60)
        assert pipe.reading  # under the level
        reader.data_received(b"x" * 60)
        assert not pipe.reading and pipe.pauses == 1  # every read is still handed over
        assert handed == [b"x" * 60, b"x" * 60]
        backlog.waiting = 80  # some sealed, not yet half
        await asyncio.sleep(0.05)
        assert not pipe.reading and pipe.pauses == 1
        backlog.waiting = 40
        await wait_for(lambda: pipe.reading)
        assert pipe.reading and reader.pauses == 1
        reader.connection_lost(None)
        await reader.done

    asyncio.run(scenario())


def test_a_pipe_that_ends_while_paused_ends_the_reader() -> None:
    async def scenario() -> None:
        backlog = FakeBacklog()
        backlog.waiting = 1000
        reader = ChannelReader(lambda data: None, backlog)
        pipe = FakePipe()
        reader.connection_made(pipe)
        reader.data_received(b"x")
        assert not pipe.reading
        reader.connection_lost(None)
        await asyncio.wait_for(reader.done, 5)
        assert not reader.paused

    asyncio.run(scenario())


def test_segments_waiting_for_their_commit_hold_their_compressed_size() -> None:
    segments = []
    for n in range(20):
        segment = OpenSegment("syslog", 1 + n * 1000, T0, T0, None)
        records = b"\n".join(make_records("syslog", n * 1000, 1000, T0, size=256))  # ~256 KiB
        segment.add(FramedBatch.of_ndjson(records, 1 * MIB), T0, None)
        segments.append(segment)
    _, compressor = DictionaryBook([], 1).compressor("syslog")
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        encoded = [encode(segment, compressor) for segment in segments]
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    blobs = sum(len(e.blob) for e in encoded)
    raw = sum(e.raw_bytes for e in encoded)
    assert blobs < raw // 2  # hex noise compresses about 2x, so the bound below means something
    assert held - before < blobs + 20 * 4 * KIB  # each blob and its objects, not 256 KiB a segment


def test_a_backlog_is_sealed_pass_by_pass_and_readers_see_it_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "_SEAL_PASS_BYTES", 256 * KIB)
    limits = BufferLimits(seal_bytes=64 * KIB, seal_interval_s=1.0, min_free_disk_bytes=0)
    later = T0 + 10  # every segment is old enough for the age rule
    with SegmentStore.open(tmp_path, limits, T0) as store:
        appended = 0
        while appended < 10_000:  # ~2 MiB: 25 full segments ...
            store.append_ndjson("syslog", chunk(appended), T0)
            appended += 100
        store.append_ndjson("syslog", chunk(appended, 50), T0)  # ... and an open one, as old
        appended += 50
        sealed = store.seal_due(later)
        assert 0 < sum(s.raw_bytes for s in sealed) < 512 * KIB  # one pass, not the whole backlog
        assert store.wait_for_full_segment(0)  # the seal worker goes on at once
        seen: list[int] = []
        for _ in range(100):
            while batch := store.read("noc", "syslog", max_records=1_000, after_seq=len(seen)).records:
                seen += [json.loads(record)["n"] for record in batch]
            assert store.read("noc", "syslog", after_seq=len(seen)).gap is None  # sealed is all there is
            if store.unsealed_bytes == 0:
                break
            store.seal_due(later)
        assert seen == list(range(appended))
