"""Agent dialects (sans-IO): one decoded JSON event in, one winevent record out.

Four shapes reach the endpoint, told apart by their keys:
- `winlogbeat`: Winlogbeat/ECS documents, nested `winlog.*` (`winlog.event_id`, `winlog.channel`,
  `winlog.provider_name`, `winlog.computer_name`, `winlog.record_id`, `winlog.event_data` or
  `winlog.user_data`), `event.code`, `log.level`, `@timestamp`, `message`.
- `nxlog`: NXLog's im_msvistalog records as `to_json()` writes them, flat and in CamelCase
  (`EventID`, `SourceName`, `Channel`, `Hostname`, `EventTime`, `RecordNumber`, `Severity`,
  `SeverityValue`, `Message`, ...); the event's own data fields sit beside them at the top.
- `vector`: Vector's `windows_event_log` source (`event_id`, `provider_name`, `channel`,
  `computer` or `host`, `record_id`, `level`/`level_value`, `timestamp`, `event_data`,
  `user_data`).
- `generic`: our own field names (`event_id`, `provider`, `channel`, `computer`, `level`,
  `record_id`, `time_created`, `message`, `event_data`), for scripts and PowerShell senders.

The record (DESIGN §2.3) adds `security` (see `classify.py`), `agent` (the token's name) and
`parse_warnings`. `level` is the Windows level name in lower case (`critical`, `error`,
`warning`, `information`, `verbose`); `time_created` is RFC 3339 UTC. A time without a zone is
taken as UTC and flagged, since the agent's zone is unknown here. An event that cannot become
a record raises `EventError` with the reason; the caller reports it and goes on.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Final, TypedDict

from collectors.winevents.classify import classify

DIALECTS: Final = ("nxlog", "vector", "winlogbeat", "generic")
MAX_EVENT_ID: Final = 0xFFFFFFFF


class WineventRecord(TypedDict):
    """One Windows event as stored (DESIGN §2.3)."""

    service: str
    received_at: str
    source: str
    event_id: int
    channel: str | None
    provider: str | None
    computer: str | None
    level: str | None
    record_id: int | None
    time_created: str | None
    message: str | None
    event_data: dict[str, Any]
    dialect: str
    security: str | None
    agent: str
    parse_warnings: list[str]


RECORD_KEYS: Final = tuple(WineventRecord.__annotations__)


class EventError(ValueError):
    """This event cannot be read; the reason says why and what the sender should change."""


# ---- level -------------------------------------------------------------------------------------

_LEVEL_NAMES: Final = {
    "critical": "critical",
    "crit": "critical",
    "fatal": "critical",
    "error": "error",
    "err": "error",
    "warning": "warning",
    "warn": "warning",
    "information": "information",
    "informational": "information",
    "info": "information",
    "notice": "information",
    "verbose": "verbose",
    "debug": "verbose",
    "trace": "verbose",
    # The classic event log "types": audit events carry level 0, which Windows shows as Information.
    "audit success": "information",
    "audit failure": "information",
    "audit_success": "information",
    "audit_failure": "information",
    "success": "information",
    "logalways": "information",
}
# Windows level values (winmeta.xml): 0 LogAlways, 1 Critical, 2 Error, 3 Warning, 4 Info, 5 Verbose.
_WINDOWS_LEVELS: Final = ("information", "critical", "error", "warning", "information", "verbose")
# NXLog's SeverityValue runs the other way: 1 DEBUG, 2 INFO, 3 WARNING, 4 ERROR, 5 CRITICAL.
_NXLOG_SEVERITIES: Final = (None, "verbose", "information", "warning", "error", "critical")


# Level names as agents spell them ("Information", "INFO"), looked up once each per table;
# bounded, since the texts come from the network.
_LEVEL_SEEN: Final[dict[int, dict[str, str | None]]] = {id(_WINDOWS_LEVELS): {}, id(_NXLOG_SEVERITIES): {}}
_LEVEL_SEEN_MAX: Final = 256


def level_name(value: Any, numbers: tuple[str | None, ...] = _WINDOWS_LEVELS) -> str | None:
    if type(value) is str:
        seen = _LEVEL_SEEN.get(id(numbers))
        if seen is not None:
            try:
                return seen[value]
            except KeyError:
                pass
            name = _level_name(value, numbers)
            if len(seen) < _LEVEL_SEEN_MAX:
                seen[value] = name
            return name
    return _level_name(value, numbers)


def _level_name(value: Any, numbers: tuple[str | None, ...]) -> str | None:
    if isinstance(value, str):
        text = value.strip().lower()
        if text.isdigit():
            return _level_name(int(text), numbers)
        return _LEVEL_NAMES.get(text)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(numbers):
        return numbers[value]
    return None


# ---- time --------------------------------------------------------------------------------------

_EPOCH_MS_THRESHOLD: Final = 100_000_000_000  # larger epoch numbers are milliseconds (after 1973)
_DOTNET_DATE: Final = re.compile(r"/Date\((-?\d{1,15})(?:[+-]\d{4})?\)/\Z")
# What most agents send (Winlogbeat, Vector, scripts): already UTC, so only the fraction needs
# cutting to microseconds; NXLog writes the same moment with a space and "+00:00" when it is
# told to send UTC. Parsing it into a datetime and back is a tenth of an event's cost.
_UTC_TEXT: Final = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:Z|\+00:00)\Z", re.ASCII)


def utc_text(text: str) -> str | None:
    """`text` as `rfc3339` writes it, when it is a valid RFC 3339 UTC time (ending in Z or
    +00:00, T or a space between date and time); else None."""
    match = _UTC_TEXT.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction = match.groups()
    try:
        datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
    except ValueError:
        return None  # out of range: the full path says so
    micros = (fraction or "")[:6].ljust(6, "0")
    stamp = f"{text[:10]}T{text[11:19]}"
    if micros == "000000":
        return stamp + "Z"
    return f"{stamp}.{micros}Z"


def rfc3339(value: Any, warnings: list[str]) -> str | None:
    """An agent's timestamp as RFC 3339 UTC, or None (with a warning) when it is unreadable."""
    if isinstance(value, str):
        fast = utc_text(value)
        if fast is not None:
            return fast
    return parsed_rfc3339(value, warnings)


