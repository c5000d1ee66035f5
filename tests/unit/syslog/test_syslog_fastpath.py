"""The compiled fast path (collectors/syslog/_fastparse.c) against the reference parser.

For every input, the fast path either declines it (None) or writes exactly the line the
collector would have written from `parse.py`'s record: the same bytes, the same format. Checked
on generated RFC 5424 and RFC 3164 lines with random fields, random bytes, truncations and
invalid UTF-8, on every syslog line the other tests and the corpora hold, and on the venue mix.
"""

from __future__ import annotations

import ast
import calendar
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from collectors.syslog import SyslogFramer, fastpath, parse_message
from collectors.syslog.parse import _CLOCK
from nocraven.simulate.venue_mix import venue_mix
from tests.support.syslog_corpus import CORPUS, RECEIVED_AT
from tests.unit.syslog.test_syslog_fuzz import FRAGMENTS, syslogish


def _compiled() -> ModuleType:
    try:
        from collectors.syslog import _fastparse  # type: ignore[attr-defined, unused-ignore]
    except ImportError:
        if shutil.which("cc") is None and shutil.which("gcc") is None:
            pytest.skip("no C compiler here, so no compiled fast path to check (the collector runs parse.py)")
        raise AssertionError(
            "collectors.syslog._fastparse is not built although a C compiler is installed: "
            "install python3-dev and run `pip install -e .` again"
        ) from None
    return _fastparse


FAST = _compiled()
ENCODE = msgspec.json.Encoder().encode
SOURCE = "192.0.2.7:51514"


def check(messages: list[bytes], received_at: float, source: str = SOURCE) -> int:
    """Assert fast == reference wherever the fast path answers; the number it answered."""
    received_text, received_year, _ = _CLOCK.received(received_at)
    runs, declined, formats = FAST.encode_batch(
        messages, [source] * len(messages), received_at, received_text, received_year
    )
    assert len(formats) == len(messages) and len(runs) == len(declined) + 1
    # One line per message taken (JSON strings escape newlines), in runs between those declined.
    taken = iter(line + b"\n" for run in runs for line in run.split(b"\n")[:-1])
    lines = [None if index in declined else next(taken) for index in range(len(messages))]
    assert next(taken, None) is None
    handled = 0
    for data, line, fmt in zip(messages, lines, formats, strict=True):
        if line is None:
            assert fmt is None
            continue
        record = parse_message(data, received_at, source)
        expected = ENCODE(record) + b"\n"
        assert line == expected, f"fast path differs from parse.py for {data!r}"
        assert fmt == record["format"]
        handled += 1
    return handled


# --- generated lines ---------------------------------------------------------------------------

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# 2000-2100, and a day either side of midnight on New Year's Eve 2026 (year inference).
received = st.one_of(
    st.floats(946684800, 4102444800),
    st.floats(1798675200 - 2 * 86400, 1798675200 + 2 * 86400),
    st.sampled_from([1798675200 - 0.0004, 1798675200 - 0.0005, 1798675200 + 0.9996, RECEIVED_AT]),
)
ascii_token = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=12)
odd_token = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12).filter(
    lambda t: not any(c in t for c in " \t\n\r\x0b\x0c")
)
token = st.one_of(ascii_token, odd_token, st.just("-"), st.sampled_from(["h" * 256, "a" * 49, "p" * 129, "m" * 33]))
text = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
    st.sampled_from(["", " ", "\ufeffBOM first", "x \t\r\n\x00", "3 digits", "é accent", "Upper: case", "X_Y: z"]),
)
sd_name = st.one_of(
    st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=8),
    st.sampled_from(["meta", "origin", "exampleSDID@32473", "junos@2636.1.1.1.2.18", "a=b", 'q"', "x]"]),
)
sd_value = st.one_of(st.text(max_size=12), st.sampled_from(['\\"', "\\\\", "\\]", "\\x", "]", '"', "a\\"]))


@st.composite
def structured_data(draw: st.DrawFn) -> str:
    elements = []
    for _ in range(draw(st.integers(1, 3))):
        params = "".join(
            draw(st.sampled_from([" ", "  "])) + draw(sd_name) + '="' + draw(sd_value) + '"'
            for _ in range(draw(st.integers(0, 3)))
        )
        elements.append("[" + draw(sd_name) + params + draw(st.sampled_from(["", " "])) + "]")
    return "".join(elements)


