"""Property tests: no datagram makes a flow decoder raise or hang, rejects are counted, and the
template cache and the hold stay within their limits whatever exporters send."""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors.flow.decoder import FlowDecoder, encode_records
from collectors.flow.hold import HoldQueue
from collectors.flow.templates import TemplateCache
from tests.support.flowpackets import (
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

EXPORTER = ("198.51.100.1", 2055)
NOW = 1_700_000_000.0

VALID = [
    netflow_v5(flows(4), sampling=(1 << 14) | 10),
    v9_flows(flows(4)),
    ipfix_flows(flows(4)),
    sflow_datagram([sflow_flow_sample(flows(1)[0]), sflow_counter_sample()]),
    ipfix_message(
        [
            set_of(3, ipfix_options_template(300, [(48, 1)], [(50, 4)])),
            set_of(300, struct.pack("!BI", 1, 99)),
            set_of(2, template_record(257, [(8, 4, 0), (96, 65535, 0), (77, 2, 9), (210, 2, 0), (48, 1, 0)])),
            set_of(257, b"\x0a\0\0\x01\x03abc\0\x01\0\0\x01" * 3, pad_to=4),
        ]
    ),
    v9_message([set_of(1, v9_options_template(260, [(1, 4)], [(34, 4)])), set_of(260, struct.pack("!II", 0, 8))]),
]
VERSION_PREFIXES = [
    b"\x00\x05",
    b"\x00\x09",
    b"\x00\x0a",
    b"\x00\x00\x00\x05\x00\x00\x00\x01",
    b"\x00\x00\x00\x05\x00\x00\x00\x02",
]


def check(decoder: FlowDecoder, datagram: bytes) -> None:
    records = decoder.decode(datagram, EXPORTER, NOW)
    encode_records(records)  # whatever was decoded must encode
    for record in records:
        assert record["service"] == "flow"
        assert record["kind"] in ("flow", "options", "counters", "drop")


@settings(max_examples=1500, deadline=None)
@given(prefix=st.sampled_from([b"", *VERSION_PREFIXES]), data=st.binary(max_size=400))
def test_random_datagrams_never_raise(prefix: bytes, data: bytes) -> None:
    check(FlowDecoder(), prefix + data)


@settings(max_examples=600, deadline=None)
@given(index=st.integers(0, len(VALID) - 1), cut=st.integers(0, 2000))
def test_truncated_datagrams_never_raise_and_are_counted(index: int, cut: int) -> None:
    datagram = VALID[index]
    cut %= len(datagram)
    decoder = FlowDecoder()
    check(decoder, datagram[:cut])
    stats = decoder.stats.exporters[EXPORTER[0]]
    assert stats["datagrams"] == 1
    # a datagram cut inside its header or a record is a counted error, never silence
    if cut < 16:
        assert stats["decode_errors"] + stats["refused_versions"] == 1


@settings(max_examples=800, deadline=None)
@given(
    index=st.integers(0, len(VALID) - 1),
    flips=st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), min_size=1, max_size=8),
)
def test_mutated_datagrams_never_raise(index: int, flips: list[tuple[int, int]]) -> None:
    datagram = bytearray(VALID[index])
    for position, value in flips:
        datagram[position % len(datagram)] = value
    decoder = FlowDecoder()
    check(decoder, bytes(datagram))
    check(decoder, VALID[index])  # and the decoder still works after it


field_spec = st.tuples(
    st.one_of(st.integers(0, 0x7FFF), st.sampled_from([1, 2, 4, 8, 12, 27, 34, 48, 82, 96, 152, 154, 210, 291, 311])),
    st.one_of(st.integers(0, 65535), st.sampled_from([0, 1, 2, 3, 4, 5, 8, 16, 255, 65535])),
    st.one_of(st.just(0), st.integers(1, 2**32 - 1), st.just(29305)),
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    version=st.sampled_from([9, 10]),
    fields=st.lists(field_spec, min_size=0, max_size=40),
    data=st.binary(max_size=600),
    template_id=st.integers(0, 65535),
    options=st.booleans(),
)
def test_absurd_templates_never_raise(
    version: int, fields: list[tuple[int, int, int]], data: bytes, template_id: int, options: bool
) -> None:
    decoder = FlowDecoder()
    if version == 10:
        if options and fields:
            body = struct.pack("!HHH", template_id, len(fields), 1) + template_record(0, fields)[4:]
            template = set_of(3, body)
        else:
            template = set_of(2, template_record(template_id, fields))
        message = ipfix_message([template, set_of(template_id if template_id >= 256 else 256, data)])
    else:
        v9_fields = [(ie, length) for ie, length, _ in fields]
        template = (
            set_of(1, v9_options_template(template_id, v9_fields[:1], v9_fields[1:]))
            if options
            else set_of(0, template_record(template_id, v9_fields))
        )
        message = v9_message([template, set_of(max(template_id, 256), data)])
    check(decoder, message)
    check(decoder, message)  # a refresh of the same template, then its data again