def parsed_rfc3339(value: Any, warnings: list[str]) -> str | None:
    """`rfc3339` the long way, through a datetime: any zone, epoch numbers, .NET dates."""
    if value is None:
        return None
    if isinstance(value, bool):
        warnings.append("time_created_unreadable")
        return None
    moment: datetime
    if isinstance(value, int | float):
        seconds = value / 1000 if abs(value) >= _EPOCH_MS_THRESHOLD else value
        try:
            moment = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            warnings.append("time_created_unreadable")
            return None
    elif isinstance(value, str):
        text = value.strip()
        dotnet = _DOTNET_DATE.match(text)  # PowerShell's ConvertTo-Json: /Date(ms since epoch)/
        if dotnet:
            return parsed_rfc3339(int(dotnet.group(1)) / 1000, warnings)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            warnings.append("time_created_unreadable")
            return None
        if moment.tzinfo is None:
            warnings.append("time_created_without_zone")
            moment = moment.replace(tzinfo=UTC)
        else:
            try:
                moment = moment.astimezone(UTC)
            except OverflowError:  # year 1 or 9999 pushed over the edge by its offset
                warnings.append("time_created_unreadable")
                return None
    else:
        warnings.append("time_created_unreadable")
        return None
    if moment.microsecond:
        return moment.isoformat(timespec="microseconds")[:26] + "Z"  # isoformat is 4x faster than strftime
    return moment.isoformat(timespec="seconds")[:19] + "Z"


# ---- field helpers -----------------------------------------------------------------------------


def _event_id(value: Any) -> int:
    if type(value) is int and 0 <= value <= MAX_EVENT_ID:
        return value
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number is None:
        raise EventError(f"event id {value!r} is not a number")
    if not 0 <= number <= MAX_EVENT_ID:
        raise EventError(f"event id {number} is out of range 0-{MAX_EVENT_ID}")
    return number


def _record_id(value: Any, warnings: list[str]) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    warnings.append("record_id_unreadable")
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float | bool):
        return str(value)
    return None


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _first(*values: Any) -> Any:
    for value in values:
        if value is not None:
            return value
    return None


# ---- dialects ----------------------------------------------------------------------------------


def detect(document: dict[str, Any]) -> str | None:
    """Which agent wrote this event, from its keys; None when no dialect fits."""
    if isinstance(document.get("winlog"), dict):
        return "winlogbeat"
    if "EventID" in document:
        return "nxlog"
    if "event_id" in document:
        if "provider_name" in document or document.get("source_type") == "windows_eventlog":
            return "vector"
        return "generic"
    event = document.get("event")
    if isinstance(event, dict) and "code" in event and "@timestamp" in document:
        return "winlogbeat"
    return None


# NXLog im_msvistalog fields that describe the event rather than carry its data. Its user
# fields (AccountName, Domain, UserID, AccountType) stay in event_data: event data fields of the
# same names (7045's AccountName) land on the same keys in NXLog's flat output.
_NXLOG_FIELDS: Final = frozenset(
    {
        "EventTime",
        "EventReceivedTime",
        "Hostname",
        "Keywords",
        "EventType",
        "SeverityValue",
        "Severity",
        "EventID",
        "SourceName",
        "ProviderGuid",
        "Version",
        "Task",
        "OpcodeValue",
        "RecordNumber",
        "ActivityID",
        "RelatedActivityID",
        "ProcessID",
        "ThreadID",
        "Channel",
        "Category",
        "Opcode",
        "Message",
        "SourceModuleName",
        "SourceModuleType",
        "Qualifiers",
        "MessageSourceAddress",
    }
)