@st.composite
def rfc3339(draw: st.DrawFn) -> str:
    year = draw(st.one_of(st.integers(1, 9999), st.integers(2020, 2030), st.just(0)))
    month, day = draw(st.integers(0, 13)), draw(st.integers(0, 32))
    hour, minute, second = draw(st.integers(0, 25)), draw(st.integers(0, 60)), draw(st.integers(0, 61))
    fraction = draw(st.sampled_from(["", ".1", ".123", ".123456", ".1234567", ".123456789", ".1234567890", "."]))
    zone = draw(
        st.sampled_from(["", "Z", "z", "+00:00", "-00:00", "+0000", "+01:00", "-0530", "+23:59", "+24:00", "+01:0"])
    )
    sep = draw(st.sampled_from(["T", "t", " "]))
    return f"{year:04d}-{month:02d}-{day:02d}{sep}{hour:02d}:{minute:02d}:{second:02d}{fraction}{zone}"


@st.composite
def rfc5424_lines(draw: st.DrawFn) -> bytes:
    pri = draw(st.integers(0, 200))
    version = draw(st.sampled_from(["1", "1", "2", "10", "0"]))
    stamp = draw(st.one_of(rfc3339(), st.just("-"), st.just("1795752611.123456789")))
    fields = [draw(token) for _ in range(4)]
    rest = draw(st.one_of(st.just("-"), structured_data(), st.just(""), text))
    message = draw(text)
    seps = [draw(st.sampled_from([" ", " ", " ", "  ", "\t"])) for _ in range(7)]
    line = f"<{pri}>{version}{seps[0]}{stamp}"
    for sep, value in zip(seps[1:5], fields, strict=True):
        line += sep + value
    line += seps[5] + rest + draw(st.sampled_from([" ", "", "\t", "x"])) + message
    return line.encode()


@st.composite
def rfc3164_lines(draw: st.DrawFn) -> bytes:
    pri = draw(st.sampled_from(["<13>", "<0>", "<191>", "<192>", "<013>", "", "<1>"]))
    month = draw(st.one_of(st.sampled_from(MONTHS), st.sampled_from(["JAN", "dec", "Foo", "jAn"])))
    day = draw(st.integers(0, 32))
    day_text = draw(st.sampled_from([f"{day:2d}", f"{day}", f"{day:02d}", f" {day:2d}"]))
    clock = f"{draw(st.integers(0, 24)):02d}:{draw(st.integers(0, 60)):02d}:{draw(st.integers(0, 61)):02d}"
    fraction = draw(st.sampled_from(["", ".5", ".123456", ".1234567"]))
    year = draw(st.sampled_from(["", " 2026", "2026 "]))
    host = draw(
        st.one_of(
            st.just(""),
            st.sampled_from(["host ", "- ", "fe80::1 ", "host: ", "h :", "1234 "]),
            ascii_token.map(lambda t: t + " "),
        )
    )
    app = draw(st.one_of(token, st.sampled_from(["dhcpd", "date=x", "%SYS", "a,b", "RPD"])))
    pid = draw(st.sampled_from(["", "[123]", "[]", "[1 2]", "[abc]:"]))
    colon = draw(st.sampled_from([":", "", ": "]))
    message = draw(st.one_of(text, st.sampled_from(["<501080> x", "RPD_X_Y: z", ": %SYS", "ABC: x"])))
    after = draw(st.sampled_from([" ", "\t", ""]))
    if year == "2026 ":
        line = f"{pri}{month} {day_text} {year}{clock}{fraction} {host}{app}{pid}{colon}{after}{message}"
    else:
        line = f"{pri}{month} {day_text} {clock}{fraction}{year} {host}{app}{pid}{colon}{after}{message}"
    return line.encode()


host_token = st.text(st.sampled_from("abcdefgh-XYZ019.%@:_"), min_size=1, max_size=12).filter(lambda t: t[-1] != ":")
word = st.text(st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters="[]:,"), min_size=1, max_size=10)


