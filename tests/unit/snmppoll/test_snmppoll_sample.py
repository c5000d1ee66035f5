"""A poll's varbinds into the `poll` record (sans-IO): interfaces from IF-MIB with 64-bit
counters preferred, rates from the previous sample, other objects as typed varbinds."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from collectors.snmppoll.counters import CounterMemory
from collectors.snmppoll.sample import IF_TABLE_ENTRY, IF_X_TABLE_ENTRY, PollAnswer, build_record
from collectors.snmptrap import ber
from collectors.snmptrap.ber import Varbind

COMMON = {"service": "poll", "device": "sw1", "source": "10.0.0.2:161"}


def interface(index: int, in32: int, out32: int, in64: int | None = None, errors: int = 0) -> list[Varbind]:
    cells: list[Varbind] = [
        (f"{IF_TABLE_ENTRY}.2.{index}", ber.OCTET_STRING, f"GigabitEthernet0/{index}".encode()),
        (f"{IF_TABLE_ENTRY}.5.{index}", ber.GAUGE32, 1_000_000_000),
        (f"{IF_TABLE_ENTRY}.8.{index}", ber.INTEGER, 1 if index % 2 else 2),
        (f"{IF_TABLE_ENTRY}.10.{index}", ber.COUNTER32, in32),
        (f"{IF_TABLE_ENTRY}.14.{index}", ber.COUNTER32, errors),
        (f"{IF_TABLE_ENTRY}.16.{index}", ber.COUNTER32, out32),
        (f"{IF_TABLE_ENTRY}.4.{index}", ber.INTEGER, 1500),  # ifMtu: not mapped, left out
    ]
    if in64 is not None:
        cells += [
            (f"{IF_X_TABLE_ENTRY}.1.{index}", ber.OCTET_STRING, f"Gi0/{index}".encode()),
            (f"{IF_X_TABLE_ENTRY}.6.{index}", ber.COUNTER64, in64),
            (f"{IF_X_TABLE_ENTRY}.15.{index}", ber.GAUGE32, 1000),
            (f"{IF_X_TABLE_ENTRY}.18.{index}", ber.OCTET_STRING, b"uplink"),
        ]
    return cells


def record(memory: CounterMemory, now: float, uptime: int, varbinds: list[Varbind]) -> dict[str, Any]:
    return build_record(PollAnswer(varbinds=varbinds, uptime=uptime), memory, now, None, dict(COMMON))


def test_interfaces_take_names_and_64_bit_counters_from_ifxtable() -> None:
    memory = CounterMemory()
    first = record(memory, 100.0, 1_000, interface(1, 10, 20, in64=5_000_000_000))
    assert first["service"] == "poll" and first["device"] == "sw1" and first["uptime"] == 1_000
    (gi1,) = first["interfaces"]
    assert gi1["index"] == 1 and gi1["name"] == "Gi0/1" and gi1["descr"] == "GigabitEthernet0/1"
    assert gi1["alias"] == "uplink" and gi1["oper_status"] == "up" and gi1["speed_bps"] == 1_000_000_000
    assert gi1["in_octets"] == 5_000_000_000 and gi1["counter_bits"] == 64
    assert gi1["out_octets"] == 20  # the device has no ifHCOutOctets here: the 32-bit one
    assert gi1["in_bps"] is None and gi1["in_errors"] == 0
    assert "mtu" not in gi1
    second = record(memory, 110.0, 2_000, interface(1, 10, 1_020, in64=5_000_010_000, errors=5))
    (gi1,) = second["interfaces"]
    assert gi1["in_bps"] == 10_000 * 8 / 10 and gi1["out_bps"] == 1_000 * 8 / 10
    assert gi1["in_errors"] == 5 and gi1["in_errors_ps"] == 0.5
    assert second["restarted"] is False


def test_a_32_bit_interface_counter_wrap_gives_the_true_rate() -> None:
    memory = CounterMemory()
    record(memory, 0.0, 0, interface(2, 2**32 - 1_000, 0))
    (gi2,) = record(memory, 10.0, 1_000, interface(2, 1_000, 0))["interfaces"]
    assert gi2["counter_bits"] == 32 and gi2["oper_status"] == "down"
    assert gi2["in_bps"] == 2_000 * 8 / 10


def test_after_a_device_restart_no_rate_is_made_up() -> None:
    memory = CounterMemory()
    record(memory, 0.0, 500_000, interface(1, 0, 0, in64=10**12))
    restarted = record(memory, 60.0, 3_000, interface(1, 0, 0, in64=1_000))
    assert restarted["restarted"] is True
    assert restarted["interfaces"][0]["in_bps"] is None
    after = record(memory, 120.0, 9_000, interface(1, 0, 0, in64=61_000))
    assert after["interfaces"][0]["in_bps"] == 60_000 * 8 / 60


def test_other_objects_are_typed_varbinds_with_rates_for_counters() -> None:
    memory = CounterMemory()
    battery = [
        ("1.3.6.1.2.1.33.1.2.4.0", ber.INTEGER, 97),  # upsEstimatedChargeRemaining
        ("1.3.6.1.2.1.1.6.0", ber.OCTET_STRING, b"rack 7"),
        ("1.3.6.1.2.1.1.2.0", ber.OCTET_STRING, b"\x00\xff"),
        ("1.3.6.1.2.1.11.1.0", ber.COUNTER32, 100),
    ]
    first = record(memory, 0.0, 0, battery)
    assert first["interfaces"] == []
    names = {"1.3.6.1.2.1.1.6.0": "SNMPv2-MIB::sysLocation.0"}
    second = build_record(
        PollAnswer(varbinds=[*battery[:3], ("1.3.6.1.2.1.11.1.0", ber.COUNTER32, 150)], uptime=1_000),
        memory,
        10.0,
        names.get,
        dict(COMMON),
    )
    values = second["values"]
    assert values[0] == {"oid": "1.3.6.1.2.1.33.1.2.4.0", "name": None, "type": "Integer32", "value": 97}
    assert values[1] == {
        "oid": "1.3.6.1.2.1.1.6.0",
        "name": "SNMPv2-MIB::sysLocation.0",
        "type": "OctetString",
        "value": "rack 7",
    }
    assert values[2]["value"] == "00ff" and values[2]["hex"] is True
    assert values[3] == {"oid": "1.3.6.1.2.1.11.1.0", "name": None, "type": "Counter32", "value": 150, "rate": 5.0}


CELL = st.tuples(
    st.sampled_from([IF_TABLE_ENTRY, IF_X_TABLE_ENTRY, "1.3.6.1.2.1.2.2", "1.3.6.1.4.1.9"]),
    st.integers(0, 25),
    st.integers(0, 5),
    st.sampled_from(sorted(ber.TYPE_NAMES)),
    st.one_of(st.integers(0, 2**64 - 1), st.binary(max_size=8), st.none(), st.text(max_size=5)),
)


@given(st.lists(CELL, max_size=40), st.lists(CELL, max_size=40))
def test_any_answer_makes_a_record_and_never_raises(first: list[Any], second: list[Any]) -> None:
    """Agents send odd types in odd columns; the record is still made and rates stay None or >= 0."""
    memory = CounterMemory()
    for when, cells in ((0.0, first), (10.0, second)):
        varbinds = [(f"{entry}.{column}.{index}", tag, value) for entry, column, index, tag, value in cells]
        made = build_record(PollAnswer(varbinds=varbinds, uptime=None), memory, when, None, dict(COMMON))
        for item in made["interfaces"]:
            for key in ("in_bps", "out_bps", "in_pps", "out_pps", "in_errors_ps", "out_errors_ps"):
                assert item[key] is None or item[key] >= 0
