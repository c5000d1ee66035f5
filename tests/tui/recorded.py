"""A recorded session in the engine's wire shapes, for snapshots: no engine, no clock.

The watch lines (snapshot, state changes, one counters.updated per component a second for three
minutes, sampled records) are what /v1/watch sends once the buffer and syslog components run;
`BUFFER_STATS` and `SYSTEM` are GET /v1/buffer/stats and GET /v1/system bodies. They stay wire
data (plain JSON values); `replay` decodes them as the client would. Everything is derived from
NOW, the frozen console clock.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec
from textual.app import App
from textual.message import Message

from nocraven.client import decode_published
from nocraven.schema.buffer import BufferStats
from nocraven.schema.engine import SystemInfo
from nocraven.schema.events import Published
from nocraven.schema.forward import ForwardStatus
from nocraven.schema.snmppoll import PollTargets
from nocraven.schema.snmptrap import TrapAgents, TrapMibs
from nocraven.schema.winevents import WineventsAgents
from nocraven_tui import exchange, messages
from nocraven_tui.screens import traps, windows
from nocraven_tui.screens.system import SYSTEM as SYSTEM_READ

NOW = 1_795_759_200.0  # 2026-11-27 06:00:00 UTC
STARTED = NOW - 3 * 86400 - 4 * 3600 - 17 * 60
PLANNED = {
    "diag": "network diagnostics",
    "flow": "the flow collector (NetFlow/IPFIX/sFlow)",
    "health": "health monitoring",
    "ports": "listener port management",
    "vpn": "VPN management",
}


def _status(role: str) -> dict[str, Any]:
    components: dict[str, Any] = {
        name: {"state": "not_available", "detail": {"description": text}} for name, text in PLANNED.items()
    }
    components["buffer"] = {
        "state": "running",
        "since": STARTED + 1,
        "restarts": 0,
        "last_error": None,
        "detail": {"fill_percent": 37.4, "forecast_days": 11.6, "records": 48_213_907, "dropped_records": 0},
    }
    components["forward"] = {
        "state": "running",
        "since": STARTED + 2,
        "restarts": 0,
        "last_error": None,
        "detail": FORWARD_STATUS,
    }
    components["syslog"] = {
        "state": "running",
        "since": NOW - 2 * 3600 - 5 * 60,
        "restarts": 1,
        "last_error": "OSError: [Errno 98] Address already in use",
        "detail": {
            "listeners": [
                {
                    "listener": "udp",
                    "proto": "udp",
                    "address": "0.0.0.0:514",
                    "counters": {"messages": 30_112_402, "bytes": 5_420_232_360, "rejected": 42, "kernel_drops": 17},
                },
                {
                    "listener": "tcp",
                    "proto": "tcp",
                    "address": "0.0.0.0:514",
                    "counters": {"messages": 0, "connections": 15, "active_connections": 12},
                },
            ],
            "totals": _syslog_counters(-1),
            "sources": {"10.20.0.11": {"messages": 12_004_311, "bytes": 2_172_780_291, "last_seen": NOW - 1}},
        },
    }
    components["snmptrap"] = {
        "state": "running",
        "since": STARTED + 6,
        "restarts": 0,
        "last_error": None,
        "detail": {
            "listeners": [
                {
                    "listener": "udp",
                    "proto": "udp",
                    "address": "0.0.0.0:162",
                    "counters": {"messages": 18_204, "bytes": 3_112_884, "rejected": 31},
                }
            ],
            "totals": {
                "messages": 18_204,
                "bytes": 3_112_884,
                "rejected": 31,
                "kernel_drops": 0,
                "framing_errors": 0,
                "rate_mps": 0.4,
                "sources": 4,
                "records_stored": 18_204,
                "lost_without_buffer": 0,
            },
            "sources": {},
        },
    }
    components["winevents"] = {
        "state": "running",
        "since": STARTED + 2,
        "restarts": 0,
        "last_error": None,
        "detail": {
            "listeners": [
                {"listener": "listen", "proto": "tcp", "address": "0.0.0.0:8084", "counters": {"messages": 412_907}}
            ],
            "totals": _winevents_counters(-1),
            "sources": {"10.20.8.5": {"messages": 301_220, "formats": {"winlogbeat": 301_220}, "last_seen": NOW - 2}},
        },
    }
    return {
        "version": "0.1.0",
        "hostname": "raven-arena-01",
        "pid": 812,
        "started_at": STARTED,
        "uptime_s": NOW - STARTED,
        "config": "/etc/nocraven/nocraven.toml",
        "socket": "/run/nocraven/control.sock",
        "api_tcp": None,
        "watchers": 2,
        "role": role,
        "supervisor": "systemd",  # an installed box: systemd starts the engine again after a stop
        "components": components,
    }


# GET /v1/forward/status: the NOC back after an outage (draining), an archive paused by an operator.
FORWARD_STATUS: dict[str, Any] = {
    "state": "paused",
    "backlog_records": 1_184_302,
    "rate_rps": 41_250.0,
    "site": "arena-01",
    "sinks": [
        {
            "name": "noc",
            "type": "nats",
            "state": "draining",
            "reason": "catching up with the backlog",
            "backlog_records": 912_400,
            "backlog_bytes": 214_300_000,
            "oldest_age_s": 3 * 3600 + 20 * 60,
            "rate_rps": 41_250.0,
            "eta_s": 22.1,
            "last_delivery": NOW - 0.4,
            "last_error": "NATS nats://10.8.0.1:4222 unreachable: connection refused",
            "delivered_records": 30_112_000,
            "duplicate_batches": 3,
            "quarantined_batches": 0,
            "gap_events": 1,
        },
        {
            "name": "archive",
            "type": "http",
            "state": "paused",
            "reason": "paused by an operator",
            "backlog_records": 271_902,
            "backlog_bytes": 61_020_000,
            "oldest_age_s": 45 * 60,
            "rate_rps": 0.0,
            "eta_s": None,
            "last_delivery": NOW - 45 * 60,
            "last_error": "",
        },
    ],
}


def _syslog_counters(t: int) -> dict[str, Any]:
    # A venue warming up: a steady base with a wave and a burst two minutes ago.
    rate = 1800 + 600 * math.sin(t / 17) + (2500 if 40 <= t <= 55 else 0)
    messages_total = 31_406_112 + 1800 * t
    return {
        "messages": messages_total,
        "bytes": messages_total * 181,
        "rejected": 42,
        "kernel_drops": 17,
        "framing_errors": 0,
        "rate_mps": round(rate, 1),
        "sources": 37,
        "records_stored": messages_total,
        "lost_without_buffer": 0,
    }


def _winevents_counters(t: int) -> dict[str, Any]:
    messages_total = 412_907 + 40 * t
    return {
        "messages": messages_total,
        "bytes": messages_total * 820,
        "rejected": 3,
        "kernel_drops": 0,
        "framing_errors": 0,
        "rate_mps": round(40 + 8 * math.sin(t / 11), 1),
        "sources": 4,
        "records_stored": messages_total,
        "lost_without_buffer": 0,
    }


def _buffer_counters(t: int) -> dict[str, Any]:
    return {
        "records": 48_213_907 + 1800 * t,
        "raw_bytes": 9_412_345_678 + 325_000 * t,
        "stored_bytes": 803_212_345 + 27_000 * t,
        "fill_percent": 37.4,
        "forecast_days": 11.6,
        "dropped_records": 0,
    }


SYSLOG_RECORDS = [
    ("10.20.0.11:514", "core-sw1", "LINEPROTO-5-UPDOWN", 5, "Line protocol on Interface Gi1/0/24, changed state to up"),
    ("10.20.0.12:514", "core-sw2", "SPANTREE-2-BLOCK_PVID", 2, "Blocking Gi1/0/48 on VLAN0100. Inconsistent port type"),
    ("10.20.4.7:51514", "fw-edge", "filterlog", 6, "block in on igb1: 203.0.113.9:443 > 198.51.100.20:51234 tcp"),
    ("10.20.0.31:514", "ap-sec114", "hostapd", 4, "wlan0: STA 3c:22:fb:10:aa:01 deauthenticated (reason 3)"),
    ("10.20.0.11:514", "core-sw1", "SEC_LOGIN-5-LOGIN_SUCCESS", 5, "Login Success [user: noc] [Source: 10.8.0.2]"),
]


def _records() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for i in range(30):
        source, host, app, severity, text = SYSLOG_RECORDS[i % len(SYSLOG_RECORDS)]
        records.append(
            {
                "service": "syslog",
                "received_at": f"2026-11-27T05:59:{20 + i:02d}Z",
                "source": source,
                "facility": 23,
                "severity": severity,
                "hostname": host,
                "app_name": app,
                "message": text,
                "format": "rfc3164",
            }
        )
    records.insert(
        12,
        {
            "service": "trap",
            "received_at": "2026-11-27T05:59:31Z",
            "source": "10.20.0.12:162",
            "version": "v2c",
            "agent_addr": "10.20.0.12",
            "trap_oid": "1.3.6.1.6.3.1.1.5.3",
            "trap_name": "IF-MIB::linkDown",
        },
    )
    records.insert(
        20,
        {
            "service": "flow",
            "received_at": "2026-11-27T05:59:38Z",
            "source": "10.20.0.1:2055",
            "src_addr": "10.20.31.7",
            "src_port": 51544,
            "dst_addr": "151.101.2.133",
            "dst_port": 443,
            "protocol": 6,
            "bytes": 183_402,
            "packets": 141,
        },
    )
    records.insert(
        26,
        {
            "service": "winevent",
            "received_at": "2026-11-27T05:59:44Z",
            "source": "10.20.8.5:50211",
            "computer": "POS-07.venue.local",
            "channel": "Security",
            "event_id": 4625,
            "message": "An account failed to log on.",
        },
    )
    return records


def sampled_records() -> list[dict[str, Any]]:
    """The records the recording's one `records.sampled` event carries (what an engine filter sees)."""
    return _records()


