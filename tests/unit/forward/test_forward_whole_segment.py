"""A batch that is a whole sealed segment goes out from the segment's stored text (no split and
join): the NOC must get the same batches, ids and records as from the record-by-record path."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest

from nocraven.buffer.ledger import DropReason
from nocraven.buffer.limits import BufferLimits
from nocraven.buffer.store import SegmentStore
from nocraven.forward.batching import Batch, Encoder, NdjsonRecords, decode_payload, make_batch, plan, split_by_bytes
from nocraven.forward.forwarder import Forwarder
from nocraven.forward.health import Backoff
from nocraven.forward.settings import ForwardSettings, SinkSettings
from nocraven.forward.sinks import Delivered, Outcome
from tests.support.forwarding import make_record, wait_until
from tests.unit.buffer.buffer_helpers import flip_blob_byte

SERVICES = ("syslog", "flow")
KIB = 1024


class EncodingSink:
    """An in-memory NOC that keeps each batch's payload as the sink would have sent it."""

    def __init__(self, compression: str) -> None:
        self.name = "mem"
        self.encoder = Encoder(compression)
        self.received: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.batches: list[Batch] = []

    async def connect(self) -> None:
        pass

    async def deliver(self, batch: Batch) -> Outcome:
        await asyncio.sleep(0)
        self.batches.append(batch)
        self.received[batch.message_id] = (self.encoder.payload(batch), self.encoder.headers(batch))
        return Delivered()

    async def close(self) -> None:
        pass


def fill_varied(store: SegmentStore, service: str, count: int, rng: random.Random) -> list[bytes]:
    """Records of random sizes (a few big ones), appended in uneven bursts and sealed."""
    now = time.time()
    written: list[bytes] = []
    while len(written) < count:
        burst = [
            make_record(service, len(written) + i, now, pad="x" * rng.choice((10, 200, 900, 20_000)))
            for i in range(min(rng.randint(1, 400), count - len(written)))
        ]
        store.append(service, burst, now)
        written.extend(burst)
        if rng.random() < 0.5:
            store.seal_all(now)
    store.seal_all(now)
    return written


def record_by_record(store: SegmentStore, settings: SinkSettings, service: str) -> list[Batch]:
    """The batches the record-by-record path cuts (read, split by bytes)."""
    sealed = store.sealed_seq(service)
    planned = plan(0, store.segments_after(service, 0, 1 << 20), sealed, settings.batch_records, True)
    batches = []
    for seqs in planned.batches:
        read = store.read("reference", service, seqs.records, seqs.first - 1)
        for first, records in split_by_bytes(read.records, seqs.first, settings.max_batch_bytes):
            batches.append(make_batch("arena-01", service, first, records))
    return batches


async def run_until_delivered(store: SegmentStore, sink: EncodingSink, settings: SinkSettings) -> Forwarder:
    forwarder = Forwarder(
        store,
        ForwardSettings(site="arena-01", sinks=[settings]),
        SERVICES,
        sink_factory=lambda _s, _site: sink,
        backoff=Backoff(0.01, 0.05),
    )
    forwarder.start()
    try:
        await wait_until(lambda: all(store.cursor("mem", s) >= store.sealed_seq(s) for s in SERVICES), 20, "the drain")
    finally:
        await forwarder.stop()
    return forwarder


@pytest.mark.parametrize("compression", ["zstd", "gzip", "none"])
async def test_whole_segment_batches_match_the_record_by_record_path(tmp_path: Path, compression: str) -> None:
    # 64 KiB seals with 8 KiB+ records: segments of every shape; a small grid and byte cap make
    # some ranges go the record-by-record way (grid cut, or too big for one batch).
    store = SegmentStore.open(tmp_path / "buffer", BufferLimits(seal_bytes=64 * KIB), time.time())
    rng = random.Random(7)
    written = {service: fill_varied(store, service, 3000, rng) for service in SERVICES}
    settings = SinkSettings(name="mem", urls=["nats://x:1"], batch_records=700, max_batch_bytes=48 * KIB)
    expected = {service: record_by_record(store, settings, service) for service in SERVICES}
    sink = EncodingSink(compression)
    await run_until_delivered(store, sink, settings)

    whole = [batch for batch in sink.batches if isinstance(batch.records, NdjsonRecords)]
    assert whole and len(whole) < len(sink.batches)  # both paths were taken
    for service in SERVICES:
        reference = expected[service]
        assert sorted(b.message_id for b in sink.batches if b.service == service) == sorted(
            b.message_id for b in reference
        )
        arrived: list[bytes] = []
        for batch in sorted((b for b in reference), key=lambda b: b.first_seq):
            payload, headers = sink.received[batch.message_id]
            records = decode_payload(payload, headers.get("Content-Encoding"))
            assert records == list(batch.records)
            assert headers == Encoder(compression).headers(batch)
            arrived.extend(records)
        assert arrived == written[service]
    delivered = {b.message_id: b for b in sink.batches}
    for batch in whole:
        reference_batch = next(b for b in expected[batch.service] if b.message_id == batch.message_id)
        assert batch.raw_bytes == reference_batch.raw_bytes  # what the drain cap and rate count
        assert list(delivered[batch.message_id].records) == list(reference_batch.records)
    store.close()


