"""sFlow version 5 (sflow.org/sflow_version_5.txt, and the drops extension): datagrams to records.

A flow sample becomes one `kind: "flow"` record: the sampled packet's header is decoded to
addresses, ports, protocol and TCP flags; `bytes` is the frame length and `packets` 1, and the
`_scaled` counters multiply them by the sampling rate (what the sample stands for). Counter
samples become `kind: "counters"` records (generic and Ethernet interface counters, port name)
and drop notifications `kind: "drop"` records. Unknown sample and record formats are skipped by
their length, as the XDR encoding allows.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from typing import Any

from collectors.flow.plan import IPV4_TEXT, MAC_TEXT, new_ipv4, new_mac, ntop6

_ipv4_get = IPV4_TEXT.get
_mac_get = MAC_TEXT.get

_U32 = struct.Struct("!I")
_IP4 = struct.Struct("!4s")
_IP6 = struct.Struct("!16s")
_HEADER_TAIL = struct.Struct("!IIII")  # sub agent, sequence, uptime, samples
_TAGGED = struct.Struct("!II")
_FLOW_SAMPLE = struct.Struct("!IIIIIIII")
_EXPANDED_FLOW_SAMPLE = struct.Struct("!IIIIIIIIIII")
_COUNTER_SAMPLE = struct.Struct("!III")
_EXPANDED_COUNTER_SAMPLE = struct.Struct("!IIII")
_DROP_SAMPLE = struct.Struct("!IIIIIIII")
_RAW_HEADER = struct.Struct("!IIII")
_IPV4_DATA = struct.Struct("!II4s4sIIII")
_IPV6_DATA = struct.Struct("!II16s16sIIII")
_SWITCH = struct.Struct("!IIII")
_IF_COUNTERS = struct.Struct("!IIQIIQIIIIIIQIIIIII")
_ETHERNET_COUNTERS = struct.Struct("!13I")
_ETHERNET_FRAME = struct.Struct("!I6s2x6s2xI")
_IPV4 = struct.Struct("!BBHHHBB2x4s4s")
_PORTS = struct.Struct("!HH")
_FIRST_RECORD = struct.Struct("!IIIIII")  # tag, length, then a raw header's protocol, frame, stripped, header length

MAX_SAMPLES = 1024  # per datagram; a 64 KiB datagram cannot hold more real ones
MAX_RECORDS = 256  # per sample

IF_COUNTER_NAMES = (
    "if_index", "if_type", "if_speed", "if_direction", "if_status",
    "in_octets", "in_ucast_pkts", "in_mcast_pkts", "in_bcast_pkts", "in_discards", "in_errors", "in_unknown_protos",
    "out_octets", "out_ucast_pkts", "out_mcast_pkts", "out_bcast_pkts", "out_discards", "out_errors", "promiscuous",
)  # fmt: skip
ETHERNET_COUNTER_NAMES = (
    "dot3_alignment_errors", "dot3_fcs_errors", "dot3_single_collision_frames", "dot3_multiple_collision_frames",
    "dot3_sqe_test_errors", "dot3_deferred_transmissions", "dot3_late_collisions", "dot3_excessive_collisions",
    "dot3_internal_mac_transmit_errors", "dot3_carrier_sense_errors", "dot3_frame_too_longs",
    "dot3_internal_mac_receive_errors", "dot3_symbol_errors",
)  # fmt: skip
VLAN_TAGS = (0x8100, 0x88A8, 0x9100)
IPV6_EXTENSIONS = (0, 43, 60, 51)  # hop-by-hop, routing, destination options, authentication


def decode_sflow(
    datagram: bytes, source: str, received_at: str, records: list[dict[str, Any]]
) -> tuple[tuple[Any, ...], int]:
    """Append the datagram's records; returns the sequence key (agent, sub agent) and number."""
    (address_type,) = _U32.unpack_from(datagram, 4)
    if address_type == 1:
        agent, position = socket.inet_ntoa(_IP4.unpack_from(datagram, 8)[0]), 12
    elif address_type == 2:
        agent, position = ntop6(_IP6.unpack_from(datagram, 8)[0]), 24
    else:
        raise ValueError(f"agent address type {address_type} is neither IPv4 (1) nor IPv6 (2)")
    sub_agent, sequence, uptime, samples = _HEADER_TAIL.unpack_from(datagram, position)
    position += _HEADER_TAIL.size
    if samples > MAX_SAMPLES:
        raise ValueError(f"{samples} samples announced, more than {MAX_SAMPLES}")
    head: Head = (received_at, source, agent, sub_agent, uptime)
    bases: dict[tuple[bool, bool], Callable[[], dict[str, Any]]] = {}  # the datagram's base records
    for _ in range(samples):
        tag, length = _TAGGED.unpack_from(datagram, position)
        position += _TAGGED.size
        body = datagram[position : position + length]
        if len(body) < length:
            raise ValueError(f"sample format {tag} claims {length} bytes, {len(body)} remain")
        position += length
        if tag == 1 or tag == 3:
            records.append(_flow_sample(body, tag == 3, head, bases))
        elif tag == 2 or tag == 4:
            records.append(_counter_sample(body, tag == 4, head))
        elif tag == 5:
            records.append(_drop_sample(body, head))
        # other formats (an enterprise's own, tag >> 12) are skipped by their length
    return (agent, sub_agent), sequence