def published(line: dict[str, Any]) -> Published:
    """A recorded wire line as the client hands it to the console."""
    return decode_published(msgspec.json.encode(line))


def watch_lines(role: str = "admin") -> list[dict[str, Any]]:
    """The wire lines a console would read from /v1/watch, in order."""
    lines: list[dict[str, Any]] = [{"seq": 100, "kind": "snapshot", "data": _status(role)}]
    seq = 100
    for t in range(180):
        at = NOW - 180 + t + 1
        seq += 1
        lines.append(
            {
                "seq": seq,
                "kind": "counters.updated",
                "at": at,
                "data": {"component": "syslog", "counters": _syslog_counters(t)},
            }
        )
        seq += 1
        lines.append(
            {
                "seq": seq,
                "kind": "counters.updated",
                "at": at,
                "data": {"component": "buffer", "counters": _buffer_counters(t)},
            }
        )
        seq += 1
        lines.append(
            {
                "seq": seq,
                "kind": "counters.updated",
                "at": at,
                "data": {"component": "winevents", "counters": _winevents_counters(t)},
            }
        )
    records = _records()
    seq += 1
    lines.append(
        {
            "seq": seq,
            "kind": "records.sampled",
            "at": NOW - 1,
            "data": {"service": "syslog", "records": records, "total": 5400},
        }
    )
    return lines


