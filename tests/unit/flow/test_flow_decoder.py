"""The flow decoder on datagrams built from the specs: what a user reads in the records and the
exporter counters."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from collectors.flow.decoder import FlowDecoder, encode_records
from collectors.flow.hold import HoldQueue
from collectors.flow.plan import ms_text
from collectors.flow.templates import TemplateCache
from tests.support.flowpackets import (
    Flow,
    flows,
    ipfix_flows,
    ipfix_message,
    ipfix_options_template,
    netflow_v5,
    set_of,
    sflow_counter_sample,
    sflow_datagram,
    sflow_flow_sample,
    template_record,
    v9_flows,
    v9_message,
    v9_options_template,
)

A = ("192.0.2.1", 50000)
B = ("192.0.2.2", 50000)
NOW = 1_700_000_100.0
BRIEF_KEYS = [
    "service", "kind", "received_at", "source", "exporter", "version", "src_addr", "dst_addr", "src_port", "dst_port",
    "protocol", "bytes", "packets", "start", "end", "input_if", "output_if", "tcp_flags", "sampling_rate",
]  # fmt: skip


def assert_flow(record: dict[str, object], flow: Flow) -> None:
    assert record["src_addr"] == flow.src
    assert record["dst_addr"] == flow.dst
    assert record["src_port"] == flow.src_port
    assert record["dst_port"] == flow.dst_port
    assert record["protocol"] == flow.protocol
    assert record["bytes"] == flow.bytes
    assert record["packets"] == flow.packets
    assert record["input_if"] == flow.input_if
    assert record["output_if"] == flow.output_if
    assert record["tcp_flags"] == flow.tcp_flags
    assert record["start"] == ms_text(flow.start_ms)
    assert record["end"] == ms_text(flow.end_ms)


def test_netflow_v5_records_carry_the_brief_fields_and_header_sampling() -> None:
    sent = flows(5)
    decoder = FlowDecoder()
    records = decoder.decode(netflow_v5(sent, sampling=(1 << 14) | 100), A, NOW)
    assert len(records) == 5
    for record, flow in zip(records, sent, strict=True):
        assert list(record)[: len(BRIEF_KEYS)] == BRIEF_KEYS
        assert record["service"] == "flow" and record["version"] == 5
        assert record["source"] == "192.0.2.1:50000" and record["exporter"] == "192.0.2.1"
        assert record["received_at"] == ms_text(int(NOW * 1000))
        assert_flow(record, flow)
        assert record["sampling_rate"] == 100
        assert record["bytes_scaled"] == flow.bytes * 100
        assert record["packets_scaled"] == flow.packets * 100
    assert decoder.stats.exporters["192.0.2.1"]["records"] == 5


def test_netflow_v9_and_ipfix_decode_their_templates() -> None:
    sent = flows(20)
    decoder = FlowDecoder()
    for datagram, version in ((v9_flows(sent), 9), (ipfix_flows(sent), 10)):
        records = decoder.decode(datagram, A, NOW)
        assert [r["version"] for r in records] == [version] * 20
        for record, flow in zip(records, sent, strict=True):
            assert_flow(record, flow)
            assert record["sampling_rate"] is None and record["bytes_scaled"] == flow.bytes


def test_templates_are_scoped_per_exporter_port_and_domain() -> None:
    """Two exporters use template 256 for different layouts; neither decodes the other's data."""
    decoder = FlowDecoder()
    flow = flows(1)[0]
    decoder.decode(ipfix_flows([flow]), A, NOW)
    other_layout = template_record(256, ((8, 4), (12, 4)))
    decoder.decode(ipfix_message([set_of(2, other_layout)]), B, NOW)
    records = decoder.decode(ipfix_flows([flow], with_template=False), A, NOW)
    assert_flow(records[0], flow)
    records = decoder.decode(ipfix_message([set_of(256, bytes(range(8)))]), B, NOW)
    assert (records[0]["src_addr"], records[0]["dst_addr"], records[0]["bytes"]) == ("0.1.2.3", "4.5.6.7", None)
    # the same exporter's other observation domain has not sent template 256
    assert decoder.decode(ipfix_flows([flow], with_template=False, domain=2), A, NOW) == []
    # nor has the same address from another source port (another transport session)
    assert decoder.decode(ipfix_flows([flow], with_template=False), ("192.0.2.1", 50001), NOW) == []


