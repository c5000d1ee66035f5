"""The compact stored form (collectors/syslog/stored.py): records packed as what was received and
rebuilt on read come back byte for byte, whatever they hold, and most of them pack small."""

from __future__ import annotations

import calendar
import contextlib

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.syslog import stored
from collectors.syslog.parse import parse_batch
from nocraven.simulate.venue_mix import venue_mix
from tests.unit.syslog.test_syslog_fastpath import corpus_frames, literal_lines

ENCODE = msgspec.json.Encoder().encode
START = calendar.timegm((2026, 12, 2, 16, 0, 0, 0, 0, 0))


def records_of(items: list[tuple[bytes, float, str]]) -> list[bytes]:
    """Records as the collector writes them (one JSON object each, no newline)."""
    return [ENCODE(record) for record in parse_batch(items)]


def entries(body: bytes) -> list[bytes]:
    assert body.endswith(b"\n")
    return body.split(b"\n")[:-1]


def test_the_venue_mix_comes_back_exactly_and_is_kept_as_datagrams() -> None:
    items = list(venue_mix(11, 3000, START))
    records = records_of(items)
    body = stored.pack(records)
    assert stored.unpack(body) == records
    packed = entries(body)
    as_datagrams = sum(line.startswith(b"[") for line in packed)
    assert as_datagrams >= 0.98 * len(records)  # only what cannot round-trip stays a record
    # The point of it: what is kept is about the datagrams, not four times them.
    assert len(body) < 1.3 * sum(len(data) for data, _, _ in items)
    assert len(body) < 0.4 * sum(map(len, records))


def test_every_known_line_round_trips_at_several_receive_times() -> None:
    lines = [*literal_lines(), *corpus_frames()]
    assert len(lines) > 200
    for received_at in (START + 0.0005, 1768046400.25, 1767225599.9995):
        records = records_of([(line, received_at, "192.0.2.7:514") for line in lines])
        assert stored.unpack(stored.pack(records)) == records


def test_a_receive_time_between_milliseconds_is_kept_with_its_skew() -> None:
    # The record shows received_at to the millisecond; the skew was computed from the exact
    # time, so rebuilding from the millisecond can round it the other way: the entry says so.
    line = b"<34>1 2026-12-02T16:00:00.000Z host app 1 - - hello"
    fractions = (0.0015, 0.0006, 0.0005)
    records = records_of([(line, START + fraction, "192.0.2.7:514") for fraction in fractions])
    decoded = [msgspec.json.decode(r) for r in records]
    assert [(r["received_at"][-4:], r["clock_skew_s"]) for r in decoded] == [
        ("002Z", -0.001),
        ("001Z", -0.001),
        ("000Z", -0.0),
    ]
    body = stored.pack(records)
    assert stored.unpack(body) == records
    text = line.decode()
    assert [msgspec.json.decode(entry) for entry in entries(body)] == [
        [START * 1000 + 2, "192.0.2.7:514", text, {"clock_skew_s": -0.001}],
        [START * 1000 + 1, "192.0.2.7:514", text],
        [START * 1000, "192.0.2.7:514", text, {"clock_skew_s": -0.0}],
    ]
    assert entries(body)[2].endswith(b'{"clock_skew_s":-0.0}]')


def test_records_the_parser_would_not_write_are_kept_as_they_are() -> None:
    parsed = records_of([(b"<13>Dec  2 16:00:00 sw1 app: original", START, "192.0.2.7:514")])[0]
    edited = parsed.replace(b'"message":"original"', b'"message":"changed"')
    extra = parsed[:-1] + b',"site":"north"}'
    not_utf8 = records_of([(b"<13>Dec  2 16:00:00 sw1 app: caf\xe9", START, "192.0.2.7:514")])[0]
    assert b'"raw_b64"' in not_utf8
    others = [extra, not_utf8, b'{"service":"flow","bytes":12}', b"not json at all", b"", b" x", b"[1,2,3]"]
    records = [parsed, *others, edited]
    body = stored.pack(records)
    assert stored.unpack(body) == records
    kept = entries(body)
    assert kept[1:-1] == [*others[:-2], b"  x", b" [1,2,3]"]  # verbatim; "[" and " " lines after a space
    assert kept[0].startswith(b"[")
    # An edited message is the parse of its raw with the message set: an entry with a patch.
    assert msgspec.json.decode(kept[-1])[3] == {"message": "changed"}


@settings(max_examples=300, deadline=None)
@given(
    datagrams=st.lists(st.binary(max_size=300), max_size=20),
    received_at=st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False),
)
def test_any_datagrams_round_trip(datagrams: list[bytes], received_at: float) -> None:
    records = records_of([(data, received_at, "[2001:db8::7]:514") for data in datagrams])
    assert stored.unpack(stored.pack(records)) == records


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=400))
def test_a_damaged_body_is_refused_with_a_value_error(body: bytes) -> None:
    # BadEntries (a ValueError) or records the store then finds do not match the segment row.
    with contextlib.suppress(ValueError):
        stored.unpack(body)


@pytest.mark.parametrize("cut", [1, 10, 40])
def test_a_truncated_body_is_refused_or_shorter(cut: int) -> None:
    records = records_of(list(venue_mix(3, 40, START)))
    body = stored.pack(records)
    try:
        back = stored.unpack(body[:-cut])
    except ValueError:
        return
    assert back != records  # the store compares counts and sizes and quarantines it
