"""The compiled fast path (collectors/flow/_fastflow.c) against the reference decoder.

For every datagram the fast path either declines (and the reference decodes it) or writes
exactly the NDJSON the reference's records encode to, with the same counters: per-exporter
stats, sequence numbers, the held data, and the top talkers. Each check runs the same datagrams
through one decoder with the fast path and one without and compares everything; it also counts
how many datagrams the fast path took, so a fast path that silently declines everything fails.
Inputs: random templates of every element type (with odd lengths and values near the edges of
what the fast path writes), random NetFlow v5, truncated and mutated datagrams, the test packet
builders, the simulator's venue traffic and the Telegraf corpus.
"""

from __future__ import annotations

import os
import random
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from collectors.flow import fastpath
from collectors.flow.decoder import FlowDecoder
from collectors.flow.sequence import SequenceLog
from collectors.flow.top import MinuteCounter
from nocraven.simulate import flows as simulated
from tests.support.flow_corpus import CASES, CORPUS
from tests.support.flowpackets import (
    Flow,
    ethernet_ipv4_frame,
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

if not fastpath.FAST_PATH:
    if os.environ.get("NOCRAVEN_FLOW_FASTPATH") == "0":
        pytest.skip("fast path switched off (NOCRAVEN_FLOW_FASTPATH=0)", allow_module_level=True)
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler here, so no compiled fast path to check", allow_module_level=True)
    raise AssertionError(
        "collectors.flow._fastflow is not built although a C compiler is installed: "
        "install python3-dev and run `pip install -e .` again"
    )

SENDER = "198.51.100.9:2055"
NOW = 1_764_590_400.125
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Run:
    """One decoder, fast path on or off, counting the datagrams the fast path took."""

    def __init__(self, fast: bool, max_hosts: int, worker: bool) -> None:
        self.decoder = FlowDecoder()
        self.decoder.fast = fast
        if worker:
            self.decoder.sequence_log = SequenceLog()
        self.top = MinuteCounter(max_hosts=max_hosts)
        self.taken = self.records = 0
        original = self.decoder._fast_datagram

        def counting(*args: Any) -> Any:
            done = original(*args)
            if done is not None:
                self.taken += 1
                self.records += done[1]
            return done

        self.decoder._fast_datagram = counting  # type: ignore[method-assign]

    def feed(self, batch: list[bytes], now: float) -> tuple[bytes, int]:
        return self.decoder.decode_encode(batch, [SENDER] * len(batch), now, self.top)

    def state(self) -> Any:
        log = self.decoder.sequence_log
        return (
            self.decoder.stats.take(),
            self.top.take(),
            dict(self.decoder._next_sequence),
            log.take() if log is not None else None,
            self.decoder.hold.sets,
            self.decoder.templates.dump(),
        )


def compare(batches: list[list[bytes]], now: float = NOW, max_hosts: int = 20_000, worker: bool = False) -> int:
    """Assert the fast path and the reference agree on every batch; how many datagrams the fast
    path took (and, as a hypothesis event, whether it wrote records)."""
    fast, reference = Run(True, max_hosts, worker), Run(False, max_hosts, worker)
    for batch in batches:
        got, expected = fast.feed(batch, now), reference.feed(batch, now)
        if got != expected:
            for ours, theirs in zip(got[0].split(b"\n"), expected[0].split(b"\n"), strict=False):
                assert ours == theirs, "fast path line differs from the reference's"
            assert got == expected
    assert fast.state() == reference.state()
    assert reference.taken == 0
    if currently_in_test_context():
        event("fast path wrote records" if fast.records else "fast path wrote no records")
    return fast.taken


# ---- generated templates and values -------------------------------------------------------------

# Elements of every type the decoder knows, with their natural lengths: addresses, ports,
# counters, times of each clock, MACs, strings, floats, booleans, sampling, padding, unknowns.
ELEMENTS = [
    (8, 4), (12, 4), (27, 16), (28, 16), (15, 4), (62, 16), (7, 2), (11, 2), (4, 1), (6, 1), (6, 2), (5, 1),
    (10, 4), (14, 4), (10, 2), (14, 2), (1, 8), (2, 8), (1, 4), (2, 4), (85, 8), (86, 8), (23, 8), (24, 8),
    (16, 4), (17, 4), (9, 1), (13, 1), (29, 1), (30, 1), (58, 2), (59, 2), (56, 6), (80, 6), (61, 1), (60, 1),
    (152, 8), (153, 8), (150, 4), (151, 4), (22, 4), (21, 4), (158, 4), (159, 4), (154, 8), (155, 8),
    (156, 8), (157, 8), (160, 8), (176, 1), (177, 1), (136, 1), (89, 1), (225, 4), (226, 4), (227, 2),
    (228, 2), (82, 16), (96, 12), (210, 2), (210, 1), (34, 4), (48, 1), (302, 4), (50, 4), (305, 4),
    (306, 4), (309, 4), (310, 4), (312, 8), (239, 1), (276, 1), (326, 8), (12345, 4),
]  # fmt: skip
ODD_LENGTHS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 65535]