BUFFER_STATS: dict[str, Any] = {
    "services": {
        "syslog": {
            "records": 41_902_113,
            "raw_bytes": 7_584_282_453,
            "stored_bytes": 612_093_221,
            "oldest": "2026-11-14T09:12:40Z",
            "newest": "2026-11-27T05:59:59Z",
            "segments": 2334,
            "dropped_records": 1204,
            "dropped_bytes": 220_113,
            "dropped_by_reason": {
                "quota": {"records": 1200, "bytes": 219_400},
                "oversize": {"records": 4, "bytes": 713},
            },
            "unsealed_records": 1412,
            "quota_bytes": 0,
            "fair_share_bytes": 1_431_655_765,
            "ingest_records_per_s": 1800.0,
            "forecast_days": 11.6,
        },
        "trap": {
            "records": 88_412,
            "raw_bytes": 61_902_301,
            "stored_bytes": 5_102_877,
            "oldest": "2026-11-14T09:13:02Z",
            "newest": "2026-11-27T05:59:31Z",
            "segments": 21,
            "dropped_records": 0,
            "dropped_bytes": 0,
            "dropped_by_reason": {},
            "unsealed_records": 0,
            "quota_bytes": 0,
            "fair_share_bytes": 357_913_941,
            "ingest_records_per_s": 0.0,
            "forecast_days": None,
        },
        "winevent": {
            "records": 6_223_382,
            "raw_bytes": 1_766_160_924,
            "stored_bytes": 186_016_247,
            "oldest": "2026-11-20T17:40:11Z",
            "newest": "2026-11-27T05:59:44Z",
            "segments": 710,
            "dropped_records": 0,
            "dropped_bytes": 0,
            "dropped_by_reason": {},
            "unsealed_records": 0,
            "quota_bytes": 0,
            "fair_share_bytes": 357_913_941,
            "ingest_records_per_s": 0.0,
            "forecast_days": None,
        },
    },
    "total": {
        "records": 48_213_907,
        "raw_bytes": 9_412_345_678,
        "stored_bytes": 803_212_345,
        "budget_bytes": 2_147_483_648,
        "fill_percent": 37.4,
        "dropped_by_reason": {"quota": {"records": 1200, "bytes": 219_400}, "oversize": {"records": 4, "bytes": 713}},
        "segments": 3065,
        "unsealed_records": 1412,
        "effective_budget_bytes": 2_147_483_648,
        "disk_free_bytes": 51_539_607_552,
        "disk_limited": False,
        "storage_failing": False,
        "quarantined_segments": 0,
        "compression_ratio": 11.7,
        "ingest_records_per_s": 1800.0,
    },
    "forecast_days": 11.6,
}