@settings(max_examples=30, deadline=None)
@given(domains=st.integers(1, 50), ids=st.integers(1, 400))
def test_template_floods_stay_within_the_cache_and_hold_limits(domains: int, ids: int) -> None:
    cache = TemplateCache(max_templates=500, max_per_exporter=100)
    hold = HoldQueue(max_sets=50, max_bytes=20_000, max_age_s=60)
    decoder = FlowDecoder(templates=cache, hold=hold)
    for domain in range(domains):
        records = [template_record(256 + i, ((8, 4), (12, 4 + i % 3))) for i in range(ids)]
        chunks = [records[i : i + 60] for i in range(0, len(records), 60)]
        for chunk in chunks:
            decoder.decode(ipfix_message([set_of(2, b"".join(chunk))], domain=domain), EXPORTER, NOW)
        # data for templates never sent: held, within limits
        decoder.decode(ipfix_message([set_of(5000 + domain, b"x" * 700)], domain=domain), EXPORTER, NOW)
        assert cache.count <= 500
        assert cache.templates_of(EXPORTER[0]) == cache.count <= 100
        assert all(templates for templates in cache.scopes().values())  # no empty scopes kept
        assert hold.sets <= 50 and hold.bytes <= 20_000
    stats = decoder.stats.exporters[EXPORTER[0]]
    assert stats["templates_learned"] == cache.count
    assert stats["templates_learned"] + stats["templates_refused"] == domains * ids
    assert stats["held_sets"] == domains
    assert stats["expired_sets"] == domains - hold.sets


template_file = st.one_of(
    st.binary(max_size=300),
    st.builds(
        lambda items: __import__("json").dumps({"format": 1, "templates": items}).encode(),
        st.lists(st.dictionaries(st.sampled_from(["scope", "id", "options", "scope_fields", "fields", "learned_at"]),
                                 st.one_of(st.integers(), st.text(max_size=3), st.lists(st.integers(), max_size=5))),
                 max_size=3),
    ),
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(data=template_file)
def test_damaged_template_files_are_reported_never_raised(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "flow-templates.json"
        path.write_bytes(data)
        loaded, problem = TemplateCache().load(path)
    assert loaded == 0 or problem is None
    if problem is not None:
        assert str(path) in problem


def _tagged(tag: int, body: bytes) -> bytes:
    return struct.pack("!II", tag, len(body)) + body


sflow_record = st.builds(
    _tagged,
    st.sampled_from([1, 2, 3, 4, 1001, 1002, 1003, 1005, 1036, 2000]),
    st.one_of(st.binary(max_size=120), st.sampled_from([struct.pack("!IIII", 1, 64, 0, 40) + bytes(40)])),
)
sflow_sample = st.builds(
    lambda tag, head, records, count: _tagged(tag, head + struct.pack("!I", count) + b"".join(records)),
    st.sampled_from([1, 2, 3, 4, 5, 7]),
    st.binary(min_size=0, max_size=44),
    st.lists(sflow_record, max_size=4),
    st.integers(0, 6),
)


@settings(max_examples=500, deadline=None)
@given(samples=st.lists(sflow_sample, max_size=5), count=st.integers(0, 7), address_type=st.sampled_from([1, 2, 3]))
def test_structured_sflow_never_raises(samples: list[bytes], count: int, address_type: int) -> None:
    agent = b"\xc0\0\x02\x01" if address_type != 2 else bytes(16)
    header = struct.pack("!II", 5, address_type) + agent + struct.pack("!IIII", 0, 1, 1000, count)
    check(FlowDecoder(), header + b"".join(samples))
