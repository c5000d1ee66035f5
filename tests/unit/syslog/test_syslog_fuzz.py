"""Property tests: no input makes the parser or the framer raise, and framing round-trips."""

from __future__ import annotations

import base64
import itertools
import math
import re
from datetime import datetime

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from collectors.syslog import FORMATS, RECORD_KEYS, SyslogFramer, framing, parse_batch, parse_message
from collectors.syslog.parse import OPTIONAL_KEYS, SyslogRecord

RX = 1768046400.25

# Pieces of every dialect the parser knows, glued in random order with random bytes, so the
# fuzzer reaches deep branches (SD escapes, Cisco stamps, vendor bodies) and not just "unparsed".
FRAGMENTS = [
    b"<13>", b"<165>", b"<191>", b"<192>", b"<0>", b"1 ", b"2 ", b"- ", b"-", b" ", b"  ", b":", b": ",
    b"Jan 10 12:00:00 ", b"Feb 29 ", b"Dec  2 23:59:60 ", b"2026 ", b"12:00:00.123 ", b"UTC: ", b"XYZ: ",
    b"2026-01-10T12:00:00Z ", b"2026-02-30T25:61:61.1234567890+99:99 ", b"9999-12-31T23:59:59-23:59 ",
    b"0001-01-01T00:00:00+23:59 ", b'[a b="c"]', b'[x@1 q="\\"\\\\\\]"]', b"[", b"]", b'"', b"\\", b"=",
    b"host ", b"app[12]: ", b"app: ", b"%SYS-5-CONFIG_I: ", b"%ASA-6-302013: ", b"123: ", b"*", b".",
    b"1w2d: ", b"date=2026-01-10 time=12:00:00 ", b'tz="+0100" ', b"logid=1 ", b'devname="fg" ',
    b"1,2026/01/10 12:00:00,x,TRAFFIC,", b",", b"<501080> <NOTI> |AP a@b c| ", b"<1> <2> <WARN> <n> ",
    b"RPD_X_Y: ", b"\xef\xbb\xbf", b"\xff", b"\x00", b"\n", b"\r", b"\t",
    b"1795752611.123456789 ", b"MX250 ", b"flows ", b"src=1.2.3.4 ", b"type= x ", b"a='b' ", b"pattern: allow",
    b"idf3-sw1: ", b"001560: ", b"*spamApTask4: ", b"#CAPWAP-3-ECHO_ERR: ", b"IST: ", b"eventtime=1795752611123456789 ",
    b"f4e2c6aabbcc,U6-LR-6.5.28+14491: ", b'("U7PG2,802aa8aabbcc,v4.0.80.10875") ', b"hostapd: ", b"00435 ports: ",
    b"notice ", b"mcpd[6120]: ", b"01070638:5: ", b"MSWinEventLog\t", b"1\t", b"Security\t", b"\xe9", b"\xc3",
]  # fmt: skip

syslogish = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.binary(max_size=8)), max_size=16).map(b"".join)


def check_record(record: SyslogRecord, data: bytes | None = None) -> None:
    assert tuple(record) == RECORD_KEYS + (OPTIONAL_KEYS if "raw_b64" in record else ())
    if data is not None:
        # The original bytes are recoverable exactly when they are not UTF-8, and flagged.
        try:
            data.decode("utf-8")
            assert "raw_b64" not in record
            assert "invalid_utf8" not in record["parse_warnings"]
        except UnicodeDecodeError:
            assert base64.b64decode(record["raw_b64"]) == data
            assert "invalid_utf8" in record["parse_warnings"]
    if record["format"] == "unparsed":
        assert "no_pri" in record["parse_warnings"]
    assert record["format"] in FORMATS
    # The catch-all in parse_message must never be what saved us: that would hide a bug.
    assert "parser_error" not in record["parse_warnings"]
    assert isinstance(record["message"], str)
    assert isinstance(record["raw"], str)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["received_at"])
    if record["timestamp"] is not None:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z", record["timestamp"])
        assert isinstance(record["clock_skew_s"], float)
    for key in ("facility", "severity"):
        assert record[key] is None or isinstance(record[key], int)
    assert all(isinstance(v, str) for params in record["structured_data"].values() for v in params.values())


