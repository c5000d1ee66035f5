"""Records as the API hands them out (`buffer tail`, `export`, samples): one JSON object each.

A record's keys depend on its service (see the README's record reference); they are kept as
plain objects so a newer engine's fields pass through an older client untouched.
"""

from __future__ import annotations

import msgspec

Record = dict[str, object]

_decode = msgspec.json.Decoder(Record).decode


def decode_record(line: bytes | msgspec.Raw) -> Record:
    return _decode(line)