def test_data_before_its_template_is_held_then_decoded() -> None:
    decoder = FlowDecoder()
    early = flows(3)
    assert decoder.decode(ipfix_flows(early, with_template=False, sequence=0), A, NOW) == []
    assert decoder.decode(v9_flows(early, with_template=False), A, NOW) == []
    stats = decoder.stats.exporters["192.0.2.1"]
    assert stats["held_sets"] == 2
    late = flows(2, seed=9)
    records = decoder.decode(ipfix_flows(late, sequence=3), A, NOW + 5)
    assert len(records) == 5
    for record, flow in zip(records, early + late, strict=True):
        assert_flow(record, flow)
    assert records[0]["received_at"] == ms_text(int(NOW * 1000))  # when the held data came
    records = decoder.decode(v9_flows([], sequence=1), A, NOW + 5)
    assert len(records) == 3
    assert stats["released_records"] == 6 and stats["expired_sets"] == 0
    assert decoder.hold.sets == 0


def test_held_data_expires_by_age_and_by_count() -> None:
    decoder = FlowDecoder(hold=HoldQueue(max_sets=3, max_age_s=30))
    for template_id in range(300, 305):
        decoder.decode(ipfix_flows(flows(1), template_id=template_id, with_template=False), A, NOW)
    stats = decoder.stats.exporters["192.0.2.1"]
    assert (stats["held_sets"], stats["expired_sets"], decoder.hold.sets) == (5, 2, 3)
    decoder.expire(NOW + 31)
    assert (stats["expired_sets"], decoder.hold.sets) == (5, 0)
    # the template now comes too late: nothing is decoded twice or from nowhere
    assert decoder.decode(ipfix_flows([], template_id=304), A, NOW + 32) == []


def test_template_withdrawal_stops_decoding_with_the_old_template() -> None:
    decoder = FlowDecoder()
    decoder.decode(ipfix_flows(flows(1)), A, NOW)
    withdraw = ipfix_message([set_of(2, struct.pack("!HH", 256, 0))])
    decoder.decode(withdraw, A, NOW)
    assert decoder.templates.get(("192.0.2.1", 50000, 10, 1), 256) is None
    assert decoder.decode(ipfix_flows(flows(1), with_template=False), A, NOW) == []
    stats = decoder.stats.exporters["192.0.2.1"]
    assert stats["templates_withdrawn"] == 1 and stats["held_sets"] == 1
    # "withdraw all data templates" (template id 2)
    decoder.decode(ipfix_flows(flows(1), template_id=400), A, NOW)
    decoder.decode(ipfix_message([set_of(2, struct.pack("!HH", 2, 0))]), A, NOW)
    assert decoder.templates.count == 0


def test_sampling_rate_from_an_options_sampler_table() -> None:
    decoder = FlowDecoder()
    sampler_table = ipfix_options_template(300, [(48, 1)], [(50, 4)])  # samplerId -> samplerRandomInterval
    table_data = struct.pack("!BI", 5, 1000) + struct.pack("!BI", 6, 64)
    fields = (*((8, 4), (12, 4), (1, 8), (2, 8)), (48, 1))
    data = b"".join(
        struct.pack("!4s4sQQB", bytes([10, 0, 0, i]), bytes([10, 0, 1, i]), 100, 2, s)
        for i, s in ((1, 5), (2, 6), (3, 9))
    )
    message = ipfix_message(
        [set_of(3, sampler_table), set_of(300, table_data), set_of(2, template_record(256, fields)), set_of(256, data)]
    )
    records = decoder.decode(message, A, NOW)
    flows_only = [r for r in records if r["kind"] == "flow"]
    assert [r["sampling_rate"] for r in flows_only] == [1000, 64, None]
    assert [r["bytes_scaled"] for r in flows_only] == [100_000, 6_400, 100]
    assert [r["packets_scaled"] for r in flows_only] == [2000, 128, 2]
    options = [r for r in records if r["kind"] == "options"]
    assert [(r["samplerId"], r["samplerRandomInterval"]) for r in options] == [(5, 1000), (6, 64)]