async def test_a_corrupt_whole_segment_is_quarantined_and_the_rest_goes_out(tmp_path: Path) -> None:
    store = SegmentStore.open(tmp_path / "buffer", BufferLimits(seal_bytes=16 * KIB), time.time())
    now = time.time()
    written = [make_record("syslog", n, now, pad="y" * 100) for n in range(1000)]
    for start in range(0, 1000, 100):
        store.append("syslog", written[start : start + 100], now)
        store.seal_all(now)
    [first] = store.segments_after("syslog", 0, 1)
    assert first.first_seq == 1
    flip_blob_byte(store.path, first.id)
    sink = EncodingSink("zstd")
    forwarder = Forwarder(
        store,
        ForwardSettings(site="arena-01", sinks=[SinkSettings(name="mem", urls=["nats://x:1"])]),
        ("syslog",),
        sink_factory=lambda _s, _site: sink,
        backoff=Backoff(0.01, 0.05),
    )
    forwarder.start()
    try:
        await wait_until(lambda: store.cursor("mem", "syslog") >= 1000, 20, "the drain")
    finally:
        await forwarder.stop()
    arrived = [
        record
        for batch in sorted((b for b in sink.batches if b.service == "syslog"), key=lambda b: b.first_seq)
        for record in decode_payload(sink.received[batch.message_id][0], "zstd")
    ]
    assert arrived == written[first.last_seq :]
    [gap] = [b for b in sink.batches if b.service == "gap"]  # the NOC hears of the loss
    assert b'"reason":"corrupt_segment"' in gap.records[0]
    assert store.segment_ndjson(first) is None  # gone from the store
    [entry] = [e for e in store.ledger() if e.drop.reason == DropReason.CORRUPT_SEGMENT]
    assert (entry.drop.first_seq, entry.drop.last_seq) == (1, first.last_seq)
    assert store.stats(now).quarantined_segments == 1
    store.close()


def test_ndjson_records_read_like_a_list() -> None:
    records = [b'{"n":1}', b'{"n":2}', b'{"n":3}']
    lazy = NdjsonRecords(b"\n".join(records) + b"\n", 3)
    assert len(lazy) == 3 and lazy[1] == records[1] and lazy[1:] == records[1:]
    assert list(lazy) == records and lazy == records and lazy == NdjsonRecords(lazy.data, 3)


async def test_stored_blobs_go_out_as_stored_and_decode_with_their_dictionary(tmp_path: Path) -> None:
    # Enough of each service (~1.5 MiB) for the buffer to train its dictionary: the first
    # segments are plain zstd, the later ones need the dictionary.
    store = SegmentStore.open(tmp_path / "buffer", BufferLimits(seal_bytes=64 * KIB), time.time())
    rng = random.Random(11)
    now = time.time()
    written: dict[str, list[bytes]] = {service: [] for service in SERVICES}
    for _ in range(40):
        for service in SERVICES:
            burst = [
                make_record(service, len(written[service]) + i, now, host=f"sw-{rng.randint(1, 40)}", pad="z" * 500)
                for i in range(100)
            ]
            store.append(service, burst, now)
            written[service].extend(burst)
        store.seal_all(now)
    settings = SinkSettings(name="mem", urls=["nats://x:1"], compression="zstd-dict", batch_records=900)
    expected = {service: record_by_record(store, settings, service) for service in SERVICES}
    sink = EncodingSink("zstd-dict")
    await run_until_delivered(store, sink, settings)

    with_dictionary = [b for b in sink.batches if b.dictionary is not None]
    assert with_dictionary and len(with_dictionary) < len(sink.batches)
    assert {b.dictionary.service for b in with_dictionary if b.dictionary} == set(SERVICES)
    for batch in with_dictionary:
        payload, headers = sink.received[batch.message_id]
        assert batch.dictionary is not None and headers["Nocraven-Dictionary"] == batch.dictionary.key
        assert headers["Content-Encoding"] == "zstd"
        with pytest.raises(Exception):  # noqa: B017 - a NOC without the dictionary cannot read it
            decode_payload(payload, "zstd")
    for service in SERVICES:
        assert sorted(b.message_id for b in sink.batches if b.service == service) == sorted(
            b.message_id for b in expected[service]
        )
        arrived: list[bytes] = []
        for reference in expected[service]:
            delivered = next(b for b in sink.batches if b.message_id == reference.message_id)
            payload, headers = sink.received[reference.message_id]
            dictionary = delivered.dictionary.data if delivered.dictionary else None
            assert decode_payload(payload, headers.get("Content-Encoding"), dictionary) == list(reference.records)
            assert delivered.raw_bytes == reference.raw_bytes
            assert list(delivered.records) == list(reference.records)  # loaded on demand (quarantine)
            arrived.extend(reference.records)
        assert arrived == written[service]
    store.close()
