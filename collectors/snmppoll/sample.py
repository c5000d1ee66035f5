"""One poll's answers into one record, sans-IO: interfaces from IF-MIB, other objects as varbinds.

The poller hands over the varbinds it read (numeric OID, BER tag, value: the trap decoder's
`Varbind`), the device's sysUpTime and the time; this module builds the `service: "poll"`
record of DESIGN.md: per interface the counters with bit and packet rates, 64-bit counters
(ifXTable's ifHC*) preferred over the 32-bit ones of ifTable, and every other object as
`{oid, name, type, value}` (plus `rate` for counters).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from collectors.snmppoll.counters import COUNTER_TAGS, CounterMemory
from collectors.snmptrap import ber
from collectors.snmptrap.ber import Varbind

IF_TABLE_ENTRY = "1.3.6.1.2.1.2.2.1"
IF_X_TABLE_ENTRY = "1.3.6.1.2.1.31.1.1.1"
SYS_UPTIME_0 = "1.3.6.1.2.1.1.3.0"

# (table entry, column) -> our field name
IF_COLUMNS: dict[tuple[str, int], str] = {
    (IF_TABLE_ENTRY, 2): "descr",
    (IF_TABLE_ENTRY, 3): "type",
    (IF_TABLE_ENTRY, 5): "speed",
    (IF_TABLE_ENTRY, 7): "admin_status",
    (IF_TABLE_ENTRY, 8): "oper_status",
    (IF_TABLE_ENTRY, 10): "in_octets32",
    (IF_TABLE_ENTRY, 11): "in_packets32",
    (IF_TABLE_ENTRY, 13): "in_discards",
    (IF_TABLE_ENTRY, 14): "in_errors",
    (IF_TABLE_ENTRY, 16): "out_octets32",
    (IF_TABLE_ENTRY, 17): "out_packets32",
    (IF_TABLE_ENTRY, 19): "out_discards",
    (IF_TABLE_ENTRY, 20): "out_errors",
    (IF_X_TABLE_ENTRY, 1): "name",
    (IF_X_TABLE_ENTRY, 6): "in_octets64",
    (IF_X_TABLE_ENTRY, 7): "in_packets64",
    (IF_X_TABLE_ENTRY, 10): "out_octets64",
    (IF_X_TABLE_ENTRY, 11): "out_packets64",
    (IF_X_TABLE_ENTRY, 15): "high_speed",
    (IF_X_TABLE_ENTRY, 18): "alias",
}
# RFC 2863 ifOperStatus / ifAdminStatus
STATUS_NAMES = {1: "up", 2: "down", 3: "testing", 4: "unknown", 5: "dormant", 6: "notPresent", 7: "lowerLayerDown"}
_COUNTER_FIELDS = ("octets", "packets")


@dataclass
class PollAnswer:
    """What one poll of one device read."""

    varbinds: list[Varbind] = field(default_factory=list)  # scalars and table cells, in any order
    uptime: int | None = None  # sysUpTime.0 in ticks, when the device answered it


def _split(oid: str) -> tuple[str, int, int] | None:
    """(IF table entry, column, ifIndex) for an IF-MIB cell we read, else None."""
    for entry in (IF_TABLE_ENTRY, IF_X_TABLE_ENTRY):
        if oid.startswith(entry) and oid[len(entry) : len(entry) + 1] == ".":
            parts = oid[len(entry) + 1 :].split(".")
            if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
                return entry, int(parts[0]), int(parts[1])
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def build_record(
    answer: PollAnswer,
    memory: CounterMemory,
    now: float,
    name: Callable[[str], str | None] | None,
    common: dict[str, Any],
) -> dict[str, Any]:
    """The poll record; `common` holds the keys fixed per device (service, device, source ...).
    Advances `memory` to this sample."""
    memory.begin(now, answer.uptime)
    cells: dict[int, dict[str, tuple[int, Any]]] = {}
    others: list[Varbind] = []
    for varbind in answer.varbinds:
        oid, tag, value = varbind
        where = _split(oid)
        column = IF_COLUMNS.get((where[0], where[1])) if where else None
        if where is None or column is None:
            if where is None:  # IF-MIB columns we do not map are left out, not repeated as varbinds
                others.append(varbind)
            continue
        if tag in (ber.NO_SUCH_OBJECT, ber.NO_SUCH_INSTANCE, ber.END_OF_MIB_VIEW):
            continue
        cells.setdefault(where[2], {})[column] = (tag, value)
    interfaces = [_interface(index, cells[index], memory) for index in sorted(cells)]
    values = ber.render(others, name)
    for item, (oid, tag, value) in zip(values, others, strict=True):
        if tag in COUNTER_TAGS and isinstance(value, int):
            item["rate"] = _round(memory.rate(oid, value, tag))
    memory.commit()
    return {
        **common,
        "uptime": answer.uptime,
        "restarted": memory.restart_seen,
        "interfaces": interfaces,
        "values": values,
    }


def _round(rate: float | None) -> float | None:
    return None if rate is None else round(rate, 3)


def _interface(index: int, cells: dict[str, tuple[int, Any]], memory: CounterMemory) -> dict[str, Any]:
    def value(column: str) -> Any:
        cell = cells.get(column)
        return cell[1] if cell else None

    descr = _text(value("descr"))
    high_speed = value("high_speed")
    speed = value("speed")
    interface: dict[str, Any] = {
        "index": index,
        "name": _text(value("name")) or descr,
        "descr": descr,
        "alias": _text(value("alias")),
        "type": value("type"),
        "speed_bps": high_speed * 1_000_000 if high_speed else speed,
        "admin_status": STATUS_NAMES.get(value("admin_status"), value("admin_status")),
        "oper_status": STATUS_NAMES.get(value("oper_status"), value("oper_status")),
    }
    bits = 64 if "in_octets64" in cells or "out_octets64" in cells else 32
    interface["counter_bits"] = bits
    for direction in ("in", "out"):
        for kind in _COUNTER_FIELDS:
            cell = cells.get(f"{direction}_{kind}64") or cells.get(f"{direction}_{kind}32")
            key = f"{direction}_{kind}"
            rate_key = f"{direction}_bps" if kind == "octets" else f"{direction}_pps"
            if cell is None or not isinstance(cell[1], int):
                interface[key] = interface[rate_key] = None
                continue
            interface[key] = cell[1]
            rate = memory.rate((index, key), cell[1], cell[0])
            interface[rate_key] = _round(rate * 8 if rate is not None and kind == "octets" else rate)
        for kind in ("errors", "discards"):
            key = f"{direction}_{kind}"
            cell = cells.get(key)
            interface[key] = cell[1] if cell and isinstance(cell[1], int) else None
            rate = memory.rate((index, key), cell[1], cell[0]) if interface[key] is not None and cell else None
            interface[f"{key}_ps"] = _round(rate)
    return interface