Head = tuple[str, str, str, int, int]  # received_at, source, agent, sub agent, uptime ms


def _new_flow(kind: str, head: Head, input_if: int | None, output_if: int | None) -> dict[str, Any]:
    received_at, source, agent, sub_agent, uptime = head
    return {
        "service": "flow", "kind": kind, "received_at": received_at, "source": source, "exporter": agent,
        "version": "sflow5", "src_addr": None, "dst_addr": None, "src_port": None, "dst_port": None, "protocol": None,
        "bytes": None, "packets": None, "start": None, "end": None, "input_if": input_if, "output_if": output_if,
        "tcp_flags": None, "sampling_rate": None, "bytes_scaled": None, "packets_scaled": None,
        "sflow_sub_agent": sub_agent, "sflow_uptime_ms": uptime,
    }  # fmt: skip


def _interface(value: int) -> int | None:
    """An sFlow interface word: format 0 is an ifIndex; 1 (discarded) and 2 (multiple) are not."""
    return value & 0x3FFFFFFF if value >> 30 == 0 else None


def _flow_sample(
    body: bytes, expanded: bool, head: Head, bases: dict[tuple[bool, bool], Callable[[], dict[str, Any]]]
) -> dict[str, Any]:
    if expanded:
        seq, source_type, source_index, rate, pool, drops, in_format, in_value, out_format, out_value, count = (
            _EXPANDED_FLOW_SAMPLE.unpack_from(body)
        )
        input_if = in_value if in_format == 0 else None
        output_if = out_value if out_format == 0 else None
        position = _EXPANDED_FLOW_SAMPLE.size
    else:
        seq, source_id, rate, pool, drops, input_word, output_word, count = _FLOW_SAMPLE.unpack_from(body)
        source_type, source_index = source_id >> 24, source_id & 0xFFFFFF
        input_if = input_word if input_word >> 30 == 0 else None
        output_if = output_word if output_word >> 30 == 0 else None
        position = _FLOW_SAMPLE.size
    if count == 1 or count == 2:
        common = _common_flow(
            body,
            position,
            count == 2,
            head,
            (input_if, output_if, rate, seq, source_type, source_index, pool, drops),
            bases,
        )
        if common is not None:
            return common
    record = _new_flow("flow", head, input_if, output_if)
    record["packets"] = 1
    record["sampling_rate"] = rate or None
    record["sflow_sequence"] = seq
    record["sflow_source_id_type"] = source_type
    record["sflow_source_id_index"] = source_index
    record["sflow_sample_pool"] = pool
    record["sflow_drops"] = drops
    _flow_records(body, position, count, record)
    scale = rate or 1
    if record["bytes"] is not None:
        record["bytes_scaled"] = record["bytes"] * scale
    record["packets_scaled"] = scale
    return record


