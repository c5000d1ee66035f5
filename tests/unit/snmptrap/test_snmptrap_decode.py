"""The BER fast path and the v1/v2c receiver, on hand-built datagrams."""

from __future__ import annotations

import pytest
from pyasn1.codec.ber import decoder as pyasn1_decoder
from pysnmp.proto import api

from collectors.snmptrap import ber
from collectors.snmptrap.ber import Malformed
from collectors.snmptrap.compose import v1_trap, v2c_notification
from collectors.snmptrap.mibs import MibResolver
from collectors.snmptrap.pdu import message_version
from collectors.snmptrap.receiver import TrapReceiver
from collectors.snmptrap.settings import SnmptrapSettings

NOW = 1796120000.25
PEER = ("192.0.2.7", 40162)
LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"
IF_INDEX_3 = "1.3.6.1.2.1.2.2.1.1.3"
IF_DESCR_3 = "1.3.6.1.2.1.2.2.1.2.3"


@pytest.fixture(scope="module")
def resolver() -> MibResolver:
    return MibResolver(["SNMPv2-MIB", "IF-MIB", "SNMP-COMMUNITY-MIB"])


@pytest.fixture
def receiver(resolver: MibResolver) -> TrapReceiver:
    return TrapReceiver(SnmptrapSettings(communities=["public", "s3cret"]), resolver, b"\x80\x00\x1f\x88\x05abc")


def test_v2c_trap_becomes_a_named_record(receiver: TrapReceiver) -> None:
    datagram = v2c_notification(
        "s3cret",
        LINK_DOWN,
        [
            (IF_INDEX_3, ber.INTEGER, 3),
            (IF_DESCR_3, ber.OCTET_STRING, b"Gi1/0/3"),
            ("1.3.6.1.2.1.2.2.1.6.3", ber.OCTET_STRING, b"\x00\x1a\x2b\x3c\x4d\x5e"),
            ("1.3.6.1.2.1.31.1.1.1.6.3", ber.COUNTER64, 2**64 - 1),
            ("1.3.6.1.4.1.99999.1.2", ber.INTEGER, -5),
        ],
        uptime=4242,
    )
    handled = receiver.handle(datagram, PEER, NOW)
    (record,) = handled.records
    assert handled.ack is None and handled.refused is None
    assert record["service"] == "trap"
    assert record["received_at"] == "2026-12-01T10:13:20.250Z"
    assert record["source"] == "192.0.2.7:40162"
    assert record["version"] == "v2c"
    assert record["community"] == "s3cret"
    assert record["agent_addr"] == "192.0.2.7"
    assert record["trap_oid"] == LINK_DOWN
    assert record["trap_name"] == "IF-MIB::linkDown"
    assert record["uptime"] == 4242
    assert record["varbinds"] == [
        {"oid": IF_INDEX_3, "name": "IF-MIB::ifIndex.3", "type": "Integer32", "value": 3},
        {"oid": IF_DESCR_3, "name": "IF-MIB::ifDescr.3", "type": "OctetString", "value": "Gi1/0/3"},
        {
            "oid": "1.3.6.1.2.1.2.2.1.6.3",
            "name": "IF-MIB::ifPhysAddress.3",
            "type": "OctetString",
            "value": "001a2b3c4d5e",
            "hex": True,
        },
        {"oid": "1.3.6.1.2.1.31.1.1.1.6.3", "name": "IF-MIB::ifHCInOctets.3", "type": "Counter64", "value": 2**64 - 1},
        {"oid": "1.3.6.1.4.1.99999.1.2", "name": "SNMPv2-SMI::enterprises.99999.1.2", "type": "Integer32", "value": -5},
    ]
    assert receiver.counters.agents["192.0.2.7"]["traps"] == 1


def test_snmp_trap_address_varbind_gives_the_agent_address(receiver: TrapReceiver) -> None:
    datagram = v2c_notification("public", LINK_DOWN, [("1.3.6.1.6.3.18.1.3.0", ber.IP_ADDRESS, "10.9.8.7")])
    (record,) = receiver.handle(datagram, PEER, NOW).records
    assert record["agent_addr"] == "10.9.8.7"
    assert record["varbinds"][0]["name"] == "SNMP-COMMUNITY-MIB::snmpTrapAddress.0"


