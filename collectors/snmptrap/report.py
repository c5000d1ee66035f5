"""What the trap collector and the engine tell each other beyond the common frames, typed.

The engine hands the collector a `TrapSetup` (its `[snmptrap]` settings, where its state lives
and which MIB directory to compile); the collector sends a `TrapReport` in DETAIL frames: the
per-agent counters of `agents.AgentCounters`, its own receive figures and the MIB status. One
owner: `nocraven/schema/snmptrap.py` reuses these Structs on the API as they are.
"""

from __future__ import annotations

import msgspec

from collectors.snmptrap.settings import SnmptrapSettings

RECEIVE_BUFFER_BYTES = 16 << 20  # about 50,000 typical traps: a storm's burst while a commit runs


class TrapSetup(msgspec.Struct, frozen=True, kw_only=True):
    """The SETTINGS frame of the trap collector."""

    settings: SnmptrapSettings
    state_dir: str  # engine boots, compiled MIBs
    mib_dir: str  # operator MIBs to compile: `snmptrap.mib_dir`, else the engine's upload directory


class TrapAgent(msgspec.Struct, frozen=True, kw_only=True):
    """One sending device's counters (by IP; "other" beyond the receiver's agent limit)."""

    traps: int = 0  # accepted and stored
    informs: int = 0  # accepted, stored, and acknowledged once on disk
    auth_failures: int = 0  # unknown community or user, wrong key or security level
    unknown_community: int = 0
    malformed: int = 0
    refused: dict[str, int] = {}  # reason -> count
    discovery_probes: int = 0  # SNMPv3 engine ID probes answered
    duplicate_informs: int = 0  # retransmitted INFORMs acknowledged again, not stored twice
    last_seen: float | None = None  # Unix time
    last_version: str | None = None  # v1, v2c or v3
    engine_id: str | None = None  # the SNMPv3 engine ID it last sent with (hex)


class TrapTotals(msgspec.Struct, frozen=True, kw_only=True):
    traps: int = 0
    informs: int = 0
    auth_failures: int = 0
    malformed: int = 0
    refused: int = 0  # every refusal, authentication failures included


class MalformedSample(msgspec.Struct, frozen=True, kw_only=True):
    """The last datagram that was not SNMP, kept for inspection."""

    source: str
    reason: str
    at: float
    bytes: int
    head_hex: str  # its first 256 bytes


class ReceiveCounters(msgspec.Struct, frozen=True, kw_only=True):
    """What the receive loop itself did (not per agent)."""

    datagrams: int = 0
    kernel_drops: int = 0  # datagrams the kernel dropped: the receive buffer was full
    acks_sent: int = 0  # INFORM responses sent, each after its record was committed
    acks_withheld: int = 0  # INFORMs not acknowledged: the engine could not store them
    reports_sent: int = 0  # SNMPv3 Reports (discovery, time window)
    reports_suppressed: int = 0  # Reports not sent: over the rate limit (spoofed probes)
    informs_waiting: int = 0  # INFORM acks waiting for the engine's commit right now


class MibStatus(msgspec.Struct, frozen=True, kw_only=True):
    loaded: int = 0  # MIB modules loaded (bundled IETF/IANA and operator ones)
    operator: list[str] = []  # modules compiled from `mib_dir`
    mib_dir: str = ""
    problems: list[str] = []  # broken MIBs, one actionable line each


class TrapReport(msgspec.Struct, frozen=True, kw_only=True):
    """The DETAIL payload of the trap collector: counters since it started, and its MIBs."""

    started: float  # Unix time the collector started (a new value: it was restarted)
    totals: TrapTotals = TrapTotals()
    agents: dict[str, TrapAgent] = {}
    last_malformed: MalformedSample | None = None
    receive: ReceiveCounters = ReceiveCounters()
    mibs: MibStatus = MibStatus()