_COMMON_KEYS = (
    "service", "kind", "received_at", "source", "exporter", "version", "src_addr", "dst_addr", "src_port", "dst_port",
    "protocol", "bytes", "packets", "start", "end", "input_if", "output_if", "tcp_flags", "sampling_rate",
    "bytes_scaled", "packets_scaled", "sflow_sub_agent", "sflow_uptime_ms", "sflow_sequence", "sflow_source_id_type",
    "sflow_source_id_index", "sflow_sample_pool", "sflow_drops", "dataLinkFrameSize", "sflow_header_protocol",
    "destinationMacAddress", "sourceMacAddress",
)  # fmt: skip
_COMMON_IP_KEYS = (
    "ethernetType", "ipVersion", "ipClassOfService", "totalLengthIPv4", "fragmentIdentification", "fragmentOffset",
    "fragmentFlags", "ipTTL", "ipv4IHL",
)  # fmt: skip
_COMMON_SWITCH_KEYS = ("vlanId", "postVlanId", "dot1qPriority", "sflow_dst_priority")


def _common_base(layout: tuple[bool, bool], head: Head) -> Callable[[], dict[str, Any]]:
    """A datagram's base record for one layout (VLAN tag or not, switch data or not): the
    general path's keys in its order, what the datagram and the layout fix already in place.
    Copying it and assigning the rest costs half of a dict literal of 40 keys (measured)."""
    vlan, switch = layout
    keys = _COMMON_KEYS + (("dot1qVlanId",) if vlan else ()) + _COMMON_IP_KEYS + (_COMMON_SWITCH_KEYS if switch else ())
    base: dict[str, Any] = dict.fromkeys(keys)
    received_at, source, agent, sub_agent, uptime = head
    base.update(
        service="flow", kind="flow", received_at=received_at, source=source, exporter=agent, version="sflow5",
        packets=1, sflow_sub_agent=sub_agent, sflow_uptime_ms=uptime, sflow_header_protocol=1, ethernetType=0x0800,
        ipVersion=4, fragmentOffset=0,
    )  # fmt: skip
    return base.copy


# The layout nearly every switch samples with: one raw Ethernet header (optionally one VLAN
# tag) of an unfragmented IPv4 TCP or UDP packet, optionally followed by the extended switch
# data. It is built here from a base record, for a fraction of the general path's cost.
# Anything else (or anything short) returns None and takes the general path, whose key order
# this one keeps: a test decodes the same samples both ways and compares the bytes.
def _common_flow(
    body: bytes,
    position: int,
    switch: bool,
    head: Head,
    sample: tuple[int | None, int | None, int, int, int, int, int, int],
    bases: dict[tuple[bool, bool], Callable[[], dict[str, Any]]],
) -> dict[str, Any] | None:
    """The record of a sample of the common layout; None for any other."""
    end = len(body)
    if end < position + _FIRST_RECORD.size:
        return None
    tag, length, protocol, frame_length, _stripped, header_length = _FIRST_RECORD.unpack_from(body, position)
    start = position + 8
    stop = start + length
    if tag != 1 or protocol != 1 or length < 16 or stop > end:
        return None
    header = body[start + 16 : min(start + 16 + header_length, stop)]
    size = len(header)
    if size < 14:
        return None
    ether_type = (header[12] << 8) | header[13]
    vlan = None
    ip = 14
    if ether_type in VLAN_TAGS and size >= 18:
        vlan = ((header[14] << 8) | header[15]) & 0x0FFF
        ether_type = (header[16] << 8) | header[17]
        ip = 18
    if ether_type != 0x0800 or size < ip + 20 or header[ip] >> 4 != 4:
        return None
    version_ihl, tos, total_length, ident, flags_offset, ttl, ip_protocol, src, dst = _IPV4.unpack_from(header, ip)
    if flags_offset & 0x1FFF:
        return None
    transport = ip + (version_ihl & 0x0F) * 4
    if ip_protocol == 6 and size >= transport + 14:
        tcp_flags: int | None = ((header[transport + 12] & 0x01) << 8) | header[transport + 13]
    elif ip_protocol == 17 and size >= transport + 4:
        tcp_flags = None
    else:
        return None
    src_port, dst_port = _PORTS.unpack_from(header, transport)
    if switch:
        if end < stop + 8 + _SWITCH.size:
            return None
        tag, length = _TAGGED.unpack_from(body, stop)
        if tag != 1001 or length < _SWITCH.size or stop + 8 + length > end:
            return None
        src_vlan, src_priority, dst_vlan, dst_priority = _SWITCH.unpack_from(body, stop + 8)
    input_if, output_if, rate, seq, source_type, source_index, pool, drops = sample
    layout = (vlan is not None, switch)
    new_record = bases.get(layout)
    if new_record is None:
        new_record = bases[layout] = _common_base(layout, head)
    record = new_record()
    record["src_addr"] = _ipv4_get(src) or new_ipv4(src)
    record["dst_addr"] = _ipv4_get(dst) or new_ipv4(dst)
    record["src_port"] = src_port
    record["dst_port"] = dst_port
    record["protocol"] = ip_protocol
    record["bytes"] = frame_length
    record["input_if"] = input_if
    record["output_if"] = output_if
    record["tcp_flags"] = tcp_flags
    scale = rate or 1
    record["sampling_rate"] = rate or None
    record["bytes_scaled"] = frame_length * scale
    record["packets_scaled"] = scale
    record["sflow_sequence"] = seq
    record["sflow_source_id_type"] = source_type
    record["sflow_source_id_index"] = source_index
    record["sflow_sample_pool"] = pool
    record["sflow_drops"] = drops
    record["dataLinkFrameSize"] = frame_length
    mac = header[0:6]
    record["destinationMacAddress"] = _mac_get(mac) or new_mac(mac)
    mac = header[6:12]
    record["sourceMacAddress"] = _mac_get(mac) or new_mac(mac)
    if vlan is not None:
        record["dot1qVlanId"] = vlan
    record["ipClassOfService"] = tos
    record["totalLengthIPv4"] = total_length
    record["fragmentIdentification"] = ident
    record["fragmentFlags"] = flags_offset >> 13
    record["ipTTL"] = ttl
    record["ipv4IHL"] = version_ihl & 0x0F
    if switch:
        record["vlanId"] = src_vlan
        record["postVlanId"] = dst_vlan
        record["dot1qPriority"] = src_priority
        record["sflow_dst_priority"] = dst_priority
    return record


