"""Compact stored forms: how a service's cold segments can be kept in fewer bytes and rebuilt,
byte for byte, when read (segment format 3, "packed").

A form belongs to the component that defines the records (syslog's lives beside its parser in
`collectors/syslog/stored.py`); the buffer only calls it. Which services have one is decided
here, in one place, so the store, the engine and the benchmark agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from collectors.syslog import stored as syslog_stored


@dataclass(frozen=True, slots=True)
class StoredForm:
    """`pack` turns a segment's records (JSON, no newline) into a body; `unpack` gives them back
    exactly, or raises ValueError for a body it cannot read."""

    name: str
    pack: Callable[[list[bytes]], bytes]
    unpack: Callable[[bytes], list[bytes]]

    def dictionary_key(self, service: str) -> str:
        """The dictionary book's key for this form's packed bodies (not a service name)."""
        return f"{service}:{self.name}"


FORMS: Mapping[str, StoredForm] = {
    "syslog": StoredForm(syslog_stored.NAME, syslog_stored.pack, syslog_stored.unpack),
}