# What the fast path writes (the rest it declines): half the templates are drawn from these.
UNSUPPORTED = {82, 96, 154, 155, 156, 157, 34, 48, 302, 50, 305, 306, 309, 310}
COMMON = [element for element in ELEMENTS if element[0] not in UNSUPPORTED]


@st.composite
def template_fields(draw: st.DrawFn) -> list[tuple[int, int, int]]:
    chosen = []
    pool = draw(st.sampled_from([ELEMENTS, COMMON]))
    for _ in range(draw(st.integers(1, 16))):
        ie, length = draw(st.sampled_from(pool))
        if draw(st.integers(0, 9)) == 0:
            length = draw(st.sampled_from(ODD_LENGTHS))
        pen = draw(st.sampled_from([0, 0, 0, 0, 0, 0, 0, 29305, 9]))
        chosen.append((ie, length, pen))
    return chosen


def value_bytes(length: int) -> st.SearchStrategy[bytes]:
    """A field's bytes: small numbers, realistic clocks (ms and s since 1970), anything."""
    if length == 0:
        return st.just(b"")
    top = 1 << (8 * length)
    return st.one_of(
        st.integers(0, 300),
        st.integers(1_500_000_000_000, 1_900_000_000_000),  # Unix ms
        st.integers(1_500_000_000, 1_900_000_000),  # Unix s
        st.integers(0, 200_000_000),  # uptime ms
        st.integers(253_402_300_799_000, 253_402_300_800_500),  # the end of year 9999
        st.integers(0, top - 1),
        st.just(top - 1),
        st.binary(min_size=length, max_size=length).map(lambda b: int.from_bytes(b, "big")),
    ).map(lambda v: (v % top).to_bytes(length, "big"))


@st.composite
def records_for(draw: st.DrawFn, fields: list[tuple[int, int, int]]) -> bytes:
    count = draw(st.integers(0, 6))
    out = b""
    for _ in range(count):
        for _, length, _ in fields:
            if length == 65535:
                out += draw(st.sampled_from([b"\x00", b"\x03abc", b"\xff\x00\x02hi", b"\x05\xff\xfe\x80ab"]))
            else:
                out += draw(value_bytes(length))
    return out + draw(st.sampled_from([b"", b"", b"\0", b"\0\0\0"]))


header_clock = st.one_of(
    st.tuples(st.integers(1_600_000_000, 1_900_000_000), st.integers(0, 2_000_000_000)),
    st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)),
)


@st.composite
def template_datagrams(draw: st.DrawFn) -> tuple[list[bytes], list[bytes]]:
    """(datagrams that teach templates and sampling, data datagrams) of one v9 or IPFIX exporter."""
    ipfix = draw(st.booleans())
    secs, uptime = draw(header_clock)
    domain = draw(st.sampled_from([0, 1, 7]))
    templates = draw(st.lists(template_fields(), min_size=1, max_size=3))
    ids = list(range(256, 256 + len(templates)))
    teach: list[bytes] = []
    rate = draw(st.sampled_from([None, 1, 100, 4096, 2**31]))
    boot = draw(st.sampled_from([None, 1_700_000_000_000, 5, 2**63 + 5]))
    if ipfix:
        sets = [set_of(2, b"".join(template_record(i, t) for i, t in zip(ids, templates, strict=True)))]
        if rate is not None:
            sets.append(set_of(3, ipfix_options_template(300, [(149, 4)], [(34, 4)])))
            sets.append(set_of(300, struct.pack("!II", domain, rate)))
        if boot is not None:
            sets.append(set_of(3, ipfix_options_template(301, [(149, 4)], [(160, 8)])))
            sets.append(set_of(301, struct.pack("!IQ", domain, boot)))
        teach.append(ipfix_message(sets, domain=domain, export_s=secs))
    else:
        records = [template_record(i, [(ie, ln) for ie, ln, _ in t]) for i, t in zip(ids, templates, strict=True)]
        sets = [set_of(0, b"".join(records))]
        if rate is not None:
            sets.append(set_of(1, v9_options_template(300, [(1, 4)], [(34, 4)])))
            sets.append(set_of(300, struct.pack("!II", 0, rate)))
        teach.append(v9_message(sets, source_id=domain, export_s=secs, uptime_ms=uptime))
        templates = [[(ie, ln, 0) for ie, ln, _ in t] for t in templates]
    data: list[bytes] = []
    for number in range(draw(st.integers(1, 4))):
        chosen = draw(st.lists(st.integers(0, len(templates) - 1), min_size=0, max_size=3))
        sets = [set_of(ids[i], draw(records_for(templates[i])), pad_to=draw(st.sampled_from([1, 4]))) for i in chosen]
        if draw(st.integers(0, 5)) == 0:
            sets.append(set_of(draw(st.sampled_from([4, 255, 999])), b"\0" * 4))  # a reserved or unknown set
        sequence = draw(st.sampled_from([number, number * 3, 2**32 - 1]))
        if ipfix:
            data.append(ipfix_message(sets, sequence=sequence, domain=domain, export_s=secs))
        else:
            data.append(v9_message(sets, sequence=sequence, source_id=domain, export_s=secs, uptime_ms=uptime))
    return teach, data


