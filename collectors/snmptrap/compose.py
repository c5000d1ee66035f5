"""Notifications composed the way agents send them: for tests, benchmarks and test sends.

The receiver never calls this; it lets a test or benchmark make exact datagrams (including
SNMPv3 ones, by playing the sending agent's authoritative engine) without a network peer.
"""

from __future__ import annotations

from collectors.snmptrap import ber
from collectors.snmptrap.ber import Varbind
from collectors.snmptrap.pdu import SNMP_TRAP_OID_0, SYS_UPTIME_0
from collectors.snmptrap.settings import SnmpUser
from collectors.snmptrap.usm import FLAG_AUTH, FLAG_PRIV, FLAG_REPORTABLE, Usm


def encode_value(tag: int, value: object) -> bytes:
    if tag == ber.INTEGER:
        assert isinstance(value, int)
        return ber.encode_integer(value)
    if tag in (ber.COUNTER32, ber.GAUGE32, ber.TIMETICKS, ber.COUNTER64):
        assert isinstance(value, int)
        return ber.encode_unsigned(tag, value)
    if tag == ber.OBJECT_IDENTIFIER:
        assert isinstance(value, str)
        return ber.encode_oid(value)
    if tag == ber.IP_ADDRESS:
        assert isinstance(value, str)
        return ber.tlv(tag, bytes(int(part) for part in value.split(".")))
    if value is None:
        return ber.tlv(tag, b"")
    if isinstance(value, str):
        value = value.encode()
    assert isinstance(value, bytes)
    return ber.tlv(tag, value)


def varbind_list(varbinds: list[Varbind]) -> bytes:
    return ber.tlv(
        ber.SEQUENCE,
        b"".join(ber.tlv(ber.SEQUENCE, ber.encode_oid(oid) + encode_value(tag, value)) for oid, tag, value in varbinds),
    )


def v2_pdu(trap_oid: str, varbinds: list[Varbind], uptime: int = 0, request_id: int = 1, inform: bool = False) -> bytes:
    head: list[Varbind] = [(SYS_UPTIME_0, ber.TIMETICKS, uptime), (SNMP_TRAP_OID_0, ber.OBJECT_IDENTIFIER, trap_oid)]
    tag = ber.INFORM_REQUEST if inform else ber.TRAP_V2
    return ber.encode_pdu(tag, request_id, varbind_list(head + varbinds))


def v2c_notification(community: str, trap_oid: str, varbinds: list[Varbind], **pdu_options: int | bool) -> bytes:
    pdu = v2_pdu(trap_oid, varbinds, **pdu_options)  # type: ignore[arg-type]
    return ber.encode_community_message(1, community.encode(), pdu)


def v1_trap(
    community: str,
    enterprise: str,
    agent_addr: str,
    generic: int,
    specific: int,
    uptime: int,
    varbinds: list[Varbind],
) -> bytes:
    pdu = ber.tlv(
        ber.TRAP_V1,
        ber.encode_oid(enterprise)
        + encode_value(ber.IP_ADDRESS, agent_addr)
        + ber.encode_integer(generic)
        + ber.encode_integer(specific)
        + ber.encode_unsigned(ber.TIMETICKS, uptime)
        + varbind_list(varbinds),
    )
    return ber.encode_community_message(0, community.encode(), pdu)


def discovery_probe(msg_id: int = 1, request_id: int = 1) -> bytes:
    """What an SNMPv3 INFORM sender (net-snmp) sends first to learn the receiver's engine ID:
    noAuthNoPriv, reportable, empty engine ID and user, an empty GetRequest (RFC 3414 §4)."""
    empty = ber.tlv(ber.OCTET_STRING, b"")
    security = ber.tlv(ber.SEQUENCE, empty + ber.encode_integer(0) + ber.encode_integer(0) + empty * 3)
    get = ber.encode_pdu(ber.GET_REQUEST, request_id, ber.tlv(ber.SEQUENCE, b""))
    scoped = ber.tlv(ber.SEQUENCE, empty + empty + get)
    flags = ber.tlv(ber.OCTET_STRING, bytes((FLAG_REPORTABLE,)))
    global_data = ber.encode_integer(msg_id) + ber.encode_integer(65507) + flags + ber.encode_integer(3)
    head = ber.encode_integer(3) + ber.tlv(ber.SEQUENCE, global_data)
    return ber.tlv(ber.SEQUENCE, head + ber.tlv(ber.OCTET_STRING, security) + scoped)


class Agent:
    """An SNMPv3 agent's side of USM: its own engine ID, boots and time, and its users."""

    def __init__(self, users: list[SnmpUser], engine_id: bytes, engine_boots: int = 7, started: float = 0.0) -> None:
        self.usm = Usm(users, engine_id, engine_boots, started)

    def trap(self, user: str, pdu: bytes, now: float, msg_id: int = 1, level: int | None = None) -> bytes:
        """A v3 trap from this agent (the authoritative engine) at the user's security level."""
        account = self.usm.users[user.encode()]
        flags = account.level if level is None else level
        message = self.usm.encode_message(msg_id, account, flags, self.usm.engine_id, b"", pdu, now)
        return message

    def inform(self, user: str, pdu: bytes, receiver: Usm, now: float, msg_id: int = 1) -> bytes:
        """A v3 INFORM to `receiver` (the authoritative engine), as after discovery."""
        account = receiver.users[user.encode()]
        level = account.level | FLAG_REPORTABLE
        message = receiver.encode_message(msg_id, account, level, self.usm.engine_id, b"", pdu, now)
        return message


__all__ = [
    "FLAG_AUTH",
    "FLAG_PRIV",
    "Agent",
    "discovery_probe",
    "v1_trap",
    "v2_pdu",
    "v2c_notification",
    "varbind_list",
]
