"""What the poller and the engine tell each other, typed: its setup in, per-target status out.

One owner: `nocraven/schema/snmppoll.py` reuses these Structs on the API as they are.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from collectors.snmppoll.settings import SnmpSettings
from collectors.snmptrap.settings import SnmpUser

ErrorKind = Literal["timeout", "unreachable", "auth", "no_such_object", "refused", "config", "error"]


class PollSetup(msgspec.Struct, frozen=True, kw_only=True):
    """The SETTINGS frame of the poller."""

    settings: SnmpSettings
    users: list[SnmpUser] = []  # the [[snmptrap.users]] the v3 targets name


class InterfaceLoad(msgspec.Struct, frozen=True, kw_only=True):
    """One interface of a device, for the busiest-interfaces views."""

    index: int
    name: str | None
    oper_status: str | int | None
    in_bps: float | None
    out_bps: float | None
    in_errors: int | None
    out_errors: int | None
    in_errors_ps: float | None = None
    out_errors_ps: float | None = None


class TargetStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One polled device: its schedule, its last poll and what went wrong."""

    target: str  # the target's name (snmp.poll name, else its host)
    host: str
    port: int
    version: str
    interval_s: float
    state: Literal["waiting", "ok", "failing"] = "waiting"  # waiting: not polled yet
    last_poll: float | None = None  # Unix time the last poll ended
    last_success: float | None = None
    duration_s: float | None = None  # of the last poll
    next_poll: float | None = None
    polls: int = 0  # polls attempted
    failures: int = 0  # polls that stored no record
    consecutive_failures: int = 0
    overruns: int = 0  # scheduled polls skipped: the one before had not finished
    errors: dict[str, int] = {}  # by kind: timeout, unreachable, auth, no_such_object, ...
    last_error: str | None = None  # one line a person can act on
    last_error_at: float | None = None
    last_error_kind: ErrorKind | None = None
    records: int = 0
    interfaces: int = 0  # in the last record
    values: int = 0  # scalar and table values in the last record
    uptime: int | None = None  # the device's sysUpTime (ticks) at the last poll
    busiest: list[InterfaceLoad] = []  # the interfaces with the most traffic, at most 5


class PollReport(msgspec.Struct, frozen=True, kw_only=True):
    """The DETAIL payload of the poller."""

    started: float
    concurrency: int = 0
    targets: list[TargetStatus] = []
    problems: list[str] = []  # setup problems: names no loaded MIB knows, ...