@settings(max_examples=1500, deadline=None)
@given(data=st.one_of(st.binary(max_size=300), syslogish))
@example(data=b"<13>1 9999-12-31T23:59:59-23:59 h a p m - x")
@example(data=b"<13>1 0001-01-01T00:00:00+23:59 h a p m - x")
@example(data=b"<13>Feb 29 12:00:00 host app: x")
@example(data=b'<0>0,0000/00/00 00:00:00,,A,\n"')  # PAN-OS CSV the csv module refuses
def test_parse_message_never_raises(data: bytes) -> None:
    check_record(parse_message(data, RX, "192.0.2.1:514"), data)


@settings(max_examples=300, deadline=None)
@given(data=syslogish, received_at=st.floats(allow_nan=True, allow_infinity=True))
def test_any_receive_time_is_survived(data: bytes, received_at: float) -> None:
    record = parse_message(data, received_at, "192.0.2.1:514")
    assert tuple(record) == RECORD_KEYS + (OPTIONAL_KEYS if "raw_b64" in record else ())
    if math.isfinite(received_at) and 0 <= received_at < 253402300800:  # years 1970-9999
        check_record(record)


@settings(max_examples=200, deadline=None)
@given(items=st.lists(st.tuples(syslogish, st.floats(0, 4e9), st.just("10.0.0.1:514")), max_size=20))
def test_parse_batch_equals_one_by_one(items: list[tuple[bytes, float, str]]) -> None:
    assert parse_batch(items) == [parse_message(*item) for item in items]


