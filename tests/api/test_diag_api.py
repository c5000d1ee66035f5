"""Diagnostics through the control API of a real engine, against targets on 127.0.0.1: each POST
answers a typed NDJSON stream (job.started, progress, summary, job.ended); bad requests and a
fourth job are refused before anything runs; cancelling or walking away stops the job."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from nocraven.client import Client
from nocraven.errors import ApiError, ErrorCode
from nocraven.schema import diag as wire
from tests.support.dnsmasq import running_dnsmasq
from tests.support.engine import RunningEngine, start_engine
from tests.support.speed_http import speed_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
needs_icmp = pytest.mark.skipif(os.geteuid() != 0, reason="the engine needs raw ICMP (root) for ping and trace")
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    running = start_engine(tmp_path_factory.mktemp("diag") / "engine", wait=60)
    yield running
    running.stop()


@pytest.fixture
def api(engine: RunningEngine) -> Iterator[Client]:
    with Client(engine.socket) as client:
        yield client
    wait_until_idle(engine.socket)  # no test leaves a job behind for the next one


def wait_until_idle(socket_path: Path, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    with Client(socket_path) as client:
        while client.diag_jobs().jobs:
            assert time.monotonic() < deadline, f"jobs still running: {client.diag_jobs().jobs}"
            time.sleep(0.1)


def kinds(events: list[wire.DiagEvent]) -> list[str]:
    return [msgspec.json.decode(msgspec.json.encode(e))["kind"] for e in events]


def finished(events: list[wire.DiagEvent]) -> wire.DiagEvent:
    """The summary of a job that ran to its end (asserting the stream's shape on the way)."""
    assert isinstance(events[0], wire.JobStarted)
    ended = events[-1]
    assert isinstance(ended, wire.JobEnded) and ended.outcome == "finished", ended
    assert ended.job_id == events[0].job_id
    return events[-2]


@needs_icmp
def test_ping_streams_a_reply_per_probe_then_the_summary(api: Client) -> None:
    events = list(api.diag_ping(wire.PingRequest(host="127.0.0.1", count=3, interval=0.05)))
    assert kinds(events) == ["job.started", *["ping.replied"] * 3, "ping.summary", "job.ended"]
    assert [e.seq for e in events if isinstance(e, wire.PingReplied)] == [1, 2, 3]
    summary = finished(events)
    assert isinstance(summary, wire.PingSummary)
    assert (summary.sent, summary.received, summary.loss_pct, summary.address) == (3, 3, 0.0, "127.0.0.1")
    assert summary.min_ms is not None and summary.max_ms is not None and 0 < summary.min_ms <= summary.max_ms


@needs_icmp
def test_trace_to_loopback_is_reached_in_one_hop(api: Client) -> None:
    events = list(api.diag_trace(wire.TraceRequest(host="127.0.0.1", cycles=2, interval=0.05, resolve_names=False)))
    summary = finished(events)
    assert isinstance(summary, wire.TraceSummary) and summary.reached
    assert [(h.hop, h.address, h.sent, h.received) for h in summary.hops] == [(1, "127.0.0.1", 2, 2)]
    assert any(isinstance(e, wire.HopUpdated) for e in events)


def test_port_check_tells_open_from_refused(api: Client) -> None:
    with socket.socket() as listening, socket.socket() as closed:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        closed.bind(("127.0.0.1", 0))  # holds a port nothing listens on
        open_port, closed_port = listening.getsockname()[1], closed.getsockname()[1]
        open_summary = finished(list(api.diag_port(wire.PortRequest(host="127.0.0.1", port=open_port))))
        refused_summary = finished(list(api.diag_port(wire.PortRequest(host="127.0.0.1", port=closed_port))))
    assert isinstance(open_summary, wire.PortSummary) and isinstance(refused_summary, wire.PortSummary)
    assert (open_summary.state, open_summary.port) == ("open", open_port)
    assert open_summary.connect_ms is not None
    assert (refused_summary.state, refused_summary.connect_ms) == ("refused", None)


def test_dns_answers_and_nxdomain_from_a_real_dnsmasq(api: Client) -> None:
    with running_dnsmasq() as port:
        server = f"127.0.0.1:{port}"
        answer = finished(list(api.diag_dns(wire.DnsRequest(name="www.diag.test", type="AAAA", server=server))))
        missing = finished(list(api.diag_dns(wire.DnsRequest(name="nosuch.diag.test", server=server))))
    assert isinstance(answer, wire.DnsSummary) and isinstance(missing, wire.DnsSummary)
    assert (answer.status, answer.server, answer.port) == ("noerror", "127.0.0.1", port)
    assert [(r.type, r.value, r.ttl) for r in answer.answers] == [("AAAA", "2001:db8::10", 300)]
    assert (missing.status, missing.rcode, missing.answers) == ("nxdomain", "NXDOMAIN", [])


def test_bandwidth_counts_the_bytes_moved_both_ways(api: Client) -> None:
    with speed_server() as http:
        down = finished(list(api.diag_bandwidth(wire.BandwidthRequest(url=f"{http.base_url}/bytes/{8 * MiB}"))))
        up_request = wire.BandwidthRequest(url=f"{http.base_url}/upload", direction="upload", max_bytes=2 * MiB)
        up = finished(list(api.diag_bandwidth(up_request)))
        uploaded = list(http.uploaded)
    assert isinstance(down, wire.BandwidthSummary) and isinstance(up, wire.BandwidthSummary)
    assert (down.bytes, down.stopped_by, down.http_status) == (8 * MiB, "complete", 200)
    assert down.bits_per_second == pytest.approx(8 * down.bytes / down.seconds, rel=1e-3)
    assert (up.bytes, up.stopped_by, uploaded) == (2 * MiB, "byte_limit", [2 * MiB])


@pytest.mark.parametrize(
    ("path", "body", "says"),
    [
        ("/v1/diag/ping", {"host": "gw; rm -rf /"}, "host:"),
        ("/v1/diag/ping", {"host": "127.0.0.1", "count": 0}, "count"),
        ("/v1/diag/dns", {"name": "example.org", "type": "ANY"}, "type"),
        ("/v1/diag/port", {"host": "127.0.0.1", "port": 70000}, "port"),
        ("/v1/diag/bandwidth", {"url": "file:///etc/passwd"}, "url"),
        ("/v1/diag/ping", {"host": "127.0.0.1", "shell": "yes"}, "shell"),
        ("/v1/diag/trace", {}, "host"),
    ],
)
def test_bad_requests_are_refused_before_anything_runs(api: Client, path: str, body: object, says: str) -> None:
    with pytest.raises(ApiError) as refused:
        api.post(path, body)
    assert (refused.value.code, refused.value.status) == (ErrorCode.BAD_REQUEST, 400)
    assert says in refused.value.message and "\n" not in refused.value.message
    assert api.diag_jobs().jobs == []


@needs_icmp
def test_a_job_cancelled_through_the_api_ends_its_stream_as_cancelled(api: Client, engine: RunningEngine) -> None:
    seen: list[wire.DiagEvent] = []
    started = threading.Event()

    def watch() -> None:
        with Client(engine.socket) as own:
            for event in own.diag_ping(wire.PingRequest(host="127.0.0.1", count=1000, interval=0.1)):
                seen.append(event)
                started.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    assert started.wait(30)
    job_id = seen[0].job_id if isinstance(seen[0], wire.JobStarted) else ""
    listed = api.diag_jobs().jobs
    assert [(j.job_id, j.tool, j.target) for j in listed] == [(job_id, "ping", "127.0.0.1")]
    assert api.diag_cancel(job_id) == wire.JobCancelled(job_id=job_id, tool="ping")
    watcher.join(30)
    assert not watcher.is_alive()
    ended = seen[-1]
    assert isinstance(ended, wire.JobEnded) and (ended.job_id, ended.outcome) == (job_id, "cancelled")
    assert sum(isinstance(e, wire.PingReplied) for e in seen) < 1000
    with pytest.raises(ApiError) as gone:
        api.diag_cancel(job_id)
    assert gone.value.code == ErrorCode.NOT_FOUND


def test_a_client_that_walks_away_cancels_its_job_even_while_the_probe_is_quiet(
    api: Client, engine: RunningEngine
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent, Client(engine.socket) as own:
        silent.bind(("127.0.0.1", 0))  # a DNS server that never answers: nothing to write for 20 s
        request = wire.DnsRequest(name="www.diag.test", server=f"127.0.0.1:{silent.getsockname()[1]}", timeout=20)
        stream = own.diag_dns(request)
        first = next(stream)
        assert isinstance(first, wire.JobStarted)
        assert isinstance(next(stream), wire.DnsQuerySent)
        assert [j.job_id for j in api.diag_jobs().jobs] == [first.job_id]
        stream.close()  # drops the connection without a word
        wait_until_idle(engine.socket, within=8)  # long before the lookup's own 20 s timeout
    assert f"(job {first.job_id}) cancelled" in engine.log()


@needs_icmp
def test_a_fourth_job_is_refused_as_busy(api: Client, engine: RunningEngine) -> None:
    clients = [Client(engine.socket) for _ in range(3)]
    streams = [c.diag_ping(wire.PingRequest(host="127.0.0.1", count=1000, interval=0.2)) for c in clients]
    try:
        for stream in streams:
            assert isinstance(next(stream), wire.JobStarted)
        assert len(api.diag_jobs().jobs) == 3
        with pytest.raises(ApiError) as busy:
            next(iter(api.diag_port(wire.PortRequest(host="127.0.0.1", port=1))))
        assert (busy.value.code, busy.value.status) == ("busy", 429)
        assert "3 diagnostics are already running (at most 3)" in busy.value.message
    finally:
        for stream, c in zip(streams, clients, strict=True):
            stream.close()
            c.close()
    wait_until_idle(engine.socket)
    detail = api.status().components["diag"].detail_as(wire.DiagCounters)
    assert detail.refused_busy >= 1 and detail.running == 0 and detail.max_running == 3
    # the slots are free again
    assert isinstance(finished(list(api.diag_port(wire.PortRequest(host="127.0.0.1", port=1)))), wire.PortSummary)


@needs_icmp
def test_stopping_the_engine_ends_running_jobs_as_cancelled(tmp_path: Path) -> None:
    own_engine = start_engine(tmp_path / "engine", wait=60)
    try:
        with Client(own_engine.socket) as client:
            stream = client.diag_ping(wire.PingRequest(host="127.0.0.1", count=1000, interval=0.1))
            assert isinstance(next(stream), wire.JobStarted)
            own_engine.proc.send_signal(signal.SIGTERM)
            rest = list(stream)
        assert own_engine.proc.wait(15) == 0
    finally:
        own_engine.stop()
    ended = rest[-1]
    assert isinstance(ended, wire.JobEnded) and ended.outcome == "cancelled"
    assert "engine stopped" in own_engine.log()
