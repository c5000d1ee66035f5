"""JSON on the wire: one encoder for every response, event and record line."""

from __future__ import annotations

from typing import Any

import msgspec

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


def dumps(value: Any) -> bytes:
    return _encoder.encode(value)


def dumps_line(value: Any) -> bytes:
    return _encoder.encode(value) + b"\n"


def loads(data: bytes | str) -> Any:
    return _decoder.decode(data)


NDJSON = "application/x-ndjson"
JSON = "application/json"


def to_plain(value: Any) -> Any:
    """Wire Structs (and the encoded details inside them) as plain JSON values, for printing."""
    return _decoder.decode(_encoder.encode(value))
