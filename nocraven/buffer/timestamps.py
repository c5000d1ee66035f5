"""Receive times: the `received_at` field of a record (RFC 3339), read without a JSON parse."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_RECEIVED_AT = re.compile(rb'"received_at"\s*:\s*"([^"]{10,40})"')


def received_at(record: bytes) -> float | None:
    """Epoch seconds of the record's `received_at`, or None when absent or unreadable."""
    match = _RECEIVED_AT.search(record)
    if match is None:
        return None
    try:
        moment = datetime.fromisoformat(match.group(1).decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # the record schema says UTC
    return moment.timestamp()


def as_epoch(moment: float | datetime) -> float:
    if isinstance(moment, datetime):
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    return float(moment)
