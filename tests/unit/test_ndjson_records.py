"""The engine's record count of an NDJSON chunk: compiled (collectors/common/_ndjson.c) and
Python (`records_reference`) agree on every chunk, empty records included."""

from __future__ import annotations

import importlib
import shutil

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from collectors.common import ndjson


def test_counts_records_and_flags_an_empty_one() -> None:
    for count in (ndjson.records, ndjson.records_reference):
        assert count(b'{"a":1}') == 1
        assert count(b'{"a":1}\n{"b":2}\n{"c":3}') == 3
        assert count(bytearray(b"x\ny")) == 2
        for bad in (b"", b"\n", b"x\n", b"\nx", b"x\n\ny", b"\n\n"):
            assert count(bad) == -1


@settings(max_examples=1000, deadline=None)
@given(chunk=st.lists(st.sampled_from([b"\n", b"a", b'{"x":"\\n"}', b"\r", b"\x00"]), max_size=60).map(b"".join))
@example(chunk=b"a" * 300 + b"\n" + b"b" * 300)
def test_compiled_count_equals_the_reference(chunk: bytes) -> None:
    try:
        compiled = importlib.import_module("collectors.common._ndjson")
    except ImportError:
        if shutil.which("cc") is None and shutil.which("gcc") is None:
            pytest.skip("no C compiler here: the engine counts in Python")
        raise AssertionError("collectors.common._ndjson is not built although a C compiler is installed") from None
    assert compiled.records(chunk) == ndjson.records_reference(chunk)
    assert compiled.records(memoryview(chunk)) == ndjson.records_reference(chunk)


def test_cuts_pieces_at_record_bounds_near_the_size() -> None:
    chunk = b"\n".join([b"a" * 10, b"b" * 3, b"c" * 30, b"d"])
    for cuts in (ndjson.cuts, ndjson.cuts_reference):
        assert cuts(chunk, 12) == [(14, 2), (45, 1), (47, 1)]  # the 30-byte record alone, longer
        assert cuts(chunk, 1000) == [(len(chunk), 4)]
        assert cuts(b"", 10) == []


@settings(max_examples=1000, deadline=None)
@given(
    chunk=st.lists(st.sampled_from([b"\n", b"a", b'{"x":1}', b"\r"]), max_size=80).map(b"".join),
    size=st.integers(-2, 40),
)
def test_compiled_cuts_equal_the_reference(chunk: bytes, size: int) -> None:
    try:
        compiled = importlib.import_module("collectors.common._ndjson")
    except ImportError:
        pytest.skip("no compiled helper here: the engine cuts in Python")
    assert compiled.cuts(chunk, size) == ndjson.cuts_reference(chunk, size)
