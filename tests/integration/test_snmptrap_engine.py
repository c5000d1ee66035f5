"""The trap collector in the live engine, with net-snmp's `snmptrap` and `snmpinform` (Debian
`snmp`) as the senders: traps reach the buffer named, INFORMs are acknowledged only once
committed (a kill -9 right after the ack loses nothing), refusals are counted and not stored."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors.snmptrap import ber
from collectors.snmptrap.compose import v2c_notification
from collectors.snmptrap.pdu import decode_community_message, message_version
from tests.support.engine import RunningEngine, start_engine
from tests.support.snmptrap import (
    IF_DESCR_3,
    LINK_DOWN,
    NOC_AUTH_PRIV,
    NOC_PRIV_KEY,
    agents,
    marker,
    net_snmp,
    read_traps,
    trap_address,
    trap_config,
    wait_for_traps,
    with_marker,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(600),  # the collector loads every MIB at start: ~5 s, far more on a busy machine
    pytest.mark.skipif(not shutil.which("snmptrap"), reason="needs net-snmp's snmptrap (Debian package snmp)"),
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningEngine, str, Path]]:
    directory = tmp_path_factory.mktemp("trap-engine")
    engine = start_engine(directory / "engine", trap_config('["public", "venue-ro"]'), wait=60)
    try:
        yield engine, trap_address(engine), directory / "net-snmp"
    finally:
        engine.stop()


def tag() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def test_v1_v2c_and_v3_traps_arrive_named(live: tuple[RunningEngine, str, Path]) -> None:
    engine, address, home = live
    v1, v2c, v3 = tag(), tag(), tag()
    sent = [
        net_snmp(home, "snmptrap", "-v1", "-c", "public", address, "1.3.6.1.4.1.8072.3.2.10", "10.20.30.40",
                 "2", "0", "4242", IF_DESCR_3, "s", v1),
        net_snmp(home, "snmptrap", "-v2c", "-c", "venue-ro", address, "777", LINK_DOWN,
                 "1.3.6.1.2.1.2.2.1.1.3", "i", "3", IF_DESCR_3, "s", v2c),
        net_snmp(home, "snmptrap", *NOC_AUTH_PRIV, NOC_PRIV_KEY, "-e", "0x80001f8880aabbccdd0001", address, "",
                 LINK_DOWN, IF_DESCR_3, "s", v3),
    ]  # fmt: skip
    assert [s.returncode for s in sent] == [0, 0, 0], [s.stderr for s in sent]
    records = wait_for_traps(engine, lambda rs: all(with_marker(rs, m) for m in (v1, v2c, v3)))
    (first,), (second,), (third,) = (with_marker(records, m) for m in (v1, v2c, v3))
    assert first["version"] == "v1" and first["community"] == "public"
    assert first["agent_addr"] == "10.20.30.40" and first["uptime"] == 4242
    assert second["version"] == "v2c" and second["community"] == "venue-ro" and second["uptime"] == 777
    assert second["varbinds"][0] == {
        "oid": "1.3.6.1.2.1.2.2.1.1.3",
        "name": "IF-MIB::ifIndex.3",
        "type": "Integer32",
        "value": 3,
    }
    assert third["version"] == "v3" and third["user"] == "noc" and third["security_level"] == "authPriv"
    assert third["engine_id"] == "80001f8880aabbccdd0001"
    for record in (first, second, third):
        assert record["service"] == "trap" and record["pdu"] == "trap"
        assert record["trap_oid"] == LINK_DOWN and record["trap_name"] == "IF-MIB::linkDown"
        assert record["source"].startswith("127.0.0.1:")


def test_snmpinform_v2c_and_v3_get_their_ack_once_stored(live: tuple[RunningEngine, str, Path]) -> None:
    engine, address, home = live
    v2c, v3 = tag(), tag()
    acked = [
        net_snmp(home, "snmpinform", "-v2c", "-c", "public", "-t", "5", "-r", "0", address, "", LINK_DOWN,
                 IF_DESCR_3, "s", v2c),
        net_snmp(home, "snmpinform", *NOC_AUTH_PRIV, NOC_PRIV_KEY, "-t", "5", "-r", "0", address, "", LINK_DOWN,
                 IF_DESCR_3, "s", v3),
    ]  # fmt: skip
    # snmpinform exits 0 only when the acknowledgement came back, and the ack is only sent
    # after the buffer committed the record: it is readable at once.
    assert [a.returncode for a in acked] == [0, 0], [a.stderr for a in acked]
    records = read_traps(engine)
    (first,), (second,) = with_marker(records, v2c), with_marker(records, v3)
    assert first["pdu"] == "inform" and first["version"] == "v2c"
    assert second["pdu"] == "inform" and second["user"] == "noc"
    agent = agents(engine)["agents"]["127.0.0.1"]
    assert agent["informs"] >= 2 and agent["discovery_probes"] >= 1


def test_wrong_key_and_unknown_community_are_refused_counted_not_stored(
    live: tuple[RunningEngine, str, Path],
) -> None:
    engine, address, home = live
    before = agents(engine)["agents"].get("127.0.0.1", {"refused": {}, "auth_failures": 0})
    wrong_key, wrong_community, good = tag(), tag(), tag()
    sent = [
        net_snmp(home, "snmptrap", *NOC_AUTH_PRIV[:8], "not-the-key", *NOC_AUTH_PRIV[9:], NOC_PRIV_KEY,
                 "-e", "0x80001f8880aabbccdd0009", address, "", LINK_DOWN, IF_DESCR_3, "s", wrong_key),
        net_snmp(home, "snmptrap", "-v2c", "-c", "guessed", address, "", LINK_DOWN, IF_DESCR_3, "s",
                 wrong_community),
        net_snmp(home, "snmptrap", "-v2c", "-c", "public", address, "", LINK_DOWN, IF_DESCR_3, "s", good),
    ]  # fmt: skip
    assert [s.returncode for s in sent] == [0, 0, 0]
    # The good trap was sent last on the same path: once it is stored, the others were handled.
    records = wait_for_traps(engine, lambda rs: bool(with_marker(rs, good)))
    assert not with_marker(records, wrong_key) and not with_marker(records, wrong_community)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # counters are reported about once a second
        after = agents(engine)["agents"]["127.0.0.1"]
        if after["auth_failures"] >= before["auth_failures"] + 2:
            break
        time.sleep(0.3)
    assert after["auth_failures"] == before["auth_failures"] + 2
    for reason in ("wrong_digest", "unknown_community"):
        assert after["refused"][reason] == before["refused"].get(reason, 0) + 1
    human = engine.cli("traps", "agents")
    assert human.returncode == 0 and "127.0.0.1" in human.stdout and "authentication failures" in human.stdout


def test_inform_with_unknown_community_is_never_acknowledged(live: tuple[RunningEngine, str, Path]) -> None:
    engine, address, home = live
    before = agents(engine)["totals"]["informs"]
    refused = net_snmp(home, "snmpinform", "-v2c", "-c", "guessed", "-t", "1", "-r", "0", address, "", LINK_DOWN)
    assert refused.returncode != 0 and "Timeout" in refused.stderr
    assert agents(engine)["totals"]["informs"] == before


def test_mibs_are_reported(live: tuple[RunningEngine, str, Path]) -> None:
    engine, _, _ = live
    result = engine.cli("traps", "mibs", "--json")
    assert result.returncode == 0, result.stderr
    mibs = json.loads(result.stdout)
    assert mibs["running"] and mibs["status"]["loaded"] > 200 and mibs["status"]["problems"] == []
    assert "MIB modules loaded" in engine.cli("traps", "mibs").stdout


def _request_id(ack: bytes) -> int:
    version, pos, end = message_version(ack)
    message = decode_community_message(ack, pos, end, version)
    assert message.pdu.tag == ber.RESPONSE
    return message.pdu.request_id


def test_kill_9_right_after_informs_are_acknowledged_loses_none(tmp_path: Path) -> None:
    engine = start_engine(tmp_path / "engine", trap_config(), wait=60)
    host, _, port = trap_address(engine).rpartition(":")
    run = tag()
    count = 300
    acked: set[int] = set()
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.bind(("127.0.0.1", 0))
    sender.settimeout(0.2)
    try:
        # A burst of INFORMs (they share commits), then the engine dies the moment the acks are in.
        for request_id in range(1, count + 1):
            datagram = v2c_notification(
                "public", LINK_DOWN, [(IF_DESCR_3, ber.OCTET_STRING, f"{run}-{request_id}".encode())],
                request_id=request_id, inform=True,
            )  # fmt: skip
            sender.sendto(datagram, (host, int(port)))
        deadline = time.monotonic() + 20
        while len(acked) < count and time.monotonic() < deadline:
            try:
                acked.add(_request_id(sender.recv(65535)))
            except TimeoutError:
                continue
        real = net_snmp(tmp_path / "net-snmp", "snmpinform", "-v2c", "-c", "public", "-t", "5", "-r", "0",
                        f"{host}:{port}", "", LINK_DOWN, IF_DESCR_3, "s", f"{run}-snmpinform")  # fmt: skip
        engine.proc.send_signal(signal.SIGKILL)
        engine.proc.wait()
    finally:
        sender.close()
        engine.stop()
    assert real.returncode == 0, real.stderr
    assert len(acked) > count // 2, f"only {len(acked)} of {count} INFORMs acknowledged"
    # The engine again, on the same data, with the receiver off: read back what survived.
    again = start_engine(tmp_path / "engine", wait=60)
    try:
        stored = {marker(r) for r in read_traps(again)}
    finally:
        again.stop()
    lost = {f"{run}-{i}" for i in acked} - stored
    assert not lost, f"{len(lost)} acknowledged INFORMs lost: {sorted(lost)[:5]}"
    assert f"{run}-snmpinform" in stored
