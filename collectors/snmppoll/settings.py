"""The SNMP poller's settings: the `[snmp]` section and its `[[snmp.poll]]` targets.

SNMPv3 targets name a user of `[[snmptrap.users]]` (the same USM settings serve traps and
polling), so a device's keys are written once; the engine resolves the name before it hands
the poller its setup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from collectors.common.settings import between, checked, port_range, positive, secret

# `MODULE::symbol` with an optional numeric suffix, or a dotted numeric OID.
_NAMED = re.compile(r"[A-Za-z][A-Za-z0-9-]*::[A-Za-z][A-Za-z0-9-]*(\.\d+)*")
_NUMERIC = re.compile(r"\.?\d+(\.\d+)+")
DEFAULT_TABLES = ["IF-MIB::ifTable", "IF-MIB::ifXTable"]


def object_names(value: list[str]) -> str | None:
    for item in value:
        if not (_NAMED.fullmatch(item) or _NUMERIC.fullmatch(item)):
            return f"{item!r} is neither MODULE::name (e.g. 'SNMPv2-MIB::sysUpTime.0') nor a numeric OID"
    return None


def host_name(value: str) -> str | None:
    if not value:
        return "a host (IP address or DNS name) is needed"
    if any(c.isspace() for c in value):
        return f"{value!r} contains spaces"
    if value.count(":") == 1:
        return f"{value!r}: give the port in `port`, not in `host`"
    return None


@dataclass(frozen=True)
class PollTarget:
    """One polled device."""

    host: str = checked("", host_name, doc="IP address or DNS name of the device")
    port: int = checked(161, port_range)
    name: str = checked("", doc="how the device is called in records and lists; empty: the host")
    version: Literal["1", "2c", "3"] = "2c"
    community: str = secret("public")
    user: str = checked("", doc="SNMPv3: the name of a [[snmptrap.users]] entry")
    interval_s: float = checked(60.0, between(1, 86400))
    timeout_s: float = checked(2.0, between(0.1, 60))
    retries: int = checked(1, between(0, 10))
    tables: list[str] = checked(DEFAULT_TABLES, object_names)
    oids: list[str] = checked([], object_names)

    @property
    def label(self) -> str:
        return self.name or (self.host if self.port == 161 else f"{self.host}:{self.port}")


@dataclass(frozen=True)
class SnmpSettings:
    poll: list[PollTarget] = checked([])
    # Devices polled at the same moment; the others wait for a free slot, never for a slow one.
    concurrency: int = checked(32, between(1, 1024))
    # Table cells read per device and poll at most, so one huge table cannot swamp the buffer.
    max_rows: int = checked(10_000, positive)

    def cross_checks(self, users: list[str] | None = None) -> list[str]:
        problems: list[str] = []
        known = set(users or [])
        labels: list[str] = []
        for index, target in enumerate(self.poll):
            key = f"snmp.poll[{index}]"
            labels.append(target.label)
            if target.version == "3" and not target.user:
                problems.append(f"{key}.user: version 3 needs a user (the name of a [[snmptrap.users]] entry)")
            elif target.version == "3" and target.user not in known:
                problems.append(
                    f"{key}.user: no [[snmptrap.users]] entry is named {target.user!r}; add it there "
                    "(name, auth_protocol, auth_key, priv_protocol, priv_key)"
                )
            if target.version != "3" and target.user:
                problems.append(f'{key}.user: a user is for version 3; set version = "3" or remove the user')
            if target.timeout_s * (target.retries + 1) > target.interval_s:
                problems.append(
                    f"{key}.timeout_s: {target.timeout_s:g} s x {target.retries + 1} tries is longer than "
                    f"interval_s {target.interval_s:g}; lower timeout_s or retries, or raise interval_s"
                )
        twice = sorted({label for label in labels if labels.count(label) > 1})
        problems += [f"snmp.poll: {label!r} is polled twice; give the targets different names" for label in twice]
        return problems
