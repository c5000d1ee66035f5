"""Request bodies: shapes, encodings, limits, and refusals that name the problem."""

from __future__ import annotations

import gzip
import json
import zlib

import pytest
import zstandard

from collectors.winevents.body import BodyError, decode_content, parse_documents

EVENT = {"event_id": 4625, "computer": "DC01"}


def test_object_array_and_ndjson() -> None:
    assert parse_documents(json.dumps(EVENT).encode()).items == [(0, EVENT)]
    assert parse_documents(json.dumps([EVENT, EVENT]).encode()).items == [(0, EVENT), (1, EVENT)]
    ndjson = (json.dumps(EVENT) + "\n\n" + json.dumps(EVENT) + "\n").encode()
    assert parse_documents(ndjson).items == [(0, EVENT), (2, EVENT)]


def test_pretty_printed_object_is_one_document() -> None:
    assert parse_documents(json.dumps(EVENT, indent=2).encode()).items == [(0, EVENT)]


def test_a_broken_ndjson_line_costs_only_that_line() -> None:
    body = b'{"event_id": 1}\n{"event_id": 2,\n{"event_id": 3}\n'
    documents = parse_documents(body)
    assert [index for index, _ in documents.items] == [0, 2]
    (error,) = documents.errors
    assert error.index == 1
    assert error.reason == "bad JSON at line 2, byte 31: the document is truncated"


def test_a_broken_first_ndjson_line_costs_only_that_line() -> None:
    documents = parse_documents(b'{"event_id": 1,,}\n{"event_id": 2}\n')
    assert [index for index, _ in documents.items] == [1]
    assert documents.errors[0].index == 0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"event_id": 4625, "computer": "DC0', "bad JSON at byte 35: the document is truncated"),
        (b'[{"event_id": 1}, {"event_id": 2]', "bad JSON at byte 32"),
        (b'{"event_id": 1, }', "bad JSON at byte 16"),
        (b"", "the body is empty"),
        (b"  \n ", "the body is empty"),
        (b"[]", "the body is an empty array"),
        (b'{"message": "caf\xe9"}', "invalid UTF-8 at byte 16"),
        (b"[" * 40 + b"]" * 40, "JSON nested deeper than 32 levels"),
        (b"[" * 5000 + b"]" * 5000, "JSON nested deeper than 32 levels"),
    ],
)
def test_refusals_name_the_problem(body: bytes, reason: str) -> None:
    with pytest.raises(BodyError) as caught:
        parse_documents(body)
    assert caught.value.reason.startswith(reason)
    assert caught.value.status == 400


def test_depth_counts_only_structure_not_brackets_in_strings() -> None:
    deep_text = {"event_id": 1, "message": "[" * 100 + "{" * 100}
    assert parse_documents(json.dumps(deep_text).encode()).items == [(0, deep_text)]
    nested = {"a": {"b": {"c": [[[1]]]}}}
    assert parse_documents(json.dumps(nested).encode(), max_depth=6).items == [(0, nested)]
    with pytest.raises(BodyError, match="deeper than 5"):
        parse_documents(json.dumps(nested).encode(), max_depth=5)


def test_ndjson_deep_line_is_refused_alone() -> None:
    body = b'{"event_id": 1}\n' + b'{"a":' * 40 + b"1" + b"}" * 40 + b"\n"
    documents = parse_documents(body)
    assert len(documents.items) == 1
    assert documents.errors[0].reason == "JSON nested deeper than 32 levels (line 2); flatten the event"


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, as some clients send
        ("zstd", lambda data: zstandard.ZstdCompressor().compress(data)),
        ("identity", lambda data: data),
        (None, lambda data: data),
    ],
)
def test_encodings(encoding: str | None, compress: object) -> None:
    data = json.dumps([EVENT] * 100).encode()
    assert decode_content(compress(data), encoding, 1 << 20) == data  # type: ignore[operator]


def test_concatenated_gzip_members() -> None:
    assert decode_content(gzip.compress(b"[1,") + gzip.compress(b"2]"), "gzip", 100) == b"[1,2]"


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("zstd", lambda data: zstandard.ZstdCompressor().compress(data))],
)
def test_zip_bomb_is_refused_at_the_limit(encoding: str, compress: object) -> None:
    bomb = compress(b" " * (64 << 20))  # type: ignore[operator]
    assert len(bomb) < 100_000
    with pytest.raises(BodyError) as caught:
        decode_content(bomb, encoding, 1 << 20)
    assert caught.value.status == 413
    assert caught.value.reason == f"{encoding} body expands beyond 1048576 bytes; send smaller batches"


def test_bad_and_unknown_encodings() -> None:
    with pytest.raises(BodyError, match="gzip body is not valid gzip data"):
        decode_content(b"not gzip", "gzip", 100)
    with pytest.raises(BodyError, match="truncated"):
        decode_content(gzip.compress(b"x" * 1000)[:20], "gzip", 10_000)
    with pytest.raises(BodyError, match="zstd body is not valid zstd data"):
        decode_content(b"not zstd at all", "zstd", 100)
    with pytest.raises(BodyError) as caught:
        decode_content(b"x", "br", 100)
    assert caught.value.status == 415
    assert "content-encoding 'br' is not supported" in caught.value.reason
