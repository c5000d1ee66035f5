"""An independent decoder agrees with ours: Wireshark's `tshark` reads a pcap of NetFlow v5, v9,
IPFIX and sFlow datagrams this test builds, and for every record the addresses, ports, protocol,
counters, interfaces and flags match what our decoder makes of the same bytes."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from collectors.flow.decoder import FlowDecoder
from tests.support.flowpackets import (
    flows,
    ipfix_flows,
    netflow_v5,
    sflow_datagram,
    sflow_flow_sample,
    v9_flows,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("tshark") is None, reason="needs the Debian package tshark"),
]

EXPORTER = ("192.0.2.1", 40000)
FLOW_FIELDS = ["cflow.srcaddr", "cflow.dstaddr", "cflow.srcport", "cflow.dstport", "cflow.protocol", "cflow.octets"]
FLOW_FIELDS += ["cflow.packets", "cflow.inputint", "cflow.outputint", "cflow.tcpflags"]
OUR_KEYS = ["src_addr", "dst_addr", "src_port", "dst_port", "protocol", "bytes", "packets", "input_if", "output_if"]
OUR_KEYS += ["tcp_flags"]
SFLOW_FIELDS = ["ip.src", "ip.dst", "ip.proto", "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport"]
SFLOW_FIELDS += ["sflow.flow_sample.sampling_rate", "sflow.flow_sample.input_interface"]
SFLOW_FIELDS += ["sflow.flow_sample.output_interface", "sflow_245.header.frame_length"]


def write_pcap(path: Path, datagrams: list[tuple[int, bytes]]) -> None:
    """A classic pcap of Ethernet / IPv4 / UDP frames from the exporter to the collector."""
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for number, (port, payload) in enumerate(datagrams):
        udp = struct.pack("!HHHH", EXPORTER[1], port, 8 + len(payload), 0) + payload
        ip = struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), number, 0, 64, 17, 0, b"\xc0\0\x02\x01", b"\xc0\0\x02\x02"
        )
        frame = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + udp
        out += struct.pack("<IIII", 1_700_000_000 + number, 0, len(frame), len(frame)) + frame
    path.write_bytes(out)


def tshark(path: Path, fields: list[str]) -> list[list[list[str]]]:
    """Per packet, per field, the values tshark decoded (one per occurrence)."""
    command = ["tshark", "-r", str(path), "-d", "udp.port==2055,cflow", "-d", "udp.port==4739,cflow"]
    command += ["-d", "udp.port==6343,sflow", "-T", "fields", "-E", "separator=|", "-E", "occurrence=a"]
    for field in fields:
        command += ["-e", field]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    return [[value.split(",") if value else [] for value in line.split("|")] for line in done.stdout.splitlines()]


def test_netflow_v5_v9_and_ipfix_agree_with_tshark(tmp_path: Path) -> None:
    datagrams = [
        (2055, netflow_v5(flows(30, seed=1), sequence=0)),
        (2055, v9_flows(flows(24, seed=2))),
        (4739, ipfix_flows(flows(20, seed=3))),
        (2055, v9_flows(flows(5, seed=4), sequence=1, with_template=False)),
        (4739, ipfix_flows(flows(7, seed=5), sequence=20, with_template=False)),
    ]
    path = tmp_path / "flows.pcap"
    write_pcap(path, datagrams)
    decoded = tshark(path, FLOW_FIELDS)
    decoder = FlowDecoder()
    compared = 0
    for (_, payload), theirs in zip(datagrams, decoded, strict=True):
        ours = decoder.decode(payload, EXPORTER, 1_700_000_000.0)
        assert len(ours) == len(theirs[0]) > 0
        for index, record in enumerate(ours):
            their_values = [column[index] for column in theirs]
            our_values = [str(record[key]) for key in OUR_KEYS[:-1]] + [f"0x{record['tcp_flags']:02x}"]
            assert our_values == their_values, f"record {index}: ours {our_values}, tshark {their_values}"
            compared += 1
    assert compared == 30 + 24 + 20 + 5 + 7


def test_sflow_samples_agree_with_tshark(tmp_path: Path) -> None:
    sent = flows(12, seed=7)
    datagrams = [
        (6343, sflow_datagram([sflow_flow_sample(flow, rate=256 + n, sequence=n + 1)], sequence=n + 1))
        for n, flow in enumerate(sent)
    ]
    path = tmp_path / "sflow.pcap"
    write_pcap(path, datagrams)
    decoded = tshark(path, SFLOW_FIELDS)
    decoder = FlowDecoder()
    for (_, payload), theirs in zip(datagrams, decoded, strict=True):
        (record,) = decoder.decode(payload, EXPORTER, 1_700_000_000.0)
        ip_src, ip_dst, ip_proto, tcp_src, tcp_dst, udp_src, udp_dst, rate, input_if, output_if, frame_length = theirs
        # the first IP / UDP layer is the datagram's own; the sampled packet's come after it
        ports = (tcp_src, tcp_dst) if record["protocol"] == 6 else (udp_src[1:], udp_dst[1:])
        assert [record["src_addr"], record["dst_addr"], str(record["protocol"])] == [ip_src[1], ip_dst[1], ip_proto[1]]
        assert [str(record["src_port"]), str(record["dst_port"])] == [ports[0][0], ports[1][0]]
        # tshark shows the output interface as the whole hex word (format bits included)
        their_interfaces = [int(rate[0]), int(input_if[0], 0), int(output_if[0], 0)]
        assert [record["sampling_rate"], record["input_if"], record["output_if"]] == their_interfaces
        assert str(record["bytes"]) == frame_length[0]
        assert record["bytes_scaled"] == record["bytes"] * record["sampling_rate"]
