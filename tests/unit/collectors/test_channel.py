"""The channel between a collector and the engine: frames survive any chunking of the pipe,
a stream that is not a channel is refused, and every typed payload round-trips."""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Callable

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from collectors.common.channel import MAX_FRAME, RECEIVED_BYTES, ChannelError, FrameDecoder, FrameKind, encode_frame
from collectors.common.durable import TOKEN, Durability
from collectors.common.frames import (
    BoundListener,
    Counters,
    Drop,
    FrameError,
    ListenerCounters,
    LogLine,
    PayloadDecoder,
    Ready,
    SourceCounters,
    encode_payload,
)
from collectors.common.harness import Output
from collectors.common.workers import BATCH_HEAD, batch_payload

FRAMES = [
    (FrameKind.RECORDS, b'{"message":"one"}\n{"message":"two"}'),
    (FrameKind.COUNTERS, b'{"listeners":{},"sources":{}}'),
    (FrameKind.LOG, b""),  # an empty payload is still a frame
    (FrameKind.READY, b'{"listeners":[]}'),
]
STREAM = b"".join(encode_frame(kind, payload) for kind, payload in FRAMES)

frames = st.lists(st.tuples(st.sampled_from(list(FrameKind)), st.binary(max_size=300)), max_size=8)


def feed_in_chunks(data: bytes, cuts: list[int]) -> list[tuple[FrameKind, bytes]]:
    decoder = FrameDecoder()
    out: list[tuple[FrameKind, bytes]] = []
    start = 0
    for cut in [*sorted(cuts), len(data)]:
        out += decoder.feed(data[start:cut])
        start = cut
    return out


def test_several_frames_in_one_chunk_come_out_in_order() -> None:
    assert FrameDecoder().feed(STREAM) == FRAMES


@pytest.mark.parametrize("cut", range(len(STREAM) + 1))
def test_a_stream_split_at_any_byte_gives_the_same_frames(cut: int) -> None:
    assert feed_in_chunks(STREAM, [cut]) == FRAMES


def test_a_stream_fed_one_byte_at_a_time_gives_each_frame_once_complete() -> None:
    decoder = FrameDecoder()
    seen: list[tuple[FrameKind, bytes]] = []
    ends = []
    for offset in range(len(STREAM)):
        got = decoder.feed(STREAM[offset : offset + 1])
        if got:
            ends.append(offset + 1)
        seen += got
    assert seen == FRAMES
    boundaries, total = [], 0
    for _, payload in FRAMES:
        total += 5 + len(payload)
        boundaries.append(total)
    assert ends == boundaries  # each frame as soon as its last byte arrives, not later


@given(frames, st.lists(st.integers(min_value=0, max_value=3000), max_size=20))
def test_any_frames_cut_anywhere_round_trip(items: list[tuple[FrameKind, bytes]], cuts: list[int]) -> None:
    data = b"".join(encode_frame(kind, payload) for kind, payload in items)
    assert feed_in_chunks(data, [min(cut, len(data)) for cut in cuts]) == items


@given(st.binary(max_size=200), st.lists(st.integers(min_value=0, max_value=200), max_size=6))
def test_garbage_is_refused_as_a_channel_error_and_nothing_else(data: bytes, cuts: list[int]) -> None:
    try:
        out = feed_in_chunks(data, [min(cut, len(data)) for cut in cuts])
    except ChannelError:
        return
    assert all(kind in FrameKind for kind, _ in out)


@pytest.mark.parametrize("kind", [0, max(FrameKind) + 1, 255])
def test_an_unknown_frame_kind_is_refused(kind: int) -> None:
    with pytest.raises(ChannelError, match=f"kind {kind}"):
        FrameDecoder().feed(struct.pack(">BI", kind, 2) + b"{}")


def test_a_frame_over_the_maximum_size_is_refused_from_its_header_alone() -> None:
    with pytest.raises(ChannelError, match=f"length {MAX_FRAME + 1}"):
        FrameDecoder().feed(struct.pack(">BI", FrameKind.RECORDS, MAX_FRAME + 1))


def test_a_frame_of_the_maximum_size_is_awaited() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(struct.pack(">BI", FrameKind.RECORDS, MAX_FRAME) + b"x" * 1000) == []


