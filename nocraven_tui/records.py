"""Records as the live tail shows them: one line each, and the filter a technician types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nocraven.humanize import short_time

SERVICE_WIDTH = 8
SOURCE_WIDTH = 21


def summary(record: dict[str, Any]) -> str:
    """The part of a record a person scans for, per service (DESIGN §2.3 keys)."""
    service = record.get("service")
    if service == "syslog":
        who = " ".join(str(p) for p in (record.get("hostname"), record.get("app_name")) if p)
        return f"{who}: {record.get('message', '')}" if who else str(record.get("message", ""))
    if service == "flow":
        return (
            f"{record.get('src_addr')}:{record.get('src_port')} > {record.get('dst_addr')}:{record.get('dst_port')}"
            f" proto {record.get('protocol')} {record.get('bytes')} B {record.get('packets')} pkts"
        )
    if service == "trap":
        name = record.get("trap_name") or record.get("trap_oid")
        return f"{name} from {record.get('agent_addr')} ({record.get('version')})"
    if service == "winevent":
        return (
            f"{record.get('computer')} {record.get('channel')} {record.get('event_id')}:"
            f" {record.get('message') or ''}".rstrip()
        )
    rest = {k: v for k, v in record.items() if k not in ("service", "received_at", "source", "raw")}
    return " ".join(f"{k}={v}" for k, v in rest.items())


def one_line(record: dict[str, Any]) -> str:
    service = str(record.get("service", "?"))[:SERVICE_WIDTH]
    source = str(record.get("source", ""))
    when = short_time(record.get("received_at"))
    text = f"{when:<8} {service:<{SERVICE_WIDTH}} {source:<{SOURCE_WIDTH}} {summary(record)}"
    # Control characters from the wire must not reach the terminal.
    return text.translate(_CONTROL)


_CONTROL = {c: " " for c in range(32)} | {127: " "}


@dataclass(frozen=True)
class RecordFilter:
    """Service prefix, source substring, text substring (case-insensitive); empty matches all."""

    service: str = ""
    source: str = ""
    text: str = ""

    @property
    def active(self) -> bool:
        return bool(self.service or self.source or self.text)

    def matches(self, record: dict[str, Any]) -> bool:
        if self.service and not str(record.get("service", "")).lower().startswith(self.service.lower()):
            return False
        if self.source and self.source.lower() not in str(record.get("source", "")).lower():
            return False
        return not self.text or self.text.lower() in summary(record).lower()
