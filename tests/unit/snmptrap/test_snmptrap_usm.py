"""SNMPv3 USM: key localisation, authentication, privacy, engine ID learning and INFORMs."""

from __future__ import annotations

import hashlib

import pytest
from pyasn1.type import univ
from pysnmp.proto.secmod.rfc3414 import localkey

from collectors.snmptrap import ber
from collectors.snmptrap.compose import Agent, discovery_probe, v2_pdu
from collectors.snmptrap.pdu import decode_pdu, message_version
from collectors.snmptrap.receiver import TrapReceiver
from collectors.snmptrap.settings import SnmptrapSettings, SnmpUser
from collectors.snmptrap.usm import (
    FLAG_AUTH,
    NOT_IN_TIME_WINDOWS_0,
    UNKNOWN_ENGINE_IDS_0,
    Accepted,
    Usm,
    extend_key,
    localize,
    parse_header,
    password_to_key,
)

NOW = 1796120000.0
PEER = ("198.51.100.20", 51234)
OUR_ENGINE = bytes.fromhex("80001f88056e6f6372617665")
DEVICE_A = bytes.fromhex("800000090300aabbccdd0001")
DEVICE_B = bytes.fromhex("800000090300aabbccdd0002")
LINK_UP = "1.3.6.1.6.3.1.1.5.4"
VARBINDS = [("1.3.6.1.2.1.2.2.1.1.9", ber.INTEGER, 9), ("1.3.6.1.2.1.2.2.1.2.9", ber.OCTET_STRING, b"port9")]

USERS = [
    SnmpUser("noc", "SHA", "auth-pass-1", "AES", "priv-pass-1"),
    SnmpUser("old", "MD5", "auth-pass-2", "DES", "priv-pass-2"),
    SnmpUser("big", "SHA512", "auth-pass-3", "AES256", "priv-pass-3"),
    SnmpUser("signer", "SHA256", "auth-pass-4"),
    SnmpUser("open"),
]


@pytest.fixture
def receiver() -> TrapReceiver:
    settings = SnmptrapSettings(communities=[], users=USERS)
    return TrapReceiver(settings, None, OUR_ENGINE, engine_boots=3, started=NOW - 600)


def test_rfc3414_appendix_a3_key_vectors() -> None:
    engine = bytes.fromhex("000000000000000000000002")
    md5_ku = password_to_key(b"maplesyrup", "md5")
    assert md5_ku.hex() == "9faf3283884e92834ebc9847d8edd963"
    assert localize(md5_ku, engine, "md5").hex() == "526f5eed9fcce26f8964c2930787d82b"
    sha_ku = password_to_key(b"maplesyrup", "sha1")
    assert sha_ku.hex() == "9fb5cc0381497b3793528939ff788d5d79145211"
    assert localize(sha_ku, engine, "sha1").hex() == "6695febc9288e36282235fc7151f128497b38f3f"


def test_sha2_keys_agree_with_pysnmp() -> None:
    ours = localize(password_to_key(b"auth-pass-4", "sha256"), DEVICE_A, "sha256")
    theirs = bytes(localkey.password_to_key(b"auth-pass-4", univ.OctetString(DEVICE_A), hashlib.sha256))
    assert ours == theirs


def test_aes256_key_is_extended_from_a_short_hash() -> None:
    short = localize(password_to_key(b"priv-pass-1", "sha1"), DEVICE_A, "sha1")
    extended = extend_key(short, "sha1", 32)
    assert extended[:20] == short and extended[20:] == hashlib.sha1(short).digest()[:12]


@pytest.mark.parametrize(("user", "level"), [("noc", "authPriv"), ("old", "authPriv"), ("big", "authPriv"),
                                             ("signer", "authNoPriv"), ("open", "noAuthNoPriv")])  # fmt: skip
