"""Builders for NetFlow v5 / v9, IPFIX and sFlow v5 datagrams, written from the RFCs and the
sFlow spec (not from our decoder), for tests and the decode benchmark."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

# A typical softflowd-like IPFIX / v9 template: addresses, ports, protocol, counters, times.
FLOW_FIELDS: tuple[tuple[int, int], ...] = (
    (8, 4),  # sourceIPv4Address
    (12, 4),  # destinationIPv4Address
    (7, 2),  # sourceTransportPort
    (11, 2),  # destinationTransportPort
    (4, 1),  # protocolIdentifier
    (6, 1),  # tcpControlBits (reduced size)
    (10, 4),  # ingressInterface
    (14, 4),  # egressInterface
    (1, 8),  # octetDeltaCount
    (2, 8),  # packetDeltaCount
    (152, 8),  # flowStartMilliseconds
    (153, 8),  # flowEndMilliseconds
)
V9_FLOW_FIELDS: tuple[tuple[int, int], ...] = (
    (8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (6, 1), (10, 2), (14, 2), (1, 4), (2, 4), (22, 4), (21, 4),
)  # fmt: skip


@dataclass(frozen=True)
class Flow:
    src: str = "10.0.0.1"
    dst: str = "192.0.2.7"
    src_port: int = 40000
    dst_port: int = 443
    protocol: int = 6
    tcp_flags: int = 0x1B
    input_if: int = 3
    output_if: int = 7
    bytes: int = 1500
    packets: int = 3
    start_ms: int = 1_700_000_000_000
    end_ms: int = 1_700_000_001_500


def flows(count: int, seed: int = 0) -> list[Flow]:
    return [
        Flow(
            src=f"10.{(seed + i) % 250}.{i % 250}.{(i * 7) % 250 + 1}",
            dst=f"192.0.{i % 200}.{(i * 13) % 250 + 1}",
            src_port=1024 + (i * 31) % 60000,
            dst_port=(80, 443, 53, 22)[i % 4],
            protocol=(6, 17)[i % 2],
            tcp_flags=(0x1B, 0)[i % 2],
            input_if=1 + i % 8,
            output_if=9 + i % 8,
            bytes=64 + i * 17,
            packets=1 + i % 50,
            start_ms=1_700_000_000_000 + i,
            end_ms=1_700_000_000_900 + i,
        )
        for i in range(count)
    ]


def ip4(text: str) -> bytes:
    return socket.inet_aton(text)


# ---- NetFlow v5 ------------------------------------------------------------------------------


def netflow_v5(records: list[Flow], sequence: int = 0, export_s: int = 1_700_000_002, uptime_ms: int = 50_000,
               sampling: int = 0) -> bytes:  # fmt: skip
    boot_ms = export_s * 1000 - uptime_ms
    header = struct.pack("!HHIIIIBBH", 5, len(records), uptime_ms, export_s, 0, sequence, 0, 0, sampling)
    body = b"".join(
        struct.pack(
            "!4s4s4sHHIIIIHHxBBBHHBBxx",
            ip4(f.src),
            ip4(f.dst),
            ip4("0.0.0.0"),
            f.input_if,
            f.output_if,
            f.packets,
            f.bytes,
            f.start_ms - boot_ms,
            f.end_ms - boot_ms,
            f.src_port,
            f.dst_port,
            f.tcp_flags,
            f.protocol,
            0,
            0,
            0,
            0,
            0,
        )
        for f in records
    )
    return header + body


# ---- IPFIX and NetFlow v9 ------------------------------------------------------------------------


def ipfix_message(sets: list[bytes], sequence: int = 0, domain: int = 1, export_s: int = 1_700_000_002) -> bytes:
    body = b"".join(sets)
    return struct.pack("!HHIII", 10, 16 + len(body), export_s, sequence, domain) + body


def v9_message(sets: list[bytes], sequence: int = 0, source_id: int = 1, export_s: int = 1_700_000_002,
               uptime_ms: int = 50_000) -> bytes:  # fmt: skip
    return struct.pack("!HHIIII", 9, len(sets), uptime_ms, export_s, sequence, source_id) + b"".join(sets)


def set_of(set_id: int, body: bytes, pad_to: int = 1) -> bytes:
    body += b"\0" * ((-(len(body) + 4)) % pad_to)
    return struct.pack("!HH", set_id, 4 + len(body)) + body


def template_record(template_id: int, fields: tuple[tuple[int, int], ...] | list[tuple[int, int, int]]) -> bytes:
    """An IPFIX or v9 template record; a field (id, length, pen) with pen > 0 is an enterprise field."""
    out = struct.pack("!HH", template_id, len(fields))
    for field in fields:
        ie, length, *rest = field
        pen = rest[0] if rest else 0
        out += struct.pack("!HH", ie | (0x8000 if pen else 0), length) + (struct.pack("!I", pen) if pen else b"")
    return out


def ipfix_options_template(template_id: int, scope: list[tuple[int, int]], fields: list[tuple[int, int]]) -> bytes:
    out = struct.pack("!HHH", template_id, len(scope) + len(fields), len(scope))
    return out + b"".join(struct.pack("!HH", ie, length) for ie, length in scope + fields)


def v9_options_template(template_id: int, scope: list[tuple[int, int]], fields: list[tuple[int, int]]) -> bytes:
    out = struct.pack("!HHH", template_id, 4 * len(scope), 4 * len(fields))
    out += b"".join(struct.pack("!HH", ie, length) for ie, length in scope + fields)
    return out + b"\0" * ((-len(out)) % 4)


def ipfix_flow_data(records: list[Flow]) -> bytes:
    return b"".join(
        struct.pack(
            "!4s4sHHBBIIQQQQ",
            ip4(f.src),
            ip4(f.dst),
            f.src_port,
            f.dst_port,
            f.protocol,
            f.tcp_flags,
            f.input_if,
            f.output_if,
            f.bytes,
            f.packets,
            f.start_ms,
            f.end_ms,
        )
        for f in records
    )


def v9_flow_data(records: list[Flow], export_s: int = 1_700_000_002, uptime_ms: int = 50_000) -> bytes:
    boot_ms = export_s * 1000 - uptime_ms
    return b"".join(
        struct.pack(
            "!4s4sHHBBHHIIII",
            ip4(f.src),
            ip4(f.dst),
            f.src_port,
            f.dst_port,
            f.protocol,
            f.tcp_flags,
            f.input_if,
            f.output_if,
            f.bytes,
            f.packets,
            f.start_ms - boot_ms,
            f.end_ms - boot_ms,
        )
        for f in records
    )


def ipfix_flows(records: list[Flow], template_id: int = 256, sequence: int = 0, with_template: bool = True,
                domain: int = 1) -> bytes:  # fmt: skip
    sets = [set_of(2, template_record(template_id, FLOW_FIELDS))] if with_template else []
    sets.append(set_of(template_id, ipfix_flow_data(records)))
    return ipfix_message(sets, sequence=sequence, domain=domain)


def v9_flows(records: list[Flow], template_id: int = 256, sequence: int = 0, with_template: bool = True) -> bytes:
    sets = [set_of(0, template_record(template_id, V9_FLOW_FIELDS))] if with_template else []
    sets.append(set_of(template_id, v9_flow_data(records), pad_to=4))
    return v9_message(sets, sequence=sequence)


# ---- sFlow v5 ------------------------------------------------------------------------------------


def ethernet_ipv4_frame(f: Flow, vlan: int | None = None) -> bytes:
    l4 = (
        struct.pack("!HHIIBBHHH", f.src_port, f.dst_port, 1, 0, 0x50, f.tcp_flags, 1024, 0, 0)
        if f.protocol == 6
        else struct.pack("!HHHH", f.src_port, f.dst_port, 8 + 32, 0)
    )
    payload = l4 + b"\0" * 32
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0x4000, 64, f.protocol, 0, ip4(f.src), ip4(f.dst))
    tag = struct.pack("!HH", 0x8100, vlan) if vlan is not None else b""
    return b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + tag + b"\x08\x00" + ip + payload


def xdr_opaque(data: bytes) -> bytes:
    return struct.pack("!I", len(data)) + data + b"\0" * ((-len(data)) % 4)


def sflow_flow_sample(f: Flow, rate: int = 512, sequence: int = 1, frame_length: int | None = None) -> bytes:
    frame = ethernet_ipv4_frame(f, vlan=10)
    raw = struct.pack("!III", 1, frame_length or len(frame) + 4, 4) + xdr_opaque(frame)
    switch = struct.pack("!IIII", 10, 0, 20, 0)
    records = struct.pack("!II", 1, len(raw)) + raw + struct.pack("!II", 1001, len(switch)) + switch
    body = struct.pack("!IIIIIIII", sequence, f.input_if, rate, rate * sequence, 0, f.input_if, f.output_if, 2)
    body += records
    return struct.pack("!II", 1, len(body)) + body


def sflow_counter_sample(if_index: int = 3, in_octets: int = 123456789, sequence: int = 1) -> bytes:
    generic = struct.pack(
        "!IIQIIQIIIIIIQIIIIII", if_index, 6, 1_000_000_000, 1, 3, in_octets, 10, 2, 1, 0, 0, 0, 987654321, 11, 3, 1, 0,
        0, 0,
    )  # fmt: skip
    record = struct.pack("!II", 1, len(generic)) + generic
    body = struct.pack("!III", sequence, if_index, 1) + record
    return struct.pack("!II", 2, len(body)) + body


def sflow_datagram(samples: list[bytes], agent: str = "192.0.2.50", sequence: int = 1, sub_agent: int = 0,
                   uptime_ms: int = 60_000) -> bytes:  # fmt: skip
    header = struct.pack("!II4sIIII", 5, 1, ip4(agent), sub_agent, sequence, uptime_ms, len(samples))
    return header + b"".join(samples)