@st.composite
def clean_lines(draw: st.DrawFn) -> tuple[bytes, float]:
    """Well-formed RFC 5424 or RFC 3164 lines (the fast path's business) sent near their receive
    time, one field at a time made odd now and then, with the time they are received."""
    received_at = draw(received)
    sent = received_at + draw(st.one_of(st.floats(-3, 3), st.floats(-4000, 4000), st.floats(-4e6, 4e6)))
    sent = min(max(sent, 86400.0 * 400), 253402300000.0)
    tm = time.gmtime(sent)
    pri = draw(st.one_of(st.integers(0, 191), st.integers(0, 191), st.sampled_from(["013", "0", "192", "999"])))
    message = draw(text)
    if draw(st.booleans()):
        fraction = draw(st.sampled_from(["", ".5", ".123", ".123456", ".1234567", ".000"]))
        zone = draw(st.sampled_from(["Z", "Z", "z", "", "+00:00", "-0000", "+01:00", "-05:30", "+0530", "+23:59"]))
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", tm) + fraction + zone
        stamp = draw(st.one_of(st.just(stamp), st.just(stamp), st.just("-"), rfc3339()))
        fields = [draw(st.one_of(word, word, word, token)) for _ in range(4)]
        rest = draw(st.one_of(st.just("-"), structured_data(), structured_data(), st.just("")))
        line = f"<{pri}>1 {stamp} {' '.join(fields)} {rest}" + draw(st.sampled_from([" ", " ", "", "\t"])) + message
    else:
        month = MONTHS[tm.tm_mon - 1]
        month = draw(st.sampled_from([month, month, month.upper(), month.lower()]))
        day = draw(st.sampled_from([f"{tm.tm_mday:2d}", f"{tm.tm_mday:2d}", f"{tm.tm_mday:02d}", f"{tm.tm_mday}"]))
        clock = time.strftime("%H:%M:%S", tm) + draw(st.sampled_from(["", "", ".5", ".123456"]))
        host = draw(st.one_of(host_token.map(lambda h: h + " "), st.just(""), st.just("- ")))
        app = draw(st.one_of(word, word, token))
        pid = draw(st.one_of(st.just(""), st.just(""), st.integers(0, 99999).map(lambda n: f"[{n}]"), st.just("[]")))
        sep = draw(st.sampled_from([": ", ": ", ":\t", "[1]: ", " "]))
        line = f"<{pri}>{month} {day} {clock} {host}{app}{pid}{sep}{message}"
    return line.encode(), received_at


JUNK = st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe9", b"\x00", b"\xef\xbb\xbf"])


@settings(max_examples=2000, deadline=None)
@given(sample=clean_lines(), cut=st.integers(0, 120), junk=JUNK)
def test_clean_lines_match_the_reference(sample: tuple[bytes, float], cut: int, junk: bytes) -> None:
    line, received_at = sample
    check(mutate(line, cut, junk), received_at)


def mutate(data: bytes, cut: int, junk: bytes) -> list[bytes]:
    """The line, truncated, with invalid UTF-8 spliced in."""
    cut = min(cut, len(data))
    return [data, data[:cut], data[:cut] + junk + data[cut:], data + b"\n", data + b"\r\n\x00"]


@settings(max_examples=1000, deadline=None)
@given(line=st.one_of(rfc5424_lines(), rfc3164_lines()), received_at=received, cut=st.integers(0, 200), junk=JUNK)
@example(line=b"<13>1 2026-01-10T12:00:00Z h a p m - x", received_at=RECEIVED_AT, cut=0, junk=b"\xff")
# Escapes in every byte of an 8-byte word (the JSON writer scans eight at a time).
@example(
    line=b'<13>1 - h a p m - a\nb\x00c\x01d"e\\fxxxxxxxxxxxxxxxxxxx\n\x00"', received_at=RECEIVED_AT, cut=0, junk=b""
)
@example(line=b"<13>Jan  1 00:00:00 host app[1]: x", received_at=1798675200 - 0.0004, cut=0, junk=b"\xff")
def test_generated_lines_match_the_reference(line: bytes, received_at: float, cut: int, junk: bytes) -> None:
    check(mutate(line, cut, junk), received_at)


@settings(max_examples=800, deadline=None)
@given(data=st.one_of(st.binary(max_size=300), syslogish), received_at=received)
def test_random_bytes_match_the_reference(data: bytes, received_at: float) -> None:
    check([data, b"<13>" + data, b"<13>1 " + data, b"<13>Jan  1 00:00:00 " + data], received_at)


# --- every syslog line the tests, the corpora and the venue mix hold ----------------------------


def literal_lines() -> Iterator[bytes]:
    """Every bytes or str literal in the syslog tests and helpers that starts like a syslog line."""
    root = Path(__file__).parents[2]
    files = [*root.glob("unit/syslog/*.py"), *root.glob("integration/test_syslog*.py"), *root.glob("support/*.py")]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, bytes | str):
                value = node.value.encode() if isinstance(node.value, str) else node.value
                if value.startswith(b"<") and len(value) > 4:
                    yield value