def _drop_sample(body: bytes, head: Head) -> dict[str, Any]:
    seq, source_type, source_index, drops, input_if, output_if, reason, count = _DROP_SAMPLE.unpack_from(body)
    record = _new_flow("drop", head, _interface(input_if), _interface(output_if))
    record.update(
        sflow_sequence=seq, sflow_source_id_type=source_type, sflow_source_id_index=source_index,
        sflow_drops=drops, sflow_drop_reason=reason,
    )  # fmt: skip
    _flow_records(body, _DROP_SAMPLE.size, count, record)
    return record


def _flow_records(body: bytes, position: int, count: int, record: dict[str, Any]) -> None:
    if count > MAX_RECORDS:
        raise ValueError(f"flow sample announces {count} records, more than {MAX_RECORDS}")
    for _ in range(count):
        tag, length = _TAGGED.unpack_from(body, position)
        position += _TAGGED.size
        data = body[position : position + length]
        if len(data) < length:
            raise ValueError(f"flow record format {tag} claims {length} bytes, {len(data)} remain")
        position += length
        if tag == 1:
            protocol, frame_length, _stripped, header_length = _RAW_HEADER.unpack_from(data)
            record["bytes"] = frame_length
            record["dataLinkFrameSize"] = frame_length
            record["sflow_header_protocol"] = protocol
            _packet(data[16 : 16 + header_length], protocol, record)
        elif tag == 2:
            frame_length, src_mac, dst_mac, ether_type = _ETHERNET_FRAME.unpack_from(data)
            record.setdefault("sourceMacAddress", src_mac.hex(":"))
            record.setdefault("destinationMacAddress", dst_mac.hex(":"))
            record.setdefault("ethernetType", ether_type)
            if record["bytes"] is None:
                record["bytes"] = frame_length
        elif tag in (3, 4):
            layout = _IPV4_DATA if tag == 3 else _IPV6_DATA
            length_, protocol, src, dst, src_port, dst_port, flags, _tos = layout.unpack_from(data)
            if record["src_addr"] is None:
                text = socket.inet_ntoa if tag == 3 else ntop6
                record.update(src_addr=text(src), dst_addr=text(dst), protocol=protocol)
                record.update(src_port=src_port, dst_port=dst_port, tcp_flags=flags)
            if record["bytes"] is None:
                record["bytes"] = length_
        elif tag == 1001:
            src_vlan, src_priority, dst_vlan, dst_priority = _SWITCH.unpack_from(data)
            record.update(vlanId=src_vlan, postVlanId=dst_vlan, dot1qPriority=src_priority)
            record["sflow_dst_priority"] = dst_priority
        elif tag == 1002:
            next_hop, offset = _address(data, 0)
            src_mask, dst_mask = struct.unpack_from("!II", data, offset)
            record["ipNextHopIPv6Address" if ":" in next_hop else "ipNextHopIPv4Address"] = next_hop
            record.update(sourceIPv4PrefixLength=src_mask, destinationIPv4PrefixLength=dst_mask)
        elif tag == 1003:
            next_hop, offset = _address(data, 0)
            own_as, src_as, src_peer_as = struct.unpack_from("!III", data, offset)
            record["bgpNextHopIPv6Address" if ":" in next_hop else "bgpNextHopIPv4Address"] = next_hop
            record.update(bgpSourceAsNumber=src_as, bgpPrevAdjacentAsNumber=src_peer_as, sflow_router_as=own_as)
            record["bgpDestinationAsNumber"] = _last_as(data, offset + 12)
        elif tag == 1036:
            (record["sflow_egress_queue"],) = _U32.unpack_from(data)