def _nxlog(document: dict[str, Any], warnings: list[str]) -> tuple[Any, ...]:
    level = level_name(document.get("Severity"), _NXLOG_SEVERITIES)
    if level is None:
        level = level_name(document.get("SeverityValue"), _NXLOG_SEVERITIES)
    if document.get("EventType") in ("AUDIT_SUCCESS", "AUDIT_FAILURE"):
        level = "information"  # NXLog reports audit failures as ERROR; Windows logs them at level 0
    event_data = {key: value for key, value in document.items() if key not in _NXLOG_FIELDS}
    return (
        document.get("EventID"),
        document.get("Channel"),
        document.get("SourceName"),
        document.get("Hostname"),
        level,
        _record_id(document.get("RecordNumber"), warnings),
        document.get("EventTime"),
        document.get("Message"),
        event_data,
    )


def _vector(document: dict[str, Any], warnings: list[str]) -> tuple[Any, ...]:
    level = level_name(document.get("level"))
    if level is None:
        level = level_name(document.get("level_value"))
    return (
        document.get("event_id"),
        document.get("channel"),
        document.get("provider_name"),
        _first(document.get("computer"), document.get("host")),
        level,
        _record_id(document.get("record_id"), warnings),
        _first(document.get("time_created"), document.get("timestamp")),
        document.get("message"),
        _mapping(document.get("event_data")) or _mapping(document.get("user_data")),
    )


def _winlogbeat(document: dict[str, Any], warnings: list[str]) -> tuple[Any, ...]:
    winlog = _mapping(document.get("winlog"))
    event = _mapping(document.get("event"))
    host = _mapping(document.get("host"))
    log = _mapping(document.get("log"))
    level = level_name(log.get("level"))
    if level is None:
        level = level_name(document.get("level"))
    return (
        _first(winlog.get("event_id"), event.get("code")),
        winlog.get("channel"),
        _first(winlog.get("provider_name"), event.get("provider")),
        _first(winlog.get("computer_name"), host.get("name"), host.get("hostname")),
        level,
        _record_id(winlog.get("record_id"), warnings),
        _first(winlog.get("time_created"), document.get("@timestamp")),
        document.get("message"),
        _mapping(winlog.get("event_data")) or _mapping(winlog.get("user_data")),
    )


def _generic(document: dict[str, Any], warnings: list[str]) -> tuple[Any, ...]:
    level = level_name(document.get("level"))
    return (
        document.get("event_id"),
        document.get("channel"),
        _first(document.get("provider"), document.get("provider_name")),
        _first(document.get("computer"), document.get("hostname"), document.get("host")),
        level,
        _record_id(document.get("record_id"), warnings),
        _first(document.get("time_created"), document.get("timestamp")),
        document.get("message"),
        _mapping(document.get("event_data")),
    )


_READERS: Final = {"nxlog": _nxlog, "vector": _vector, "winlogbeat": _winlogbeat, "generic": _generic}


def normalise(document: Any, *, received_at: str, source: str, agent: str) -> WineventRecord:
    """One decoded event into a record; raises EventError when it is not a readable event."""
    if not isinstance(document, dict):
        raise EventError(f"an event must be a JSON object, not {_json_type(document)}")
    dialect = detect(document)
    if dialect is None:
        raise EventError("unknown dialect: no EventID (NXLog), event_id (Vector, generic) or winlog (Winlogbeat) key")
    warnings: list[str] = []
    event_id, channel, provider, computer, level, record_id, created, message, event_data = _READERS[dialect](
        document, warnings
    )
    if event_id is None:
        raise EventError(f"{dialect} event has no event id")
    event_id = _event_id(event_id)
    # Nearly always text already: the call is for the rest.
    if type(channel) is not str:
        channel = _text(channel)
    if type(provider) is not str:
        provider = _text(provider)
    if type(computer) is not str:
        computer = _text(computer)
    if type(message) is not str:
        message = _text(message)
    return {
        "service": "winevent",
        "received_at": received_at,
        "source": source,
        "event_id": event_id,
        "channel": channel,
        "provider": provider,
        "computer": computer,
        "level": level,
        "record_id": record_id,
        "time_created": rfc3339(created, warnings),
        "message": message,
        "event_data": event_data,
        "dialect": dialect,
        "security": classify(event_id, channel, provider),
        "agent": agent,
        "parse_warnings": warnings,
    }


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null" if value is None else type(value).__name__