def damaged(draw: st.DrawFn, datagram: bytes) -> bytes:
    how = draw(st.sampled_from(["as is", "as is", "cut", "flip", "pad"]))
    if how == "cut":
        return datagram[: draw(st.integers(0, len(datagram)))]
    if how == "flip":
        mutated = bytearray(datagram)
        for _ in range(draw(st.integers(1, 4))):
            mutated[draw(st.integers(0, len(mutated) - 1))] = draw(st.integers(0, 255))
        return bytes(mutated)
    if how == "pad":
        return datagram + b"\0" * draw(st.integers(1, 7))
    return datagram


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_templates_and_values_decode_the_same(data: st.DataObject) -> None:
    teach, datagrams = data.draw(template_datagrams())
    damaged_data = [damaged(data.draw, d) for d in datagrams]
    # Data before its template (held, then released), then the template, then data again.
    batches = [damaged_data[:1], teach, damaged_data, datagrams, teach + datagrams]
    taken = compare(batches, worker=data.draw(st.booleans()))
    event(f"fast path took {min(taken, 2)}+ datagrams")


@SETTINGS
@given(
    records=st.lists(st.binary(min_size=48, max_size=48), max_size=8),
    count_delta=st.sampled_from([0, 0, 0, -1, 1, 5]),
    clock=header_clock,
    nsecs=st.integers(0, 2**32 - 1),
    sampling=st.one_of(st.just(0), st.integers(0, 0xFFFF)),
    engine=st.tuples(st.integers(0, 255), st.integers(0, 255)),
    sequence=st.integers(0, 2**32 - 1),
    cut=st.one_of(st.none(), st.integers(0, 500)),
    worker=st.booleans(),
)
def test_random_netflow_v5_decodes_the_same(
    records: list[bytes],
    count_delta: int,
    clock: tuple[int, int],
    nsecs: int,
    sampling: int,
    engine: tuple[int, int],
    sequence: int,
    cut: int | None,
    worker: bool,
) -> None:
    secs, uptime = clock
    count = max(0, min(0xFFFF, len(records) + count_delta))
    header = struct.pack("!HHIIIIBBH", 5, count, uptime, secs, nsecs, sequence, *engine, sampling)
    datagram = header + b"".join(records)
    if cut is not None:
        datagram = datagram[:cut]
    event(f"fast path took {compare([[datagram, datagram]], worker=worker)} datagrams")


@SETTINGS
@given(
    version=st.sampled_from(["v5", "v9", "ipfix"]),
    count=st.integers(1, 30),
    seed=st.integers(0, 1000),
    max_hosts=st.sampled_from([20_000, 3, 0]),
)
def test_packet_builders_decode_the_same_and_take_the_fast_path(
    version: str, count: int, seed: int, max_hosts: int
) -> None:
    records = flows(count, seed=seed)
    if version == "v5":
        batches = [[netflow_v5(records, sequence=s * count, sampling=(1 << 14) | seed) for s in range(3)]]
    elif version == "v9":
        batches = [[v9_flows(records)], [v9_flows(records, sequence=s, with_template=False) for s in range(1, 4)]]
    else:
        batches = [[ipfix_flows(records)], [ipfix_flows(records, sequence=s, with_template=False) for s in range(1, 4)]]
    # The top-talker table's limit (hosts beyond it count under `other`) is the same both ways.
    assert compare(batches, max_hosts=max_hosts) == 3