def test_v9_options_interval_becomes_the_scope_default_and_a_record_field_wins() -> None:
    decoder = FlowDecoder()
    options = v9_options_template(260, [(1, 4)], [(34, 4), (35, 1)])  # system scope: samplingInterval
    options_data = struct.pack("!IIB", 0, 50, 2) + b"\0\0\0"
    v9_template = template_record(256, ((8, 4), (12, 4), (1, 4), (2, 4)))
    data = struct.pack("!4s4sII", b"\x0a\0\0\x01", b"\x0a\0\0\x02", 10, 1)
    message = v9_message([set_of(1, options), set_of(260, options_data), set_of(0, v9_template), set_of(256, data)])
    records = decoder.decode(message, A, NOW)
    assert [r["sampling_rate"] for r in records if r["kind"] == "flow"] == [50]
    in_record = template_record(257, ((8, 4), (12, 4), (1, 4), (2, 4), (34, 4)))
    data = struct.pack("!4s4sIII", b"\x0a\0\0\x01", b"\x0a\0\0\x02", 10, 1, 7)
    records = decoder.decode(v9_message([set_of(0, in_record), set_of(257, data)], sequence=1), A, NOW)
    assert records[0]["sampling_rate"] == 7 and records[0]["bytes_scaled"] == 70


def test_variable_length_enterprise_and_padding_fields() -> None:
    decoder = FlowDecoder()
    fields = [(8, 4, 0), (96, 65535, 0), (210, 3, 0), (1234, 2, 9999), (40, 4, 29305), (82, 65535, 0)]
    record_a = b"\x0a\0\0\x01" + b"\x05https" + b"\0\0\0" + b"\xbe\xef" + struct.pack("!I", 77) + b"\x00"
    long_name = b"x" * 300
    record_b = (
        b"\x0a\0\0\x02"
        + b"\xff"
        + struct.pack("!H", 300)
        + long_name
        + b"\0\0\0"
        + b"\x00\x01"
        + struct.pack("!I", 1)
        + b"\x03ge0"
    )
    message = ipfix_message([set_of(2, template_record(256, fields)), set_of(256, record_a + record_b, pad_to=4)])
    records = decoder.decode(message, A, NOW)
    assert len(records) == 2
    assert records[0]["applicationName"] == "https" and records[1]["applicationName"] == "x" * 300
    assert records[0]["pen9999_1234"] == "beef"
    assert records[0]["reverseExportedOctetTotalCount"] == 77
    assert records[0]["interfaceName"] == "" and records[1]["interfaceName"] == "ge0"
    assert not any(key.startswith("paddingOctets") for key in records[0])
    assert decoder.stats.exporters["192.0.2.1"]["decode_errors"] == 0