SYSTEM: dict[str, Any] = {
    "hostname": "raven-arena-01",
    "version": "0.1.0",
    "uptime_s": NOW - STARTED,
    "interfaces": [
        {"name": "lo", "state": "unknown", "mac": "00:00:00:00:00:00", "mtu": 65536, "addresses": ["127.0.0.1/8"]},
        {
            "name": "enp1s0",
            "state": "up",
            "mac": "52:54:00:3a:91:0c",
            "mtu": 1500,
            "addresses": ["10.20.0.250/24", "fe80::5054:ff:fe3a:910c/64"],
        },
        {"name": "enp2s0", "state": "down", "mac": "52:54:00:3a:91:0d", "mtu": 1500, "addresses": []},
        {"name": "tun0", "state": "unknown", "mac": None, "mtu": 1420, "addresses": ["10.8.0.6/24"]},
    ],
    "listeners": [
        {
            "service": "syslog",
            "listener": "udp",
            "address": "0.0.0.0:514",
            "proto": "udp",
        },
        {
            "service": "syslog",
            "listener": "tcp",
            "address": "0.0.0.0:514",
            "proto": "tcp",
        },
        {"service": "syslog", "listener": "tls", "address": "0.0.0.0:6514", "proto": "tcp", "state": "failed"},
    ],
}


def _agent(traps: int, informs: int, version: str, seen: float, **more: Any) -> dict[str, Any]:
    return {"traps": traps, "informs": informs, "last_version": version, "last_seen": seen, **more}