def test_v3_trap_at_each_security_level(receiver: TrapReceiver, user: str, level: str) -> None:
    datagram = Agent(USERS, DEVICE_A).trap(user, v2_pdu(LINK_UP, VARBINDS, uptime=55), NOW)
    handled = receiver.handle(datagram, PEER, NOW)
    (record,) = handled.records
    assert handled.ack is None
    assert record["version"] == "v3"
    assert record["user"] == user
    assert record["security_level"] == level
    assert record["engine_id"] == DEVICE_A.hex()
    assert record["trap_oid"] == LINK_UP and record["uptime"] == 55
    assert [v["value"] for v in record["varbinds"]] == [9, "port9"]
    assert receiver.counters.agents[PEER[0]]["engine_id"] == DEVICE_A.hex()


def test_many_devices_share_one_user(receiver: TrapReceiver) -> None:
    for engine in (DEVICE_A, DEVICE_B):
        datagram = Agent(USERS, engine).trap("noc", v2_pdu(LINK_UP, []), NOW)
        assert len(receiver.handle(datagram, PEER, NOW).records) == 1
    assert receiver.usm.users[b"noc"].engines == 2


def _refusal(receiver: TrapReceiver, datagram: bytes) -> str | None:
    handled = receiver.handle(datagram, PEER, NOW)
    assert handled.records == [] and handled.ack is None
    return handled.refused


def test_wrong_auth_key_is_refused_and_counted(receiver: TrapReceiver) -> None:
    impostor = [SnmpUser("noc", "SHA", "guessed-pass", "AES", "priv-pass-1")]
    datagram = Agent(impostor, DEVICE_A).trap("noc", v2_pdu(LINK_UP, []), NOW)
    assert _refusal(receiver, datagram) == "wrong_digest"
    agent = receiver.counters.agents[PEER[0]]
    assert agent["auth_failures"] == 1 and agent["refused"] == {"wrong_digest": 1} and agent["traps"] == 0


def test_wrong_priv_key_is_refused(receiver: TrapReceiver) -> None:
    impostor = [SnmpUser("noc", "SHA", "auth-pass-1", "AES", "guessed-priv")]
    datagram = Agent(impostor, DEVICE_A).trap("noc", v2_pdu(LINK_UP, VARBINDS), NOW)
    assert _refusal(receiver, datagram) == "decryption_error"
    assert receiver.counters.agents[PEER[0]]["auth_failures"] == 1


def test_unknown_user_is_refused(receiver: TrapReceiver) -> None:
    stranger = [SnmpUser("mallory", "SHA", "auth-pass-1")]
    assert _refusal(receiver, Agent(stranger, DEVICE_A).trap("mallory", v2_pdu(LINK_UP, []), NOW)) == "unknown_user"


def test_lower_security_level_than_configured_is_refused(receiver: TrapReceiver) -> None:
    datagram = Agent(USERS, DEVICE_A).trap("noc", v2_pdu(LINK_UP, []), NOW, level=FLAG_AUTH)
    assert _refusal(receiver, datagram) == "wrong_security_level"


def test_tampered_ciphertext_fails_authentication(receiver: TrapReceiver) -> None:
    datagram = bytearray(Agent(USERS, DEVICE_A).trap("noc", v2_pdu(LINK_UP, VARBINDS), NOW))
    datagram[-3] ^= 0x01
    assert _refusal(receiver, bytes(datagram)) == "wrong_digest"


def test_discovery_probe_gets_our_engine_id_boots_and_time(receiver: TrapReceiver) -> None:
    handled = receiver.handle(discovery_probe(msg_id=77, request_id=4242), PEER, NOW)
    assert handled.records == [] and handled.refused is None and handled.reply is not None
    _, pos, end = message_version(handled.reply)
    report = parse_header(handled.reply, pos, end)
    assert (report.msg_id, report.engine_id, report.boots) == (77, OUR_ENGINE, 3)
    assert report.time == 600
    assert report.flags == 0
    _, p, stop = ber.header(handled.reply, report.data_pos, end)
    _, p = ber.read_octets(handled.reply, p, stop)
    _, p = ber.read_octets(handled.reply, p, stop)
    pdu, _ = decode_pdu(handled.reply, p, stop)
    assert pdu.tag == ber.REPORT and pdu.request_id == 4242
    assert [(oid, value) for oid, _, value in pdu.varbinds] == [(UNKNOWN_ENGINE_IDS_0, 1)]
    assert receiver.counters.agents[PEER[0]]["discovery_probes"] == 1