@pytest.mark.parametrize(
    ("generic", "specific", "trap_oid", "trap_name"),
    [
        (0, 0, "1.3.6.1.6.3.1.1.5.1", "SNMPv2-MIB::coldStart"),
        (2, 0, "1.3.6.1.6.3.1.1.5.3", "IF-MIB::linkDown"),
        (4, 0, "1.3.6.1.6.3.1.1.5.5", "SNMPv2-MIB::authenticationFailure"),
        (6, 17, "1.3.6.1.4.1.9999.0.17", None),
    ],
)
def test_v1_trap_maps_to_its_v2_trap_oid(
    receiver: TrapReceiver, generic: int, specific: int, trap_oid: str, trap_name: str | None
) -> None:
    datagram = v1_trap("public", "1.3.6.1.4.1.9999", "10.1.2.3", generic, specific, 777, [(IF_INDEX_3, ber.INTEGER, 3)])
    (record,) = receiver.handle(datagram, PEER, NOW).records
    assert record["version"] == "v1"
    assert record["trap_oid"] == trap_oid
    assert record["trap_name"] == trap_name
    assert record["agent_addr"] == "10.1.2.3"
    assert record["enterprise"] == "1.3.6.1.4.1.9999"
    assert record["uptime"] == 777
    assert [v["name"] for v in record["varbinds"]] == ["IF-MIB::ifIndex.3"]


def test_v1_agent_addr_zero_falls_back_to_the_sender(receiver: TrapReceiver) -> None:
    datagram = v1_trap("public", "1.3.6.1.4.1.9999", "0.0.0.0", 3, 0, 1, [])
    (record,) = receiver.handle(datagram, PEER, NOW).records
    assert record["agent_addr"] == "192.0.2.7" and record["trap_name"] == "IF-MIB::linkUp"


def test_inform_is_answered_with_a_response_pysnmp_reads(receiver: TrapReceiver) -> None:
    varbinds = [(IF_INDEX_3, ber.INTEGER, 3), (IF_DESCR_3, ber.OCTET_STRING, b"eth0")]
    datagram = v2c_notification("public", LINK_DOWN, varbinds, uptime=9, request_id=31337, inform=True)
    handled = receiver.handle(datagram, PEER, NOW)
    assert handled.records[0]["pdu"] == "inform"
    assert handled.ack is not None
    # Read the Response with pysnmp's decoder, an implementation independent of ours.
    module = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
    message, rest = pyasn1_decoder.decode(handled.ack, asn1Spec=module.Message())
    assert rest == b""
    assert bytes(module.apiMessage.get_community(message)) == b"public"
    pdu = module.apiMessage.get_pdu(message)
    assert pdu.tagSet == module.ResponsePDU.tagSet
    assert int(module.apiPDU.get_request_id(pdu)) == 31337
    assert int(module.apiPDU.get_error_status(pdu)) == 0
    names = [str(oid) for oid, _ in module.apiPDU.get_varbinds(pdu)]
    assert names == ["1.3.6.1.2.1.1.3.0", "1.3.6.1.6.3.1.1.4.1.0", IF_INDEX_3, IF_DESCR_3]
    assert receiver.counters.agents["192.0.2.7"]["informs"] == 1


def test_retransmitted_inform_is_acknowledged_but_stored_once(receiver: TrapReceiver) -> None:
    datagram = v2c_notification("public", LINK_DOWN, [], request_id=5, inform=True)
    first = receiver.handle(datagram, PEER, NOW)
    again = receiver.handle(datagram, PEER, NOW + 1)
    assert len(first.records) == 1 and again.records == []
    assert again.ack == first.ack
    assert receiver.counters.agents["192.0.2.7"]["duplicate_informs"] == 1


