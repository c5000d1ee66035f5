"""Polling a real agent: net-snmp's `snmpd` started on a random loopback port with a v2c
community and an SNMPv3 authPriv user, read by the poller (pysnmp's asyncio engine) and, to
compare, by net-snmp's `snmpget`. A target nobody answers, a wrong community and a wrong v3
key give one clear line each, and the good targets keep their schedule meanwhile."""

from __future__ import annotations

import asyncio
import shutil
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from collectors.snmppoll.poller import Poller, TargetState
from collectors.snmppoll.settings import PollTarget
from collectors.snmppoll.targets import mib_modules, resolve_targets
from collectors.snmptrap.mibs import MibResolver
from collectors.snmptrap.settings import SnmpUser
from tests.support.snmpd import (
    COMMUNITY,
    IF_DESCR,
    IF_HC_IN_OCTETS,
    IF_IN_OCTETS,
    LOCATION,
    SNMP_IN_PKTS_0,
    SYS_LOCATION_0,
    SYS_UPTIME_0,
    V3_AUTH,
    V3_PRIV,
    V3_USER,
    Snmpd,
    start_snmpd,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        not (shutil.which("snmpd") and shutil.which("snmpget")),
        reason="needs net-snmp's snmpd (Debian package snmpd) and snmpget (Debian package snmp)",
    ),
]

USERS = {
    V3_USER: SnmpUser(V3_USER, "SHA", V3_AUTH, "AES", V3_PRIV),
    "wrong-key": SnmpUser(V3_USER, "SHA", "not-the-auth-pass", "AES", V3_PRIV),
}
OIDS = ["SNMPv2-MIB::sysLocation.0", "SNMPv2-MIB::snmpInPkts.0"]


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpd]:
    snmpd = start_snmpd(tmp_path_factory.mktemp("snmpd"))
    try:
        yield snmpd
    finally:
        snmpd.stop()


@pytest.fixture(scope="module")
def resolver() -> MibResolver:
    return MibResolver(mib_modules([PollTarget(host="127.0.0.1", oids=OIDS)]))


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A UDP port held open that never answers: a device that is down."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def target(agent: Snmpd, **overrides: Any) -> PollTarget:
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": agent.port,
        "community": COMMUNITY,
        "oids": OIDS,
        "interval_s": 30.0,
        "timeout_s": 1.0,
        "retries": 0,
    }
    return PollTarget(**(settings | overrides))


def poller(targets: list[PollTarget], resolver: MibResolver) -> tuple[Poller, list[TargetState], list[dict[str, Any]]]:
    states, problems = resolve_targets(targets, resolver.oid)
    assert problems == []
    records: list[dict[str, Any]] = []
    return Poller(states, USERS, records.append, resolver.name, 8, 10_000, seed=1), states, records


