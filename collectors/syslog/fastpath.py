"""Parse and encode a batch of syslog messages: the compiled fast path where it applies, the
reference parser (`parse.py`) for everything else.

`_fastparse` (C, built by setup.py when a compiler is there) writes the NDJSON line of the common
RFC 5424 and RFC 3164 shapes directly, byte for byte what `parse.py` and msgspec would write
(tests/unit/syslog/test_syslog_fastpath.py holds it to that), and declines anything else.
Without it, or with NOCRAVEN_SYSLOG_FASTPATH=0, every message goes through `parse.py`.
The same extension splits the TCP framer's plain frames (`split_frames`, for framing.py).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable
from itertools import repeat
from types import ModuleType

import msgspec

from collectors.syslog.parse import _CLOCK, SyslogRecord, parse_batch

_fast: ModuleType | None
try:
    _fast = importlib.import_module("collectors.syslog._fastparse")
except ImportError:
    _fast = None

_DISABLED = os.environ.get("NOCRAVEN_SYSLOG_FASTPATH", "1") == "0"
FAST_PATH = _fast is not None and not _DISABLED
# One line for the collector's log, or None when the fast path is on.
FAST_PATH_NOTICE: str | None = (
    None
    if FAST_PATH
    else "syslog: parsing in pure Python (NOCRAVEN_SYSLOG_FASTPATH=0)"
    if _DISABLED
    else "syslog: compiled parser not built (no C compiler or Python headers at install); parsing in pure "
    "Python, about 5x the CPU per message: install gcc and python3-dev, then `pip install -e .` again"
)
# framing.SyslogFramer's plain frames split in C (None: framing.py splits them all itself).
split_frames: Callable[[bytes | bytearray, int, int, int, list[bytes]], int] | None = (
    getattr(_fast, "split_frames", None) if FAST_PATH else None
)
_ENCODER = msgspec.json.Encoder()
_encode_lines: Callable[[Iterable[SyslogRecord]], bytes] = _ENCODER.encode_lines


def reference_batch(messages: list[bytes], senders: list[str], now: float) -> tuple[bytes, list[str]]:
    """NDJSON of the records (one line each) and their formats, all by `parse.py`."""
    records = parse_batch(zip(messages, repeat(now), senders, strict=False))
    return _encode_lines(records), [r["format"] for r in records]


def parse_encode_batch(messages: list[bytes], senders: list[str], now: float) -> tuple[bytes, list[str]]:
    """NDJSON of the records of messages received at `now` from `senders` ("IP:PORT"), in order,
    and each record's format: what `reference_batch` returns, at a fraction of the CPU."""
    if _fast is None or _DISABLED:
        return reference_batch(messages, senders, now)
    received_text, received_year, _ = _CLOCK.received(now)
    runs, declined, formats = _fast.encode_batch(messages, senders, now, received_text, received_year)
    if not declined:
        return runs[0], formats
    records = parse_batch((messages[index], now, senders[index]) for index in declined)
    encode = _ENCODER.encode
    parts = [runs[0]]
    for index, record, run in zip(declined, records, runs[1:], strict=True):
        parts += (encode(record), b"\n", run)
        formats[index] = record["format"]
    return b"".join(parts), formats