def test_pysnmp_built_trap_decodes_the_same(receiver: TrapReceiver) -> None:
    from pyasn1.codec.ber import encoder
    from pysnmp.proto import rfc1902

    module = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
    pdu = module.TrapPDU()
    module.apiTrapPDU.set_defaults(pdu)
    module.apiTrapPDU.set_varbinds(
        pdu,
        [
            ((1, 3, 6, 1, 2, 1, 1, 3, 0), rfc1902.TimeTicks(12345)),
            ((1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0), rfc1902.ObjectName(LINK_DOWN)),
            ((1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 3), rfc1902.Integer32(3)),
            ((1, 3, 6, 1, 2, 1, 2, 2, 1, 5, 3), rfc1902.Gauge32(4294967295)),
            ((1, 3, 6, 1, 2, 1, 4, 20, 1, 1, 3), rfc1902.IpAddress("10.0.0.1")),
            ((1, 3, 6, 1, 2, 1, 1, 2, 0), rfc1902.ObjectIdentifier("1.3.6.1.4.1.8072.3.2.10")),
        ],
    )
    message = module.Message()
    module.apiMessage.set_defaults(message)
    module.apiMessage.set_community(message, "public")
    module.apiMessage.set_pdu(message, pdu)
    (record,) = receiver.handle(encoder.encode(message), PEER, NOW).records
    assert record["uptime"] == 12345
    assert record["trap_name"] == "IF-MIB::linkDown"
    assert [(v["type"], v["value"]) for v in record["varbinds"]] == [
        ("Integer32", 3),
        ("Gauge32", 4294967295),
        ("IpAddress", "10.0.0.1"),
        ("ObjectIdentifier", "1.3.6.1.4.1.8072.3.2.10"),
    ]
    assert record["varbinds"][3]["name"] == "SNMPv2-MIB::sysObjectID.0"


def test_unknown_community_is_refused_and_counted(receiver: TrapReceiver) -> None:
    handled = receiver.handle(v2c_notification("guess", LINK_DOWN, []), PEER, NOW)
    assert handled.records == [] and handled.ack is None
    assert handled.refused == "unknown_community"
    agent = receiver.counters.agents["192.0.2.7"]
    assert agent["unknown_community"] == 1 and agent["auth_failures"] == 1 and agent["traps"] == 0


def test_inform_with_unknown_community_gets_no_ack(receiver: TrapReceiver) -> None:
    handled = receiver.handle(v2c_notification("guess", LINK_DOWN, [], inform=True), PEER, NOW)
    assert handled.ack is None and handled.records == []


def _good() -> bytes:
    return v2c_notification("public", LINK_DOWN, [(IF_INDEX_3, ber.INTEGER, 3)])


def _with_varbinds(raw_varbinds: bytes) -> bytes:
    pdu = ber.tlv(ber.TRAP_V2, ber.encode_integer(1) + ber.encode_integer(0) + ber.encode_integer(0) + raw_varbinds)
    return ber.encode_community_message(1, b"public", pdu)


HEAD = ber.tlv(ber.SEQUENCE, ber.encode_oid("1.3.6.1.2.1.1.3.0") + ber.encode_unsigned(ber.TIMETICKS, 1)) + ber.tlv(
    ber.SEQUENCE, ber.encode_oid("1.3.6.1.6.3.1.1.4.1.0") + ber.encode_oid(LINK_DOWN)
)


def _bad_varbind(content: bytes) -> bytes:
    return _with_varbinds(ber.tlv(ber.SEQUENCE, HEAD + ber.tlv(ber.SEQUENCE, content)))


EMPTY_LIST = ber.tlv(ber.SEQUENCE, b"")
V1_TRAP = v1_trap("public", "1.3.6.1.4.1.9", "10.0.0.1", 6, 1, 0, [])


@pytest.mark.parametrize(
    ("datagram", "reason"),
    [
        (b"", "truncated"),
        (_good()[:-1], "length overruns its container"),
        (_good() + b"\x00", "trailing bytes after the message"),
        (b"\x30\x80" + _good()[2:], "indefinite length"),
        (b"\x30\x85\x00\x00\x00\x00\x10", "bad length"),
        (b"\x3f\x01\x00", "multi-byte tag"),
        (ber.tlv(ber.SEQUENCE, ber.encode_integer(2) + ber.tlv(4, b"public")), "SNMP version 2 is not v1, v2c or v3"),
        (_with_varbinds(ber.tlv(ber.SEQUENCE, b"")), "snmpTrapOID"),
        (_bad_varbind(b"\x06\x03\x2b\x80\x01\x02\x01\x00"), "non-minimal OID"),
        (_bad_varbind(b"\x06\x02\x2b\x86\x02\x01\x00"), "truncated OID"),
        (_bad_varbind(b"\x06\x01\x2b\x40\x03\x01\x02\x03"), "IpAddress"),
        (_bad_varbind(b"\x06\x01\x2b\x02\x00"), "integer"),
        (_bad_varbind(b"\x06\x01\x2b\x41\x05\x01\x00\x00\x00\x00"), "range"),
        (_bad_varbind(b"\x06\x01\x2b\x02\x01\x01\x00"), "does not fill"),
        (ber.encode_community_message(1, b"public", ber.encode_pdu(0xA0, 1, EMPTY_LIST)), "not a notification"),
        (V1_TRAP.replace(b"\x02\x01\x00", b"\x02\x01\x01", 1), "Trap-PDU in a v2c"),
        (v1_trap("public", "1.3.6.1.4.1.9", "10.0.0.1", 7, 1, 0, []), "generic-trap 7 out of range"),
    ],
)  # fmt: skip
def test_malformed_datagrams_are_counted_with_a_reason(receiver: TrapReceiver, datagram: bytes, reason: str) -> None:
    handled = receiver.handle(datagram, PEER, NOW)
    assert handled.records == [] and handled.ack is None and handled.refused == "malformed"
    sample = receiver.counters.last_malformed
    assert sample is not None
    assert reason in sample["reason"]
    assert sample["head_hex"] == datagram[:256].hex()
    assert receiver.counters.agents["192.0.2.7"]["malformed"] == 1


