"""A stream connection says what its delivered messages took on the wire: every byte read,
framing included, less what is still waiting for the rest of its frame and what the framer
threw away (counted as dropped instead). Sans-IO: bytes in as a transport would hand them."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given
from hypothesis import strategies as st

from collectors.syslog.pipeline import Stats
from collectors.syslog.settings import SyslogSettings
from collectors.syslog.stream_worker import Connection, StreamWorker


@dataclass
class FakeWorker:
    """The parts of a StreamWorker a Connection calls."""

    settings: SyslogSettings = field(default_factory=lambda: SyslogSettings(max_message_bytes=480))
    stats: Stats = field(default_factory=Stats)
    active: set[int] = field(default_factory=set)
    messages: list[bytes] = field(default_factory=list)
    received: int = 0

    def deliver(self, listener: str, source: str, messages: list[bytes], received: int) -> None:
        self.messages += messages
        self.received += received

    def ended(self, connection: Connection) -> None:
        pass


def connection(worker: FakeWorker) -> Connection:
    fake: StreamWorker = worker  # type: ignore[assignment]
    return Connection(fake, 1, "tcp", "192.0.2.7:514", "192.0.2.7")


def feed(conn: Connection, stream: bytes, cuts: list[int]) -> None:
    start = 0
    for cut in [*sorted({c % (len(stream) + 1) for c in cuts}), len(stream)]:
        if cut > start:
            conn.data_received(stream[start:cut])
            start = cut


LINES = [f"<13>Dec  1 10:00:00 sw app: message {i} {'z' * (i * 11 % 90)}".encode() for i in range(20)]


@given(cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_received_bytes_are_the_stream_bytes_with_their_framing_however_it_is_cut(cuts: list[int]) -> None:
    stream = b"".join(line + b"\n" for line in LINES[:10])
    stream += b"".join(str(len(line)).encode() + b" " + line for line in LINES[10:19]) + LINES[19]
    worker = FakeWorker()
    conn = connection(worker)
    feed(conn, stream, cuts)
    conn.close_out()  # the last message has no terminator: taken at the close
    assert worker.messages == LINES
    assert worker.received == len(stream)


def test_bytes_the_framer_throws_away_are_dropped_not_received() -> None:
    # Over max_message_bytes: the message is kept truncated, the rest is a drop in the ledger.
    too_long = b"<13>" + b"x" * 600 + b"\n"
    stream = LINES[0] + b"\n" + too_long + LINES[1] + b"\n"
    worker = FakeWorker()
    conn = connection(worker)
    feed(conn, stream, [50, 300, 620])
    conn.close_out()
    assert [m[:12] for m in worker.messages] == [LINES[0][:12], b"<13>xxxxxxxx", LINES[1][:12]]
    [drop] = worker.stats.take_drops()
    assert drop.bytes > 0
    assert worker.received + drop.bytes == len(stream)  # every byte is received or dropped, once


@given(
    junk=st.sampled_from([b"99999999 <13>x\n", b"\x00\x00\n\n", b"12 <13>short\n", b"abc def\n", b"5 <13>xyz"]),
    cuts=st.lists(st.integers(min_value=0, max_value=2_000), max_size=6),
)
def test_every_byte_of_a_stream_with_framing_errors_is_received_or_dropped_once(junk: bytes, cuts: list[int]) -> None:
    stream = LINES[2] + b"\n" + junk + LINES[3] + b"\n" + str(len(LINES[4])).encode() + b" " + LINES[4]
    worker = FakeWorker()
    conn = connection(worker)
    feed(conn, stream, cuts)
    conn.close_out()
    dropped = sum(drop.bytes for drop in worker.stats.take_drops())
    assert worker.received + dropped == len(stream)
    assert worker.received >= sum(len(m) for m in worker.messages)
