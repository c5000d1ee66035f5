"""Counting the records of an NDJSON chunk (records joined by newlines, no newline at the end),
and cutting it into segment-sized pieces, which the engine does for every chunk a collector sends.

`records` and `cuts` are compiled (`_ndjson.c`, built by setup.py like the syslog fast path) where a C
compiler was there at install, and this module's `records_reference` otherwise; both give the
same answers (tests/unit/test_ndjson_records.py).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

NEWLINE = b"\n"


def records_reference(chunk: bytes | bytearray | memoryview) -> int:
    """How many records `chunk` joins, or -1 if one is empty (a newline first, last or doubled)."""
    data = bytes(chunk)
    if not data or data[:1] == NEWLINE or data[-1:] == NEWLINE or b"\n\n" in data:
        return -1
    return data.count(NEWLINE) + 1


def cuts_reference(chunk: bytes, size: int) -> list[tuple[int, int]]:
    """Where to cut `chunk` into pieces of about `size` bytes at record bounds (the first newline
    `size - 1` bytes or more into each piece; one record may be longer), with each piece's
    record count: [(end, records), ...], the piece ending before the newline at `end`."""
    out, start = [], 0
    while start < len(chunk):
        cut = chunk.find(NEWLINE, start + max(size - 1, 1))
        end = len(chunk) if cut < 0 else cut
        out.append((end, chunk.count(NEWLINE, start, end) + 1))
        start = end + 1
    return out


records: Callable[[bytes | bytearray | memoryview], int]
cuts: Callable[[bytes, int], list[tuple[int, int]]]
try:
    _compiled = importlib.import_module("collectors.common._ndjson")
    records, cuts = _compiled.records, _compiled.cuts
except (ImportError, AttributeError):
    records, cuts = records_reference, cuts_reference
