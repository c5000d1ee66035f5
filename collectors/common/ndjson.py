"""Counting the records of an NDJSON chunk (records joined by newlines, no newline at the end),
which the engine does for every chunk a collector sends.

`records` is compiled (`_ndjson.c`, built by setup.py like the syslog fast path) where a C
compiler was there at install, and this module's `records_reference` otherwise; both give the
same answer (tests/unit/test_ndjson_records.py).
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


records: Callable[[bytes | bytearray | memoryview], int]
try:
    records = importlib.import_module("collectors.common._ndjson").records
except ImportError:
    records = records_reference