def test_a_header_split_across_reads_is_kept_for_the_next_one() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(encode_frame(FrameKind.LOG, b"{}")[:3]) == []
    assert decoder.feed(encode_frame(FrameKind.LOG, b"{}")[3:]) == [(FrameKind.LOG, b"{}")]


# ---- typed payloads ------------------------------------------------------------------------

COUNTERS = Counters(
    listeners={
        "udp": ListenerCounters(messages=10, bytes=900, rejected=2, kernel_drops=2),
        "tcp": ListenerCounters(messages=5, bytes=400, connections=3, active_connections=1),
    },
    sources={"192.0.2.1": SourceCounters(messages=15, bytes=1300, formats={"rfc3164": 15}, last_seen=1.5)},
)
DROPS = [
    Drop(source=None, reason="kernel_drop", detail="kernel_drop", records=2, bytes=0, first=1.0, last=2.0),
    Drop(
        source="192.0.2.9:514",
        reason="rejected_input",
        detail="sender_not_allowed",
        records=1,
        bytes=50,
        first=1.0,
        last=1.0,
    ),
]
LISTENERS = [BoundListener(listener="udp", proto="udp", address="127.0.0.1:5514")]


def read_frames(fd: int) -> list[tuple[FrameKind, bytes]]:
    return FrameDecoder().feed(os.read(fd, 1 << 16))


def test_output_writes_typed_frames_the_engine_decodes_to_the_same_values() -> None:
    read_fd, write_fd = os.pipe()
    try:
        out = Output(write_fd)
        out.ready(LISTENERS)
        out.counters(COUNTERS)
        out.drops(DROPS)
        out.drops([])  # nothing to report: no frame
        out.log("error", "syslog.udp: cannot listen")
        out.ndjson(b'{"a":1}\n{"a":2}\n')
        frames = read_frames(read_fd)
    finally:
        os.close(read_fd)
        os.close(write_fd)
    assert [kind for kind, _ in frames] == [
        FrameKind.READY,
        FrameKind.COUNTERS,
        FrameKind.DROPS,
        FrameKind.LOG,
        FrameKind.RECORDS,
    ]
    payloads = PayloadDecoder()
    assert payloads.ready(frames[0][1]) == Ready(listeners=LISTENERS)
    assert payloads.counters(frames[1][1]) == COUNTERS
    assert payloads.drops(frames[2][1]) == DROPS
    assert payloads.log(frames[3][1]) == LogLine(level="error", message="syslog.udp: cannot listen")
    assert frames[4][1] == b'{"a":1}\n{"a":2}'  # the last newline is the frame's end


def test_a_listener_without_connections_sends_no_active_connections() -> None:
    wire = msgspec.json.decode(encode_payload(COUNTERS))
    assert "active_connections" not in wire["listeners"]["udp"]
    assert wire["listeners"]["tcp"]["active_connections"] == 1


@pytest.mark.parametrize(
    ("decode", "payload", "frame"),
    [
        (PayloadDecoder().counters, b'{"listeners":{"udp":{"messages":"many"}}}', "COUNTERS"),
        (PayloadDecoder().drops, b'[{"reason":"quota"}]', "DROPS"),
        (PayloadDecoder().ready, b'{"listeners":[{"listener":"udp"}]}', "READY"),
        (PayloadDecoder().log, b"not json", "LOG"),
    ],
)
def test_a_payload_that_is_not_its_frame_kind_is_a_frame_error_naming_it(
    decode: Callable[[bytes], object], payload: bytes, frame: str
) -> None:
    with pytest.raises(FrameError, match=f"^{frame} frame: "):
        decode(payload)


def test_a_frame_written_in_parts_larger_than_the_pipe_arrives_whole() -> None:
    # Output.write gathers header and parts with writev; a pipe takes them in pieces.
    read_fd, write_fd = os.pipe()
    parts = [b"\x00" * 7, os.urandom(300_000), b"tail"]
    received = bytearray()
    try:
        reader = threading.Thread(target=lambda: received.extend(read_all(read_fd)))
        reader.start()
        out = Output(write_fd)
        out.write(FrameKind.RECORDS, parts[0], *parts[1:])
        out.write(FrameKind.LOG, memoryview(b"x" * 70_000)[1:])
        os.close(write_fd)
        reader.join(10)
    finally:
        os.close(read_fd)
    frames = FrameDecoder().feed(bytes(received))
    assert frames == [(FrameKind.RECORDS, b"".join(parts)), (FrameKind.LOG, b"x" * 69_999)]