def corpus_dir() -> Path | None:
    """The telegraf corpus beside the checkout (or beside the tree that holds a worktree)."""
    found = [CORPUS, *(parent / "shared" / "corpora" / CORPUS.name for parent in Path(__file__).parents)]
    return next((path for path in found if path.is_dir()), None)


def corpus_frames() -> Iterator[bytes]:
    corpus = corpus_dir()
    if corpus is None:
        return
    for case in sorted(corpus.iterdir()):
        framer = SyslogFramer()
        for path in sorted(case.glob("input*.txt")):
            data = path.read_bytes()
            yield data
            yield from framer.feed(data)
        yield from framer.flush()


def test_every_known_line_matches_the_reference() -> None:
    lines = [*literal_lines(), *corpus_frames(), *FRAGMENTS]
    assert len(lines) > 200
    for received_at in (RECEIVED_AT, 1768046400.25, time.time()):
        handled = check(lines, received_at)
        assert handled > 50  # the fast path takes the plain lines among them


def test_venue_mix_matches_the_reference_and_its_plain_lines_are_taken() -> None:
    # The venue mix is mostly vendor dialects, which parse.py keeps; its plain BSD and IETF
    # lines are what the fast path is for.
    start = calendar.timegm((2026, 12, 2, 16, 0, 0, 0, 0, 0))
    handled = plain = 0
    for data, received_at, source in venue_mix(7, 3000, start):
        handled += check([data], received_at, source)
        plain += parse_message(data, received_at, source)["format"] in ("rfc3164", "rfc5424")
    assert plain > 100
    assert handled >= plain * 0.9


def test_the_benchmark_mix_is_taken_whole() -> None:
    from bench.syslog_stages import messages

    now = time.time()
    batch = messages(2000, now)
    assert check(batch, now) == len(batch)


# --- the one function both worker kinds call -----------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.one_of(rfc5424_lines(), rfc3164_lines(), st.binary(max_size=80)), max_size=20),
    received_at=received,
)
def test_parse_encode_batch_equals_the_reference_batch(lines: list[bytes], received_at: float) -> None:
    senders = [f"10.0.0.{i % 3}:{514 + i}" for i in range(len(lines))]
    assert fastpath.parse_encode_batch(lines, senders, received_at) == fastpath.reference_batch(
        lines, senders, received_at
    )


# --- clock_skew_s: Python's round(x, 3), ties to even, -0.0, and msgspec's float text ------------

STAMP_EPOCH = calendar.timegm((2026, 1, 10, 12, 0, 0, 0, 0, 0))
SKEWS = [0.0625, -0.0625, 0.1875, 0.0005, -0.0005, 0.0004, -0.0004, 0.0015, 2.5e-4, 3600.0, 3600.0004, -3600.0006]


@settings(max_examples=500, deadline=None)
@given(
    skew=st.one_of(st.sampled_from(SKEWS), st.floats(-1e7, 1e7), st.floats(-2, 2)), fraction=st.sampled_from(["", ".5"])
)
def test_clock_skew_is_rounded_and_written_as_python_does(skew: float, fraction: str) -> None:
    lines = [
        f"<13>1 2026-01-10T12:00:00{fraction}Z h a p m - x".encode(),
        f"<13>Jan 10 12:00:00{fraction} h a: x".encode(),
    ]
    assert check(lines, STAMP_EPOCH - skew) == 2


# --- without the extension -----------------------------------------------------------------------

FALLBACK = """
import sys
sys.modules["collectors.syslog._fastparse"] = None  # as on a machine that could not build it
from collectors.syslog import fastpath
lines = [b"<13>Jan 10 12:00:00 h a: x", b"<13>1 - h a p m - y", b"junk"]
senders = ["10.0.0.1:514"] * 3
assert not fastpath.FAST_PATH
now = 1768046400.0
assert fastpath.parse_encode_batch(lines, senders, now) == fastpath.reference_batch(lines, senders, now)
print(fastpath.FAST_PATH_NOTICE)
"""


def test_without_the_extension_the_reference_parses_and_the_log_says_so() -> None:
    root = Path(__file__).parents[3]
    result = subprocess.run([sys.executable, "-c", FALLBACK], cwd=root, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "compiled parser not built" in result.stdout and "pure Python" in result.stdout
    env = {**os.environ, "NOCRAVEN_SYSLOG_FASTPATH": "0"}
    code = "from collectors.syslog import fastpath; print(fastpath.FAST_PATH, fastpath.FAST_PATH_NOTICE)"
    result = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.startswith("False syslog: parsing in pure Python")
