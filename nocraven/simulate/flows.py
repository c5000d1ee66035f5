"""Flow datagrams a venue's exporters send: NetFlow v9, IPFIX and sFlow v5, for `nocraven demo`.

Sans-IO: flows in, datagram bytes out (RFC 3954, RFC 7011, sFlow v5). Templates are resent with
every datagram, as a router does after restarting, so the engine decodes from the first one.
"""

from __future__ import annotations

import random
import socket
import struct
from dataclasses import dataclass

TEMPLATE_ID = 300
# (information element, length): addresses, ports, protocol, flags, interfaces, counters, times.
_IPFIX_FIELDS = ((8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (6, 1), (10, 4), (14, 4), (1, 8), (2, 8), (152, 8), (153, 8))
_V9_FIELDS = ((8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (6, 1), (10, 2), (14, 2), (1, 4), (2, 4), (22, 4), (21, 4))
_SERVICES = ((443, 6), (80, 6), (53, 17), (123, 17), (3478, 17), (22, 6), (8443, 6))


@dataclass(frozen=True)
class Flow:
    src: str
    dst: str
    src_port: int
    dst_port: int
    protocol: int
    tcp_flags: int
    input_if: int
    output_if: int
    bytes: int
    packets: int
    start_ms: int
    end_ms: int


def random_flows(rng: random.Random, count: int, now_ms: int) -> list[Flow]:
    out = []
    for _ in range(count):
        port, proto = rng.choice(_SERVICES)
        packets = rng.randint(1, 400)
        start = now_ms - rng.randint(100, 60_000)
        out.append(
            Flow(
                src=f"10.20.{rng.randint(0, 31)}.{rng.randint(2, 254)}",
                dst=f"203.0.113.{rng.randint(1, 254)}" if rng.random() < 0.7 else f"198.51.100.{rng.randint(1, 254)}",
                src_port=rng.randint(1024, 65535),
                dst_port=port,
                protocol=proto,
                tcp_flags=0x1B if proto == 6 else 0,
                input_if=rng.randint(1, 8),
                output_if=rng.randint(9, 12),
                bytes=packets * rng.randint(60, 1400),
                packets=packets,
                start_ms=start,
                end_ms=min(now_ms, start + rng.randint(10, 30_000)),
            )
        )
    return out


def _set(set_id: int, body: bytes, pad_to: int) -> bytes:
    body += b"\0" * ((-(len(body) + 4)) % pad_to)
    return struct.pack("!HH", set_id, 4 + len(body)) + body


def _template(fields: tuple[tuple[int, int], ...]) -> bytes:
    return struct.pack("!HH", TEMPLATE_ID, len(fields)) + b"".join(struct.pack("!HH", ie, n) for ie, n in fields)


def _ip(text: str) -> bytes:
    return socket.inet_aton(text)


def ipfix(flows: list[Flow], sequence: int, domain: int, now_ms: int) -> bytes:
    data = b"".join(
        struct.pack(
            "!4s4sHHBBIIQQQQ",
            _ip(f.src),
            _ip(f.dst),
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
        for f in flows
    )
    body = _set(2, _template(_IPFIX_FIELDS), 1) + _set(TEMPLATE_ID, data, 1)
    return struct.pack("!HHIII", 10, 16 + len(body), now_ms // 1000, sequence, domain) + body


def netflow_v9(flows: list[Flow], sequence: int, source_id: int, now_ms: int, uptime_ms: int) -> bytes:
    boot_ms = now_ms - uptime_ms
    data = b"".join(
        struct.pack(
            "!4s4sHHBBHHIIII",
            _ip(f.src),
            _ip(f.dst),
            f.src_port,
            f.dst_port,
            f.protocol,
            f.tcp_flags,
            f.input_if,
            f.output_if,
            f.bytes,
            f.packets,
            max(0, f.start_ms - boot_ms),
            max(0, f.end_ms - boot_ms),
        )
        for f in flows
    )
    sets = [_set(0, _template(_V9_FIELDS), 4), _set(TEMPLATE_ID, data, 4)]
    return struct.pack("!HHIIII", 9, len(sets), uptime_ms, now_ms // 1000, sequence, source_id) + b"".join(sets)


def _frame(f: Flow) -> bytes:
    """An Ethernet/802.1Q/IPv4 header sample, as a switch copies the first bytes of a packet."""
    if f.protocol == 6:
        l4 = struct.pack("!HHIIBBHHH", f.src_port, f.dst_port, 1, 0, 0x50, f.tcp_flags, 1024, 0, 0)
    else:
        l4 = struct.pack("!HHHH", f.src_port, f.dst_port, 40, 0)
    payload = l4 + b"\0" * 32
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0x4000, 64, f.protocol, 0, _ip(f.src), _ip(f.dst))
    return b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01" + struct.pack("!HH", 0x8100, 20) + b"\x08\x00" + ip + payload


def _opaque(data: bytes) -> bytes:
    return struct.pack("!I", len(data)) + data + b"\0" * ((-len(data)) % 4)


def sflow(flows: list[Flow], agent: str, sequence: int, uptime_ms: int, rate: int = 1024) -> bytes:
    samples = []
    for index, f in enumerate(flows):
        frame = _frame(f)
        raw = struct.pack("!III", 1, len(frame) + 4 + 900, 4) + _opaque(frame)  # the packet was longer
        records = struct.pack("!II", 1, len(raw)) + raw
        sample_seq = sequence * len(flows) + index
        body = struct.pack("!IIIIIIII", sample_seq, f.input_if, rate, rate * sample_seq, 0, f.input_if, f.output_if, 1)
        samples.append(struct.pack("!II", 1, len(body + records)) + body + records)
    header = struct.pack("!II4sIIII", 5, 1, _ip(agent), 0, sequence, uptime_ms, len(samples))
    return header + b"".join(samples)