@pytest.mark.parametrize("user", ["noc", "old", "signer"])
def test_v3_inform_is_acknowledged_at_its_security_level(receiver: TrapReceiver, user: str) -> None:
    device = Agent(USERS, DEVICE_A)
    pdu = v2_pdu(LINK_UP, VARBINDS, uptime=1, request_id=999, inform=True)
    handled = receiver.handle(device.inform(user, pdu, receiver.usm, NOW, msg_id=12), PEER, NOW)
    (record,) = handled.records
    assert record["pdu"] == "inform" and record["user"] == user
    assert handled.ack is not None
    # The device checks the Response with keys localised to our engine ID, as net-snmp does.
    checker = Usm(USERS, DEVICE_A, 1, NOW)
    _, pos, end = message_version(handled.ack)
    outcome = checker.process(handled.ack, pos, end, NOW)
    assert isinstance(outcome, Accepted)
    assert outcome.message.msg_id == 12 and outcome.message.engine_id == OUR_ENGINE
    assert outcome.pdu.tag == ber.RESPONSE and outcome.pdu.request_id == 999
    assert outcome.context_engine_id == DEVICE_A
    echoed = [oid for oid, _, _ in outcome.pdu.varbinds]
    assert echoed == ["1.3.6.1.2.1.1.3.0", "1.3.6.1.6.3.1.1.4.1.0"] + [oid for oid, _, _ in VARBINDS]


def test_v3_inform_outside_the_time_window_gets_a_report_not_an_ack(receiver: TrapReceiver) -> None:
    device = Agent(USERS, DEVICE_A)
    stale = device.inform("noc", v2_pdu(LINK_UP, [], inform=True), receiver.usm, NOW - 1000)
    handled = receiver.handle(stale, PEER, NOW)
    assert handled.records == [] and handled.ack is None
    assert handled.refused == "not_in_time_window" and handled.reply is not None
    # The Report is authenticated (not encrypted) and carries our boots and time to resync.
    reply = handled.reply
    _, pos, end = message_version(reply)
    report = parse_header(reply, pos, end)
    assert (report.engine_id, report.boots, report.time, report.flags) == (OUR_ENGINE, 3, 600, FLAG_AUTH)
    checker = Usm(USERS, DEVICE_A, 1, NOW)
    user = checker.users[b"noc"]
    assert checker._authentic(reply, report, user, user.keys(OUR_ENGINE)[0])
    _, p, stop = ber.header(reply, report.data_pos, end)
    _, p = ber.read_octets(reply, p, stop)
    _, p = ber.read_octets(reply, p, stop)
    pdu, _ = decode_pdu(reply, p, stop)
    assert pdu.tag == ber.REPORT
    assert [(oid, value) for oid, _, value in pdu.varbinds] == [(NOT_IN_TIME_WINDOWS_0, 1)]


def test_v3_inform_to_another_engine_is_refused(receiver: TrapReceiver) -> None:
    elsewhere = Usm(USERS, DEVICE_B, 3, NOW - 600)
    datagram = Agent(USERS, DEVICE_A).inform("noc", v2_pdu(LINK_UP, [], inform=True), elsewhere, NOW)
    assert _refusal(receiver, datagram) == "unknown_engine_id"


def test_engine_time_out_of_range_is_malformed(receiver: TrapReceiver) -> None:
    settings = [SnmpUser("noc", "SHA", "auth-pass-1", "AES", "priv-pass-1")]
    device = Agent(settings, DEVICE_A, engine_boots=2**31 - 1)
    fine = device.trap("noc", v2_pdu(LINK_UP, []), NOW)
    assert len(receiver.handle(fine, PEER, NOW).records) == 1
    # boots 2^31 (five INTEGER bytes): RFC 3414 caps it at 2^31-1.
    device.usm.engine_boots = 2**31
    assert _refusal(receiver, device.trap("noc", v2_pdu(LINK_UP, []), NOW)) == "malformed"
    sample = receiver.counters.last_malformed
    assert sample is not None and sample["reason"] == "engine boots or time out of range"