def test_sequence_numbers_reveal_lost_datagrams_and_records() -> None:
    decoder = FlowDecoder()
    for sequence in (10, 11, 14):  # v9 counts datagrams: 12 and 13 lost
        decoder.decode(v9_flows(flows(2), sequence=sequence), A, NOW)
    stats = decoder.stats.exporters["192.0.2.1"]
    assert (stats["sequence_gaps"], stats["lost_datagrams"]) == (1, 2)
    decoder.decode(ipfix_flows(flows(4), sequence=100), B, NOW)  # IPFIX counts records
    decoder.decode(ipfix_flows(flows(4), sequence=104), B, NOW)
    decoder.decode(ipfix_flows(flows(4), sequence=111), B, NOW)
    other = decoder.stats.exporters["192.0.2.2"]
    assert (other["sequence_gaps"], other["lost_records"]) == (1, 3)
    decoder.decode(netflow_v5(flows(3), sequence=0), ("192.0.2.3", 9), NOW)  # v5 counts flows
    decoder.decode(netflow_v5(flows(3), sequence=5), ("192.0.2.3", 9), NOW)
    assert decoder.stats.exporters["192.0.2.3"]["lost_records"] == 2
    decoder.decode(netflow_v5(flows(3), sequence=1), ("192.0.2.3", 9), NOW)  # exporter restarted
    assert decoder.stats.exporters["192.0.2.3"]["sequence_resets"] == 1
    sample = sflow_flow_sample(flows(1)[0])
    for sequence in (0xFFFFFFFF, 0, 3):  # wraps cleanly, then loses 1 and 2
        decoder.decode(sflow_datagram([sample], sequence=sequence), ("192.0.2.4", 6343), NOW)
    assert decoder.stats.exporters["192.0.2.4"]["lost_datagrams"] == 2


def test_templates_survive_a_restart_through_the_saved_file(tmp_path: Path) -> None:
    path = tmp_path / "state" / "flow-templates.json"
    before = FlowDecoder()
    before.decode(ipfix_flows(flows(1)), A, NOW)
    before.decode(v9_flows(flows(1)), A, NOW)
    sampler = ipfix_options_template(300, [(48, 1)], [(50, 4)])
    before.decode(ipfix_message([set_of(3, sampler), set_of(300, struct.pack("!BI", 1, 128))], domain=1), A, NOW)
    assert before.templates.changed
    before.templates.save(path)
    assert not before.templates.changed
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left behind

    after = FlowDecoder(templates=TemplateCache())
    loaded, problem = after.templates.load(path)
    assert (loaded, problem) == (3, None)
    sent = flows(4)
    for datagram in (ipfix_flows(sent, with_template=False), v9_flows(sent, with_template=False)):
        records = after.decode(datagram, A, NOW + 600)
        assert len(records) == 4
        for record, flow in zip(records, sent, strict=True):
            assert_flow(record, flow)
    assert after.templates.samplers[("192.0.2.1", 50000, 10, 1)] == {1: 128}


def test_a_damaged_template_file_is_reported_and_ignored(tmp_path: Path) -> None:
    path = tmp_path / "flow-templates.json"
    path.write_bytes(b'{"format": 1, "templates": [{"scope": 3}]')
    cache = TemplateCache()
    loaded, problem = cache.load(path)
    assert loaded == 0 and problem is not None and str(path) in problem and "relearned" in problem
    assert cache.load(tmp_path / "missing.json") == (0, None)


def test_sflow_flow_and_counter_samples() -> None:
    decoder = FlowDecoder()
    flow = Flow(src="10.1.2.3", dst="10.3.2.1", src_port=5555, dst_port=53, protocol=17, tcp_flags=0)
    datagram = sflow_datagram([sflow_flow_sample(flow, rate=400, frame_length=1000), sflow_counter_sample(if_index=7)])
    records = decoder.decode(datagram, ("192.0.2.9", 6343), NOW)
    sample, counters = records
    assert sample["version"] == "sflow5" and sample["kind"] == "flow" and sample["exporter"] == "192.0.2.50"
    assert (sample["src_addr"], sample["dst_addr"], sample["src_port"], sample["dst_port"]) == (
        "10.1.2.3",
        "10.3.2.1",
        5555,
        53,
    )
    assert (sample["protocol"], sample["bytes"], sample["packets"], sample["sampling_rate"]) == (17, 1000, 1, 400)
    assert (sample["bytes_scaled"], sample["packets_scaled"]) == (400_000, 400)
    assert (sample["input_if"], sample["output_if"], sample["vlanId"], sample["dot1qVlanId"]) == (3, 7, 10, 10)
    assert counters["kind"] == "counters" and counters["if_index"] == 7 and counters["in_octets"] == 123456789
    assert counters["out_octets"] == 987654321 and counters["if_speed"] == 1_000_000_000


