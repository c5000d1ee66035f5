"""The ICMP codec: echo requests we send, and replies and errors as the kernel hands them back."""

from __future__ import annotations

import socket
import struct

from hypothesis import given
from hypothesis import strategies as st

from nocraven.diag import icmp


def ipv4_header(src: str, dst: str, protocol: int, ttl: int = 64, payload_len: int = 0) -> bytes:
    return struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + payload_len,
        0,
        0,
        ttl,
        protocol,
        0,
        socket.inet_aton(src),
        socket.inet_aton(dst),
    )


def ipv6_header(src: str, dst: str, next_header: int, payload_len: int = 0) -> bytes:
    return struct.pack(
        "!IHBB16s16s",
        6 << 28,
        payload_len,
        next_header,
        1,
        socket.inet_pton(socket.AF_INET6, src),
        socket.inet_pton(socket.AF_INET6, dst),
    )


def test_checksum_matches_rfc1071_example() -> None:
    # RFC 1071 section 3: these bytes sum (one's complement) to 0xddf2.
    assert icmp.checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0xFFFF - 0xDDF2


def test_echo_request_v4_is_well_formed() -> None:
    packet = icmp.encode_echo_request(0x1234, 7, icmp.echo_payload(56, 7))
    assert len(packet) == 64
    assert packet[:2] == b"\x08\x00"
    assert struct.unpack("!HH", packet[4:8]) == (0x1234, 7)
    assert icmp.checksum(packet) == 0  # a correct checksum sums to zero over the whole message


def test_echo_request_v6_leaves_checksum_to_the_kernel() -> None:
    packet = icmp.encode_echo_request(1, 2, b"abc", v6=True)
    assert packet[0] == 128
    assert packet[2:4] == b"\x00\x00"


def test_echo_reply_from_raw_socket_carries_ttl() -> None:
    reply = struct.pack("!BBHHH", 0, 0, 0, 0xBEEF, 3) + b"x" * 56
    message = icmp.decode(ipv4_header("10.0.0.1", "10.0.0.2", 1, ttl=57) + reply, ip_header=True)
    assert message is not None
    assert (message.kind, message.ident, message.seq, message.ttl, message.payload_len) == (
        "echo_reply",
        0xBEEF,
        3,
        57,
        56,
    )


def test_time_exceeded_quotes_our_echo_request() -> None:
    probe = struct.pack("!BBHHH", 8, 0, 0, 0xBEEF, 130)
    quoted = ipv4_header("10.0.0.2", "198.51.100.9", 1) + probe
    error = struct.pack("!BBHI", 11, 0, 0, 0) + quoted
    message = icmp.decode(ipv4_header("10.0.0.1", "10.0.0.2", 1) + error, ip_header=True)
    assert message is not None and message.inner is not None
    assert message.kind == "time_exceeded"
    assert (message.inner.destination, message.inner.ident, message.inner.seq) == ("198.51.100.9", 0xBEEF, 130)


def test_port_unreachable_quotes_our_udp_probe() -> None:
    probe = struct.pack("!HHHH", 40000, 33500, 40, 0)
    error = struct.pack("!BBHI", 3, 3, 0, 0) + ipv4_header("10.0.0.2", "198.51.100.9", 17) + probe
    message = icmp.decode(error)
    assert message is not None and message.inner is not None
    assert (message.kind, message.code, message.inner.protocol, message.inner.dst_port) == ("unreachable", 3, 17, 33500)


def test_ipv6_time_exceeded_and_reply() -> None:
    probe = struct.pack("!BBHHH", 128, 0, 0, 77, 5)
    error = struct.pack("!BBHI", 3, 0, 0, 0) + ipv6_header("fd00::2", "2001:db8::9", 58) + probe
    message = icmp.decode(error, v6=True)
    assert message is not None and message.inner is not None
    assert (message.kind, message.inner.destination, message.inner.ident, message.inner.seq) == (
        "time_exceeded",
        "2001:db8::9",
        77,
        5,
    )
    reply = icmp.decode(struct.pack("!BBHHH", 129, 0, 0, 77, 6), v6=True)
    assert reply is not None and (reply.kind, reply.seq) == ("echo_reply", 6)


def test_truncated_and_foreign_messages() -> None:
    assert icmp.decode(b"\x00\x00\x00") is None
    assert icmp.decode(ipv4_header("1.1.1.1", "2.2.2.2", 1)[:12], ip_header=True) is None
    # A time exceeded that quotes too little of the original packet cannot be matched to a probe.
    assert icmp.decode(struct.pack("!BBHI", 11, 0, 0, 0) + b"\x45\x00") is None
    other = icmp.decode(struct.pack("!BBHI", 5, 1, 0, 0))  # a redirect
    assert other is not None and other.kind == "other"


def test_extended_error_from_the_error_queue() -> None:
    offender = struct.pack("=HH4s8x", socket.AF_INET, 0, socket.inet_aton("10.16.1.1"))
    data = struct.pack("=IBBBBII", 113, icmp.SO_EE_ORIGIN_ICMP, 11, 0, 0, 0, 0) + offender
    error = icmp.parse_extended_error(data)
    assert error is not None
    assert (error.errno, error.type, error.offender, error.from_icmp) == (113, 11, "10.16.1.1", True)
    offender6 = struct.pack("=HHI16sI", socket.AF_INET6, 0, 0, socket.inet_pton(socket.AF_INET6, "fd16::1"), 0)
    data6 = struct.pack("=IBBBBII", 113, icmp.SO_EE_ORIGIN_ICMP6, 3, 0, 0, 0, 0) + offender6
    error6 = icmp.parse_extended_error(data6)
    assert error6 is not None and error6.offender == "fd16::1"
    assert icmp.parse_extended_error(b"\x00" * 10) is None


@given(st.binary(max_size=200), st.booleans(), st.booleans())
def test_decoder_never_raises(data: bytes, v6: bool, ip_header: bool) -> None:
    message = icmp.decode(data, v6=v6, ip_header=ip_header)
    assert message is None or 0 <= message.type <= 255


@given(st.binary(max_size=64))
def test_extended_error_parser_never_raises(data: bytes) -> None:
    error = icmp.parse_extended_error(data)
    assert error is None or len(data) >= 16


@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.binary(max_size=120))
def test_encoded_requests_decode_back(ident: int, seq: int, payload: bytes) -> None:
    packet = icmp.encode_echo_request(ident, seq, payload)
    assert icmp.checksum(packet) == 0
    message = icmp.decode(packet)
    assert message is not None
    assert (message.kind, message.ident, message.seq, message.payload_len) == ("echo_request", ident, seq, len(payload))
