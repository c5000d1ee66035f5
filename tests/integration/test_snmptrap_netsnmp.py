"""Real senders: net-snmp's `snmptrap` and `snmpinform` (Debian `snmp`) against the receiver core.

The test owns a UDP socket on 127.0.0.1 and plays the receive loop: each datagram goes to
`TrapReceiver.handle`; Reports go back at once and INFORM acks after the record is "stored"
(appended to the test's list), as the engine part will do after the buffer commit.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from collectors.snmptrap.mibs import MibResolver
from collectors.snmptrap.receiver import Handled, TrapReceiver, engine_id_from_seed
from collectors.snmptrap.settings import SnmptrapSettings, SnmpUser

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not shutil.which("snmptrap"), reason="needs net-snmp's snmptrap (Debian package snmp)"),
]

USERS = [
    SnmpUser("open"),
    SnmpUser("signer", "SHA", "signer-auth-1"),
    SnmpUser("noc", "SHA", "noc-auth-pass", "AES", "noc-priv-pass"),
    SnmpUser("legacy", "MD5", "legacy-auth-1", "DES", "legacy-priv-1"),
    SnmpUser("strong", "SHA256", "strong-auth-1", "AES256", "strong-priv-1"),
]
V3_FLAGS = {
    "open": ["-l", "noAuthNoPriv"],
    "signer": ["-l", "authNoPriv", "-a", "SHA", "-A", "signer-auth-1"],
    "noc": ["-l", "authPriv", "-a", "SHA", "-A", "noc-auth-pass", "-x", "AES", "-X", "noc-priv-pass"],
    "legacy": ["-l", "authPriv", "-a", "MD5", "-A", "legacy-auth-1", "-x", "DES", "-X", "legacy-priv-1"],
    "strong": ["-l", "authPriv", "-a", "SHA-256", "-A", "strong-auth-1", "-x", "AES-256", "-X", "strong-priv-1"],
}
LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"
# ifIndex.3 = 3, ifDescr.3 = "Gi1/0/3", ifPhysAddress.3 = 00:1a:2b:3c:4d:5e, ifHCInOctets.3 = 2^40
VARBINDS = [
    "1.3.6.1.2.1.2.2.1.1.3", "i", "3",
    "1.3.6.1.2.1.2.2.1.2.3", "s", "Gi1/0/3",
    "1.3.6.1.2.1.2.2.1.6.3", "x", "001A2B3C4D5E",
    "1.3.6.1.2.1.31.1.1.1.6.3", "C", str(2**40),
]  # fmt: skip
EXPECTED_VARBINDS = [
    {"oid": "1.3.6.1.2.1.2.2.1.1.3", "name": "IF-MIB::ifIndex.3", "type": "Integer32", "value": 3},
    {"oid": "1.3.6.1.2.1.2.2.1.2.3", "name": "IF-MIB::ifDescr.3", "type": "OctetString", "value": "Gi1/0/3"},
    {
        "oid": "1.3.6.1.2.1.2.2.1.6.3",
        "name": "IF-MIB::ifPhysAddress.3",
        "type": "OctetString",
        "value": "001a2b3c4d5e",
        "hex": True,
    },
    {"oid": "1.3.6.1.2.1.31.1.1.1.6.3", "name": "IF-MIB::ifHCInOctets.3", "type": "Counter64", "value": 2**40},
]


@dataclass
class Exchange:
    returncode: int
    stderr: str
    handled: list[Handled] = field(default_factory=list)
    stored: list[dict[str, Any]] = field(default_factory=list)


class Station:
    """A UDP socket on 127.0.0.1 driving a TrapReceiver, as the receive loop will."""

    def __init__(self, receiver: TrapReceiver, home: Path) -> None:
        self.receiver = receiver
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.target = f"127.0.0.1:{self.sock.getsockname()[1]}"
        # Keep net-snmp's persistent state and config lookups inside the test's directory.
        self.env = {**os.environ, "SNMP_PERSISTENT_DIR": str(home), "SNMPCONFPATH": str(home), "HOME": str(home)}

    def run(self, command: list[str], timeout_s: float = 15.0) -> Exchange:
        sender = subprocess.Popen(command, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        handled: list[Handled] = []
        stored: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                try:
                    datagram, peer = self.sock.recvfrom(65535)
                except TimeoutError:
                    if sender.poll() is not None:
                        break
                    continue
                result = self.receiver.handle(datagram, peer, time.time())
                handled.append(result)
                if result.reply:
                    self.sock.sendto(result.reply, peer)
                stored.extend(result.records)  # "durable" here; only now may the ack go out
                if result.ack:
                    self.sock.sendto(result.ack, peer)
            _, stderr = sender.communicate(timeout=5)
        finally:
            if sender.poll() is None:
                sender.kill()
                sender.wait()
        return Exchange(sender.returncode, stderr.strip(), handled, stored)

    def trap(self, version: list[str], *trap: str) -> Exchange:
        result = self.run(["snmptrap", *version, self.target, *trap])
        assert result.returncode == 0, result.stderr
        return result


@pytest.fixture(scope="module")
def resolver() -> MibResolver:
    return MibResolver(["SNMPv2-MIB", "IF-MIB", "SNMP-COMMUNITY-MIB"])


@pytest.fixture
def station(resolver: MibResolver, tmp_path: Path) -> Iterator[Station]:
    settings = SnmptrapSettings(udp="127.0.0.1:0", communities=["public", "venue-ro"], users=USERS)
    receiver = TrapReceiver(settings, resolver, engine_id_from_seed(b"integration"), 1, time.time())
    station = Station(receiver, tmp_path)
    yield station
    station.sock.close()


def _one(exchange: Exchange) -> dict[str, Any]:
    assert len(exchange.stored) == 1, exchange
    return exchange.stored[0]


def test_snmptrap_v1_arrives_mapped_to_its_v2_oid(station: Station) -> None:
    result = station.trap(
        ["-v1", "-c", "public"], "1.3.6.1.4.1.8072.3.2.10", "10.20.30.40", "2", "0", "4242", *VARBINDS
    )
    record = _one(result)
    assert record["version"] == "v1" and record["community"] == "public"
    assert record["trap_oid"] == LINK_DOWN and record["trap_name"] == "IF-MIB::linkDown"
    assert record["agent_addr"] == "10.20.30.40"
    assert record["enterprise"] == "1.3.6.1.4.1.8072.3.2.10"
    assert record["uptime"] == 4242
    assert record["varbinds"] == EXPECTED_VARBINDS
    assert record["source"].startswith("127.0.0.1:")


def test_snmptrap_v1_enterprise_specific(station: Station) -> None:
    result = station.trap(["-v1", "-c", "public"], "1.3.6.1.4.1.8072.3.2.10", "10.20.30.40", "6", "17", "1")
    record = _one(result)
    assert record["trap_oid"] == "1.3.6.1.4.1.8072.3.2.10.0.17"
    assert record["trap_name"] is None  # no loaded MIB defines it


def test_snmptrap_v2c_arrives_with_fields_and_names(station: Station) -> None:
    record = _one(station.trap(["-v2c", "-c", "venue-ro"], "777", LINK_DOWN, *VARBINDS))
    assert record["service"] == "trap"
    assert record["version"] == "v2c" and record["community"] == "venue-ro"
    assert record["pdu"] == "trap"
    assert record["trap_oid"] == LINK_DOWN and record["trap_name"] == "IF-MIB::linkDown"
    assert record["uptime"] == 777
    assert record["agent_addr"] == "127.0.0.1"
    assert record["varbinds"] == EXPECTED_VARBINDS
    assert station.receiver.counters.agents["127.0.0.1"]["traps"] == 1


@pytest.mark.parametrize(
    ("user", "level"),
    [("open", "noAuthNoPriv"), ("signer", "authNoPriv"), ("noc", "authPriv"), ("legacy", "authPriv"),
     ("strong", "authPriv")],
)  # fmt: skip
def test_snmptrap_v3_at_each_security_level(station: Station, user: str, level: str) -> None:
    engine = "0x80001f8880aabbccdd0011"
    result = station.trap(["-v3", "-u", user, *V3_FLAGS[user], "-e", engine], "", LINK_DOWN, *VARBINDS)
    record = _one(result)
    assert record["version"] == "v3" and record["user"] == user
    assert record["security_level"] == level
    assert record["engine_id"] == engine[2:]
    assert record["trap_name"] == "IF-MIB::linkDown"
    assert record["varbinds"] == EXPECTED_VARBINDS


def test_devices_with_their_own_engine_ids_share_one_user(station: Station) -> None:
    for engine in ("0x80001f8880aabbccdd0001", "0x80001f8880aabbccdd0002", "0x80001f8880aabbccdd0003"):
        _one(station.trap(["-v3", "-u", "noc", *V3_FLAGS["noc"], "-e", engine], "", LINK_DOWN))
    assert station.receiver.usm.users[b"noc"].engines == 3


def test_snmpinform_v2c_is_acknowledged_after_storing(station: Station) -> None:
    result = station.run(["snmpinform", "-v2c", "-c", "public", "-t", "3", "-r", "1", station.target, "5", LINK_DOWN])
    assert result.returncode == 0, result.stderr  # snmpinform exits 0 only when the ack arrived
    record = _one(result)
    assert record["pdu"] == "inform" and record["version"] == "v2c"
    assert station.receiver.counters.agents["127.0.0.1"]["informs"] == 1


@pytest.mark.parametrize("user", ["open", "signer", "noc", "legacy", "strong"])
def test_snmpinform_v3_discovers_our_engine_and_is_acknowledged(station: Station, user: str) -> None:
    command = ["snmpinform", "-v3", "-u", user, *V3_FLAGS[user], "-t", "3", "-r", "1", station.target, "", LINK_DOWN]
    result = station.run([*command, *VARBINDS])
    assert result.returncode == 0, result.stderr
    record = _one(result)
    assert record["pdu"] == "inform" and record["user"] == user
    assert record["varbinds"] == EXPECTED_VARBINDS
    agent = station.receiver.counters.agents["127.0.0.1"]
    assert agent["discovery_probes"] == 1 and agent["informs"] == 1 and agent["auth_failures"] == 0


def test_wrong_v3_key_is_refused_counted_and_not_stored(station: Station) -> None:
    wrong = ["-l", "authPriv", "-a", "SHA", "-A", "not-the-key", "-x", "AES", "-X", "noc-priv-pass"]
    result = station.trap(["-v3", "-u", "noc", *wrong, "-e", "0x80001f8880aabbccdd0009"], "", LINK_DOWN)
    assert result.stored == []
    assert [h.refused for h in result.handled] == ["wrong_digest"]
    agent = station.receiver.counters.agents["127.0.0.1"]
    assert agent["auth_failures"] == 1 and agent["refused"] == {"wrong_digest": 1}


def test_unknown_v3_user_is_refused(station: Station) -> None:
    result = station.trap(
        ["-v3", "-u", "mallory", "-l", "noAuthNoPriv", "-e", "0x80001f8880aabbccdd0009"], "", LINK_DOWN
    )
    assert result.stored == [] and [h.refused for h in result.handled] == ["unknown_user"]


def test_unknown_community_is_refused_counted_and_not_stored(station: Station) -> None:
    result = station.trap(["-v2c", "-c", "guessed"], "", LINK_DOWN)
    assert result.stored == [] and [h.refused for h in result.handled] == ["unknown_community"]
    agent = station.receiver.counters.agents["127.0.0.1"]
    assert agent["unknown_community"] == 1 and agent["traps"] == 0


def test_inform_with_unknown_community_is_never_acknowledged(station: Station) -> None:
    result = station.run(["snmpinform", "-v2c", "-c", "guessed", "-t", "1", "-r", "0", station.target, "", LINK_DOWN])
    assert result.returncode != 0  # timed out: no ack was sent
    assert result.stored == [] and all(h.ack is None for h in result.handled)
    assert station.receiver.counters.agents["127.0.0.1"]["unknown_community"] == len(result.handled) >= 1


def test_every_bundled_mib_loads_and_names_net_snmp_traps(tmp_path: Path) -> None:
    resolver = MibResolver()  # all of pysnmp-mibs, as the collector will load it
    assert resolver.problems == []
    assert len(resolver.loaded) > 200
    receiver = TrapReceiver(SnmptrapSettings(communities=["public"]), resolver, b"\x80\x00\x00\x00\x01")
    station = Station(receiver, tmp_path)
    try:
        record = _one(station.trap(["-v2c", "-c", "public"], "", "1.3.6.1.2.1.47.2.0.1"))
    finally:
        station.sock.close()
    assert record["trap_name"] == "ENTITY-MIB::entConfigChange"
