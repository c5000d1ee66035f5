"""Human formatting shared by the CLI and the console: sizes, counts, durations, times (UTC)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def human_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def human_count(n: float | None) -> str:
    """Counts that must fit a narrow panel: 987, 12.3k, 4.56M."""
    if n is None:
        return "-"
    if abs(n) < 10_000:
        return f"{n:,.0f}"
    for unit, scale in (("k", 1e3), ("M", 1e6), ("G", 1e9)):
        if abs(n) < scale * 1000 or unit == "G":
            return f"{n / scale:.3g}{unit}" if n / scale < 100 else f"{n / scale:.0f}{unit}"
    return f"{n:.0f}"


def human_rate(per_second: float | None) -> str:
    if per_second is None:
        return "-"
    if per_second < 10:
        return f"{per_second:.1f}/s"
    return f"{human_count(per_second)}/s"


def human_bits(per_second: float | None) -> str:
    """A bit rate: 950 b/s, 12.3 Mb/s (decimal units, as links are rated)."""
    if per_second is None:
        return "-"
    for unit, scale in (("b/s", 1.0), ("kb/s", 1e3), ("Mb/s", 1e6), ("Gb/s", 1e9)):
        if abs(per_second) < scale * 1000 or unit == "Gb/s":
            value = per_second / scale
            return f"{value:.0f} {unit}" if unit == "b/s" or value >= 100 else f"{value:.3g} {unit}"
    return f"{per_second:.0f} b/s"


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def clock_time(epoch: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(epoch))


def timestamp(value: Any) -> str:
    """An RFC 3339 string or epoch seconds as `YYYY-MM-DD HH:MM:SSZ`; anything else as given."""
    if value is None or value == "":
        return "-"
    if isinstance(value, int | float):
        return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(value))
    text = str(value)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
    return parsed.strftime("%Y-%m-%d %H:%M:%SZ")


def epoch_seconds(value: Any) -> float | None:
    """Epoch seconds of an RFC 3339 string or a number; None if it is neither."""
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC).timestamp()


def short_time(value: Any) -> str:
    """HH:MM:SS of an RFC 3339 string or epoch seconds (the live tail's first column)."""
    full = timestamp(value)
    return full[11:19] if len(full) >= 19 and full[10] == " " else full[:8]


# ---- records ----------------------------------------------------------------------------------

SERVICE_WIDTH = 8
SOURCE_WIDTH = 21


def summary(record: Mapping[str, object]) -> str:
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
    if service == "poll":
        interfaces = record.get("interfaces")
        values = record.get("values")
        count = len(interfaces) if isinstance(interfaces, list) else 0
        scalars = len(values) if isinstance(values, list) else 0
        return f"{record.get('device')}: {count} interfaces, {scalars} values"
    if service == "winevent":
        return (
            f"{record.get('computer')} {record.get('channel')} {record.get('event_id')}:"
            f" {record.get('message') or ''}".rstrip()
        )
    rest = {k: v for k, v in record.items() if k not in ("service", "received_at", "source", "raw")}
    return " ".join(f"{k}={v}" for k, v in rest.items())


def one_line(record: Mapping[str, object], full_time: bool = False) -> str:
    """A record on one line, as `buffer tail` and the console's live view print it; `full_time`
    keeps the whole RFC 3339 receive time (a log file), else only the time of day (a screen)."""
    service = str(record.get("service", "?"))[:SERVICE_WIDTH]
    source = str(record.get("source", ""))
    received = record.get("received_at")
    when = str(received) if full_time and received else short_time(received)
    text = f"{when:<8} {service:<{SERVICE_WIDTH}} {source:<{SOURCE_WIDTH}} {summary(record)}"
    # Control characters from the wire must not reach the terminal.
    return text.translate(_CONTROL)


_CONTROL = {c: " " for c in range(32)} | {127: " "}
