"""ICMP and ICMPv6 echo and error messages, sans-IO: bytes in, a `IcmpMessage` (or None) out.

What a socket hands back differs by kind, so the decoder is told which it is:
- a raw IPv4 ICMP socket returns the IP header first (its TTL is the reply's TTL);
- ICMP datagram ("ping") sockets and every ICMPv6 socket return the ICMP message alone.
Error messages (time exceeded, destination unreachable) carry the start of the packet that caused
them; we read the probe's identity out of it: ICMP id/seq, or the UDP destination port.

The kernel's error queue (IP_RECVERR) reports the same errors as a `sock_extended_err` plus the
offender's address; `parse_extended_error` reads that control message.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from typing import Literal

ECHO_REQUEST_V4, ECHO_REPLY_V4, TIME_EXCEEDED_V4, UNREACHABLE_V4 = 8, 0, 11, 3
ECHO_REQUEST_V6, ECHO_REPLY_V6, TIME_EXCEEDED_V6, UNREACHABLE_V6 = 128, 129, 3, 1
PORT_UNREACHABLE_V4, PORT_UNREACHABLE_V6 = 3, 4

SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6 = 2, 3

Kind = Literal["echo_reply", "echo_request", "time_exceeded", "unreachable", "other"]


@dataclass(frozen=True, slots=True)
class Inner:
    """The start of our own packet, quoted back inside an ICMP error."""

    protocol: int  # 1 ICMP, 58 ICMPv6, 17 UDP
    destination: str
    ident: int | None = None  # ICMP echo id and seq, when the probe was an echo request
    seq: int | None = None
    dst_port: int | None = None  # when the probe was UDP


@dataclass(frozen=True, slots=True)
class IcmpMessage:
    kind: Kind
    type: int
    code: int
    ident: int | None = None  # echo replies
    seq: int | None = None
    ttl: int | None = None  # from the IPv4 header, when the socket gave one
    payload_len: int = 0
    inner: Inner | None = None  # error messages


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) over `data`."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_payload(size: int, seq: int) -> bytes:
    """A recognisable filler of `size` bytes (ping(8) style incrementing bytes, offset by seq)."""
    return bytes((seq + i) & 0xFF for i in range(size))


def encode_echo_request(ident: int, seq: int, payload: bytes, v6: bool = False) -> bytes:
    """An echo request. The ICMPv6 checksum covers a pseudo-header the kernel fills in, so it is 0 here."""
    kind = ECHO_REQUEST_V6 if v6 else ECHO_REQUEST_V4
    header = struct.pack("!BBHHH", kind, 0, 0, ident & 0xFFFF, seq & 0xFFFF)
    if v6:
        return header + payload
    return struct.pack("!BBHHH", kind, 0, checksum(header + payload), ident & 0xFFFF, seq & 0xFFFF) + payload


def _inner_v4(data: bytes) -> Inner | None:
    if len(data) < 20 or data[0] >> 4 != 4:
        return None
    ihl = (data[0] & 0x0F) * 4
    if ihl < 20 or len(data) < ihl + 4:
        return None
    protocol = data[9]
    destination = socket.inet_ntop(socket.AF_INET, data[16:20])
    return _inner_transport(protocol, destination, data[ihl:], echo_request=ECHO_REQUEST_V4)


def _inner_v6(data: bytes) -> Inner | None:
    if len(data) < 40 or data[0] >> 4 != 6:
        return None
    protocol = data[6]  # next header; probes carry no extension headers
    destination = socket.inet_ntop(socket.AF_INET6, data[24:40])
    return _inner_transport(protocol, destination, data[40:], echo_request=ECHO_REQUEST_V6)


def _inner_transport(protocol: int, destination: str, transport: bytes, echo_request: int) -> Inner | None:
    if protocol in (1, 58):
        if len(transport) < 8 or transport[0] != echo_request:
            return Inner(protocol, destination)
        ident, seq = struct.unpack_from("!HH", transport, 4)
        return Inner(protocol, destination, ident=ident, seq=seq)
    if protocol == 17 and len(transport) >= 4:
        (dst_port,) = struct.unpack_from("!H", transport, 2)
        return Inner(protocol, destination, dst_port=dst_port)
    return Inner(protocol, destination)


def decode(data: bytes, v6: bool = False, ip_header: bool = False) -> IcmpMessage | None:
    """One received ICMP(v6) message, or None when it is too short or malformed to use."""
    ttl = None
    if ip_header:
        if len(data) < 20 or data[0] >> 4 != 4:
            return None
        ihl = (data[0] & 0x0F) * 4
        if ihl < 20 or len(data) < ihl:
            return None
        ttl = data[8]
        data = data[ihl:]
    if len(data) < 8:
        return None
    kind_code, code = data[0], data[1]
    echo_reply, echo_request = (ECHO_REPLY_V6, ECHO_REQUEST_V6) if v6 else (ECHO_REPLY_V4, ECHO_REQUEST_V4)
    time_exceeded, unreachable = (TIME_EXCEEDED_V6, UNREACHABLE_V6) if v6 else (TIME_EXCEEDED_V4, UNREACHABLE_V4)
    if kind_code in (echo_reply, echo_request):
        ident, seq = struct.unpack_from("!HH", data, 4)
        kind: Kind = "echo_reply" if kind_code == echo_reply else "echo_request"
        return IcmpMessage(kind, kind_code, code, ident=ident, seq=seq, ttl=ttl, payload_len=len(data) - 8)
    if kind_code in (time_exceeded, unreachable):
        inner = _inner_v6(data[8:]) if v6 else _inner_v4(data[8:])
        if inner is None:
            return None
        kind = "time_exceeded" if kind_code == time_exceeded else "unreachable"
        return IcmpMessage(kind, kind_code, code, ttl=ttl, inner=inner)
    return IcmpMessage("other", kind_code, code, ttl=ttl)


@dataclass(frozen=True, slots=True)
class ExtendedError:
    """`struct sock_extended_err` from the error queue, with the offender (the hop that answered)."""

    errno: int
    origin: int
    type: int
    code: int
    info: int
    offender: str | None

    @property
    def from_icmp(self) -> bool:
        return self.origin in (SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6)


_EXTENDED_ERR = struct.Struct("=IBBBBII")


def parse_extended_error(data: bytes) -> ExtendedError | None:
    if len(data) < _EXTENDED_ERR.size:
        return None
    errno, origin, kind, code, _pad, info, _data = _EXTENDED_ERR.unpack_from(data)
    offender = None
    address = data[_EXTENDED_ERR.size :]
    if len(address) >= 2:
        (family,) = struct.unpack_from("=H", address)
        if family == socket.AF_INET and len(address) >= 8:
            offender = socket.inet_ntop(socket.AF_INET, address[4:8])
        elif family == socket.AF_INET6 and len(address) >= 24:
            offender = socket.inet_ntop(socket.AF_INET6, address[8:24])
    return ExtendedError(errno, origin, kind, code, info, offender)
