"""sFlow samples of the common layout (one raw Ethernet/IPv4 TCP or UDP header, maybe a VLAN tag
and the extended switch data) take a shortcut (`sflow._common_flow`): whatever a sample holds,
its records, their key order and the counters are byte for byte those of the general path."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.flow import sflow
from collectors.flow.decoder import FlowDecoder, encode_records
from tests.support.flowpackets import ip4, sflow_datagram, xdr_opaque

EXPORTER = ("198.51.100.7", 6343)
NOW = 1_700_000_000.0


@st.composite
def samples(draw: st.DrawFn) -> bytes:
    """Half of them of the common layout but for one thing (or none), half anything."""
    odd = draw(st.sampled_from(["none", "any", "tags", "ether", "ip", "header", "records"]))

    def pick(common: int, others: list[int], field: str) -> int:
        return draw(st.sampled_from([common, *others])) if odd in ("any", field) else common

    tags = draw(st.lists(st.sampled_from([0x8100, 0x88A8, 0x9100]), max_size=2 if odd in ("any", "tags") else 1))
    ether_type = pick(0x0800, [0x86DD, 0x0806], "ether")
    protocol = draw(st.sampled_from([6, 17])) if odd not in ("any", "ip") else draw(st.sampled_from([6, 17, 1, 47]))
    ihl = pick(5, [6, 4], "ip")
    version = pick(4, [6], "ip")
    flags_offset = pick(0x4000, [0, 0x2000 | 5, 7], "ip")
    src, dst = (draw(st.integers(0, 2**32 - 1)).to_bytes(4, "big") for _ in range(2))
    transport = struct.pack("!HHIIBBH", draw(st.integers(0, 65535)), draw(st.integers(0, 65535)), 1, 0, 0x50, 0x1B, 9)
    ip = struct.pack("!BBHHHBBH4s4s", (version << 4) | ihl, 8, 60, 77, flags_offset, 64, protocol, 0, src, dst)
    ip += b"\x00" * (4 * max(ihl - 5, 0))
    vlans = b"".join(struct.pack("!HH", tag, draw(st.integers(0, 4095))) for tag in tags)
    frame = b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01" + vlans + struct.pack("!H", ether_type) + ip + transport + b"\0" * 8
    header = frame[: draw(st.integers(0, len(frame)))] if odd in ("any", "header") else frame
    header_length = pick(len(header), [len(header) + 40, 3], "header")
    header_protocol = pick(1, [11], "header")
    raw = struct.pack("!III", header_protocol, draw(st.integers(0, 9000)), 4) + struct.pack("!I", header_length)
    raw += header + b"\0" * ((-len(header)) % 4)
    switch_data = struct.pack("!IIII", 10, 1, 20, 2)[: pick(16, [12], "records")]
    records = [struct.pack("!II", 1, len(raw)) + raw]
    if draw(st.booleans()):
        records.append(struct.pack("!II", 1001, len(switch_data)) + switch_data)
    if odd in ("any", "records") and draw(st.booleans()):
        records.insert(draw(st.integers(0, len(records))), struct.pack("!II", 1036, 4) + struct.pack("!I", 3))
    count = len(records) + pick(0, [1], "records")
    rate = draw(st.sampled_from([0, 1, 512]))
    expanded = draw(st.booleans())
    if expanded:
        body = struct.pack("!IIIIIIIIIII", 7, 0, 3, rate, 100, 0, 0, 3, 0, 9, count)
    else:
        body = struct.pack("!IIIIIIII", 7, 3, rate, 100, 0, 3, draw(st.sampled_from([9, 0x80000001])), count)
    body += b"".join(records)
    body = body[: len(body) - pick(0, [5], "records")]
    return struct.pack("!II", 3 if expanded else 1, len(body)) + body


def decoded(datagram: bytes) -> tuple[bytes, object]:
    decoder = FlowDecoder()
    records = encode_records(decoder.decode(datagram, EXPORTER, NOW))
    return records, decoder.stats.take()


@settings(max_examples=400, deadline=None)
@given(st.lists(samples(), min_size=1, max_size=4))
def test_common_layout_decodes_as_the_general_path(sampled: list[bytes]) -> None:
    datagram = sflow_datagram(sampled)
    shortcut = decoded(datagram)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sflow, "_common_flow", lambda *args: None)
        general = decoded(datagram)
    assert shortcut == general


def test_the_shortcut_is_taken_for_a_switch_sample() -> None:
    """The common layout really goes the short way (else the test above compares nothing)."""
    frame = (
        b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x81\x00\x00\x0a\x08\x00"
        + struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 1, 0x4000, 64, 6, 0, ip4("10.0.0.1"), ip4("192.0.2.7"))
        + struct.pack("!HHIIBBHHH", 40000, 443, 1, 0, 0x50, 0x1B, 1024, 0, 0)
    )
    raw = struct.pack("!III", 1, len(frame) + 4, 4) + xdr_opaque(frame)
    switch = struct.pack("!IIII", 10, 0, 20, 0)
    body = struct.pack("!IIIIIIII", 1, 3, 512, 512, 0, 3, 7, 2)
    body += struct.pack("!II", 1, len(raw)) + raw + struct.pack("!II", 1001, len(switch)) + switch
    datagram = sflow_datagram([struct.pack("!II", 1, len(body)) + body])
    taken: list[bool] = []
    original = sflow._common_flow

    def spy(*args: object) -> object:
        result = original(*args)  # type: ignore[arg-type]
        taken.append(result is not None)
        return result

    sflow._common_flow = spy  # type: ignore[assignment]
    try:
        (record,) = FlowDecoder().decode(datagram, EXPORTER, NOW)
    finally:
        sflow._common_flow = original
    assert taken == [True]
    assert (record["src_addr"], record["dst_port"], record["tcp_flags"], record["dot1qVlanId"]) == (
        "10.0.0.1",
        443,
        0x1B,
        10,
    )
    assert record["bytes_scaled"] == (len(frame) + 4) * 512 and record["vlanId"] == 10
