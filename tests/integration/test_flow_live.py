"""The flow collector end to end: datagrams to the running engine's listeners, read back with
`nocraven buffer tail --json` and `nocraven flow ...`.

Each test sends from its own loopback address (127.0.0.x), so exporters' counters do not mix.
The engine runs two UDP workers per listener: a template and its data often reach different
workers, which is the template sharing under test.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import flowpackets as fp
from tests.support.engine import RunningEngine, start_engine
from tests.support.flow_corpus import CASES, CORPUS, EXPORTER, decode_case, expected_records, known, mismatches

pytestmark = pytest.mark.integration

FLOW_CONFIG = """
[flow]
netflow = "127.0.0.1:0"
ipfix = "127.0.0.1:0"
sflow = "127.0.0.1:0"
udp_workers = 2
"""


@pytest.fixture(scope="module")
def flow_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    running = start_engine(tmp_path_factory.mktemp("flow") / "engine", FLOW_CONFIG)
    yield running
    running.stop()


def flow_port(engine: RunningEngine, name: str, timeout: float = 30.0) -> int:
    """The listener's bound port, once the collector has bound it (the engine answers before
    its collectors are up)."""
    deadline = time.monotonic() + timeout
    while True:
        status = json.loads(engine.cli("status", "--json").stdout)
        for listener in status["components"]["flow"]["detail"]["listeners"]:
            if listener["listener"] == name:
                return int(listener["address"].rpartition(":")[2])
        if time.monotonic() > deadline:
            raise AssertionError(f"no flow {name} listener in {status['components']['flow']}")
        time.sleep(0.2)


class Exporter:
    """A UDP socket on its own loopback address and port: one exporter, as the collector sees it."""

    def __init__(self, address: str, port: int = 0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, port))
        self.address, self.port = self.sock.getsockname()
        self.source = f"{self.address}:{self.port}"

    def send(self, engine: RunningEngine, listener: str, *datagrams: bytes, pause: float = 0.0) -> None:
        port = flow_port(engine, listener)
        for datagram in datagrams:
            self.sock.sendto(datagram, ("127.0.0.1", port))
            if pause:
                time.sleep(pause)

    def close(self) -> None:
        self.sock.close()


def flow_records(
    engine: RunningEngine, source: str, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 20
) -> list[dict[str, Any]]:
    """Poll the buffer until the records from `source` satisfy `done`; returns them."""
    deadline = time.monotonic() + timeout
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        result = engine.cli("buffer", "tail", "--json", "--service", "flow", "--source", source, "--limit", "5000")
        assert result.returncode == 0, result.stderr
        found = [r for r in map(json.loads, result.stdout.splitlines()) if r["source"] == source]
        if done(found):
            return found
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for records from {source}; have {len(found)}: {found[-3:]}")


def exporter_counters(engine: RunningEngine, address: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    entry: dict[str, Any] = {}
    while time.monotonic() < deadline:
        result = engine.cli("flow", "exporters", "--json")
        assert result.returncode == 0, result.stderr
        entries = {e["address"]: e for e in json.loads(result.stdout)["exporters"]}
        entry = entries.get(address, {})
        if entry and done(entry):
            return entry
        time.sleep(0.3)
    raise AssertionError(f"exporter {address} never reached the expected state: {entry}")


# ---- the Telegraf corpus through the listeners -------------------------------------------------


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus {CORPUS} is not on this machine")
@pytest.mark.parametrize("case", CASES)
def test_corpus_case_through_the_engine(flow_engine: RunningEngine, case: str) -> None:
    listener = "sflow" if "sflow" in (CORPUS / case / "telegraf.conf").read_text() else "netflow"
    reference, decoder = decode_case(case)  # what the decoder alone makes of the case
    exporter = Exporter(f"127.0.1.{CASES.index(case) + 1}")
    try:
        exporter.send(
            flow_engine, listener, *(p.read_bytes() for p in sorted((CORPUS / case).glob("*.bin"))), pause=0.05
        )
        ours = flow_records(flow_engine, exporter.source, lambda rs: len(rs) >= len(reference))
    finally:
        exporter.close()
    time.sleep(0.5)
    assert len(ours) == len(reference)
    unused = list(ours)
    for measurement, version, fields in expected_records(case):
        candidates = [(mismatches(measurement, version, fields, r), r) for r in unused]
        allowed = [r for problems, r in candidates if all(known(case, p) for p in problems)]
        closest = min(candidates, key=lambda c: len(c[0]))[0] if candidates else "no records left"
        assert allowed, f"no record of ours matches Telegraf's {fields}; closest differs in {closest}"
        unused.remove(allowed[0])
    # Beyond Telegraf's lines: only what was held until its template came, as the decoder alone
    assert len(unused) == decoder.stats.exporters[EXPORTER[0]]["released_records"]
    assert all(r["service"] == "flow" and r["source"] == exporter.source for r in ours)


# ---- templates: before their data, after a restart -------------------------------------------


def test_data_sent_before_its_template_is_decoded_when_the_template_comes(flow_engine: RunningEngine) -> None:
    exporter = Exporter("127.0.2.1")
    flows = fp.flows(6, seed=3)
    try:
        # data first (sequence 0, 3 records), then the template with the rest
        early = fp.ipfix_flows(flows[:3], template_id=300, sequence=0, with_template=False)
        late = fp.ipfix_flows(flows[3:], template_id=300, sequence=3, with_template=True)
        exporter.send(flow_engine, "netflow", early, pause=0.3)
        exporter.send(flow_engine, "netflow", late)
        records = flow_records(flow_engine, exporter.source, lambda rs: len(rs) >= 6)
    finally:
        exporter.close()
    assert sorted(r["src_port"] for r in records) == sorted(f.src_port for f in flows)
    assert {(r["src_addr"], r["dst_addr"], r["bytes"]) for r in records} == {(f.src, f.dst, f.bytes) for f in flows}
    counters = exporter_counters(flow_engine, "127.0.2.1", lambda e: e["counters"]["released_records"] == 3)
    assert counters["counters"]["held_sets"] == 1 and counters["counters"]["expired_sets"] == 0
    assert counters["templates"] == 1


def test_templates_survive_a_restart(tmp_path: Path) -> None:
    directory = tmp_path / "engine"
    exporter = Exporter("127.0.3.1")
    flows = fp.flows(8, seed=5)
    try:
        engine = start_engine(directory, FLOW_CONFIG)
        try:
            exporter.send(
                engine,
                "netflow",
                fp.ipfix_flows(flows[:2], template_id=400, sequence=0),
                fp.v9_flows(flows[2:4], template_id=401, sequence=0),
            )
            flow_records(engine, exporter.source, lambda rs: len(rs) >= 4)
        finally:
            assert engine.stop() == 0
        saved = json.loads((directory / "data" / "flow" / "templates.json").read_text())
        assert {t["id"] for t in saved["templates"]} == {400, 401}

        engine = start_engine(directory, FLOW_CONFIG)
        try:
            listed = json.loads(engine.cli("flow", "templates", "--json").stdout)["templates"]
            assert {(t["exporter"], t["port"], t["template_id"]) for t in listed} >= {
                ("127.0.3.1", exporter.port, 400),
                ("127.0.3.1", exporter.port, 401),
            }
            # Data only: the exporter has not resent its templates since the restart.
            exporter.send(
                engine,
                "netflow",
                fp.ipfix_flows(flows[4:6], template_id=400, sequence=2, with_template=False),
                fp.v9_flows(flows[6:], template_id=401, sequence=1, with_template=False),
            )
            records = flow_records(engine, exporter.source, lambda rs: len(rs) >= 6)
            after = {r["src_port"] for r in records} & {f.src_port for f in flows[4:]}
            assert after == {f.src_port for f in flows[4:]}
            counters = exporter_counters(engine, "127.0.3.1", lambda e: e["counters"]["records"] >= 4)
            assert counters["counters"]["held_sets"] == 0  # nothing waited for a template
        finally:
            engine.stop()
    finally:
        exporter.close()


# ---- loss, and the CLI --------------------------------------------------------------------------


def test_skipped_datagrams_show_as_sequence_gaps(flow_engine: RunningEngine) -> None:
    exporter = Exporter("127.0.4.1")
    flows = fp.flows(2, seed=7)
    try:
        # v5 counts records: 2 per datagram; the datagrams of sequence 2..9 are "lost"
        exporter.send(
            flow_engine, "netflow", fp.netflow_v5(flows, sequence=0), fp.netflow_v5(flows, sequence=10), pause=0.05
        )
        exporter.send(
            flow_engine, "sflow", fp.sflow_datagram([fp.sflow_flow_sample(flows[0])], agent="192.0.2.9", sequence=1)
        )
        exporter.send(
            flow_engine, "sflow", fp.sflow_datagram([fp.sflow_flow_sample(flows[1])], agent="192.0.2.9", sequence=4)
        )
    finally:
        exporter.close()
    # a hole counts once the other workers had their chance to report what fills it
    entry = exporter_counters(
        flow_engine, "127.0.4.1", lambda e: e["counters"]["records"] >= 6 and e["counters"]["sequence_gaps"] >= 2
    )
    counters = entry["counters"]
    assert counters["sequence_gaps"] == 2
    assert counters["lost_records"] == 8  # v5: records 2..9
    assert counters["lost_datagrams"] == 2  # sFlow: datagrams 2 and 3
    assert counters["sequence_resets"] == 0 and entry["counters"]["records"] == 6
    human = flow_engine.cli("flow", "exporters", env={"COLUMNS": "200"})
    assert human.returncode == 0, human.stderr
    row = next(line for line in human.stdout.splitlines() if line.startswith("127.0.4.1"))
    assert row.split()[5:7] == ["2", "10"]  # seq gaps, lost
    assert "kernel" in human.stdout


def test_top_talkers_and_protocols(flow_engine: RunningEngine) -> None:
    exporter = Exporter("127.0.5.1")
    heavy = fp.Flow(src="10.99.0.1", dst="192.0.2.99", protocol=17, bytes=9_000_000, packets=6000)
    light = [fp.Flow(src="10.99.0.2", dst="192.0.2.98", protocol=6, bytes=100, packets=50) for _ in range(5)]
    try:
        exporter.send(flow_engine, "netflow", fp.ipfix_flows([heavy, *light], template_id=500, sequence=0))
        flow_records(flow_engine, exporter.source, lambda rs: len(rs) >= 6)
    finally:
        exporter.close()
    deadline = time.monotonic() + 30  # workers and the main process send top summaries every few seconds
    while True:
        by_bytes = json.loads(
            flow_engine.cli("flow", "top", "--by", "bytes", "--minutes", "2", "--limit", "1000", "--json").stdout
        )
        hosts = {h["address"]: h["usage"] for h in by_bytes["hosts"]}
        if "10.99.0.1" in hosts or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert hosts["10.99.0.1"]["bytes"] >= 9_000_000 and hosts["192.0.2.99"]["flows"] >= 1
    assert hosts["10.99.0.2"] == {"bytes": 500, "packets": 250, "flows": 5}
    protocols = {p["name"]: p["usage"] for p in by_bytes["protocols"]}
    assert protocols["udp"]["bytes"] >= 9_000_000
    by_flows = json.loads(flow_engine.cli("flow", "top", "--by", "flows", "--json").stdout)
    assert by_flows["by"] == "flows"
    flows_rank = [h["usage"]["flows"] for h in by_flows["hosts"]]
    assert flows_rank == sorted(flows_rank, reverse=True)
    human = flow_engine.cli("flow", "top", "--by", "packets")
    assert human.returncode == 0 and "top talkers by packets" in human.stdout and "10.99.0.1" in human.stdout
    wrong = flow_engine.cli("flow", "top", "--by", "colour")
    assert wrong.returncode == 2 and "colour" in wrong.stderr
    assert flow_engine.cli("flow", "top", "--minutes", "0").returncode == 2


def test_templates_command_lists_fields_by_iana_name(flow_engine: RunningEngine) -> None:
    exporter = Exporter("127.0.6.1")
    try:
        exporter.send(flow_engine, "ipfix", fp.ipfix_flows(fp.flows(1), template_id=600, sequence=0, domain=9))
        flow_records(flow_engine, exporter.source, lambda rs: len(rs) >= 1)
    finally:
        exporter.close()
    templates = json.loads(flow_engine.cli("flow", "templates", "--json").stdout)["templates"]
    mine = [t for t in templates if t["exporter"] == "127.0.6.1"]
    assert [(t["template_id"], t["domain"], t["version"], t["kind"]) for t in mine] == [(600, 9, 10, "data")]
    assert mine[0]["fields"][:2] == ["sourceIPv4Address", "destinationIPv4Address"]
    human = flow_engine.cli("flow", "templates")
    assert human.returncode == 0 and "sourceIPv4Address" in human.stdout and "IPFIX" in human.stdout


def test_kernel_drops_are_counted_per_listener_and_match_the_sequence_gaps(tmp_path: Path) -> None:
    """A burst into a tiny receive buffer: the kernel drops some datagrams; the listener counts
    them, the ledger records them, and the exporter's sequence numbers account for the same loss
    (one record a datagram), so followed across workers the gaps are real ones only."""
    burst = 30_000
    engine = start_engine(tmp_path / "engine", FLOW_CONFIG + "receive_buffer_bytes = 65536\n")
    exporter = Exporter("127.0.7.1")
    flow = fp.flows(1)
    try:
        port = flow_port(engine, "netflow")
        for sequence in range(burst):  # bounded: a fixed count, as fast as Python sends
            exporter.sock.sendto(fp.netflow_v5(flow, sequence=sequence), ("127.0.0.1", port))
        time.sleep(1.0)
        exporter.sock.sendto(fp.netflow_v5(flow, sequence=burst), ("127.0.0.1", port))  # closes any hole
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            listing = json.loads(engine.cli("flow", "exporters", "--json").stdout)
            listener = next(x for x in listing["listeners"] if x["listener"] == "netflow")
            drops = listener["counters"]["kernel_drops"]
            mine = {e["address"]: e["counters"] for e in listing["exporters"]}.get("127.0.7.1", {})
            if mine and mine["records"] + drops >= burst + 1 and mine["lost_records"] >= drops:
                break
            time.sleep(0.5)
        assert drops > 0
        assert mine["records"] + drops == burst + 1
        assert mine["lost_records"] == drops and mine["sequence_resets"] == 0
        time.sleep(2.5)  # drops are reported each second and written with the next seal
        ledger = json.loads(engine.cli("buffer", "stats", "--json").stdout)["services"]["flow"]
        assert ledger["dropped_by_reason"]["kernel_drop"]["records"] == drops
        assert ledger["records"] + ledger["unsealed_records"] == mine["records"]
    finally:
        exporter.close()
        engine.stop()