def _address(data: bytes, offset: int) -> tuple[str, int]:
    (kind,) = _U32.unpack_from(data, offset)
    if kind == 1:
        return socket.inet_ntoa(_IP4.unpack_from(data, offset + 4)[0]), offset + 8
    if kind == 2:
        return ntop6(_IP6.unpack_from(data, offset + 4)[0]), offset + 20
    raise ValueError(f"address type {kind} is neither IPv4 (1) nor IPv6 (2)")


def _last_as(data: bytes, offset: int) -> int | None:
    """The destination AS: the last AS of the last segment of the path, None for an empty path."""
    (segments,) = _U32.unpack_from(data, offset)
    offset += 4
    last = None
    for _ in range(min(segments, 64)):
        _, length = struct.unpack_from("!II", data, offset)
        offset += 8
        if length > 256:
            raise ValueError(f"AS path segment of {length} ASes")
        if length:
            (last,) = _U32.unpack_from(data, offset + 4 * (length - 1))
        offset += 4 * length
    return last


def _packet(header: bytes, protocol: int, record: dict[str, Any]) -> None:
    """Addresses, ports, protocol and flags from a sampled packet's first bytes; as much as the
    header holds (it is often cut at 128 bytes)."""
    if protocol == 11:
        _ipv4(header, record)
        return
    if protocol == 12:
        _ipv6(header, record)
        return
    if protocol != 1 or len(header) < 14:
        return
    destination, source = header[0:6], header[6:12]
    record["destinationMacAddress"] = _mac_get(destination) or new_mac(destination)
    record["sourceMacAddress"] = _mac_get(source) or new_mac(source)
    ether_type = (header[12] << 8) | header[13]
    position = 14
    while ether_type in VLAN_TAGS and len(header) >= position + 4:
        record.setdefault("dot1qVlanId", ((header[position] << 8) | header[position + 1]) & 0x0FFF)
        ether_type = (header[position + 2] << 8) | header[position + 3]
        position += 4
    record["ethernetType"] = ether_type
    if ether_type == 0x0800:
        _ipv4(header, record, position)
    elif ether_type == 0x86DD:
        _ipv6(header[position:], record)


def _ipv4(packet: bytes, record: dict[str, Any], offset: int = 0) -> None:
    """The IPv4 header at `offset` (the sampled frame is not copied: this runs per sample)."""
    if len(packet) < offset + _IPV4.size or packet[offset] >> 4 != 4:
        return
    version_ihl, tos, total_length, ident, flags_offset, ttl, protocol, src, dst = _IPV4.unpack_from(packet, offset)
    header_length = (version_ihl & 0x0F) * 4
    fragment_offset = flags_offset & 0x1FFF
    record["src_addr"] = _ipv4_get(src) or new_ipv4(src)
    record["dst_addr"] = _ipv4_get(dst) or new_ipv4(dst)
    record["protocol"] = protocol
    record["ipVersion"] = 4
    record["ipClassOfService"] = tos
    record["totalLengthIPv4"] = total_length
    record["fragmentIdentification"] = ident
    record["fragmentOffset"] = fragment_offset
    record["fragmentFlags"] = flags_offset >> 13
    record["ipTTL"] = ttl
    record["ipv4IHL"] = version_ihl & 0x0F
    if fragment_offset:
        return
    transport = offset + header_length
    if (protocol == 6 or protocol == 17) and len(packet) >= transport + 4:
        record["src_port"], record["dst_port"] = _PORTS.unpack_from(packet, transport)
        if protocol == 6 and len(packet) >= transport + 14:
            record["tcp_flags"] = ((packet[transport + 12] & 0x01) << 8) | packet[transport + 13]
    else:
        _transport(packet[transport:], protocol, record, icmp=1)