def test_oid_codec_round_trips_large_and_first_arc_two() -> None:
    for text in ["1.3.6.1.4.1.2636.3.1.2.1.5", "2.999.1", "0.0", "1.3.6.1.4.1.4294967295.128.16383.16384"]:
        encoded = ber.encode_oid(text)
        assert ber.oid_text(encoded[2:]) == text


def test_long_form_lengths_are_read() -> None:
    big = b"x" * 300
    datagram = v2c_notification("public", LINK_DOWN, [(IF_DESCR_3, ber.OCTET_STRING, big)])
    assert datagram[1] == 0x82  # the message itself has a two-byte length
    version, _, end = message_version(datagram)
    assert version == 1 and end == len(datagram)
    receiver = TrapReceiver(SnmptrapSettings(), None, b"\x80\x00\x00\x00\x01")
    (record,) = receiver.handle(datagram, PEER, NOW).records
    assert record["varbinds"][0] == {"oid": IF_DESCR_3, "name": None, "type": "OctetString", "value": "x" * 300}


@pytest.mark.parametrize(
    ("raw", "shown", "as_hex"),
    [
        (b"", "", False),
        (b"tab\there\r\n", "tab\there\r\n", False),
        ("café ☕".encode(), "café ☕", False),
        (b"\xff\xfe", "fffe", True),
        (b"nul\x00", "6e756c00", True),
    ],
)
def test_octet_strings_are_text_only_when_printable(raw: bytes, shown: str, as_hex: bool) -> None:
    (item,) = ber.render([("1.3", ber.OCTET_STRING, raw)], None)
    assert item["value"] == shown
    assert item.get("hex", False) is as_hex


def test_header_refuses_lengths_beyond_the_container() -> None:
    with pytest.raises(Malformed, match="overruns"):
        ber.header(b"\x04\x05abc", 0, 5)


def test_worker_counters_add_up_in_the_collector(receiver: TrapReceiver) -> None:
    receiver.handle(_good(), PEER, NOW)
    receiver.handle(v2c_notification("guess", LINK_DOWN, []), PEER, NOW + 1)
    receiver.handle(b"\x30\x00", ("192.0.2.8", 1), NOW + 2)
    collector = TrapReceiver(SnmptrapSettings(), None, b"\x80\x00\x00\x00\x01").counters
    collector.add(receiver.counters.take())
    receiver.handle(_good(), PEER, NOW + 3)
    collector.add(receiver.counters.take())
    assert collector.totals == {"traps": 2, "informs": 0, "auth_failures": 1, "malformed": 1, "refused": 1}
    agent = collector.agents["192.0.2.7"]
    assert (agent["traps"], agent["unknown_community"], agent["last_seen"]) == (2, 1, NOW + 3)
    assert agent["refused"] == {"unknown_community": 1}
    assert collector.agents["192.0.2.8"]["malformed"] == 1
    assert receiver.counters.take()["totals"]["traps"] == 0


def test_ipv6_and_mapped_ipv4_senders(receiver: TrapReceiver) -> None:
    (v6,) = receiver.handle(_good(), ("2001:db8::7", 162), NOW).records
    assert v6["source"] == "[2001:db8::7]:162" and v6["agent_addr"] == "2001:db8::7"
    (mapped,) = receiver.handle(_good(), ("::ffff:192.0.2.9", 163), NOW).records
    assert mapped["source"] == "192.0.2.9:163" and mapped["agent_addr"] == "192.0.2.9"
    assert set(receiver.counters.agents) == {"2001:db8::7", "192.0.2.9"}