def test_a_listener_refuses_versions_it_does_not_take() -> None:
    decoder = FlowDecoder(accept={10})
    assert decoder.decode(netflow_v5(flows(2)), A, NOW) == []
    stats = decoder.stats.exporters["192.0.2.1"]
    assert stats["refused_versions"] == 1 and "IPFIX" in stats["last_error"]
    assert len(decoder.decode(ipfix_flows(flows(2)), A, NOW)) == 2


def test_damage_keeps_what_decoded_before_it_and_says_why() -> None:
    decoder = FlowDecoder()
    datagram = ipfix_flows(flows(3))
    cut = datagram[:-10]
    cut = cut[:2] + struct.pack("!H", len(cut)) + cut[4:]
    records = decoder.decode(cut, A, NOW)
    assert len(records) == 2
    stats = decoder.stats.exporters["192.0.2.1"]
    assert stats["decode_errors"] == 1 and "set 256" in stats["last_error"] and "192.0.2.1:50000" in stats["last_error"]


def test_records_encode_as_ndjson_lines() -> None:
    records = FlowDecoder().decode(ipfix_flows(flows(3)), A, NOW)
    lines = encode_records(records).splitlines()
    assert [json.loads(line) for line in lines] == records
    assert encode_records([]) == b""


def test_ipfix_data_with_reduced_size_and_absent_keys() -> None:
    """A template without ports or counters still gives every brief key, as null."""
    decoder = FlowDecoder()
    message = ipfix_message(
        [set_of(2, template_record(256, ((27, 16), (28, 16)))), set_of(256, bytes(16) + b"\x20\x01" + bytes(14))]
    )
    (record,) = decoder.decode(message, A, NOW)
    assert list(record)[: len(BRIEF_KEYS)] == BRIEF_KEYS
    assert (record["src_addr"], record["dst_addr"], record["bytes"], record["start"]) == ("::", "2001::", None, None)


def test_decoder_for_applies_the_flow_settings_limits() -> None:
    from collectors.flow.decoder import LISTENER_VERSIONS, decoder_for
    from collectors.flow.settings import FlowSettings

    decoder = decoder_for(
        FlowSettings(max_templates=16, max_templates_per_exporter=4, hold_sets=0), LISTENER_VERSIONS["ipfix"]
    )
    records = [template_record(256 + i, ((8, 4),)) for i in range(6)]
    decoder.decode(ipfix_message([set_of(2, b"".join(records))]), A, NOW)
    assert decoder.templates.count == 4
    decoder.decode(ipfix_flows(flows(1), template_id=999, with_template=False), A, NOW)  # nothing may be held
    stats = decoder.stats.exporters["192.0.2.1"]
    assert (stats["templates_refused"], stats["expired_sets"], decoder.hold.sets) == (2, 1, 0)
    assert decoder.decode(sflow_datagram([sflow_counter_sample()]), A, NOW) == []
    assert FlowSettings(max_templates=16, max_templates_per_exporter=17).cross_checks()


def test_a_received_batch_becomes_ndjson_and_ipv6_sources_are_bracketed(tmp_path: Path) -> None:
    decoder = FlowDecoder()
    ndjson = decoder.decode_batch(
        [ipfix_flows(flows(2)), netflow_v5(flows(3))], ["[2001:db8::7]:4739", "192.0.2.1:2055"], NOW
    )
    records = [json.loads(line) for line in ndjson.splitlines()]
    assert [r["source"] for r in records] == ["[2001:db8::7]:4739"] * 2 + ["192.0.2.1:2055"] * 3
    assert records[0]["exporter"] == "2001:db8::7"
    described = decoder.templates.describe()
    assert [(t["exporter"], t["port"], t["template_id"], t["kind"]) for t in described] == [
        ("2001:db8::7", 4739, 256, "data")
    ]
    assert described[0]["fields"][:2] == ["sourceIPv4Address", "destinationIPv4Address"]
    path = tmp_path / "t.json"
    assert decoder.templates.save_if_changed(path) and not decoder.templates.save_if_changed(path)