TRAP_AGENTS: dict[str, Any] = {
    "running": True,
    "started": STARTED + 6,
    "totals": {"traps": 17_950, "informs": 254, "auth_failures": 29, "malformed": 2, "refused": 31},
    "agents": {
        "10.20.0.11": _agent(9_412, 0, "v2c", NOW - 4),
        "10.20.0.12": _agent(8_101, 0, "v2c", NOW - 63),
        "10.20.9.2": _agent(437, 254, "v3", NOW - 20, engine_id="80001f8880aabbccdd0002"),
        "10.20.0.77": _agent(
            0, 0, "v2c", NOW - 300, auth_failures=29, unknown_community=29, refused={"unknown_community": 29}
        ),
    },
    "receive": {"datagrams": 18_541, "acks_sent": 254, "reports_sent": 3},
    "last_malformed": None,
}
TRAP_MIBS: dict[str, Any] = {
    "running": True,
    "status": {
        "loaded": 274,
        "operator": ["ARUBA-MIB"],
        "mib_dir": "/etc/nocraven/mibs",
        "problems": ["MIB FOO-MIB (/etc/nocraven/mibs/foo.my): imports BAR-MIB, found neither ...; add it"],
    },
    "upload_dir": "/etc/nocraven/mibs",
    "files": ["ARUBA-MIB.mib", "foo.my"],
}
TRAPS = [
    ("10.20.0.11", "v2c", "1.3.6.1.6.3.1.1.5.3", "IF-MIB::linkDown", "ifIndex.24", 24),
    ("10.20.0.11", "v2c", "1.3.6.1.6.3.1.1.5.4", "IF-MIB::linkUp", "ifIndex.24", 24),
    ("10.20.9.2", "v3", "1.3.6.1.2.1.33.2.0.1", "UPS-MIB::upsTrapOnBattery", "upsEstimatedMinutesRemaining.0", 41),
    ("10.20.0.12", "v2c", "1.3.6.1.6.3.1.1.5.1", "SNMPv2-MIB::coldStart", "sysUpTimeInstance", 12),
    ("10.20.0.12", "v2c", "1.3.6.1.4.1.14823.2.3.1.11.0.1", None, "1.3.6.1.4.1.14823.2.3.1.11.1.1.1", 7),
]


def _busy(name: str, index: int, in_bps: float, out_bps: float, errors: int = 0) -> dict[str, Any]:
    return {
        "index": index,
        "name": name,
        "oper_status": "up",
        "in_bps": in_bps,
        "out_bps": out_bps,
        "in_errors": errors,
        "out_errors": 0,
    }


POLL_TARGETS: dict[str, Any] = {
    "running": True,
    "started": STARTED + 6,
    "concurrency": 32,
    "problems": [],
    "targets": [
        {
            "target": "core-sw1",
            "host": "10.20.0.11",
            "port": 161,
            "version": "2c",
            "interval_s": 60.0,
            "state": "ok",
            "last_poll": NOW - 14,
            "last_success": NOW - 14,
            "duration_s": 0.42,
            "polls": 96,
            "records": 96,
            "interfaces": 52,
            "busiest": [_busy("Gi1/0/48", 48, 412_000_000, 96_500_000), _busy("Gi1/0/1", 1, 23_400_000, 1_200_000, 17)],
        },
        {
            "target": "ups-hall-b",
            "host": "10.20.9.2",
            "port": 161,
            "version": "3",
            "interval_s": 60.0,
            "state": "failing",
            "last_poll": NOW - 31,
            "last_success": NOW - 3600,
            "duration_s": 4.0,
            "polls": 96,
            "failures": 60,
            "consecutive_failures": 60,
            "errors": {"timeout": 60},
            "last_error_kind": "timeout",
            "last_error": "ups-hall-b (10.20.9.2:161, SNMPv3): no answer in 2 s x 2 tries; check that the device "
            "is up and reachable, that it answers SNMP on this port",
        },
    ],
}


