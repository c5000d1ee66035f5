"""Canonical Windows events and how each agent writes them.

The events follow Microsoft's documented samples (Security auditing reference, System log):
field names and values as Windows logs them. `nxlog()`, `vector()`, `winlogbeat()` and
`generic()` render one event as that agent's JSON output does, so the tests feed the endpoint
what real agents send.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from typing import Any

SECURITY = "Microsoft-Windows-Security-Auditing"
EVENTLOG = "Microsoft-Windows-Eventlog"
SCM = "Service Control Manager"
NXLOG_SEVERITY = {
    0: ("INFO", 2),
    1: ("CRITICAL", 5),
    2: ("ERROR", 4),
    3: ("WARNING", 3),
    4: ("INFO", 2),
    5: ("DEBUG", 1),
}
LEVEL_NAMES = {0: "information", 1: "critical", 2: "error", 3: "warning", 4: "information", 5: "verbose"}


@dataclass(frozen=True)
class WinEvent:
    event_id: int
    channel: str
    provider: str
    level: int  # Windows level value
    record_id: int
    created: str  # System/TimeCreated/@SystemTime, 100 ns precision
    message: str
    data: dict[str, str] = field(default_factory=dict)
    user_data: bool = False  # the data sits in UserData (1102), not EventData
    computer: str = "DC01.contoso.local"
    keywords: str = ""


LOGON = WinEvent(
    4624,
    "Security",
    SECURITY,
    0,
    1_193_401,
    "2024-03-05T14:22:31.1234567Z",
    "An account was successfully logged on.",
    {
        "SubjectUserSid": "S-1-5-18",
        "SubjectUserName": "DC01$",
        "SubjectDomainName": "CONTOSO",
        "SubjectLogonId": "0x3e7",
        "TargetUserSid": "S-1-5-21-3457937927-2839227994-823803824-1104",
        "TargetUserName": "alice",
        "TargetDomainName": "CONTOSO",
        "TargetLogonId": "0x8dcdc",
        "LogonType": "2",
        "LogonProcessName": "User32 ",
        "AuthenticationPackageName": "Negotiate",
        "WorkstationName": "DC01",
        "IpAddress": "127.0.0.1",
        "IpPort": "0",
    },
    keywords="Audit Success",
)
LOGON_FAILURE = WinEvent(
    4625,
    "Security",
    SECURITY,
    0,
    1_193_402,
    "2024-03-05T14:22:35.5000000Z",
    "An account failed to log on.",
    {
        "SubjectUserSid": "S-1-0-0",
        "TargetUserName": "alice",
        "TargetDomainName": "CONTOSO",
        "Status": "0xc000006d",
        "FailureReason": "%%2313",
        "SubStatus": "0xc000006a",
        "LogonType": "3",
        "WorkstationName": "WS042",
        "IpAddress": "10.20.30.42",
        "IpPort": "49213",
    },
    keywords="Audit Failure",
)
LOCKOUT = WinEvent(
    4740,
    "Security",
    SECURITY,
    0,
    1_193_410,
    "2024-03-05T14:23:01.0000000Z",
    "A user account was locked out.",
    {
        "TargetUserName": "alice",
        "TargetDomainName": "WS042",
        "TargetSid": "S-1-5-21-3457937927-2839227994-823803824-1104",
        "SubjectUserSid": "S-1-5-18",
        "SubjectUserName": "DC01$",
        "SubjectDomainName": "CONTOSO",
        "SubjectLogonId": "0x3e7",
    },
    keywords="Audit Success",
)
GROUP_ADD = WinEvent(
    4728,
    "Security",
    SECURITY,
    0,
    1_193_420,
    "2024-03-05T14:30:00.2500000Z",
    "A member was added to a security-enabled global group.",
    {
        "MemberName": "CN=mallory,CN=Users,DC=contoso,DC=local",
        "MemberSid": "S-1-5-21-3457937927-2839227994-823803824-1107",
        "TargetUserName": "Domain Admins",
        "TargetDomainName": "CONTOSO",
        "SubjectUserName": "admin",
    },
    keywords="Audit Success",
)
SERVICE_INSTALLED = WinEvent(
    7045,
    "System",
    SCM,
    4,
    88_231,
    "2024-03-05T14:31:12.0000000Z",
    "A service was installed in the system.",
    {
        "ServiceName": "PSEXESVC",
        "ImagePath": "%SystemRoot%\\PSEXESVC.exe",
        "ServiceType": "user mode service",
        "StartType": "demand start",
        "AccountName": "LocalSystem",
    },
    computer="FS01.contoso.local",
)
LOG_CLEARED = WinEvent(
    1102,
    "Security",
    EVENTLOG,
    4,
    1_193_500,
    "2024-03-05T14:40:00.0000000Z",
    "The audit log was cleared.",
    {
        "SubjectUserSid": "S-1-5-21-3457937927-2839227994-823803824-500",
        "SubjectUserName": "admin",
        "SubjectDomainName": "CONTOSO",
        "SubjectLogonId": "0x2d5f0",
    },
    user_data=True,
)
UPTIME = WinEvent(
    6013, "System", "EventLog", 4, 88_240, "2024-03-05T15:00:00.0000000Z", "The system uptime is 3600 seconds."
)
DISK_ERROR = WinEvent(
    7,
    "System",
    "disk",
    2,
    88_250,
    "2024-03-05T15:01:00.0000000Z",
    "The device, \\Device\\Harddisk1\\DR1, has a bad block.",
    {"param1": "\\Device\\Harddisk1\\DR1"},
    computer="FS01.contoso.local",
)

CANONICAL = (LOGON, LOGON_FAILURE, LOCKOUT, GROUP_ADD, SERVICE_INSTALLED, LOG_CLEARED, UPTIME, DISK_ERROR)
EXPECTED_SECURITY = {
    4624: None,
    4625: "logon.failure",
    4740: "account.lockout",
    4728: "group.member_added",
    7045: "service.installed",
    1102: "audit.log_cleared",
    6013: None,
    7: None,
}


TIME_DIGITS = {"nxlog": 0, "vector": 6, "winlogbeat": 3, "generic": 6}  # what each agent keeps


def expected_time(event: WinEvent, dialect: str = "generic") -> str:
    """TimeCreated as the record shows it (RFC 3339 UTC), from what the agent kept of it."""
    whole, _, fraction = event.created.rstrip("Z").partition(".")
    fraction = fraction[: TIME_DIGITS[dialect]].rstrip("0")
    return f"{whole}.{fraction.ljust(6, '0')}Z" if fraction else f"{whole}Z"


def nxlog(event: WinEvent) -> dict[str, Any]:
    """NXLog im_msvistalog + to_json(): flat, data fields at the top, EventTime as ISO with zone."""
    severity, severity_value = NXLOG_SEVERITY[event.level]
    event_type = {"Audit Success": "AUDIT_SUCCESS", "Audit Failure": "AUDIT_FAILURE"}.get(event.keywords, severity)
    document: dict[str, Any] = {
        "EventTime": event.created[:19].replace("T", " ") + "+00:00",
        "Hostname": event.computer,
        "Keywords": -9214364837600034816 if event.keywords else 36028797018963968,
        "EventType": event_type,
        "SeverityValue": severity_value,
        "Severity": severity,
        "EventID": event.event_id,
        "SourceName": event.provider,
        "ProviderGuid": "{54849625-5478-4994-A5BA-3E3B0328C30D}",
        "Version": 0,
        "Task": 12544,
        "OpcodeValue": 0,
        "RecordNumber": event.record_id,
        "ProcessID": 640,
        "ThreadID": 4972,
        "Channel": event.channel,
        "Message": event.message,
        "Category": "Logon",
        "Opcode": "Info",
        "EventReceivedTime": "2024-03-05 14:22:36",
        "SourceModuleName": "eventlog",
        "SourceModuleType": "im_msvistalog",
    }
    document.update(event.data)
    return document


def vector(event: WinEvent) -> dict[str, Any]:
    """Vector's windows_event_log source, legacy namespace, through the http sink's JSON codec."""
    document: dict[str, Any] = {
        "timestamp": event.created.rstrip("Z") + "00Z",
        "message": event.message,
        "host": event.computer,
        "source_type": "windows_eventlog",
        "event_id": event.event_id,
        "record_id": event.record_id,
        "level": ["Information", "Critical", "Error", "Warning", "Information", "Verbose"][event.level],
        "level_value": event.level,
        "channel": event.channel,
        "provider_name": event.provider,
        "computer": event.computer,
        "process_id": 640,
        "thread_id": 4972,
    }
    document["user_data" if event.user_data else "event_data"] = dict(event.data)
    return document


def winlogbeat(event: WinEvent) -> dict[str, Any]:
    """A Winlogbeat 8 document (ECS), as it appears on a _bulk document line."""
    winlog: dict[str, Any] = {
        "api": "wineventlog",
        "channel": event.channel,
        "computer_name": event.computer,
        "event_id": str(event.event_id),
        "provider_name": event.provider,
        "provider_guid": "{54849625-5478-4994-a5ba-3e3b0328c30d}",
        "record_id": event.record_id,
        "opcode": "Info",
        "process": {"pid": 640, "thread": {"id": 4972}},
        "keywords": [event.keywords] if event.keywords else [],
    }
    winlog["user_data" if event.user_data else "event_data"] = dict(event.data)
    return {
        "@timestamp": event.created[:23] + "Z",
        "agent": {"type": "winlogbeat", "version": "8.13.4", "name": event.computer.split(".")[0]},
        "ecs": {"version": "8.0.0"},
        "event": {
            "code": str(event.event_id),
            "kind": "event",
            "provider": event.provider,
            "created": "2024-03-05T14:22:36.001Z",
        },
        "host": {"name": event.computer.lower()},
        "log": {"level": LEVEL_NAMES[event.level]},
        "message": event.message,
        "winlog": winlog,
    }


def generic(event: WinEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "channel": event.channel,
        "provider": event.provider,
        "computer": event.computer,
        "level": LEVEL_NAMES[event.level],
        "record_id": event.record_id,
        "time_created": event.created,
        "message": event.message,
        "event_data": dict(event.data),
    }


RENDERERS = {"nxlog": nxlog, "vector": vector, "winlogbeat": winlogbeat, "generic": generic}


# Bodies an endpoint must refuse (headers, body, status, a piece of the reason), for an endpoint
# with max_body_bytes = 65536 and max_decoded_bytes = 1 MiB. A token of the test's own is added.
BAD_INPUTS = {
    "truncated json": ({"Content-Type": "application/json"}, b'{"event_id": 4625, "chan', 400, "bad JSON at byte 24"),
    "deep nesting": ({"Content-Type": "application/json"}, b'{"a":' * 50 + b"1" + b"}" * 50, 400, "nested deeper"),
    "invalid utf-8": (
        {"Content-Type": "application/json"},
        b'{"event_id": 1, "message": "\xff"}',
        400,
        "invalid UTF-8",
    ),
    "wrong content type": ({"Content-Type": "application/xml"}, b"<Event/>", 415, "content type 'application/xml'"),
    "form post": ({"Content-Type": "application/x-www-form-urlencoded"}, b"a=b", 415, "is not accepted"),
    "oversize": ({"Content-Type": "application/json"}, b"[" + b"1," * 40_000 + b"1]", 413, "over the 65536-byte"),
    "zip bomb": (
        {"Content-Type": "application/json", "Content-Encoding": "gzip"},
        gzip.compress(b"[" + b" " * (4 << 20) + b"]"),
        413,
        "expands beyond",
    ),
    "unknown encoding": ({"Content-Type": "application/json", "Content-Encoding": "br"}, b"x", 415, "'br'"),
    "unknown dialect": ({"Content-Type": "application/json"}, b'[{"msg": "hi"}]', 422, "unknown dialect"),
    "empty": ({"Content-Type": "application/json"}, b"", 400, "the body is empty"),
    "missing token": ({"Content-Type": "application/json", "Authorization": ""}, b"{}", 401, "missing token"),
    "wrong token": (
        {"Content-Type": "application/json", "Authorization": "Bearer wrong-0123456789abcdef"},
        b"{}",
        401,
        "bad token",
    ),
}