def read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    return b"".join(chunks)


# ---- received bytes ----------------------------------------------------------------------------


def test_records_carry_their_wire_bytes_in_a_received_frame_just_before_them() -> None:
    read_fd, write_fd = os.pipe()
    try:
        out = Output(write_fd)
        out.ndjson(b'{"a":1}\n{"a":2}\n', received=2 * 61)
        out.ndjson(b'{"a":3}\n')  # nothing said: no RECEIVED frame, the engine counts 0
        Durability(out.write).send(b'{"t":1}', lambda stored: None, received=300)
        frames = read_frames(read_fd)
    finally:
        os.close(read_fd)
        os.close(write_fd)
    assert [kind for kind, _ in frames] == [
        FrameKind.RECEIVED,
        FrameKind.RECORDS,
        FrameKind.RECORDS,
        FrameKind.RECEIVED,
        FrameKind.RECORDS_DURABLE,
    ]
    assert RECEIVED_BYTES.unpack(frames[0][1]) == (122,)
    assert frames[1][1] == b'{"a":1}\n{"a":2}'  # the records frame is as it always was
    assert RECEIVED_BYTES.unpack(frames[3][1]) == (300,)
    assert frames[4][1][TOKEN.size :] == b'{"t":1}'


def test_a_received_frame_is_never_separated_from_its_records_by_another_thread() -> None:
    # Trap receivers write records from one thread and durable batches from another.
    read_fd, write_fd = os.pipe()
    received = bytearray()
    reader = threading.Thread(target=lambda: received.extend(read_all(read_fd)))
    reader.start()
    try:
        out = Output(write_fd)

        def send(tag: int) -> None:
            for i in range(300):
                out.ndjson(b"x" * (1000 + tag) + b"\n", received=tag * 1_000_000 + i)
                out.log("info", "between")

        writers = [threading.Thread(target=send, args=(tag,)) for tag in (1, 2, 3)]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join(10)
        os.close(write_fd)
        reader.join(10)
    finally:
        os.close(read_fd)
    frames = FrameDecoder().feed(bytes(received))
    pairs = [
        (RECEIVED_BYTES.unpack(payload)[0], frames[i + 1])
        for i, (kind, payload) in enumerate(frames)
        if kind == FrameKind.RECEIVED
    ]
    assert len(pairs) == 900
    for count, (kind, payload) in pairs:
        assert kind == FrameKind.RECORDS and len(payload) == 1000 + count // 1_000_000


def test_a_worker_batch_carries_its_number_and_received_bytes_before_the_records() -> None:
    payload = batch_payload(41, b'{"m":1}\n', received=77)
    assert BATCH_HEAD.unpack_from(payload) == (41, 77)
    assert payload[BATCH_HEAD.size :] == b'{"m":1}\n'


def test_a_frame_spread_over_many_reads_comes_out_whole_once_complete() -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB: a RECORDS frame under load, read 256 KiB at a time
    stream = encode_frame(FrameKind.RECORDS, payload) + encode_frame(FrameKind.LOG, b"after")
    decoder = FrameDecoder()
    got = [decoder.feed(stream[start : start + 256 * 1024]) for start in range(0, len(stream), 256 * 1024)]
    assert [frames for frames in got if frames] == [[(FrameKind.RECORDS, payload), (FrameKind.LOG, b"after")]]
    assert decoder.pending == 0


def test_a_read_buffer_reused_by_the_caller_does_not_change_frames_already_cut() -> None:
    # The decoder may keep views of what it was fed only when nothing can change it (bytes).
    stream = encode_frame(FrameKind.RECORDS, b"x" * 1000)
    decoder = FrameDecoder()
    buffer = bytearray(stream[:600])
    assert decoder.feed(buffer) == []
    buffer[:] = b"y" * 600
    assert decoder.feed(bytearray(stream[600:])) == [(FrameKind.RECORDS, b"x" * 1000)]
