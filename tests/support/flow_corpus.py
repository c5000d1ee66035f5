"""Telegraf's NetFlow/IPFIX/sFlow test corpus and the name map that matches our records to its
expected output field by field (used by the unit corpus test and the live-engine one).

Telegraf names fields its own way (`src`, `in_bytes`, `tcp_flags="...AP..."`); the map below
says which of our keys carries the same fact and how to compare the values. Every Telegraf field
must be in the map or in NOT_COMPARED with the reason, so a field we forget fails the test.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from collectors.flow.decoder import FlowDecoder

# The shared corpora sit beside the main checkout (../shared); a worktree is one level deeper.
_ROOT = Path(__file__).resolve().parents[2]
CORPUS = next(
    (
        base / "shared" / "corpora" / "telegraf-netflow-testcases"
        for base in (_ROOT.parent, _ROOT.parent.parent)
        if (base / "shared" / "corpora" / "telegraf-netflow-testcases").is_dir()
    ),
    _ROOT.parent / "shared" / "corpora" / "telegraf-netflow-testcases",
)
EXPORTER = ("127.0.0.1", 40000)
NOW = 1_700_000_000.0
PROTOCOLS = {"icmp": 1, "tcp": 6, "udp": 17, "hopopt": 0, "ipv6-icmp": 58}

# ---- InfluxDB line protocol (just what expected.out uses) -------------------------------------


def parse_line(line: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    head, _, rest = line.partition(" ")
    measurement, *tag_items = head.split(",")
    tags = dict(item.split("=", 1) for item in tag_items)
    fields: dict[str, Any] = {}
    position = 0
    while position < len(rest):
        equals = rest.index("=", position)
        key = rest[position:equals]
        position = equals + 1
        if rest[position] == '"':
            end = position + 1
            while rest[end] != '"':
                end += 2 if rest[end] == "\\" else 1
            value: Any = rest[position + 1 : end].replace('\\"', '"')
            position = end + 1
        else:
            end = position
            while end < len(rest) and rest[end] not in ", ":
                end += 1
            raw = rest[position:end]
            value = int(raw[:-1]) if raw.endswith(("u", "i")) else float(raw)
            position = end
        fields[key] = value
        if position < len(rest) and rest[position] == " ":
            break  # the timestamp follows
        position += 1
    return measurement, tags, fields


def expected_records(case: str) -> list[tuple[str, str, dict[str, Any]]]:
    lines = (CORPUS / case / "expected.out").read_text().splitlines()
    return [(m, t["version"], f) for m, t, f in map(parse_line, filter(None, lines))]


# ---- value comparisons ---------------------------------------------------------------------------

Compare = Callable[[Any, Any], bool]


def same(theirs: Any, ours: Any) -> bool:
    return bool(theirs == ours)


def flag_string(theirs: str, ours: Any) -> bool:
    """Telegraf writes flag bits as 8 characters, most significant first, '.' for clear."""
    bits = sum(1 << (7 - i) for i, char in enumerate(theirs) if char != ".")
    return bool(bits == ours)


def hex_value(theirs: str, ours: Any) -> bool:
    """Telegraf prints elements it does not know (and TOS, ids) as 0x-hex; we give IANA types."""
    digits = theirs.removeprefix("0x")
    if isinstance(ours, int):
        return int(digits or "0", 16) == ours
    return bool(digits == ours)


def number_of(text: str) -> int:
    return int(text, 16) if text.startswith("0x") else int(text)


def protocol(theirs: str, ours: Any) -> bool:
    return PROTOCOLS[theirs] == ours


def start_ms(theirs: int, ours: Any) -> bool:
    from collectors.flow.plan import ms_text

    return ms_text(theirs) == ours


def ip_version(theirs: str, ours: Any) -> bool:
    return {"IPv4": 4, "IPv6": 6}[theirs] == ours


def pen_number(theirs: Any, ours: Any) -> bool:
    """An ntop field Telegraf read through its PEN mapping file; ours is kept raw by id."""
    if isinstance(theirs, int):
        return int(ours or "0", 16) == theirs
    return bool(bytes.fromhex(ours).split(b"\0", 1)[0].decode() == theirs)


def zero_is_none(theirs: int, ours: Any) -> bool:
    return ours == (theirs or None)


FLOW_FIELDS: dict[str, tuple[str, Compare]] = {
    "src": ("src_addr", same),
    "dst": ("dst_addr", same),
    "src_port": ("src_port", same),
    "dst_port": ("dst_port", same),
    "protocol": ("protocol", protocol),
    "in_bytes": ("bytes", same),
    "in_packets": ("packets", same),
    "in_total_bytes": ("bytes", same),
    "in_total_packets": ("packets", same),
    "tcp_flags": ("tcp_flags", flag_string),
    "in_snmp": ("input_if", same),
    "out_snmp": ("output_if", same),
    "flow_start_ms": ("start", start_ms),
    "flow_end_ms": ("end", start_ms),
    "flow_start": ("flowStartSeconds", same),
    "flow_end": ("flowEndSeconds", same),
    "first_switched": ("flowStartSysUpTime", same),
    "last_switched": ("flowEndSysUpTime", same),
    "src_tos": ("ipClassOfService", hex_value),
    "dst_tos": ("postIpClassOfService", hex_value),
    "bgp_src_as": ("bgpSourceAsNumber", same),
    "bgp_dst_as": ("bgpDestinationAsNumber", same),
    "src_mask": ("sourceIPv4PrefixLength", same),
    "dst_mask": ("destinationIPv4PrefixLength", same),
    "next_hop": ("ipNextHopIPv4Address", same),
    "engine_type": ("engineType", lambda t, o: number_of(t) == o),
    "engine_id": ("engineId", lambda t, o: number_of(t) == o),
    "sampling_interval": ("sampling_rate", zero_is_none),
    "vlan_src": ("vlanId", same),
    "flow_end_reason": ("flowEndReason", lambda t, o: {"idle timeout": 1, "end of flow": 3, "forced end": 4}[t] == o),
    "ip_version": ("ipVersion", ip_version),
    "in_src_mac": ("sourceMacAddress", same),
    "out_dst_mac": ("postDestinationMacAddress", same),
    "flows": ("deltaFlowCount", same),
    "direction": ("flowDirection", lambda t, o: {"ingress": 0, "egress": 1}[t] == o),
    "fwd_status": ("forwardingStatus", lambda t, o: t == "unknown" and o >> 6 == 0),
    "icmp_type": ("icmpTypeCodeIPv4", lambda t, o: t == o >> 8),
    "icmp_code": ("icmpTypeCodeIPv4", lambda t, o: t == o & 0xFF),
}

OPTIONS_FIELDS: dict[str, tuple[str, Compare]] = {
    # Telegraf reads v9 options scope type 1 (System) as IE 1; it is the scope's value.
    "in_bytes": ("scopeSystem", same),
    "in_snmp": ("ingressInterface", same),
    "out_snmp": ("egressInterface", same),
    "interface": ("interfaceName", same),
    "interface_desc": ("interfaceDescription", same),
    "app_id": ("applicationId", hex_value),
    "app_name": ("applicationName", same),
    "app_desc": ("applicationDescription", same),
    "observation_domain_id": ("observationDomainId", same),
    "exporting_pid": ("exportingProcessId", same),
    "exporter": ("exporterIPv4Address", same),
    "event_time": ("observationTimeSeconds", same),
    "system_init_ms": ("systemInitTimeMilliseconds", same),
    "total_flows_exported": ("exportedFlowRecordTotalCount", same),
    "in_total_packets": ("packetTotalCount", same),
    "dropped_packets_total": ("droppedPacketTotalCount", same),
    "ignored_packet_total": ("ignoredPacketTotalCount", same),
    "notsent_packet_total": ("notSentPacketTotalCount", same),
}

SFLOW_FIELDS: dict[str, tuple[str, Compare]] = {
    "agent_ip": ("exporter", same),
    "agent_subid": ("sflow_sub_agent", same),
    "sys_uptime": ("sflow_uptime_ms", same),
    "seq_number": ("sflow_sequence", same),
    "src": ("src_addr", same),
    "dst": ("dst_addr", same),
    "src_port": ("src_port", same),
    "dst_port": ("dst_port", same),
    "protocol": ("protocol", protocol),
    "in_snmp": ("input_if", same),
    "out_snmp": ("output_if", same),
    "sampling_interval": ("sampling_rate", same),
    "sampling_drops": ("sflow_drops", same),
    "in_total_packets": ("sflow_sample_pool", same),
    "l2_bytes": ("bytes", same),
    "in_src_mac": ("sourceMacAddress", same),
    "out_dst_mac": ("destinationMacAddress", same),
    "datalink_frame_type": ("ethernetType", lambda t, o: {"IPv4": 0x0800, "IPv6": 0x86DD}[t] == o),
    "l2_protocol": ("sflow_header_protocol", lambda t, o: t == "ETHERNET-ISO8023" and o == 1),
    "ip_version": ("ipVersion", ip_version),
    "ipv4_total_len": ("totalLengthIPv4", same),
    "ipv6_total_len": ("payloadLengthIPv6", same),
    "ipv4_id": ("fragmentIdentification", same),
    "ipv4_inet_header_len": ("ipv4IHL", same),
    "fragment_offset": ("fragmentOffset", same),
    "fragment_flags": ("fragmentFlags", flag_string),
    "src_tos": ("ipClassOfService", same),
    "ttl": ("ipTTL", same),
    "vlan_src": ("vlanId", same),
    "vlan_dst": ("postVlanId", same),
    "vlan_src_priority": ("dot1qPriority", same),
    "vlan_dst_priority": ("sflow_dst_priority", same),
    "reason": ("sflow_drop_reason", same),
    "out_queue": ("sflow_egress_queue", same),
    # counter samples
    "interface": ("if_index", same),
    "interface_type": ("if_type", same),
    "speed": ("if_speed", same),
    "status": ("if_status", lambda t, o: (t == "up") == bool(o & 2)),
    "promiscuous": ("promiscuous", same),
    "port_name": ("port_name", same),
    "in_bytes": ("in_octets", same),
    "in_unicast_packets_total": ("in_ucast_pkts", same),
    "in_mcast_packets_total": ("in_mcast_pkts", same),
    "in_broadcast_packets_total": ("in_bcast_pkts", same),
    "in_dropped_packets": ("in_discards", same),
    "in_errors": ("in_errors", same),
    "in_unknown_protocol": ("in_unknown_protos", same),
    "out_bytes": ("out_octets", same),
    "out_unicast_packets_total": ("out_ucast_pkts", same),
    "out_mcast_packets_total": ("out_mcast_pkts", same),
    "out_broadcast_packets_total": ("out_bcast_pkts", same),
    "out_dropped_packets": ("out_discards", same),
    "out_errors": ("out_errors", same),
    "errors_alignment": ("dot3_alignment_errors", same),
    "errors_fcs": ("dot3_fcs_errors", same),
    "collision_frames_single": ("dot3_single_collision_frames", same),
    "collision_frames_multi": ("dot3_multiple_collision_frames", same),
    "errors_sqetest": ("dot3_sqe_test_errors", same),
    "deferred": ("dot3_deferred_transmissions", same),
    "collisions_late": ("dot3_late_collisions", same),
    "collisions_excessive": ("dot3_excessive_collisions", same),
    "errors_internal_mac_tx": ("dot3_internal_mac_transmit_errors", same),
    "errors_carrier_sense": ("dot3_carrier_sense_errors", same),
    "errors_frame_too_long": ("dot3_frame_too_longs", same),
    "errors_internal_mac_rx": ("dot3_internal_mac_receive_errors", same),
    "errors_symbols": ("dot3_symbol_errors", same),
}

# Telegraf fields with no counterpart in our records, and why.
NOT_COMPARED = {
    "sys_uptime": "NetFlow v5 header field; we turn it into start/end instead of copying it",
    "seq_number": "NetFlow v5 header field; sequence numbers feed the loss counters (stats)",
    "fwd_reason": "Telegraf's second reading of forwardingStatus, compared through fwd_status",
    "ip_total_len": "Telegraf's own arithmetic (IP total length minus header); totalLengthIPv4 is compared",
    "padding": "paddingOctets (IE 210) carry nothing; RFC 7011 has collectors skip them, and we do",
    "type": "Telegraf's label for the presence of an Ethernet counter record, not a field of the sample",
}
V5_NOT_COMPARED = {"flows": "the v5 header's record count (Telegraf copies it to every record); not a record field"}
SFLOW_NOT_COMPARED = {
    "direction": "Telegraf's guess from source id vs interfaces; sFlow carries no direction field",
    "ip_version": "Telegraf writes IPv4 for counter and drop samples, which carry no packet",
}


def ntop_fields() -> dict[str, tuple[str, Compare]]:
    """Telegraf's names for ntop's PEN 35632 elements (its mapping file) -> our pen35632_<id>."""
    fields: dict[str, tuple[str, Compare]] = {}
    with (CORPUS / "mappings_ipfix_pen" / "ntop-35632.csv").open() as handle:
        for row in csv.reader(line for line in handle if not line.startswith("#")):
            if len(row) >= 2:
                element = row[0].strip().split(".")[1]
                fields[row[1].strip()] = (f"pen35632_{element}", pen_number)
    return fields


def field_map(kind: str, version: str, key: str) -> tuple[str, Compare] | str:
    """Our key and comparison for a Telegraf field, or the reason it is not compared."""
    pen = re.fullmatch(r"type_(\d+)_(rev_)?(\d+)", key)
    if pen:
        number, reverse, element = int(pen.group(1)), pen.group(2), int(pen.group(3))
        if number == 29305:  # RFC 5103 reverse elements get the IANA reverse name
            from collectors.flow.iana import element as iana_element

            return iana_element(element, 29305)[0], hex_value
        # Telegraf's "rev_" is bit 14 of the element id (vendors' reverse-direction flag); in
        # options records it leaves the enterprise bit (15) in the number.
        return f"pen{number}_{(element & 0x7FFF) + (0x4000 if reverse else 0)}", hex_value
    if version == "sFlowV5":
        if kind == "counters" and key == "in_snmp":
            return "if_index", same  # Telegraf repeats the counters' interface as in_snmp
        if key in SFLOW_NOT_COMPARED:
            return SFLOW_NOT_COMPARED[key]
        return SFLOW_FIELDS.get(key) or NOT_COMPARED.get(key) or f"unmapped Telegraf field {key!r}"
    if version == "NetFlowV5" and key in V5_NOT_COMPARED:
        return V5_NOT_COMPARED[key]
    table = OPTIONS_FIELDS if kind == "options" else FLOW_FIELDS
    if kind != "options" and key not in table:
        table = {**table, **ntop_fields()}
    return table.get(key) or NOT_COMPARED.get(key) or f"unmapped Telegraf field {key!r}"


def decode_case(case: str) -> tuple[list[dict[str, Any]], FlowDecoder]:
    decoder = FlowDecoder()
    records: list[dict[str, Any]] = []
    for datagram in sorted((CORPUS / case).glob("*.bin")):
        records += decoder.decode(datagram.read_bytes(), EXPORTER, NOW)
    return records, decoder


def mismatches(measurement: str, version: str, theirs: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    problems = []
    for key, value in theirs.items():
        mapped = field_map(ours["kind"], version, key)
        if isinstance(mapped, str):
            if mapped.startswith("unmapped"):
                problems.append(mapped)
            continue
        our_key, compare = mapped
        if our_key not in ours or not compare(value, ours[our_key]):
            problems.append(f"{key}={value!r} vs {our_key}={ours.get(our_key, '<absent>')!r}")
    return problems


# Telegraf output we knowingly differ from, per (case, field): the reason is the test's record.
KNOWN_DIFFERENCES = {
    ("sflow_issue_15918", "in_snmp"): "Telegraf reports the source id index as in_snmp for samples taken on egress;"
    " the sample's input word says otherwise (e.g. input 101, output 60, source 60), and we report the input word",
    ("sflow_issue_15918", "protocol"): "Telegraf reports the IPv6 next header (hop-by-hop, 0); we walk the extension"
    " headers to the transport protocol (ICMPv6, 58), which is what a top-protocols view needs",
}

CASES = (
    sorted(p.name for p in CORPUS.iterdir() if p.is_dir() and (p / "expected.out").exists()) if CORPUS.is_dir() else []
)


def known(case: str, problem: str) -> bool:
    return any(problem.startswith(f"{key}=") for (known_case, key) in KNOWN_DIFFERENCES if known_case == case)
