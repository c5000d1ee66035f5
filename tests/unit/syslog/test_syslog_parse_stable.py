"""The optimised parser writes exactly the records the pre-optimisation parser wrote.

`reference_v1/` is a frozen copy of parse.py and profiles.py from before the vendor dialects were
made faster. Records are compared as the collector stores them (msgspec JSON, so key order and
float text count too) on the venue mix at several seeds and receive times (New Year included),
on every syslog literal the tests hold, on the corpora, and on generated vendor lines with
truncations, inserted bytes and invalid UTF-8 spliced in.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from collectors.syslog import parse as current
from collectors.syslog.shapes import Shapes
from nocraven.simulate.venue_mix import venue_mix
from tests.support.syslog_corpus import RECEIVED_AT
from tests.unit.syslog.reference_v1 import parse as reference
from tests.unit.syslog.test_syslog_fastpath import corpus_frames, literal_lines
from tests.unit.syslog.test_syslog_fuzz import FRAGMENTS

ENCODE = msgspec.json.Encoder().encode
SOURCE = "192.0.2.9:514"
NEW_YEAR = calendar.timegm((2027, 1, 1, 0, 0, 0, 0, 0, 0))
# Receive times: the corpus's, either side of New Year's midnight (yearless dates change year),
# a leap day, and mid-March (a `Dec 31` or `Mar  1` line is last year's or this year's).
RECEIVE_TIMES = [
    RECEIVED_AT,
    NEW_YEAR - 0.0004,
    NEW_YEAR - 43200.5,
    NEW_YEAR + 0.9996,
    NEW_YEAR + 86399.25,
    calendar.timegm((2028, 2, 29, 23, 59, 59, 0, 0, 0)) + 0.5,
    calendar.timegm((2026, 3, 1, 0, 30, 0, 0, 0, 0)),
]


@pytest.fixture(autouse=True, scope="module")
def learn_every_shape() -> Iterator[None]:
    """The parser learns at most one shape per 500 lines once 64 are learnt; here every layout
    seen twice is learnt, so the generated lines below go through learnt shapes."""
    free = Shapes._FREE_COMPILES
    Shapes._FREE_COMPILES = 10**9
    yield
    Shapes._FREE_COMPILES = free


def same_records(items: list[tuple[bytes, float, str]]) -> None:
    """One by one and as a batch (the caches see a different order), both parsers agree."""
    expected = [ENCODE(record) for record in reference.parse_batch(items)]
    assert [ENCODE(record) for record in current.parse_batch(items)] == expected
    for (data, received_at, source), want in zip(items, expected, strict=True):
        got = ENCODE(current.parse_message(data, received_at, source))
        assert got == want, f"record differs from the reference for {data!r} received at {received_at!r}"


def test_venue_mix_is_byte_identical() -> None:
    starts = [RECEIVED_AT, NEW_YEAR - 1.0, NEW_YEAR - 86400 * 0.5, calendar.timegm((2026, 3, 1, 0, 0, 0, 0, 0, 0))]
    for seed, start in zip((7, 1, 42, 2026), starts, strict=True):
        items = list(venue_mix(seed, 2500, start))
        same_records(items)
        # The same datagrams received a day later, and months later (device clocks far off).
        same_records([(data, at + 86400.0, source) for data, at, source in items[:600]])
        same_records([(data, at + 86400.0 * 200, source) for data, at, source in items[:300]])


def known_lines() -> list[bytes]:
    return [*literal_lines(), *corpus_frames(), *FRAGMENTS]


def test_every_known_line_is_byte_identical() -> None:
    lines = known_lines()
    assert len(lines) > 200
    for received_at in RECEIVE_TIMES:
        same_records([(line, received_at, SOURCE) for line in lines])


# --- generated vendor lines -----------------------------------------------------------------

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
pri = st.sampled_from(["", "<13>", "<134>", "<189>", "<14>", "<0>", "<191>", "<192>", "<1>"])
bsd_stamp = st.builds(
    lambda month, day, h, m, s, frac: f"{month} {day:2d} {h:02d}:{m:02d}:{s:02d}{frac}",
    st.sampled_from([*MONTHS, "JAN", "dec", "Foo"]),
    st.integers(0, 32),
    st.integers(0, 24),
    st.integers(0, 60),
    st.integers(0, 61),
    st.sampled_from(["", ".123", ".5"]),
)
header = st.one_of(
    st.just(""),
    bsd_stamp.map(lambda s: s + " "),
    bsd_stamp.map(lambda s: s + " fw-01 "),
    st.sampled_from(["2026-12-31T23:59:59Z host ", "1 2026-12-31T23:59:59.5+01:00 host app - - - ", "1 - h a p m "]),
)
value_text = st.one_of(
    st.text(max_size=10),
    st.text(st.sampled_from("ab1 =,\"\\':\t\r\n-.%[]<>"), max_size=10),
    st.sampled_from(["", "x", "a b", "2026-12-31", "23:59:59", "+0100", "IST", "-0800", "C:\\Windows", "1e3"]),
)
digits = st.text(st.sampled_from("0123456789"), min_size=0, max_size=20)


@st.composite
def fortios(draw: st.DrawFn) -> str:
    first = draw(st.sampled_from(["date", "logver", "timestamp", "itime", "devname", "level"]))
    keys = [
        first,
        *draw(
            st.lists(
                st.sampled_from(
                    [
                        "date",
                        "time",
                        "tz",
                        "eventtime",
                        "devname",
                        "type",
                        "logid",
                        "msg",
                        "level",
                        "srcip",
                        "x-y",
                        "9bad",
                        "_k",
                    ]
                ),
                max_size=10,
            )
        ),
    ]
    parts = []
    for key in keys:
        kind = draw(st.integers(0, 4))
        if key == "eventtime" and kind < 2:
            value = draw(digits)
        elif key == "date" and kind < 2:
            value = f"{draw(st.integers(0, 9999)):04d}-{draw(st.integers(0, 13)):02d}-{draw(st.integers(0, 32)):02d}"
        elif key == "time" and kind < 2:
            value = f"{draw(st.integers(0, 25)):02d}:{draw(st.integers(0, 61)):02d}:{draw(st.integers(0, 61)):02d}"
        else:
            value = draw(value_text)
        if kind % 2 == 0:
            value = '"' + value.replace('"', draw(st.sampled_from(['\\"', '"', ""]))) + draw(st.sampled_from(['"', ""]))
        parts.append(f"{key}={value}")
    return draw(st.sampled_from([" ", "  ", "\t"])).join(parts)


PAN_TYPES = st.sampled_from(["TRAFFIC", "THREAT", "SYSTEM", "CONFIG", "HIP-MATCH", "USERID", "X_Y", "traffic"])


@st.composite
def paloalto(draw: st.DrawFn) -> str:
    stamp = f"{draw(st.integers(0, 9999)):04d}/{draw(st.integers(0, 13)):02d}/{draw(st.integers(0, 32)):02d} "
    stamp += f"{draw(st.integers(0, 25)):02d}:{draw(st.integers(0, 61)):02d}:{draw(st.integers(0, 61)):02d}"
    fields = ["1", stamp, draw(st.sampled_from(["012345678901", "", "x"])), draw(PAN_TYPES), "end", "2561"]
    fields.append(draw(st.one_of(st.just(stamp), value_text)))
    for _ in range(draw(st.integers(0, 60))):
        fields.append(draw(st.one_of(st.just(""), digits, value_text, value_text.map(lambda v: f'"{v}"'))))
    return ",".join(fields)


@st.composite
def meraki(draw: st.DrawFn) -> str:
    stamp = draw(st.sampled_from(["1795752611.123456789", "1795752611", "179575261.1", "1795752611.", "17957526111.5"]))
    category = draw(st.sampled_from(["flows", "events", "urls", "ids-alerts", "security_event", ""]))
    words = draw(st.lists(st.sampled_from(["ids_alerted", "port", "3", "status", "allow", "Upper"]), max_size=2))
    pairs = []
    for _ in range(draw(st.integers(0, 6))):
        key = draw(st.sampled_from(["src", "dst", "type", "radio", "a.b", "x-y", "9no", "client_mac"]))
        value = draw(value_text)
        quote = draw(st.sampled_from(["", "'", '"', " "]))
        pairs.append(f"{key}={quote}{value}{quote if quote != ' ' else ''}")
    tail = draw(st.sampled_from(["", " pattern: allow all", " request: GET https://x/y?a=b", " a: b: c"]))
    device = draw(st.sampled_from(["MX250_Venue_1", "MR46", "-"]))
    return f"1 {stamp} {device} {category} " + " ".join([*words, *pairs]) + tail


@st.composite
def cisco(draw: st.DrawFn) -> str:
    parts = []
    parts.append(draw(st.sampled_from(["", "1562: ", ": ", "35: "])))
    parts.append(draw(st.sampled_from(["", "idf3-sw1: ", "SW1: ", "WLC-VENUE-01: ", "1w2d: "])))
    parts.append(draw(st.sampled_from(["", "001560: ", "000034: "])))
    parts.append(draw(st.sampled_from(["", "", "core-sw: "])))
    parts.append(draw(st.sampled_from(["", "", "*spamApTask4: ", "*osapiBsnTimer: "])))
    month = draw(st.sampled_from([*MONTHS, "MAR", "Xyz"]))
    stamp = f"{month} {draw(st.integers(0, 32)):2d} {draw(st.sampled_from(['', '2026 ']))}"
    stamp += f"{draw(st.integers(0, 25)):02d}:{draw(st.integers(0, 61)):02d}:{draw(st.integers(0, 61)):02d}"
    stamp += draw(st.sampled_from(["", ".411", ".123456"]))
    stamp += draw(st.sampled_from(["", " UTC", " CET", " IST", " +01:00", " -0530", " ABCDEFG"]))
    year_first = draw(st.sampled_from(["", "", "2026 "]))
    mark = draw(st.sampled_from(["", "*", "."]))
    parts.append(draw(st.sampled_from([f"{mark}{year_first}{stamp}: ", f"{mark}1w2d: ", f"{mark}00:25:12: ", ""])))
    facility = draw(st.sampled_from(["LINK", "ASA", "FTD", "SYS", "LINEPROTO", "CAPWAP", "ETH_PORT_CHANNEL", "x"]))
    parts.append(draw(st.sampled_from(["%", "%", "#"])) + f"{facility}-{draw(st.integers(0, 8))}-UPDOWN")
    parts.append(draw(st.sampled_from([": ", ":", " : ", " "])) + draw(value_text))
    return "".join(parts)


@st.composite
def untagged(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 6))
    if kind == 0:
        prefix = draw(st.sampled_from(["f4e2c6aabbcc,U6-LR-6.5.28+14491", "F4E2C6AABBCC,UAP-v4.0.80", "f4e2c6,x-1.2"]))
        return prefix + draw(st.sampled_from([": ", " ", ":"])) + draw(st.sampled_from(["hostapd: ", "kernel: ", ""]))
    if kind == 1:
        return draw(st.sampled_from(['("U7PG2,802aa8aabbcc,v4.0.80.10875") ', "(U7PG2,802aa8aabbcc,4.0.8) "]))
    if kind == 2:
        return draw(st.sampled_from(["00435 ports: ", "00435 ports:", "0043 x: ", "12345 9a: "]))
    if kind == 3:
        level = draw(st.sampled_from(["notice", "err", "informational", "warning", "debugx", "info"]))
        return f"{level} " + draw(st.sampled_from(["mcpd[6120]: 01070638:5: ", "tmm: ", "x ", "sshd[1]: 0107063g:5: "]))
    if kind == 4:
        host = draw(st.sampled_from(["", "WIN-DC01\t", "a b\t", "\t"]))
        fields = draw(st.lists(value_text.map(lambda v: v.replace("\t", " ")), max_size=18))
        return host + "MSWinEventLog\t" + "\t".join(fields)
    if kind == 5:
        return draw(st.sampled_from(["rpd[12]: ", "RT_FLOW: ", "stm[2]: "])) + draw(
            st.sampled_from(
                [
                    "<501080> <NOTI> |AP ap-01@10.1.1.2 stm| ",
                    "<522125> <2435> <WARN> <wcp2> ",
                    "<1> <x> ",
                    "RPD_OS_MEMHIGH: ",
                    "RT_FLOW_SESSION_CREATE:",
                    "A_B ",
                ]
            )
        )
    return draw(st.sampled_from(["app:\t", "app[1]:", "a,b: ", "[x]: ", "app[]: "]))


vendor_body = st.one_of(fortios(), paloalto(), cisco(), untagged())
receive_time = st.one_of(
    st.sampled_from(RECEIVE_TIMES),
    st.floats(946684800, 4102444800),
    st.floats(NEW_YEAR - 2 * 86400, NEW_YEAR + 2 * 86400),
)
JUNK = st.sampled_from([b"", b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\x00", b"\n", b'"', b"=", b","])


def mutations(data: bytes, cut: int, junk: bytes) -> Iterator[bytes]:
    """The line, truncated, with bytes spliced in, and with trailing line ends."""
    cut = min(cut, len(data))
    yield from (data, data[:cut], data[:cut] + junk + data[cut:], data + b"\r\n\x00", data[cut:])


@settings(max_examples=1500, deadline=None)
@given(
    head=st.tuples(pri, header),
    body=st.one_of(vendor_body, st.builds(lambda b, t: b + t, untagged(), value_text)),
    received_at=receive_time,
    cut=st.integers(0, 300),
    junk=JUNK,
)
@example(
    head=("<189>", ""),
    body='date=2026-12-31 time=23:59:59 logid="1" msg="a\\"b',
    received_at=NEW_YEAR,
    cut=5,
    junk=b"\xff",
)
@example(
    head=("<14>", "Dec 31 23:59:59 pa "),
    body='1,2026/12/31 23:59:59,0,TRAFFIC,end,,"a\nb",x',
    received_at=NEW_YEAR,
    cut=40,
    junk=b'"',
)
def test_generated_vendor_lines_are_byte_identical(
    head: tuple[str, str], body: str, received_at: float, cut: int, junk: bytes
) -> None:
    line = (head[0] + head[1] + body).encode()
    same_records([(data, received_at, SOURCE) for data in mutations(line, cut, junk)])


@settings(max_examples=500, deadline=None)
@given(
    line=meraki(),
    prefix=st.sampled_from(["<134>", "<13>", ""]),
    received_at=receive_time,
    cut=st.integers(0, 200),
    junk=JUNK,
)
def test_generated_meraki_lines_are_byte_identical(
    line: str, prefix: str, received_at: float, cut: int, junk: bytes
) -> None:
    same_records([(data, received_at, SOURCE) for data in mutations((prefix + line).encode(), cut, junk)])


MIX = [data for data, _, _ in venue_mix(11, 400, RECEIVED_AT)]


@settings(max_examples=1000, deadline=None)
@given(
    index=st.integers(0, len(MIX) - 1),
    cut=st.integers(0, 700),
    junk=st.one_of(JUNK, st.binary(max_size=4)),
    received_at=receive_time,
)
def test_mutated_venue_lines_are_byte_identical(index: int, cut: int, junk: bytes, received_at: float) -> None:
    same_records([(data, received_at, SOURCE) for data in mutations(MIX[index], cut, junk)])


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.binary(max_size=6)), max_size=16),
    received_at=st.one_of(receive_time, st.floats(allow_nan=True, allow_infinity=True)),
)
def test_fragment_soup_is_byte_identical(pieces: list[bytes], received_at: float) -> None:
    data = b"".join(pieces)
    same_records([(data, received_at, SOURCE), (b"<13>" + data, received_at, SOURCE)])


# --- learnt shapes: a layout seen twice is read by one regex; its values may then be anything ----

tricky_value = st.one_of(
    st.sampled_from(["", "x", "a b", "a=b", 'a"b', '"', "'", "a'b", "\\", "a\\", "]", "é", "\t", " ", "x  y", "k=v"]),
    st.text(st.sampled_from("ab1 =\"'\\]:-é\t"), max_size=6),
)
LAYOUT_KEYS = ["time", "devname", "type", "srcip", "msg", "x-y", "level", "eventtime", "tz"]


@st.composite
def fortios_family(draw: st.DrawFn) -> list[str]:
    """A FortiOS layout (keys, quoting) written with plain values three times (so its shape is
    learnt), then with tricky values, each through the same layout."""
    keys = ["date", *draw(st.lists(st.sampled_from(LAYOUT_KEYS), max_size=6)), "logid"]
    keys.insert(draw(st.integers(1, len(keys) - 1)), draw(st.sampled_from(LAYOUT_KEYS)))
    quoted = [draw(st.booleans()) for _ in keys]

    def line(values: list[str]) -> str:
        return " ".join(f'{k}="{v}"' if q else f"{k}={v}" for k, q, v in zip(keys, quoted, values, strict=True))

    plain = line([f"v{n}" for n in range(len(keys))])
    empty = line(["" for _ in keys])
    variants = [line([draw(tricky_value) for _ in keys]) for _ in range(6)]
    return [plain, plain, plain, empty, empty, *variants]


@settings(max_examples=300, deadline=None)
@given(family=fortios_family(), prefix=st.sampled_from(["<189>", ""]), received_at=receive_time)
def test_fortios_shapes_read_any_values_as_the_reference(family: list[str], prefix: str, received_at: float) -> None:
    same_records([((prefix + line).encode(), received_at, SOURCE) for line in family])


@st.composite
def sd_family(draw: st.DrawFn) -> list[str]:
    sd_id = draw(st.sampled_from(["junos@2636.1.1.1.2.129", "meta", "origin", "x@1"]))
    names = draw(st.lists(st.sampled_from(["a", "source-address", "b", "port", "a"]), max_size=5))
    spaces = [draw(st.sampled_from([" ", " ", "  "])) for _ in names]
    tail = draw(st.sampled_from(["", " "]))

    def line(values: list[str]) -> str:
        params = "".join(f'{s}{n}="{v}"' for s, n, v in zip(spaces, names, values, strict=True))
        return f"<14>1 2026-12-31T23:59:59.5Z host app - ID [{sd_id}{params}{tail}]" + draw(
            st.sampled_from([" msg", "", '[meta x="1"] m', "x"])
        )

    plain = line([f"v{n}" for n in range(len(names))])
    variants = [line([draw(tricky_value) for _ in names]) for _ in range(6)]
    return [plain, plain, plain, *variants]


@settings(max_examples=300, deadline=None)
@given(family=sd_family(), received_at=receive_time)
def test_sd_shapes_read_any_values_as_the_reference(family: list[str], received_at: float) -> None:
    same_records([(line.encode(), received_at, SOURCE) for line in family])


@st.composite
def meraki_family(draw: st.DrawFn) -> list[str]:
    keys = draw(st.lists(st.sampled_from(["src", "dst", "radio", "a.b", "x-y", "type", "src"]), min_size=1, max_size=6))
    quotes = [draw(st.sampled_from(["", "'", '"'])) for _ in keys]
    category = draw(st.sampled_from(["flows", "events", "urls"]))
    tail = draw(st.sampled_from(["", " pattern: allow all", " request: GET x"]))

    def line(values: list[str]) -> str:
        pairs = " ".join(f"{k}={q}{v}{q}" for k, q, v in zip(keys, quotes, values, strict=True))
        return f"<134>1 1796227199.123456789 MX250 {category} {pairs}{tail}"

    plain = line([f"v{n}" for n in range(len(keys))])
    empty = line(["" for _ in keys])
    variants = [line([draw(tricky_value) for _ in keys]) for _ in range(6)]
    return [plain, plain, plain, empty, empty, *variants]


@settings(max_examples=300, deadline=None)
@given(family=meraki_family(), received_at=receive_time)
def test_meraki_shapes_read_any_values_as_the_reference(family: list[str], received_at: float) -> None:
    same_records([(line.encode(), received_at, SOURCE) for line in family])