def test_held_data_uses_the_sampler_table_that_came_with_its_template() -> None:
    decoder = FlowDecoder()
    fields = ((8, 4), (12, 4), (1, 8), (2, 8), (48, 1))
    data = struct.pack("!4s4sQQB", b"\x0a\0\0\x01", b"\x0a\0\0\x02", 100, 2, 5)
    assert decoder.decode(ipfix_message([set_of(256, data)]), A, NOW) == []
    sampler_table = ipfix_options_template(300, [(48, 1)], [(50, 4)])
    message = ipfix_message(
        [set_of(3, sampler_table), set_of(300, struct.pack("!BI", 5, 10)), set_of(2, template_record(256, fields))],
        sequence=1,
    )
    flow = [r for r in decoder.decode(message, A, NOW) if r["kind"] == "flow"]
    assert [(r["sampling_rate"], r["bytes_scaled"]) for r in flow] == [(10, 1000)]


def test_sflow_expanded_samples_ipv6_headers_and_router_gateway_data() -> None:
    import socket

    src6, dst6 = socket.inet_pton(socket.AF_INET6, "2001:db8::1"), socket.inet_pton(socket.AF_INET6, "2001:db8::2")
    hop_by_hop = bytes([6, 0]) + bytes(6)  # next header TCP, 8 bytes long
    tcp = struct.pack("!HHIIBBHHH", 443, 50000, 0, 0, 0x50, 0x12, 0, 0, 0)
    ipv6 = struct.pack("!IHBB16s16s", 0x60000000, len(hop_by_hop) + len(tcp), 0, 64, src6, dst6) + hop_by_hop + tcp
    frame = b"\x02" * 6 + b"\x04" * 6 + b"\x86\xdd" + ipv6
    frame += b"\0" * ((-len(frame)) % 4)
    raw = struct.pack("!IIII", 1, 1514, 4, len(frame)) + frame
    router = struct.pack("!I4sII", 1, b"\x0a\0\0\xfe", 24, 16)
    gateway = struct.pack("!I4sIIII", 1, b"\x0a\0\0\xfe", 65000, 64500, 64501, 1)
    gateway += struct.pack("!III", 2, 2, 64510) + struct.pack("!I", 64520) + struct.pack("!II", 0, 100)
    records = b"".join(
        struct.pack("!II", tag, len(body)) + body for tag, body in ((1, raw), (1002, router), (1003, gateway))
    )
    expanded = struct.pack("!IIIIIIIIIII", 9, 0, 17, 2048, 99, 0, 0, 17, 0, 21, 3) + records
    generic = struct.pack("!IIQIIQIIIIIIQIIIIII", 17, 6, 10**10, 1, 3, 5, 1, 1, 1, 0, 0, 0, 6, 1, 1, 1, 0, 0, 0)
    expanded_counters = struct.pack("!IIII", 4, 0, 17, 1) + struct.pack("!II", 1, len(generic)) + generic
    datagram = sflow_datagram(
        [
            struct.pack("!II", 3, len(expanded)) + expanded,
            struct.pack("!II", 4, len(expanded_counters)) + expanded_counters,
        ]
    )
    sample, counters = FlowDecoder().decode(datagram, A, NOW)
    assert (sample["src_addr"], sample["dst_addr"], sample["protocol"]) == ("2001:db8::1", "2001:db8::2", 6)
    assert (sample["src_port"], sample["dst_port"], sample["tcp_flags"]) == (443, 50000, 0x12)
    assert (sample["input_if"], sample["output_if"], sample["sampling_rate"], sample["bytes"]) == (17, 21, 2048, 1514)
    assert (
        sample["ipNextHopIPv4Address"],
        sample["sourceIPv4PrefixLength"],
        sample["destinationIPv4PrefixLength"],
    ) == (
        "10.0.0.254",
        24,
        16,
    )
    assert (sample["bgpSourceAsNumber"], sample["bgpDestinationAsNumber"]) == (64500, 64520)
    assert (counters["kind"], counters["if_index"], counters["if_speed"], counters["sflow_sequence"]) == (
        "counters",
        17,
        10**10,
        4,
    )