def by_oid(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {value["oid"]: value for value in record["values"]}


@pytest.mark.parametrize("version", ["2c", "3"])
def test_a_poll_reads_what_snmpget_reads(agent: Snmpd, resolver: MibResolver, version: str) -> None:
    overrides: dict[str, Any] = {"name": f"lab-{version}", "version": version}
    if version == "3":
        overrides["user"] = V3_USER
    engine, states, records = poller([target(agent, **overrides)], resolver)

    async def twice() -> None:
        await engine.warm_up()
        await engine.poll(states[0])
        await asyncio.sleep(3.0)  # past snmpd's few-second interface cache
        await engine.poll(states[0])

    before = agent.get(f"{IF_HC_IN_OCTETS}.1", SYS_UPTIME_0, version=version)
    asyncio.run(twice())
    after = agent.get(f"{IF_HC_IN_OCTETS}.1", SYS_UPTIME_0, SYS_LOCATION_0, f"{IF_DESCR}.1", version=version)
    assert states[0].last_error is None, states[0].last_error
    assert len(records) == 2
    first, second = records
    assert first["service"] == "poll" and first["device"] == f"lab-{version}"
    assert first["source"] == agent.address and first["version"] == version
    values = by_oid(second)
    assert values[SYS_LOCATION_0] == {
        "oid": SYS_LOCATION_0,
        "name": "SNMPv2-MIB::sysLocation.0",
        "type": "OctetString",
        "value": after[SYS_LOCATION_0][1].strip('"'),
    }
    assert values[SYS_LOCATION_0]["value"] == LOCATION
    assert values[SNMP_IN_PKTS_0]["type"] == "Counter32"
    assert values[SNMP_IN_PKTS_0]["rate"] is not None and values[SNMP_IN_PKTS_0]["rate"] > 0  # our own requests
    assert "rate" in by_oid(first)[SNMP_IN_PKTS_0] and by_oid(first)[SNMP_IN_PKTS_0]["rate"] is None
    # the uptime lies between snmpget's readings before and after (net-snmp prints the ticks in parentheses)
    ticks = [int(reading[SYS_UPTIME_0][1].split("(")[1].split(")")[0]) for reading in (before, after)]
    assert ticks[0] <= first["uptime"] <= second["uptime"] <= ticks[1]
    loopback = next(i for i in second["interfaces"] if i["index"] == 1)
    assert loopback["descr"] == after[f"{IF_DESCR}.1"][1].strip('"') == "lo"
    assert loopback["name"] == "lo" and loopback["oper_status"] == "up" and loopback["counter_bits"] == 64
    octets = [int(reading[f"{IF_HC_IN_OCTETS}.1"][1]) for reading in (before, after)]
    assert octets[0] <= loopback["in_octets"] <= octets[1]
    first_loopback = next(i for i in first["interfaces"] if i["index"] == 1)
    assert first_loopback["in_bps"] is None  # no rate before a previous sample
    assert loopback["in_bps"] is not None and loopback["in_bps"] > 0  # the SNMP traffic itself crosses lo
    assert loopback["in_bps"] == pytest.approx(
        (loopback["in_octets"] - first_loopback["in_octets"]) * 8 / _elapsed(first, second), rel=0.01
    )
    status = states[0].status()
    assert status.state == "ok" and "lo" in [i.name for i in status.busiest]
    loads = [(i.in_bps or 0) + (i.out_bps or 0) for i in status.busiest]
    assert loads == sorted(loads, reverse=True)  # busiest first (eth0 may beat lo on a busy machine)


def test_snmpv1_walks_with_getnext_and_reads_the_32_bit_counters(agent: Snmpd, resolver: MibResolver) -> None:
    """SNMPv1 has no GETBULK and no Counter64: the interfaces come with their 32-bit counters."""
    engine, states, records = poller([target(agent, name="old-v1", version="1")], resolver)

    async def once() -> None:
        await engine.warm_up()
        await engine.poll(states[0])

    before = agent.get(f"{IF_IN_OCTETS}.1")
    asyncio.run(once())
    after = agent.get(f"{IF_IN_OCTETS}.1", SYS_LOCATION_0)
    assert states[0].last_error is None, states[0].last_error
    (record,) = records
    assert record["version"] == "1"
    loopback = next(i for i in record["interfaces"] if i["index"] == 1)
    assert loopback["counter_bits"] == 32 and loopback["name"] == "lo"
    assert int(before[f"{IF_IN_OCTETS}.1"][1]) <= loopback["in_octets"] <= int(after[f"{IF_IN_OCTETS}.1"][1])
    assert by_oid(record)[SYS_LOCATION_0]["value"] == LOCATION


def _elapsed(first: dict[str, Any], second: dict[str, Any]) -> float:
    from datetime import datetime

    def at(record: dict[str, Any]) -> float:
        return datetime.fromisoformat(record["received_at"].replace("Z", "+00:00")).timestamp()

    return at(second) - at(first)


def test_failures_are_one_clear_line_each(agent: Snmpd, resolver: MibResolver, silent_port: int) -> None:
    targets = [
        target(agent, name="down", port=silent_port),
        target(agent, name="wrong-community", community="not-the-community"),
        target(agent, name="wrong-key", version="3", user="wrong-key"),
        target(agent, name="missing", oids=["1.3.6.1.2.1.1.99.0"]),
    ]
    engine, states, records = poller(targets, resolver)

    async def once() -> None:
        await engine.warm_up()
        await asyncio.gather(*(engine.poll(state) for state in states))

    asyncio.run(once())
    status = {state.target.label: state.status() for state in states}
    down = status["down"]
    assert down.state == "failing" and down.errors == {"timeout": 1} and down.last_error_kind == "timeout"
    assert down.last_error is not None and f"127.0.0.1:{silent_port}" in down.last_error
    assert "no answer in 1 s x 1 tries" in down.last_error and "\n" not in down.last_error
    wrong = status["wrong-community"]
    assert wrong.last_error_kind == "timeout" and "community" in (wrong.last_error or "")
    key = status["wrong-key"]
    assert key.state == "failing" and key.last_error_kind == "auth"
    assert "wrong digest" in (key.last_error or "") and "auth_key" in (key.last_error or "")
    # a missing object costs that object, not the poll: the record is stored and the line says which
    missing = status["missing"]
    assert missing.state == "ok" and missing.records == 1 and missing.last_error_kind == "no_such_object"
    assert "1.3.6.1.2.1.1.99.0" in (missing.last_error or "") and "does not exist" in (missing.last_error or "")
    assert [record["device"] for record in records] == ["missing"]


def test_a_dead_target_does_not_delay_the_others(agent: Snmpd, resolver: MibResolver, silent_port: int) -> None:
    """Each target keeps its own cadence: the good one polls every 2 s while the dead one waits
    out its timeouts."""
    targets = [
        target(agent, name="good", interval_s=2.0, oids=[]),
        target(agent, name="dead", port=silent_port, interval_s=2.0, timeout_s=1.5, retries=0, oids=[]),
    ]
    engine, states, records = poller(targets, resolver)

    async def for_a_while() -> None:
        await engine.warm_up()
        run = asyncio.create_task(engine.run())
        await asyncio.sleep(9.0)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run

    started = time.time()
    asyncio.run(for_a_while())
    good, dead = (state.status() for state in states)
    assert good.records >= 3, good  # 4 slots in 9 s after a phase of up to 2 s; 3 leaves room for a busy machine
    assert good.failures == 0 and good.overruns == 0
    assert dead.records == 0 and dead.failures >= 3 and dead.errors.get("timeout") == dead.failures
    assert all(record["device"] == "good" for record in records)
    assert time.time() - started < 60
