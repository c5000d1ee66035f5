"""The trap receiver's core (sans-IO): one datagram in, records and replies out.

A receive loop calls `handle(datagram, peer, now)` and gets a `Handled`:
- `records`: trap records (DESIGN §2.3, plain JSON-ready dicts) to store;
- `ack`: for an INFORM, the Response to send to `peer` once the record is durable (never
  before: an acknowledged INFORM must survive a crash). A retransmitted INFORM yields an ack
  and no record; send acks in arrival order, each after the batch holding it and every batch
  before it is durable, so a repeat's ack never overtakes its first copy's storage;
- `reply`: a datagram to send at once (an SNMPv3 discovery or time-window Report), no record.
Whatever is refused (unknown community or user, wrong key, malformed bytes) is counted per
agent in `counters` and yields no record. No exception escapes `handle`.
"""

from __future__ import annotations

import hashlib
import time as _time
from dataclasses import dataclass, field
from typing import Any

from collectors.snmptrap import ber
from collectors.snmptrap.agents import AgentCounters
from collectors.snmptrap.ber import Malformed, Varbind
from collectors.snmptrap.mibs import MibResolver
from collectors.snmptrap.pdu import (
    NOTIFICATIONS,
    VERSION_NAMES,
    Pdu,
    decode_community_message,
    encode_community_response,
    message_version,
)
from collectors.snmptrap.settings import SnmptrapSettings
from collectors.snmptrap.usm import FLAG_AUTH, FLAG_PRIV, Accepted, Refused, Usm

_RECENT_INFORMS = 4096  # INFORMs remembered to spot retransmissions
_LEVELS = {0: "noAuthNoPriv", FLAG_AUTH: "authNoPriv", FLAG_AUTH | FLAG_PRIV: "authPriv"}


@dataclass(slots=True)
class Handled:
    records: list[dict[str, Any]] = field(default_factory=list)
    ack: bytes | None = None
    reply: bytes | None = None
    refused: str | None = None  # the counter a refusal went to (also "malformed")


def engine_id_from_seed(seed: bytes) -> bytes:
    """A stable RFC 3411 engine ID (format 5, octets) derived from e.g. /etc/machine-id."""
    return b"\x80\x00\x1f\x88\x05" + hashlib.sha256(b"nocraven-snmptrap\0" + seed).digest()[:12]


def _source(peer: tuple[str, int]) -> str:
    """`IP:PORT`, with brackets around an IPv6 address (as the other collectors write it)."""
    return f"[{peer[0]}]:{peer[1]}" if ":" in peer[0] else f"{peer[0]}:{peer[1]}"


