"""Syslog relay sink: syslog records to a central syslog server, RFC 5424 over TCP or TLS with
RFC 5425 octet counting (`LEN SP MSG`), keeping each message's original hostname and timestamp.

Syslog has no application-level acknowledgement: a batch counts as delivered once the kernel
took it (written and drained). A connection lost mid-batch re-sends the batch on reconnect, so
the central server may see a few messages twice; that is the most plain syslog can promise.
Records of other kinds (gap events) go out as the appliance's own messages, their JSON as MSG.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import msgspec

from nocraven.forward.batching import Batch
from nocraven.forward.settings import SinkSettings
from nocraven.forward.sinks.base import Delivered, Outcome, SinkUnavailable, client_tls

_decoder = msgspec.json.Decoder()
_UNPRINTABLE = re.compile(r"[^\x21-\x7e]")
_SD_NAME_BAD = re.compile(r'[^\x21-\x7e]|[= \]"]')
_DEFAULT_FACILITY, _DEFAULT_SEVERITY = 1, 5  # user.notice, as RFC 5424 suggests for unknowns


def _header_field(value: Any, limit: int) -> str:
    if value is None or value == "":
        return "-"
    text = _UNPRINTABLE.sub("_", str(value))[:limit]
    return text or "-"


def _sd_name(value: str) -> str:
    return _SD_NAME_BAD.sub("_", value)[:32] or "_"


def _sd_value(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _timestamp(value: Any) -> str | None:
    """RFC 5424 TIMESTAMP (RFC 3339, at most microseconds), or None when unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    text = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def structured_data(sd: Any) -> str:
    if not isinstance(sd, dict) or not sd:
        return "-"
    parts = []
    for sd_id, params in sd.items():
        inner = (
            "".join(f' {_sd_name(str(name))}="{_sd_value(value)}"' for name, value in (params or {}).items())
            if isinstance(params, dict)
            else ""
        )
        parts.append(f"[{_sd_name(str(sd_id))}{inner}]")
    return "".join(parts)


def format_5424(record: dict[str, Any], site: str) -> bytes:
    """One record as an RFC 5424 message (no framing)."""
    if record.get("service") != "syslog":
        stamp = _timestamp(record.get("received_at")) or "-"
        body = msgspec.json.encode(record).decode()
        host, kind = _header_field(site, 255), _header_field(record.get("service"), 32)
        return f"<{8 * 5 + 5}>1 {stamp} {host} nocraven - {kind} - {body}".encode()
    facility = record.get("facility")
    severity = record.get("severity")
    facility = facility if isinstance(facility, int) and 0 <= facility <= 23 else _DEFAULT_FACILITY
    severity = severity if isinstance(severity, int) and 0 <= severity <= 7 else _DEFAULT_SEVERITY
    stamp = _timestamp(record.get("timestamp")) or _timestamp(record.get("received_at")) or "-"
    hostname = record.get("hostname") or str(record.get("source") or "").rpartition(":")[0].strip("[]") or None
    message = record.get("message")
    if message is None:
        message = record.get("raw") or ""
    header = " ".join(
        (
            f"<{facility * 8 + severity}>1",
            stamp,
            _header_field(hostname, 255),
            _header_field(record.get("app_name"), 48),
            _header_field(record.get("procid"), 128),
            _header_field(record.get("msgid"), 32),
            structured_data(record.get("structured_data")),
        )
    )
    return f"{header} {message}".encode()


def frame(message: bytes) -> bytes:
    """RFC 5425 / RFC 6587 octet counting."""
    return b"%d %s" % (len(message), message)


def encode_batch(batch: Batch) -> bytes:
    frames = []
    for raw in batch.records:
        try:
            record = _decoder.decode(raw)
        except msgspec.DecodeError:
            record = {"service": batch.service, "message": raw.decode("utf-8", "replace")}
        if not isinstance(record, dict):
            record = {"service": batch.service, "message": str(record)}
        frames.append(frame(format_5424(record, batch.site)))
    return b"".join(frames)


class SyslogSink:
    def __init__(self, settings: SinkSettings, site: str) -> None:
        self.name = settings.name
        self.settings = settings
        self.site = site
        self._writer: asyncio.StreamWriter | None = None
        self._url_index = 0

    async def connect(self) -> None:
        await self.close()
        errors: list[str] = []
        urls = self.settings.urls
        for attempt in range(len(urls)):
            url = urls[(self._url_index + attempt) % len(urls)]
            parts = urlsplit(url)
            context: ssl.SSLContext | None = client_tls(self.settings) if parts.scheme == "tls" else None
            try:
                _, writer = await asyncio.wait_for(
                    asyncio.open_connection(parts.hostname, parts.port, ssl=context),
                    self.settings.timeout_s,
                )
            except (TimeoutError, OSError, ssl.SSLError) as exc:
                errors.append(f"{url}: {exc or type(exc).__name__}")
                continue
            self._writer = writer
            self._url_index = (self._url_index + attempt) % len(urls)
            return
        raise SinkUnavailable("syslog server unreachable: " + "; ".join(errors))

    async def deliver(self, batch: Batch) -> Outcome:
        writer = self._writer
        if writer is None or writer.is_closing():
            raise SinkUnavailable(f"syslog sink {self.name}: connection closed")
        data = encode_batch(batch)
        try:
            writer.write(data)  # written before any await: concurrent batches keep their order
            await asyncio.wait_for(writer.drain(), self.settings.timeout_s)
        except (TimeoutError, OSError) as exc:
            raise SinkUnavailable(f"syslog connection lost: {exc or type(exc).__name__}") from None
        return Delivered()

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        writer.close()
        with contextlib.suppress(OSError, asyncio.TimeoutError, ssl.SSLError):
            await asyncio.wait_for(writer.wait_closed(), 2)
