"""Syslog collector: sans-IO parser (`parse`), vendor dialects (`profiles`), TCP framer."""

from __future__ import annotations

from collectors.syslog.framing import SyslogFramer
from collectors.syslog.parse import (
    FORMATS,
    RECORD_KEYS,
    SyslogRecord,
    parse_batch,
    parse_message,
)

__all__ = ["FORMATS", "RECORD_KEYS", "SyslogFramer", "SyslogRecord", "parse_batch", "parse_message"]