class _Stamps:
    """RFC 3339 UTC text of receive times, formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._text = ""
        self._last: tuple[float, str] = (float("nan"), "")

    def text(self, now: float) -> str:
        last = self._last
        if now == last[0]:  # a batch is stamped with one receive time
            return last[1]
        millis = int(now * 1000)
        second, fraction = divmod(millis, 1000)
        if second != self._second:
            self._second = second
            self._text = _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(second))
        text = f"{self._text}.{fraction:03d}Z"
        self._last = (now, text)
        return text


class TrapReceiver:
    """Decodes, authenticates, names and counts notifications from SNMP agents."""

    def __init__(
        self,
        settings: SnmptrapSettings,
        resolver: MibResolver | None,
        engine_id: bytes,
        engine_boots: int = 1,
        started: float = 0.0,
    ) -> None:
        self.communities = frozenset(c.encode() for c in settings.communities)
        self.resolver = resolver
        self.usm = Usm(settings.users, engine_id, engine_boots, started)
        self.counters = AgentCounters()
        self._stamps = _Stamps()
        self._recent_informs: dict[tuple[Any, ...], None] = {}

    def _repeated_inform(self, key: tuple[Any, ...], now: float) -> bool:
        """True for a retransmitted INFORM (its first copy was stored; only the ack was lost)."""
        if key in self._recent_informs:
            self.counters.duplicate_inform(key[0], now)
            return True
        if len(self._recent_informs) >= _RECENT_INFORMS:
            del self._recent_informs[next(iter(self._recent_informs))]
        self._recent_informs[key] = None
        return False

    def handle(self, datagram: bytes, peer: tuple[str, int], now: float) -> Handled:
        """One datagram from `peer` (the address tuple `recvfrom` gave, IPv4 or IPv6)."""
        ip = peer[0]
        if ":" in ip:
            ip = ip[7:] if ip.startswith("::ffff:") and "." in ip else ip
            peer = (ip, peer[1])
        try:
            version, pos, end = message_version(datagram)
            if version == 3:
                return self._v3(datagram, pos, end, peer, now)
            if version not in (0, 1):
                raise Malformed(f"SNMP version {version} is not v1, v2c or v3")
            message = decode_community_message(datagram, pos, end, version)
            if message.community not in self.communities:
                self.counters.refused(ip, "unknown_community", now)
                return Handled(refused="unknown_community")
            pdu = message.pdu
            if pdu.tag not in NOTIFICATIONS:
                raise Malformed(f"PDU type 0x{pdu.tag:02x} is not a notification")
            inform = pdu.tag == ber.INFORM_REQUEST
            if inform and self._repeated_inform((ip, peer[1], message.community, pdu.request_id), now):
                return Handled(ack=encode_community_response(message, datagram))
            record = self._record(pdu, VERSION_NAMES[version], peer, now)
            record["community"] = message.community.decode("utf-8", "replace")
            self.counters.accepted(ip, inform, record["version"], None, now)
            ack = encode_community_response(message, datagram) if inform else None
            return Handled([record], ack)
        except Malformed as exc:
            return self._malformed(datagram, peer, str(exc), now)
        except Exception as exc:  # a decoder bug must cost one datagram, never the receiver
            return self._malformed(datagram, peer, f"decoder error: {type(exc).__name__}", now)

    def _v3(self, datagram: bytes, pos: int, end: int, peer: tuple[str, int], now: float) -> Handled:
        outcome = self.usm.process(datagram, pos, end, now)
        if isinstance(outcome, Refused):
            self.counters.refused(peer[0], outcome.reason, now)
            return Handled(reply=outcome.report, refused=None if outcome.reason == "discovery" else outcome.reason)
        accepted: Accepted = outcome
        pdu = accepted.pdu
        if pdu.tag not in NOTIFICATIONS:
            raise Malformed(f"PDU type 0x{pdu.tag:02x} is not a notification")
        msg = accepted.message
        inform = pdu.tag == ber.INFORM_REQUEST
        if inform and self._repeated_inform((peer[0], peer[1], msg.user, msg.engine_id, pdu.request_id), now):
            return Handled(ack=self.usm.response(accepted, now))
        record = self._record(pdu, "v3", peer, now)
        record["user"] = accepted.user
        record["security_level"] = _LEVELS[msg.flags & (FLAG_AUTH | FLAG_PRIV)]
        record["engine_id"] = msg.engine_id.hex()
        if accepted.context_name:
            record["context_name"] = accepted.context_name.decode("utf-8", "replace")
        self.counters.accepted(peer[0], inform, "v3", msg.engine_id, now)
        return Handled([record], self.usm.response(accepted, now) if inform else None)

    def _record(self, pdu: Pdu, version: str, peer: tuple[str, int], now: float) -> dict[str, Any]:
        resolver = self.resolver
        record: dict[str, Any] = {
            "service": "trap",
            "received_at": self._stamps.text(now),
            "source": _source(peer),
            "version": version,
            "pdu": "inform" if pdu.tag == ber.INFORM_REQUEST else "trap",
            # 0.0.0.0 is what devices without a configured trap source put in a v1 agent-addr.
            "agent_addr": pdu.agent_addr if pdu.agent_addr and pdu.agent_addr != "0.0.0.0" else peer[0],
            "trap_oid": pdu.trap_oid,
            "trap_name": resolver.notification_name(pdu.trap_oid) if resolver else None,
            "uptime": pdu.uptime,
            "varbinds": self._varbinds(pdu.varbinds),
        }
        if pdu.enterprise is not None:
            record["enterprise"] = pdu.enterprise
        return record

    def _varbinds(self, varbinds: list[Varbind]) -> list[dict[str, Any]]:
        return ber.render(varbinds, self.resolver.name if self.resolver else None)

    def _malformed(self, datagram: bytes, peer: tuple[str, int], reason: str, now: float) -> Handled:
        self.counters.malformed(peer[0], _source(peer), reason, datagram, now)
        return Handled(refused="malformed")
