"""SNMP messages and PDUs as the trap receiver sees them (sans-IO, built on `ber`).

`decode_community_message` reads a whole v1/v2c datagram; `decode_pdu` reads one PDU (also the
scoped PDU inside an SNMPv3 message). v1 Trap-PDUs are given their SNMPv2 trap OID here
(RFC 3584 §3.1), so everything after this module sees one shape of notification.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from collectors.snmptrap import ber
from collectors.snmptrap.ber import Malformed, Varbind

SYS_UPTIME_0 = "1.3.6.1.2.1.1.3.0"
SNMP_TRAP_OID_0 = "1.3.6.1.6.3.1.1.4.1.0"
SNMP_TRAP_ADDRESS_0 = "1.3.6.1.6.3.18.1.3.0"
SNMP_TRAPS = "1.3.6.1.6.3.1.1.5"  # coldStart.. egpNeighborLoss are SNMP_TRAPS.1 .. .6 (RFC 3584)

VERSION_NAMES = {0: "v1", 1: "v2c", 3: "v3"}
NOTIFICATIONS = frozenset({ber.TRAP_V1, ber.TRAP_V2, ber.INFORM_REQUEST})
_GENERIC_PDUS = frozenset({0xA0, 0xA1, 0xA2, 0xA3, 0xA5, ber.INFORM_REQUEST, ber.TRAP_V2, ber.REPORT})


@dataclass(slots=True)
class Pdu:
    """One PDU. For notifications `trap_oid` is set; `varbinds` leaves out sysUpTime.0 and
    snmpTrapOID.0 (they are `uptime` and `trap_oid`)."""

    tag: int
    request_id: int = 0
    trap_oid: str = ""
    uptime: int | None = None
    agent_addr: str | None = None
    enterprise: str | None = None
    varbinds: list[Varbind] = field(default_factory=list)
    varbind_span: tuple[int, int] = (0, 0)  # the encoded VarBindList, echoed in a Response


@dataclass(slots=True)
class CommunityMessage:
    version: int  # 0 (v1) or 1 (v2c)
    community: bytes
    pdu: Pdu


def message_version(buf: bytes) -> tuple[int, int, int]:
    """(msgVersion, position after it, end of the message) for any SNMP datagram."""
    start, stop = ber.expect(buf, 0, len(buf), ber.SEQUENCE)
    if stop != len(buf):
        raise Malformed("trailing bytes after the message")
    version, pos = ber.read_integer(buf, start, stop)
    return version, pos, stop


def decode_community_message(buf: bytes, pos: int, end: int, version: int) -> CommunityMessage:
    """The rest of a v1/v2c message after its version."""
    community, pos = ber.read_octets(buf, pos, end)
    pdu, pdu_end = decode_pdu(buf, pos, end)
    if pdu_end != end:
        raise Malformed("trailing bytes after the PDU")
    if pdu.tag == ber.TRAP_V1 and version != 0:
        raise Malformed("Trap-PDU in a v2c message")
    if pdu.tag != ber.TRAP_V1 and version == 0 and pdu.tag in NOTIFICATIONS:
        raise Malformed("SNMPv2 notification in a v1 message")
    return CommunityMessage(version, community, pdu)


def decode_pdu(buf: bytes, pos: int, end: int) -> tuple[Pdu, int]:
    """(the PDU at `pos`, the position after it)."""
    tag, start, stop = ber.header(buf, pos, end)
    if tag == ber.TRAP_V1:
        return _trap_v1(buf, start, stop), stop
    if tag not in _GENERIC_PDUS:
        raise Malformed(f"unexpected PDU type 0x{tag:02x}")
    request_id, pos = ber.read_integer(buf, start, stop)
    _error_status, pos = ber.read_integer(buf, pos, stop)
    _error_index, pos = ber.read_integer(buf, pos, stop)
    varbinds = ber.read_varbinds(buf, pos, stop)
    pdu = Pdu(tag, request_id, varbinds=varbinds, varbind_span=(pos, stop))
    if tag in NOTIFICATIONS:
        _lift_v2_header(pdu)
    return pdu, stop


def _lift_v2_header(pdu: Pdu) -> None:
    """RFC 3416 §4.2.6: sysUpTime.0 then snmpTrapOID.0 open every SNMPv2 notification."""
    varbinds = pdu.varbinds
    skip = 0
    if varbinds and varbinds[0][0] == SYS_UPTIME_0 and varbinds[0][1] == ber.TIMETICKS:
        pdu.uptime = varbinds[0][2]
        skip = 1
    if len(varbinds) <= skip or varbinds[skip][0] != SNMP_TRAP_OID_0 or varbinds[skip][1] != ber.OBJECT_IDENTIFIER:
        raise Malformed("notification without snmpTrapOID.0")
    pdu.trap_oid = varbinds[skip][2]
    pdu.varbinds = varbinds[skip + 1 :]
    for oid, tag, value in pdu.varbinds:
        if oid == SNMP_TRAP_ADDRESS_0 and tag == ber.IP_ADDRESS:
            pdu.agent_addr = value


def _trap_v1(buf: bytes, pos: int, end: int) -> Pdu:
    start, stop = ber.expect(buf, pos, end, ber.OBJECT_IDENTIFIER)
    enterprise = ber.oid_text(buf[start:stop])
    start, stop = ber.expect(buf, stop, end, ber.IP_ADDRESS)
    if stop - start != 4:
        raise Malformed("agent-addr is not 4 bytes")
    agent_addr = ber.ip_text(buf[start:stop])
    generic, pos = ber.read_integer(buf, stop, end)
    specific, pos = ber.read_integer(buf, pos, end)
    start, stop = ber.expect(buf, pos, end, ber.TIMETICKS)
    uptime = ber.integer(buf, start, stop, signed=False)
    varbinds = ber.read_varbinds(buf, stop, end)
    if not 0 <= generic <= 6:
        raise Malformed(f"generic-trap {generic} out of range")
    # RFC 3584 §3.1: generic traps become snmpTraps.(generic+1); enterprise-specific ones
    # become enterprise.0.specific.
    trap_oid = f"{SNMP_TRAPS}.{generic + 1}" if generic != 6 else f"{enterprise}.0.{specific}"
    return Pdu(ber.TRAP_V1, 0, trap_oid, uptime, agent_addr, enterprise, varbinds, (stop, end))


def encode_community_response(message: CommunityMessage, buf: bytes) -> bytes:
    """The Response to a v2c InformRequest: same request-id and varbinds (RFC 3416 §4.2.7)."""
    start, stop = message.pdu.varbind_span
    pdu = ber.encode_pdu(ber.RESPONSE, message.pdu.request_id, buf[start:stop])
    return ber.encode_community_message(message.version, message.community, pdu)
