"""The trap receiver on the API: agents and their counters, MIB status, adding a MIB.

The counter and MIB Structs are the collector's own (`collectors.snmptrap.report`), reused as
they are: a counter is named once, where the collector reports it.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from collectors.snmptrap.report import MalformedSample, MibStatus, ReceiveCounters, TrapAgent, TrapTotals

__all__ = [
    "MalformedSample",
    "MibAdded",
    "MibStatus",
    "MibUpload",
    "ReceiveCounters",
    "TrapAgent",
    "TrapAgents",
    "TrapMibs",
    "TrapTotals",
]


class TrapAgents(msgspec.Struct, frozen=True, kw_only=True):
    """GET /v1/traps/agents: every sending device's counters since the collector started."""

    running: bool  # the receiver is up and has reported
    started: float | None  # Unix time the collector (re)started
    totals: TrapTotals
    agents: dict[str, TrapAgent]  # by agent IP ("other" beyond the agent limit)
    receive: ReceiveCounters
    last_malformed: MalformedSample | None


class TrapMibs(msgspec.Struct, frozen=True, kw_only=True):
    """GET /v1/traps/mibs: what the receiver loaded, and the operator MIB files."""

    running: bool
    status: MibStatus  # as the collector loaded them at its last start
    upload_dir: str  # where `POST /v1/traps/mibs` writes (snmptrap.mib_dir, else under the data dir)
    files: list[str]  # the MIB files in it now (compiled at the collector's next start)


class MibUpload(msgspec.Struct, frozen=True, kw_only=True):
    """POST /v1/traps/mibs: one MIB file's text (ASN.1 SMI)."""

    text: str
    filename: str | None = None  # for messages only; the file is stored under its module name


class MibAdded(msgspec.Struct, frozen=True, kw_only=True):
    module: str
    path: str  # where it was stored
    result: Literal["compiled", "failed", "pending"]  # pending: the collector had not restarted in time
    problems: list[str]  # what the compiler said about this module (or all problems if it failed)
    loaded: int  # MIB modules loaded after the restart