def test_psamp_packet_interval_and_space_give_the_rate() -> None:
    """RFC 5477: 1 packet taken, 99 skipped is 1 in 100, in options data or in the record."""
    decoder = FlowDecoder()
    selector = ipfix_options_template(300, [(302, 4)], [(305, 4), (306, 4)])
    fields = ((8, 4), (12, 4), (1, 8), (2, 8), (302, 4))
    data = struct.pack("!4s4sQQI", b"\x0a\0\0\x01", b"\x0a\0\0\x02", 100, 1, 7)
    table = set_of(300, struct.pack("!III", 7, 1, 99))
    message = ipfix_message([set_of(3, selector), table, set_of(2, template_record(256, fields)), set_of(256, data)])
    flow = [r for r in decoder.decode(message, A, NOW) if r["kind"] == "flow"]
    assert [(r["sampling_rate"], r["bytes_scaled"]) for r in flow] == [(100, 10_000)]
    in_record = template_record(257, ((8, 4), (12, 4), (1, 8), (305, 4), (306, 4)))
    data = struct.pack("!4s4sQII", b"\x0a\0\0\x01", b"\x0a\0\0\x02", 100, 2, 8)
    (record,) = decoder.decode(ipfix_message([set_of(2, in_record), set_of(257, data)], sequence=1), A, NOW)
    assert record["sampling_rate"] == 5


def test_workers_share_what_they_learn_so_data_reaching_another_worker_decodes() -> None:
    """UDP workers taking turns at one socket: the template reaches one, the data another."""
    first, second = FlowDecoder(), FlowDecoder()
    sent = flows(3)
    assert second.decode(ipfix_flows(sent, with_template=False), A, NOW) == []  # held in the second
    sampler = ipfix_options_template(300, [(48, 1)], [(50, 4)])
    first.decode(ipfix_message([set_of(3, sampler), set_of(300, struct.pack("!BI", 1, 64))]), A, NOW)
    first.decode(ipfix_flows([], sequence=0), A, NOW)
    update = first.templates.take_fresh()
    assert update is not None and first.templates.take_fresh() is None  # taken once
    released = second.adopt(update, NOW + 1)
    assert len(released) == 3
    for record, flow in zip(released, sent, strict=True):
        assert_flow(record, flow)
    stats = second.stats.exporters["192.0.2.1"]
    assert (stats["released_records"], stats["records"]) == (3, 3)
    assert second.templates.samplers[("192.0.2.1", 50000, 10, 1)] == {1: 64}
    assert second.templates.take_fresh() is None  # adopted templates are not sent back
    assert second.adopt(b"not a dump", NOW) == [] and second.stats.exporters["other"]["decode_errors"] == 1


def test_a_time_element_declared_with_an_odd_length_is_kept_as_hex_not_a_crash() -> None:
    """flowStartMilliseconds (152) declared variable-length decodes to hex text: it cannot be a
    start time, and must not be used as one (a fuzzed template found this)."""
    import struct
    import time

    from collectors.flow.decoder import LISTENER_VERSIONS, decoder_for
    from collectors.flow.settings import FlowSettings

    decoder = decoder_for(FlowSettings(), LISTENER_VERSIONS["netflow"])
    template = struct.pack("!HHHH", 256, 2, 8, 4) + struct.pack("!HH", 152, 65535)
    template_set = struct.pack("!HH", 2, 4 + len(template)) + template
    data = struct.pack("!I", 1) + bytes([3]) + b"abc" + b"\0\0\0\0"
    data_set = struct.pack("!HH", 256, 4 + len(data)) + data
    body = template_set + data_set
    datagram = struct.pack("!HHIII", 10, 16 + len(body), int(time.time()), 1, 0) + body
    [record] = decoder.decode(datagram, ("127.0.0.1", 4739), time.time())
    assert record["start"] is None and record["flowStartMilliseconds"] == "616263"
    assert record["src_addr"] == "0.0.0.1"