def _traps() -> list[dict[str, Any]]:
    records = []
    for i, (agent, version, oid, name, varbind, value) in enumerate(TRAPS * 2):
        records.append(
            {
                "service": "trap",
                "received_at": f"2026-11-27T05:{50 + i // 2:02d}:{(i * 7) % 60:02d}.000Z",
                "source": f"{agent}:162",
                "version": version,
                "pdu": "trap",
                "agent_addr": agent,
                "trap_oid": oid,
                "trap_name": name,
                "uptime": 4242 + i,
                "varbinds": [{"oid": "1.3.6.1.2.1.2.2.1.1.24", "name": varbind, "type": "Integer32", "value": value}],
            }
        )
    return records


def replay(app: App[Any], role: str = "admin") -> None:
    """Post the recording to the app, as the connection worker and request workers would."""
    for line in watch_lines(role):
        message = messages.from_event(published(line))
        assert message is not None
        app.post_message(message)
    extra: list[Message] = [
        messages.ReadCompleted(windows.AGENTS.key, msgspec.convert(WINEVENTS_AGENTS, WineventsAgents)),
        messages.ReadCompleted(windows.RECENT_EVENTS.key, _winevent_records()),
        messages.ReadCompleted(exchange.BUFFER_STATS.key, msgspec.convert(BUFFER_STATS, BufferStats)),
        messages.ReadCompleted(SYSTEM_READ.key, msgspec.convert(SYSTEM, SystemInfo)),
        messages.ReadCompleted(traps.TRAP_AGENTS.key, msgspec.convert(TRAP_AGENTS, TrapAgents)),
        messages.ReadCompleted(traps.TRAP_MIBS.key, msgspec.convert(TRAP_MIBS, TrapMibs)),
        messages.ReadCompleted(traps.RECENT_TRAPS.key, _traps()),
        messages.ReadCompleted(traps.POLL_TARGETS.key, msgspec.convert(POLL_TARGETS, PollTargets)),
        messages.ReadCompleted(exchange.FORWARD_STATUS.key, msgspec.convert(FORWARD_STATUS, ForwardStatus)),
    ]
    for message in extra:
        app.post_message(message)


# The Windows screen's reads: the newest winevent records and the agents.
WINEVENT_SAMPLES = [
    ("DC01.venue.local", 4624, None, "An account was successfully logged on."),
    ("POS-07.venue.local", 4625, "logon.failure", "An account failed to log on."),
    ("DC01.venue.local", 4740, "account.lockout", "A user account was locked out."),
    ("FS01.venue.local", 7, None, "The device, \\Device\\Harddisk1\\DR1, has a bad block."),
    ("POS-07.venue.local", 4625, "logon.failure", "An account failed to log on."),
    ("DC01.venue.local", 4728, "group.member_added", "A member was added to a security-enabled global group."),
]


def _winevent_records() -> list[dict[str, Any]]:
    records = []
    for i in range(24):
        computer, event_id, security, message = WINEVENT_SAMPLES[i % len(WINEVENT_SAMPLES)]
        records.append(
            {
                "service": "winevent",
                "received_at": f"2026-11-27T05:5{6 + i // 8}:{(i % 8) * 7:02d}.000Z",
                "source": "10.20.8.5:50211",
                "event_id": event_id,
                "channel": "System" if event_id == 7 else "Security",
                "computer": computer,
                "level": "information",
                "record_id": 1_193_400 + i,
                "time_created": f"2026-11-27T05:5{6 + i // 8}:{(i % 8) * 7:02d}Z",
                "message": message,
                "event_data": {},
                "dialect": "winlogbeat",
                "security": security,
                "agent": "dc01",
                "parse_warnings": [],
            }
        )
    return records


WINEVENTS_AGENTS: dict[str, Any] = {
    "agents": {
        "(unauthenticated)": {"requests": 3, "errors": 3, "last_seen": NOW - 600, "last_error": "bad token"},
        "dc01": {"requests": 9_400, "events": 301_220, "security_events": 1_204, "last_seen": NOW - 2},
        "pos-07": {"requests": 2_100, "events": 111_687, "security_events": 96, "last_seen": NOW - 4},
        "fs01": {},
    },
    "configured": ["dc01", "fs01", "pos-07"],
    "listeners": [],
    "busy_refusals": 0,
}
