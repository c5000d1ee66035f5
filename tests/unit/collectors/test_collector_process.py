"""The engine's side of a collector, frame by frame, without a process: records reach the
buffer and the live sample, counters are decoded and published, drops reach the ledger, READY
marks the component ready, LOG lines reach the engine's log, and a bad frame stops it clearly."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import msgspec
import pytest

from collectors.common.channel import RECEIVED_BYTES, FrameKind
from collectors.common.frames import (
    BoundListener,
    Counters,
    Drop,
    ListenerCounters,
    LogLine,
    Ready,
    SourceCounters,
    encode_payload,
)
from collectors.common.inflight import MAIN_SLOT, InflightBlock
from collectors.syslog.settings import SyslogSettings
from nocraven.api.wire import to_plain
from nocraven.buffer.access import BufferAccess
from nocraven.config import Config
from nocraven.engine.bus import EventBus
from nocraven.engine.component import EngineContext
from nocraven.ingest.collector import SAMPLE_INTERVAL_S, SAMPLE_RECORDS, CollectorExited, spread_lines
from nocraven.ingest.syslog import SyslogComponent
from nocraven.schema.events import CountersUpdated, Event, Published, RecordsSampled

NOW = 1_780_000_000.0


class FakeBuffer(BufferAccess):
    """The buffer as collectors reach it, recording instead of storing; `is_open=False` is a
    buffer that has not opened (or has closed) its store."""

    def __init__(self, is_open: bool = True) -> None:
        super().__init__()
        self.is_open = is_open
        self.chunks: list[tuple[str, bytes, float]] = []
        self.received: list[int] = []  # each chunk's received bytes
        self.drops: list[tuple[str, str, int, int, float, str | None]] = []

    def append_ndjson(self, service: str, chunk: bytes, now: float, received_bytes: int = 0) -> int | None:
        if not self.is_open:
            return None
        self.chunks.append((service, chunk, now))
        self.received.append(received_bytes)
        return chunk.count(b"\n") + 1

    def record_drop(self, service: str, reason: str, records: int, size: int, now: float, source: str | None) -> bool:
        if not self.is_open:
            return False
        self.drops.append((service, reason, records, size, now, source))
        return True


class RecordingBus(EventBus):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[Event] = []

    def publish(self, event: Event) -> Published:
        self.events.append(event)
        return super().publish(event)


@dataclass
class Harness:
    collector: SyslogComponent
    bus: RecordingBus
    buffer: FakeBuffer
    ready_calls: int = 0

    def frame(self, kind: FrameKind, payload: bytes, now: float = NOW) -> None:
        self.collector._on_frame(kind, payload, self.ready, now)

    def ready(self) -> None:
        self.ready_calls += 1

    def published(self, kind: type[Event]) -> list[Event]:
        return [event for event in self.bus.events if isinstance(event, kind)]


def make_harness(with_buffer: bool = True, config: Config | None = None) -> Harness:
    bus, buffer = RecordingBus(), FakeBuffer(is_open=with_buffer)
    ctx = EngineContext(config=config or Config(), bus=bus, buffer=buffer)
    return Harness(SyslogComponent(ctx), bus, buffer)


def ndjson(*messages: str) -> bytes:
    return b"\n".join(msgspec.json.encode({"message": m}) for m in messages)


def counters(udp_messages: int, tcp_messages: int = 0) -> bytes:
    return encode_payload(
        Counters(
            listeners={
                "udp": ListenerCounters(messages=udp_messages, bytes=udp_messages * 100, rejected=3, kernel_drops=2),
                "tcp": ListenerCounters(messages=tcp_messages, framing_errors=1, connections=4, active_connections=2),
            },
            sources={
                "192.0.2.1": SourceCounters(messages=udp_messages, formats={"rfc3164": udp_messages}),
                "192.0.2.2": SourceCounters(messages=tcp_messages, rejected=3),
            },
        )
    )


# ---- RECORDS ---------------------------------------------------------------------------------


def test_records_are_stored_whole_and_sampled_for_live_views() -> None:
    h = make_harness()
    chunk = ndjson("one", "two", "three")
    h.frame(FrameKind.RECORDS, chunk)
    assert h.buffer.chunks == [("syslog", chunk, NOW)]
    assert h.collector.records_stored == 3
    [sample] = h.published(RecordsSampled)
    assert isinstance(sample, RecordsSampled)
    assert sample.service == "syslog"
    assert [r["message"] for r in sample.decoded()] == ["one", "two", "three"]
    assert sample.total == 3


def test_samples_are_rate_limited_and_stand_for_every_record_since_the_last() -> None:
    h = make_harness()
    h.frame(FrameKind.RECORDS, ndjson("a"), NOW)
    h.frame(FrameKind.RECORDS, ndjson("b", "c"), NOW + SAMPLE_INTERVAL_S / 2)  # stored, not sampled
    h.frame(FrameKind.RECORDS, ndjson("d"), NOW + SAMPLE_INTERVAL_S)
    samples = h.published(RecordsSampled)
    assert [[r["message"] for r in s.decoded()] for s in samples if isinstance(s, RecordsSampled)] == [["a"], ["d"]]
    assert [s.total for s in samples if isinstance(s, RecordsSampled)] == [1, 3]
    assert h.collector.records_stored == 4


def test_a_large_chunk_is_sampled_across_its_length_not_from_its_head() -> None:
    h = make_harness()
    h.frame(FrameKind.RECORDS, ndjson(*(f"m{i}" for i in range(1000))))
    [sample] = h.published(RecordsSampled)
    assert isinstance(sample, RecordsSampled)
    assert len(sample.records) == SAMPLE_RECORDS
    assert sample.decoded()[-1]["message"] == "m960"
    assert sample.total == 1000


def test_records_without_a_running_buffer_are_counted_as_lost() -> None:
    h = make_harness(with_buffer=False)
    h.frame(FrameKind.RECORDS, ndjson("one", "two"))
    assert h.collector.records_stored == 0
    assert h.collector.summary().lost_without_buffer == 2


def test_a_received_frame_gives_its_wire_bytes_to_the_next_records_frame_only() -> None:
    h = make_harness()
    h.frame(FrameKind.RECEIVED, RECEIVED_BYTES.pack(1234))
    h.frame(FrameKind.RECORDS, ndjson("one", "two"))
    h.frame(FrameKind.RECORDS, ndjson("three"))  # a collector that does not say: 0
    h.frame(FrameKind.RECEIVED, RECEIVED_BYTES.pack(2**40))
    h.frame(FrameKind.RECORDS, ndjson("four"))
    assert h.buffer.received == [1234, 0, 2**40]
    assert h.collector.records_stored == 4


def test_a_received_frame_of_the_wrong_size_stops_the_collector_clearly() -> None:
    h = make_harness()
    with pytest.raises(CollectorExited, match="RECEIVED frame of 4 bytes"):
        h.frame(FrameKind.RECEIVED, b"\x00\x00\x04\xd2")


# ---- COUNTERS --------------------------------------------------------------------------------


def test_counters_are_summed_over_listeners_and_published_with_the_rate() -> None:
    h = make_harness()
    h.frame(FrameKind.RECORDS, ndjson("x"))
    h.frame(FrameKind.COUNTERS, counters(100, 20), NOW)
    h.frame(FrameKind.COUNTERS, counters(300, 20), NOW + 2)
    summary = h.collector.summary()
    assert (summary.messages, summary.bytes, summary.rejected) == (320, 30_000, 3)
    assert (summary.kernel_drops, summary.framing_errors, summary.sources) == (2, 1, 2)
    assert summary.rate_mps == 100.0  # 200 more messages in 2 s
    assert summary.records_stored == 1
    published = h.published(CountersUpdated)
    assert len(published) == 2
    last = published[-1]
    assert isinstance(last, CountersUpdated)
    assert last.component == "syslog"
    # What the console and the CLI read: plain JSON, named by the summary's fields.
    assert msgspec.json.decode(last.counters) == {
        "messages": 320,
        "bytes": 30_000,
        "rejected": 3,
        "kernel_drops": 2,
        "framing_errors": 1,
        "rate_mps": 100.0,
        "sources": 2,
        "records_stored": 1,
        "lost_without_buffer": 0,
        "lost_in_crashes": 0,
    }


def test_status_shows_each_bound_listener_with_its_counters_and_the_busiest_sources() -> None:
    h = make_harness()
    listeners = [
        BoundListener(listener="udp", proto="udp", address="0.0.0.0:5514"),
        BoundListener(listener="tcp", proto="tcp", address="0.0.0.0:5514"),
        BoundListener(listener="tls", proto="tcp", address="0.0.0.0:6514"),
    ]
    h.frame(FrameKind.READY, encode_payload(Ready(listeners=listeners)))
    h.frame(FrameKind.COUNTERS, counters(7, 1))
    status = to_plain(h.collector.status())
    udp, tcp, tls = status["listeners"]
    assert udp == {
        "listener": "udp",
        "proto": "udp",
        "address": "0.0.0.0:5514",
        "counters": {
            "messages": 7,
            "bytes": 700,
            "rejected": 3,
            "framing_errors": 0,
            "connections": 0,
            "connections_evicted": 0,
            "connections_idle_closed": 0,
            "handshake_failures": 0,
            "kernel_drops": 2,
        },
    }
    assert tcp["counters"]["active_connections"] == 2
    assert tls["counters"]["messages"] == 0  # bound, nothing reported for it yet
    assert list(status["sources"]) == ["192.0.2.1", "192.0.2.2"]  # busiest first
    assert status["sources"]["192.0.2.1"]["formats"] == {"rfc3164": 7}
    assert status["totals"]["messages"] == 8
    assert h.collector.counters.sources["192.0.2.2"].rejected == 3


# ---- DROPS, READY, LOG -----------------------------------------------------------------------


def test_drops_reach_the_ledger_with_their_reason_counts_and_source() -> None:
    h = make_harness()
    drops = [
        Drop(
            source="192.0.2.9",
            reason="rejected_input",
            detail="sender_not_allowed",
            records=4,
            bytes=400,
            first=NOW - 1,
            last=NOW,
        ),
        Drop(source=None, reason="kernel_drop", detail="kernel_drop", records=9, bytes=0, first=NOW - 2, last=NOW - 1),
    ]
    h.frame(FrameKind.DROPS, encode_payload(drops))
    assert h.buffer.drops == [
        ("syslog", "rejected_input", 4, 400, NOW, "192.0.2.9"),
        ("syslog", "kernel_drop", 9, 0, NOW - 1, None),
    ]


def test_ready_records_the_listeners_as_bound_and_marks_the_component_ready() -> None:
    h = make_harness()
    bound = [BoundListener(listener="udp", proto="udp", address="127.0.0.1:40001")]
    h.frame(FrameKind.READY, encode_payload(Ready(listeners=bound)))
    assert h.ready_calls == 1
    assert h.collector.bound == bound
    assert [(lst.service, lst.listener, lst.address) for lst in h.collector.listeners()] == [
        ("syslog", "udp", "127.0.0.1:40001")
    ]


def test_a_log_line_reaches_the_engine_log_at_its_level_and_is_kept_for_the_status(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = make_harness()
    with caplog.at_level(logging.INFO, logger="nocraven.syslog"):
        h.frame(FrameKind.LOG, encode_payload(LogLine(level="error", message="syslog.udp: cannot listen")))
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [(logging.ERROR, "syslog.udp: cannot listen")]
    assert h.collector.last_message == "syslog.udp: cannot listen"


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        (FrameKind.COUNTERS, b'{"listeners":{"udp":{"messages":-1.5}}}'),
        (FrameKind.DROPS, b'{"source":"x"}'),
        (FrameKind.READY, b"{}"),
        (FrameKind.LOG, b'{"level":"loud","message":"x"}'),
    ],
)
def test_a_frame_the_engine_cannot_read_stops_the_collector_with_a_clear_reason(
    kind: FrameKind, payload: bytes
) -> None:
    h = make_harness()
    with pytest.raises(
        CollectorExited, match=f"syslog collector sent a frame the engine cannot read \\({kind.name} frame"
    ):
        h.frame(kind, payload)
    assert h.ready_calls == 0


# ---- settings --------------------------------------------------------------------------------


def test_the_collector_is_handed_its_settings_as_the_config_holds_them() -> None:
    settings = SyslogSettings(udp="127.0.0.1:0", max_connections=7, allow=["10.0.0.0/8"])
    h = make_harness(config=Config(syslog=settings))
    wire = msgspec.json.encode(h.collector.child_settings())
    assert msgspec.json.decode(wire, type=SyslogSettings) == settings


# ---- a crash, from the counter block ---------------------------------------------------------

GONE_PID = 4_194_000  # no such process: the engine does not wait for it


def crash(h: Harness, block: InflightBlock, code: int = -9) -> None:
    asyncio.run(h.collector._account_inflight(block, 4242, code))


def test_what_the_collector_accepted_but_never_handed_over_is_ledgered_as_lost_in_its_crash() -> None:
    h = make_harness()
    block = InflightBlock.create(slots=4)
    try:
        block.writer(MAIN_SLOT, pid=GONE_PID).connections(2)
        block.writer(block.claim(1)[0], pid=GONE_PID).add(5, 500)
        h.frame(FrameKind.RECEIVED, RECEIVED_BYTES.pack(200))
        h.frame(FrameKind.RECORDS, ndjson("one", "two"))
        crash(h, block)
    finally:
        block.close()
    origin = "syslog collector pid 4242, signal SIGKILL"
    assert [(*d[1:4], d[5]) for d in h.buffer.drops] == [
        ("collector_crash", 3, 300, origin),
        ("connection_reset", 2, 0, origin),
    ]
    summary = h.collector.summary()
    assert (summary.messages, summary.records_stored, summary.lost_in_crashes) == (5, 2, 3)


def test_records_that_found_no_buffer_were_handed_over_not_lost_in_the_crash() -> None:
    h = make_harness(with_buffer=False)
    block = InflightBlock.create(slots=4)
    try:
        block.writer(MAIN_SLOT, pid=GONE_PID)
        block.writer(block.claim(1)[0], pid=GONE_PID).add(2, 20)
        h.frame(FrameKind.RECEIVED, RECEIVED_BYTES.pack(20))
        h.frame(FrameKind.RECORDS, ndjson("one", "two"))
        crash(h, block)
    finally:
        block.close()
    assert h.collector.lost_in_crashes == 0
    assert h.collector.summary().lost_without_buffer == 2


def test_a_clean_stop_ledgers_nothing_and_received_carries_over_to_the_next_run() -> None:
    h = make_harness()
    block = InflightBlock.create(slots=4)
    try:
        block.writer(MAIN_SLOT, pid=GONE_PID).connections(0)
        block.writer(block.claim(1)[0], pid=GONE_PID).add(1, 10)
        h.frame(FrameKind.COUNTERS, counters(udp_messages=1))
        h.frame(FrameKind.RECORDS, ndjson("one"))
        crash(h, block, code=0)
    finally:
        block.close()
    assert h.buffer.drops == []
    h.frame(FrameKind.COUNTERS, counters(udp_messages=4))  # the next run counts from zero
    assert h.collector.summary().messages == 5


def test_a_collector_that_does_not_count_in_the_block_is_not_ledgered() -> None:
    h = make_harness()
    block = InflightBlock.create(slots=4)
    try:
        h.frame(FrameKind.COUNTERS, counters(udp_messages=7))
        crash(h, block)
    finally:
        block.close()
    assert h.buffer.drops == []
    assert h.collector.summary().messages == 7


def test_the_live_sample_spreads_over_a_chunk_and_skips_empty_lines() -> None:
    lines = [f'{{"n":{i}}}'.encode() for i in range(10_000)]
    sample = spread_lines(b"\n".join(lines), SAMPLE_RECORDS)
    assert len(sample) == SAMPLE_RECORDS
    assert sample[0] == lines[0] and int(sample[-1][5:-1]) > 9000  # from the start to near the end
    assert all(line in lines for line in sample) and sample == sorted(sample, key=lines.index)
    assert spread_lines(b"\n\na\n\nb\n", 25) == [b"a", b"b"]
    assert spread_lines(b"", 25) == []
