"""The configured targets with their objects resolved to numeric OIDs, sans-IO.

Names (`IF-MIB::ifTable`, `UPS-MIB::upsEstimatedChargeRemaining.0`) resolve through the MIBs of
`pysnmp-mibs`; a name no loaded MIB knows is reported once, in one line, and left out: the
target is still polled for everything else.
"""

from __future__ import annotations

from collections.abc import Callable

from collectors.snmppoll.poller import TargetState
from collectors.snmppoll.sample import SYS_UPTIME_0
from collectors.snmppoll.settings import PollTarget

ALWAYS = ["SNMPv2-MIB", "IF-MIB"]


def mib_modules(targets: list[PollTarget]) -> list[str]:
    """The MIB modules the configured names need (the two every poll uses first)."""
    named = {item.partition("::")[0] for t in targets for item in [*t.tables, *t.oids] if "::" in item}
    return ALWAYS + sorted(named - set(ALWAYS))


def resolve_targets(
    targets: list[PollTarget], oid_of: Callable[[str], str | None]
) -> tuple[list[TargetState], list[str]]:
    states: list[TargetState] = []
    problems: list[str] = []
    for index, target in enumerate(targets):

        def numeric(item: str, key: str, index: int = index) -> str | None:
            if "::" not in item:
                return item.lstrip(".")
            found = oid_of(item)
            if found is None:
                problems.append(
                    f"snmp.poll[{index}].{key}: {item} is in no loaded MIB; use its numeric OID or add "
                    "the MIB (`nocraven traps mibs add FILE`)"
                )
            return found

        scalars = [SYS_UPTIME_0]
        for item in target.oids:
            oid = numeric(item, "oids")
            if oid and oid not in scalars:
                scalars.append(oid)
        tables = []
        for item in target.tables:
            oid = numeric(item, "tables")
            if oid:
                tables.append((item, oid))
        states.append(TargetState(target=target, scalars=scalars, tables=tables))
    return states, problems
