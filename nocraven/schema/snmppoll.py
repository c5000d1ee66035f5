"""SNMP polling on the API: every target's schedule, last poll and errors.

The per-target Structs are the poller's own (`collectors.snmppoll.report`), reused as they are.
"""

from __future__ import annotations

import msgspec

from collectors.snmppoll.report import InterfaceLoad, TargetStatus

__all__ = ["InterfaceLoad", "PollTargets", "TargetStatus"]


class PollTargets(msgspec.Struct, frozen=True, kw_only=True):
    """GET /v1/snmp/targets: the configured targets and how their polls went."""

    running: bool  # the poller process is up and has reported
    started: float | None  # Unix time the poller (re)started
    concurrency: int  # devices asked at the same moment at most
    targets: list[TargetStatus]  # in config order
    problems: list[str]  # setup problems (names no loaded MIB knows, ...), one line each