def _ipv6(packet: bytes, record: dict[str, Any]) -> None:
    if len(packet) < 40 or packet[0] >> 4 != 6:
        return
    first = _U32.unpack_from(packet)[0]
    payload_length = (packet[4] << 8) | packet[5]
    next_header, hop_limit = packet[6], packet[7]
    record.update(src_addr=ntop6(packet[8:24]), dst_addr=ntop6(packet[24:40]))
    record.update(
        ipVersion=6, ipClassOfService=(first >> 20) & 0xFF, flowLabelIPv6=first & 0xFFFFF,
        payloadLengthIPv6=payload_length, ipTTL=hop_limit,
    )  # fmt: skip
    position = 40
    for _ in range(8):  # walk extension headers to the transport protocol
        if next_header in IPV6_EXTENSIONS and len(packet) >= position + 2:
            step = (packet[position + 1] + 2) * 4 if next_header == 51 else (packet[position + 1] + 1) * 8
            next_header = packet[position]
            position += step
        elif next_header == 44 and len(packet) >= position + 8:  # fragment
            offset = ((packet[position + 2] << 8) | packet[position + 3]) >> 3
            next_header = packet[position]
            position += 8
            if offset:
                record["protocol"] = next_header
                return
        else:
            break
    record["protocol"] = next_header
    _transport(packet[position:], next_header, record, icmp=58)


def _transport(segment: bytes, protocol: int, record: dict[str, Any], icmp: int) -> None:
    if protocol in (6, 17, 132) and len(segment) >= 4:
        record["src_port"], record["dst_port"] = _PORTS.unpack_from(segment)
        if protocol == 6 and len(segment) >= 14:
            record["tcp_flags"] = ((segment[12] & 0x01) << 8) | segment[13]
    elif protocol == icmp and len(segment) >= 2:
        suffix = "IPv4" if icmp == 1 else "IPv6"
        record[f"icmpType{suffix}"], record[f"icmpCode{suffix}"] = segment[0], segment[1]


def _counter_sample(body: bytes, expanded: bool, head: Head) -> dict[str, Any]:
    if expanded:
        seq, source_type, source_index, count = _EXPANDED_COUNTER_SAMPLE.unpack_from(body)
        position = _EXPANDED_COUNTER_SAMPLE.size
    else:
        seq, source_id, count = _COUNTER_SAMPLE.unpack_from(body)
        source_type, source_index = source_id >> 24, source_id & 0xFFFFFF
        position = _COUNTER_SAMPLE.size
    received_at, source, agent, sub_agent, uptime = head
    record: dict[str, Any] = {
        "service": "flow", "kind": "counters", "received_at": received_at, "source": source, "exporter": agent,
        "version": "sflow5", "sflow_sub_agent": sub_agent, "sflow_uptime_ms": uptime, "sflow_sequence": seq,
        "sflow_source_id_type": source_type, "sflow_source_id_index": source_index,
    }  # fmt: skip
    if count > MAX_RECORDS:
        raise ValueError(f"counter sample announces {count} records, more than {MAX_RECORDS}")
    for _ in range(count):
        tag, length = _TAGGED.unpack_from(body, position)
        position += _TAGGED.size
        data = body[position : position + length]
        if len(data) < length:
            raise ValueError(f"counter record format {tag} claims {length} bytes, {len(data)} remain")
        position += length
        if tag == 1:
            record.update(zip(IF_COUNTER_NAMES, _IF_COUNTERS.unpack_from(data), strict=True))
        elif tag == 2:
            record.update(zip(ETHERNET_COUNTER_NAMES, _ETHERNET_COUNTERS.unpack_from(data), strict=True))
        elif tag == 1005:
            (size,) = _U32.unpack_from(data)
            record["port_name"] = data[4 : 4 + min(size, 255)].decode("utf-8", "replace")
    return record
