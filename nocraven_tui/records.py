"""The filter a technician types over live records (the one-line renderer is shared with the CLI)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from nocraven.humanize import SERVICE_WIDTH, SOURCE_WIDTH, one_line, summary

__all__ = ["SERVICE_WIDTH", "SOURCE_WIDTH", "RecordFilter", "one_line", "summary"]


@dataclass(frozen=True)
class RecordFilter:
    """Service prefix, source substring, text substring (case-insensitive); empty matches all."""

    service: str = ""
    source: str = ""
    text: str = ""

    @property
    def active(self) -> bool:
        return bool(self.service or self.source or self.text)

    def matches(self, record: Mapping[str, object]) -> bool:
        if self.service and not str(record.get("service", "")).lower().startswith(self.service.lower()):
            return False
        if self.source and self.source.lower() not in str(record.get("source", "")).lower():
            return False
        return not self.text or self.text.lower() in summary(record).lower()
