"""What the flow collector's main process makes of its UDP workers' reports: loss counted only
where the exporter's sequence really has a hole (whichever worker decoded what), templates
shared and kept, and the top talkers of each minute."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from collectors.flow.decoder import FlowDecoder
from collectors.flow.report import NOTHING, FlowReport, FlowSetup, WorkerReport, encode
from collectors.flow.sequence import SequenceLog, SequenceTracker
from collectors.flow.service import FlowState
from collectors.flow.settings import FlowSettings
from collectors.flow.stats import FlowStats
from collectors.flow.top import MinuteCounter, ranking
from tests.support import flowpackets as fp

NOW = 1_700_000_000.0
EXPORTER = ("192.0.2.1", 50000)


def workers_decode(datagrams: list[bytes], batches: list[int], workers: int = 2) -> FlowState:
    """Decode datagrams the way workers taking turns do: batch i goes to worker i % workers;
    every worker reports to one main process (in worker order, not batch order)."""
    decoders = [FlowDecoder() for _ in range(workers)]
    logs = [SequenceLog() for _ in range(workers)]
    for decoder, log in zip(decoders, logs, strict=True):
        decoder.sequence_log = log
    position = 0
    for number, size in enumerate(batches):
        decoder = decoders[number % workers]
        for datagram in datagrams[position : position + size]:
            decoder.decode(datagram, EXPORTER, NOW)
        position += size
    state = FlowState(FlowSettings(), "")
    for pid, (decoder, log) in enumerate(zip(decoders, logs, strict=True)):
        report = WorkerReport(
            pid=pid,
            exporters=msgspec.convert(decoder.stats.take(), dict[str, Any]),
            sequences=log.take(),
        )
        state.worker_report("netflow", encode(report), NOW)
    state.report(NOW + 10)  # past the wait: open holes are counted
    return state


def test_batches_split_between_workers_are_not_counted_as_loss() -> None:
    flows = fp.flows(2)
    datagrams = [fp.netflow_v5(flows, sequence=2 * i) for i in range(40)]
    state = workers_decode(datagrams, [5, 7, 3, 10, 15])
    entry = state.stats.exporters[EXPORTER[0]]
    assert (entry["sequence_gaps"], entry["lost_records"], entry["sequence_resets"]) == (0, 0, 0)
    assert entry["records"] == 80


def test_a_hole_in_the_sequence_is_counted_once_whichever_worker_saw_its_edges() -> None:
    flows = fp.flows(2)
    datagrams = [fp.netflow_v5(flows, sequence=2 * i) for i in range(40) if i not in (12, 13, 30)]
    state = workers_decode(datagrams, [4, 4, 4, 4, 4, 4, 4, 4, 5])
    entry = state.stats.exporters[EXPORTER[0]]
    assert entry["sequence_gaps"] == 2
    assert entry["lost_records"] == 6  # 3 datagrams of 2 records


def test_sflow_and_v9_count_lost_datagrams() -> None:
    flows = fp.flows(3)
    sflow = [fp.sflow_datagram([fp.sflow_flow_sample(flows[0])], sequence=s) for s in (1, 2, 5, 6)]
    v9 = [fp.v9_flows(flows, sequence=s) for s in (0, 1, 2, 4)]
    state = workers_decode(sflow + v9, [1, 1, 1, 1, 2, 2])
    entry = state.stats.exporters[EXPORTER[0]]
    assert entry["lost_datagrams"] == 2 + 1 and entry["sequence_gaps"] == 2


def test_a_jump_back_is_a_reset_not_a_loss() -> None:
    tracker = SequenceTracker()
    entry = FlowStats().exporter("x")
    tracker.observe(("x", "lost_records", 5), [(1000, 30), (1030, 30)], NOW, entry)
    tracker.settle(NOW + 3, lambda _: entry)
    tracker.observe(("x", "lost_records", 5), [(0, 30)], NOW + 3, entry)
    tracker.settle(NOW + 10, lambda _: entry)
    assert (entry["sequence_resets"], entry["sequence_gaps"], entry["lost_records"]) == (1, 0, 0)


def test_a_late_run_fills_its_hole_before_the_wait_ends() -> None:
    tracker = SequenceTracker(wait_s=2.0)
    entry = FlowStats().exporter("x")
    key = ("x", "lost_datagrams", "agent", 0)
    tracker.observe(key, [(1, 3)], NOW, entry)
    tracker.observe(key, [(7, 2)], NOW, entry)
    tracker.settle(NOW + 1, lambda _: entry)
    assert entry["sequence_gaps"] == 0
    tracker.observe(key, [(4, 3)], NOW + 1.5, entry)  # the sibling's report
    tracker.settle(NOW + 5, lambda _: entry)
    assert entry["sequence_gaps"] == 0


@given(st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=40), st.sets(st.integers(0, 39)))
def test_loss_is_exactly_what_was_skipped(sizes: list[int], skipped: set[int]) -> None:
    """Any datagram sizes, any datagrams skipped, any split between two workers: the loss counted
    is the records of the skipped datagrams that have a later datagram after them."""
    sequence = 0
    runs: list[tuple[int, int]] = []
    for size in sizes:
        runs.append((sequence, size))
        sequence += size
    sent = [run for i, run in enumerate(runs) if i not in skipped]
    if not sent:
        return
    last_sent = max(i for i in range(len(runs)) if i not in skipped)
    first_sent = min(i for i in range(len(runs)) if i not in skipped)
    expected = sum(runs[i][1] for i in skipped if first_sent < i < last_sent)
    tracker = SequenceTracker()
    entry = FlowStats().exporter("x")
    logs = [SequenceLog(), SequenceLog()]
    for i, (start, count) in enumerate(sent):
        logs[(i // 3) % 2].note(("x", "lost_records"), start, count)
    for log in reversed(logs):
        for key, worker_runs in log.take():
            tracker.observe(tuple(key), worker_runs, NOW, entry)
    tracker.settle(NOW + 10, lambda _: entry)
    assert entry["lost_records"] == expected and entry["sequence_resets"] == 0


def test_templates_from_a_worker_are_kept_described_and_saved(tmp_path: Any) -> None:
    learner = FlowDecoder()
    learner.decode(fp.ipfix_flows(fp.flows(1), template_id=300), EXPORTER, NOW)
    fresh = learner.templates.take_fresh()
    assert fresh is not None
    state = FlowState(FlowSettings(), str(tmp_path))
    state.worker_report("netflow", encode(WorkerReport(pid=1, templates=msgspec.Raw(fresh))), NOW)
    report = state.report(NOW)
    assert report.templates is not None and [t.template_id for t in report.templates] == [300]
    assert state.report(NOW).templates is None  # sent again only when they change
    state.save()
    again = FlowState(FlowSettings(), str(tmp_path))
    assert again.load() is None
    assert [t["template_id"] for t in again.templates.describe()] == [300]


def test_a_damaged_worker_report_is_logged_not_raised() -> None:
    state = FlowState(FlowSettings(), "")
    assert state.worker_report("netflow", b'{"pid": "one"}', NOW) is None
    assert WorkerReport(pid=1).fresh_templates() is None and WorkerReport(pid=1).templates == NOTHING


def test_setup_and_report_travel_as_json() -> None:
    setup = FlowSetup(flow=FlowSettings(netflow="127.0.0.1:0"), state_dir="/x")
    assert msgspec.json.decode(msgspec.json.encode(setup), type=FlowSetup) == setup
    state = FlowState(FlowSettings(), "")
    decoded = msgspec.json.decode(encode(state.report(NOW)), type=FlowReport)
    assert decoded.exporters == {}


def test_top_talkers_add_up_across_workers_and_scale_sampled_counts() -> None:
    workers = [MinuteCounter(), MinuteCounter()]
    record = {"kind": "flow", "src_addr": "10.0.0.1", "dst_addr": "10.0.0.2", "protocol": 6, "bytes": 100,
              "packets": 2, "bytes_scaled": 100_000, "packets_scaled": 2000}  # fmt: skip
    small = {"kind": "flow", "src_addr": "10.0.0.3", "dst_addr": "10.0.0.2", "protocol": 17, "bytes": 10,
             "packets": 1, "bytes_scaled": None, "packets_scaled": None}  # fmt: skip
    workers[0].add([record, small, {"kind": "counters", "if_index": 3}], NOW)
    workers[1].add([record], NOW)
    workers[1].add([small], NOW + 60)  # the next minute
    main = MinuteCounter()
    for worker in workers:
        main.merge(worker.take())
    summaries = main.summaries()
    assert [s.minute for s in summaries] == [int(NOW // 60), int(NOW // 60) + 1]
    hosts, protocols = ranking(summaries, "bytes", 10)
    assert hosts[0][0] == "10.0.0.2" and hosts[0][1].bytes == 200_020 and hosts[0][1].flows == 4
    assert dict(hosts)["10.0.0.3"].packets == 2
    assert [p for p, _ in protocols] == [6, 17]
    by_flows, _ = ranking(summaries, "flows", 1)
    assert by_flows[0][0] == "10.0.0.2"
    assert main.summaries() == []  # nothing changed since


def test_hosts_beyond_the_limit_add_up_under_other() -> None:
    counter = MinuteCounter(max_hosts=4)
    records = [{"kind": "flow", "src_addr": f"10.0.0.{i}", "dst_addr": None, "protocol": 6, "bytes": 10,
                "packets": 1} for i in range(10)]  # fmt: skip
    counter.add(records, NOW)
    (summary,) = counter.summaries(keep=2)
    assert len(summary.hosts) <= 4
    total = sum(u.bytes for u in summary.hosts.values()) + summary.other.bytes
    assert total == 100