@st.composite
def chunkings(draw: st.DrawFn, stream: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    bounds = [0, *cuts, len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=500, deadline=None)
@given(data=st.data(), max_bytes=st.integers(1, 64), pieces=st.lists(st.binary(max_size=100), max_size=10))
def test_framer_never_raises_and_stays_bounded(data: st.DataObject, max_bytes: int, pieces: list[bytes]) -> None:
    framer = SyslogFramer(max_message_bytes=max_bytes)
    out: list[bytes] = []
    for piece in pieces:
        for chunk in data.draw(chunkings(piece)):
            out += framer.feed(chunk)
            # At most one frame, plus its count prefix ("123456789 "), is ever held.
            assert framer.buffered_bytes <= max_bytes + 11
    out += framer.flush()
    assert framer.frames == len(out)
    assert all(0 < len(message) <= max_bytes + 11 for message in out)
    assert framer.oversize <= framer.errors
    assert len(framer.recent_errors) == min(framer.errors, 16)


# A newline-framed message cannot hold a terminator, end in CR (CRLF is stripped) or look like
# an octet count (digits, space, "<"): RFC 6587's own ambiguity, resolved in favour of counts.
line_messages = st.binary(min_size=1, max_size=60).filter(
    lambda m: b"\n" not in m and b"\x00" not in m and not m.endswith(b"\r") and not re.match(rb"[1-9]\d{0,8} <", m)
)
octet_messages = st.binary(max_size=60).map(lambda m: b"<" + m)


@settings(max_examples=500, deadline=None)
@given(
    data=st.data(),
    messages=st.lists(
        st.one_of(st.tuples(st.just(True), octet_messages), st.tuples(st.just(False), line_messages)), max_size=12
    ),
    terminator=st.sampled_from([b"\n", b"\r\n", b"\x00"]),
    close_unterminated=st.booleans(),
)
def test_framed_messages_come_out_identical_in_any_chunking(
    data: st.DataObject,
    messages: list[tuple[bool, bytes]],
    terminator: bytes,
    close_unterminated: bool,
) -> None:
    parts = []
    for octet_counted, message in messages:
        if octet_counted:
            parts.append(b"%d %s" % (len(message), message))
        else:
            parts.append(message + terminator)
    if close_unterminated and messages and not messages[-1][0]:
        parts[-1] = parts[-1][: -len(terminator)]  # the last line ends with the connection
    stream = b"".join(parts)
    framer = SyslogFramer()
    out: list[bytes] = []
    for chunk in data.draw(chunkings(stream)):
        out += framer.feed(chunk)
    out += framer.flush()
    assert out == [message for _, message in messages]
    assert framer.errors == 0


# Streams rich in what framing errors and resynchronisation look at: counts, spaces, "<", ends.
framing_noise = st.lists(
    st.sampled_from([b"9", b"12", b"999999999", b" ", b"<", b"<13>", b"\n", b"\x00", b"x", b"xxxxxxxx", b"5 <1>ab"]),
    max_size=40,
).map(b"".join)


@settings(max_examples=500, deadline=None)
@given(data=st.data(), stream=framing_noise, max_bytes=st.integers(1, 20))
def test_errors_and_resynchronisation_do_not_depend_on_the_chunking(
    data: st.DataObject, stream: bytes, max_bytes: int
) -> None:
    whole = SyslogFramer(max_message_bytes=max_bytes)
    expected = whole.feed(stream) + whole.flush()
    framer = SyslogFramer(max_message_bytes=max_bytes)
    out: list[bytes] = []
    for chunk in data.draw(chunkings(stream)):
        out += framer.feed(chunk)
    out += framer.flush()
    assert out == expected
    assert (framer.errors, framer.dropped_frames, framer.discarded_bytes) == (
        whole.errors,
        whole.dropped_frames,
        whole.discarded_bytes,
    )
    # Nothing is lost unaccounted: what came out and what was discarded never exceed the input.
    assert sum(map(len, out)) + framer.discarded_bytes <= len(stream)


def frame_everything(stream: bytes, chunks: list[bytes], max_bytes: int) -> tuple[list[bytes], tuple[int, ...]]:
    framer = SyslogFramer(max_message_bytes=max_bytes)
    out: list[bytes] = []
    for chunk in chunks:
        out += framer.feed(chunk)
        assert framer.buffered_bytes <= max(len(stream), max_bytes + 11)
    out += framer.flush()
    counters = (framer.frames, framer.errors, framer.oversize, framer.dropped_frames, framer.discarded_bytes)
    return out, (*counters, len(framer.recent_errors))


@settings(max_examples=1000, deadline=None)
@given(
    data=st.data(),
    stream=st.one_of(framing_noise, st.binary(max_size=200), st.lists(st.sampled_from(FRAGMENTS)).map(b"".join)),
    max_bytes=st.integers(1, 40),
)
@example(data=None, stream=b"5 <1>ab\r\n12 <13>x\nxyz\r\n999999999 <", max_bytes=20)
def test_the_compiled_framer_frames_as_the_reference_does(
    data: st.DataObject | None, stream: bytes, max_bytes: int
) -> None:
    """The C split of plain frames (_fastparse.split_frames) hands off to framing.py at every
    frame it does not take plainly: the same frames and counters, in any chunking."""
    if framing._fast_split is None:
        pytest.skip("the syslog extension is not built here")
    chunks = [stream] if data is None else data.draw(chunkings(stream))
    compiled = frame_everything(stream, chunks, max_bytes)
    saved, framing._fast_split = framing._fast_split, None
    try:
        reference = frame_everything(stream, chunks, max_bytes)
    finally:
        framing._fast_split = saved
    assert compiled == reference


MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@settings(max_examples=500, deadline=None)
@given(
    month=st.integers(1, 12),
    day=st.integers(1, 29),
    second_of_day=st.integers(0, 86399),
    received_at=st.floats(946684800, 4102444800),  # 2000-2100
    cisco=st.booleans(),
)
def test_a_yearless_date_is_the_latest_not_more_than_a_day_ahead(
    month: int, day: int, second_of_day: int, received_at: float, cisco: bool
) -> None:
    hour, rest = divmod(second_of_day, 3600)
    stamp = f"{MONTH_NAMES[month - 1]} {day:2d} {hour:02d}:{rest // 60:02d}:{rest % 60:02d}"
    line = f"<189>12: {stamp}: %SYS-5-RESTART: x" if cisco else f"<13>{stamp} host app: x"
    record = parse_message(line.encode(), received_at, "192.0.2.1:514")
    assert record["timestamp"] is not None
    sent = datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00"))
    # Never more than a day in the future, and the year after would be.
    assert sent.timestamp() <= received_at + 86400
    if not (month == 2 and day == 29):
        assert sent.replace(year=sent.year + 1).timestamp() > received_at + 86400
