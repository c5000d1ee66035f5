"""Which records a reader asked for: by sender and by text, decided on the stored NDJSON line.

Sans-IO and exact: the text is searched in the record's decoded string values (so a quote or a
line break in a message is found as it was sent, not as JSON escapes it), case-insensitively.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

_decode = msgspec.json.Decoder().decode


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return [str(value)] if value is not None else []


@dataclass(frozen=True)
class RecordFilter:
    source: str | None = None  # a part of the sender's "IP:PORT"
    text: str | None = None  # a part of any field's text

    @property
    def active(self) -> bool:
        return bool(self.source or self.text)

    def __call__(self, line: bytes) -> bool:
        try:
            record = _decode(line)
        except msgspec.DecodeError:
            return False
        if not isinstance(record, dict):
            return False
        if self.source and self.source not in str(record.get("source") or ""):
            return False
        if self.text:
            needle = self.text.casefold()
            return any(needle in text.casefold() for text in _strings(record))
        return True