# ---- sFlow ----------------------------------------------------------------------------------------


@st.composite
def sflow_samples(draw: st.DrawFn) -> bytes:
    """A flow sample: the common layout (raw Ethernet/IPv4 header, VLAN tag or not, switch data
    or not) with random fields, or near misses (IPv6, fragments, ICMP, odd lengths and tags)."""
    clean = draw(st.booleans())

    def odd(strategy: st.SearchStrategy[Any], usual: Any) -> Any:
        return usual if clean else draw(strategy)

    f = Flow(
        src=draw(st.sampled_from(["10.0.0.1", "192.0.2.255", "0.0.0.0", "172.16.9.10"])),
        dst=draw(st.sampled_from(["8.8.8.8", "203.0.113.99", "255.255.255.255"])),
        src_port=draw(st.integers(0, 65535)),
        dst_port=draw(st.integers(0, 65535)),
        protocol=draw(st.sampled_from([6, 17])) if clean else draw(st.sampled_from([6, 17, 17, 6, 1, 47])),
        tcp_flags=draw(st.integers(0, 255)),
        input_if=draw(st.integers(0, 2**32 - 1)),
        output_if=draw(st.sampled_from([0, 7, 2**30, 2**31 + 5, 2**32 - 1])),
    )
    frame = bytearray(ethernet_ipv4_frame(f, vlan=draw(st.sampled_from([None, 10, 4095, 0xFFFF]))))
    for _ in range(odd(st.sampled_from([0, 0, 1, 2]), 0)):
        frame[draw(st.integers(0, len(frame) - 1))] = draw(st.integers(0, 255))
    frame = frame[: odd(st.sampled_from([len(frame), len(frame), 60, 34, 30, 14, 10]), len(frame))]
    header_length = odd(st.sampled_from([len(frame), len(frame), len(frame) + 8, 20, 0]), len(frame))
    protocol = odd(st.sampled_from([1, 1, 1, 11]), 1)
    raw = struct.pack("!III", protocol, draw(st.integers(0, 2**32 - 1)), 4) + struct.pack("!I", header_length)
    raw += bytes(frame) + b"\0" * ((-len(frame)) % 4)
    records = struct.pack("!II", odd(st.sampled_from([1, 1, 1, 2]), 1), len(raw)) + raw
    count = 1
    if draw(st.booleans()):
        switch = struct.pack("!IIII", *(draw(st.integers(0, 2**32 - 1)) for _ in range(4)))
        records += struct.pack("!II", odd(st.sampled_from([1001, 1001, 1002]), 1001), len(switch)) + switch
        count = 2
    count = odd(st.sampled_from([count, count, count, 3, 0]), count)
    words = [draw(st.integers(0, 2**32 - 1)) for _ in range(6)]
    rate = draw(st.sampled_from([0, 1, 512, 2**32 - 1]))
    if draw(st.booleans()):
        in_format, out_format = draw(st.sampled_from([0, 0, 1])), draw(st.sampled_from([0, 2]))
        body = struct.pack("!IIIIIIIIIII", *words[:3], rate, *words[3:5], in_format, words[5], out_format, 9, count)
        tag = 3
    else:
        body = struct.pack("!IIIIIIII", words[0], words[1], rate, words[2], words[3], words[4], words[5], count)
        tag = 1
    return struct.pack("!II", tag, len(body + records)) + body + records


@st.composite
def sflow_datagrams(draw: st.DrawFn) -> bytes:
    counters = st.just(sflow_counter_sample())
    samples = draw(st.lists(st.one_of(sflow_samples(), sflow_samples(), sflow_samples(), counters), max_size=5))
    if draw(st.integers(0, 9)) == 0:
        samples.append(struct.pack("!II", (4300 << 12) | 1, 8) + b"\0" * 8)  # an enterprise's own format: skipped
    agent = draw(st.sampled_from(["192.0.2.50", "10.1.1.1"]))
    datagram = sflow_datagram(
        samples, agent=agent, sequence=draw(st.integers(0, 2**32 - 1)), sub_agent=draw(st.integers(0, 3)),
        uptime_ms=draw(st.integers(0, 2**32 - 1)),
    )  # fmt: skip
    if draw(st.integers(0, 9)) == 0:  # an IPv6 agent
        datagram = datagram[:4] + struct.pack("!I", 2) + bytes(range(16)) + datagram[12:]
    return damaged(draw, datagram)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datagrams=st.lists(sflow_datagrams(), min_size=1, max_size=4), worker=st.booleans())
def test_random_sflow_decodes_the_same(datagrams: list[bytes], worker: bool) -> None:
    event(f"fast path took {min(compare([datagrams], worker=worker), 1)}+ datagrams")


@SETTINGS
@given(count=st.integers(1, 10), seed=st.integers(0, 1000), rate=st.sampled_from([1, 512, 4096]))
def test_sflow_builders_decode_the_same_and_take_the_fast_path(count: int, seed: int, rate: int) -> None:
    samples = [sflow_flow_sample(f, rate=rate, sequence=i + 1) for i, f in enumerate(flows(count, seed=seed))]
    assert compare([[sflow_datagram(samples, sequence=s) for s in range(3)]]) == 3
    assert compare([[sflow_datagram([*samples, sflow_counter_sample()])]]) == 0  # counters: the reference's


@pytest.mark.parametrize("kind", ["ipfix", "netflow_v9", "sflow"])
def test_simulated_venue_traffic_decodes_the_same_and_takes_the_fast_path(kind: str) -> None:
    rng = random.Random(12)
    now_ms = int(NOW * 1000)
    datagrams = []
    for sequence in range(40):
        batch = simulated.random_flows(rng, rng.randint(1, 30), now_ms)
        if kind == "ipfix":
            datagrams.append(simulated.ipfix(batch, sequence, 3, now_ms))
        elif kind == "sflow":
            datagrams.append(simulated.sflow(batch, "192.0.2.60", sequence, 9_000_000))
        else:
            datagrams.append(simulated.netflow_v9(batch, sequence, 3, now_ms, 9_000_000))
    taken = compare([datagrams[i : i + 8] for i in range(0, 40, 8)])
    # The first datagram teaches the template (the reference's); template sets that repeat what the
    # cache holds do not stop the fast path.
    assert taken >= 39


@pytest.mark.skipif(not CASES, reason=f"Telegraf corpus not found at {CORPUS}")
@pytest.mark.parametrize("case", CASES)
def test_corpus_decodes_the_same(case: str) -> None:
    datagrams = [path.read_bytes() for path in sorted((CORPUS / case).glob("*.bin"))]
    compare([[d] for d in datagrams])
    compare([datagrams, datagrams])


def test_a_time_beyond_year_9999_or_a_huge_scaled_counter_declines() -> None:
    """Values the fast path does not write exactly send the datagram to the reference."""
    fields = [(8, 4, 0), (12, 4, 0), (1, 8, 0), (152, 8, 0)]
    template = ipfix_message([set_of(2, template_record(256, fields))])
    sampling = ipfix_message(
        [set_of(3, ipfix_options_template(300, [(149, 4)], [(34, 4)])), set_of(300, struct.pack("!II", 1, 1000))]
    )

    def data(octets: int, ms: int) -> bytes:
        return ipfix_message([set_of(256, b"\x0a\0\0\x01\x0a\0\0\x02" + struct.pack("!QQ", octets, ms))])

    fine, late, huge = data(1500, 1_700_000_000_000), data(1500, 253_402_300_800_000), data(2**60, 1_700_000_000_000)
    assert compare([[template, sampling], [fine]]) == 1
    assert compare([[template, sampling], [late, huge]]) == 0


def test_the_switch_turns_the_fast_path_off() -> None:
    code = "from collectors.flow import fastpath, decoder; print(fastpath.FAST_PATH, decoder.FlowDecoder().fast)"
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "NOCRAVEN_FLOW_FASTPATH": "0"}
    off = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, check=True)
    assert off.stdout.split() == ["False", "False"]


def test_repeated_templates_pass_and_changed_ones_go_to_the_reference() -> None:
    fields = [(8, 4, 0), (12, 4, 0), (1, 8, 0), (2, 8, 0)]
    template = set_of(2, template_record(256, fields))
    padded = set_of(2, template_record(256, fields) + b"\0" * 6000)  # too long to remember: checked each time
    changed = set_of(2, template_record(256, [*fields, (4, 1, 0)]))
    data = set_of(256, b"\x0a\0\0\x01\x0a\0\0\x02" + struct.pack("!QQ", 1500, 3) * 4)
    first = ipfix_message([template, data])
    assert compare([[first], [ipfix_message([template, data]), ipfix_message([padded, data])] * 2]) == 4
    assert compare([[first], [ipfix_message([changed, data]), ipfix_message([template, data])]]) == 0
