"""The whole engine forwarding syslog to a real nats-server (JetStream): through an outage of the
NOC, a kill -9 of the engine mid-drain, quota evictions while the NOC is down (gap events), and
pause/resume from the CLI. Everything is read back from the stream."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tests.support.engine import RunningEngine, start_engine
from tests.support.forwarding import NATS_SERVER, NatsServer, StreamMessage, nats_server, read_stream, running
from tests.support.syslog import listener_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(not shutil.which(NATS_SERVER), reason="needs nats-server (Debian package nats-server)"),
]


def engine_config(server: NatsServer, buffer: str = "", **sink: Any) -> str:
    options = {"timeout_s": 2.0, "batch_records": 500, "retry_max_s": 1.0, **sink}
    lines = "\n".join(f"{key} = {json.dumps(value)}" for key, value in options.items())
    return f"""
[syslog]
udp_workers = 1

[buffer]
min_free_bytes = 0
{buffer}

[forward]
site = "arena-01"

[[forward.sinks]]
name = "noc"
type = "nats"
urls = ["{server.url}"]
services = ["syslog"]
{lines}
"""


def send_tcp(engine: RunningEngine, tag: str, first: int, count: int) -> list[str]:
    """`count` syslog lines on one TCP connection (order kept); returns their messages."""
    port = listener_port(engine, "tcp")
    messages = [f"{tag} event {i} {i * 7919 % 100003:06x}" for i in range(first, first + count)]
    with socket.create_connection(("127.0.0.1", port), 5) as conn:
        payload = "".join(f"<30>Nov 27 06:00:00 sw{i % 5} {tag}[7]: {m}\n" for i, m in enumerate(messages))
        conn.sendall(payload.encode())
    return messages


def forward_status(engine: RunningEngine) -> dict[str, Any]:
    result = engine.cli("forward", "status", "--json", timeout=30)
    assert result.returncode == 0, result.stderr
    sinks = json.loads(result.stdout)["sinks"]
    return dict(sinks[0])


def wait_for(
    engine: RunningEngine, check: Callable[[dict[str, Any]], bool], what: str, timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = forward_status(engine)
        if check(status):
            return status
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}; last status {status}\n{engine.log()[-3000:]}")


def syslog_messages(messages: list[StreamMessage]) -> list[str]:
    """The syslog messages on the stream, ordered by their batch's first seq (a batch retried
    after a reconnect may land after a later one)."""
    batches = sorted(
        (m for m in messages if m.headers["Nocraven-Service"] == "syslog"),
        key=lambda m: int(m.headers["Nocraven-First-Seq"]),
    )
    return [msgspec.json.decode(record)["message"] for m in batches for record in m.records]


def assert_each_batch_once(messages: list[StreamMessage]) -> None:
    ids = [m.headers["Nats-Msg-Id"] for m in messages]
    assert len(ids) == len(set(ids)), "a batch is stored twice"


def stream(server: NatsServer) -> list[StreamMessage]:
    return asyncio.run(read_stream([server.url], "NOCRAVEN"))


def stream_count(server: NatsServer) -> int:
    async def count() -> int:
        import nats

        nc = await nats.connect(server.url, connect_timeout=5)
        try:
            try:
                info = await nc.jetstream(timeout=5).stream_info("NOCRAVEN")
            except Exception:
                return 0  # not created yet
            return int(info.state.messages)
        finally:
            await nc.close()

    return asyncio.run(count())


@pytest.mark.timeout(240)
def test_syslog_reaches_nats_once_through_an_outage_and_pause_resume(tmp_path: Path) -> None:
    server = nats_server(tmp_path)
    engine = start_engine(tmp_path / "engine", engine_config(server), wait=60)
    with running([server]):
        try:
            sent = send_tcp(engine, "fwd", 0, 1_000)
            first = wait_for(
                engine,
                lambda s: s["backlog_records"] == 1_000 and "unreachable" in s["reason"],
                "1,000 records waiting, the NOC unreachable",
            )
            assert first["state"] == "buffering"
            sent += send_tcp(engine, "fwd", 1_000, 2_000)
            grown = wait_for(engine, lambda s: s["backlog_records"] == 3_000, "the backlog to grow to 3,000")
            assert grown["state"] == "buffering" and grown["backlog_bytes"] > first["backlog_bytes"]

            server.start()
            done = wait_for(engine, lambda s: s["backlog_records"] == 0 and s["state"] == "forwarding", "the drain")
            assert done["delivered_records"] == 3_000 and done["last_delivery"] is not None
            on_stream = stream(server)
            assert_each_batch_once(on_stream)
            assert syslog_messages(on_stream) == sent
            assert all(m.subject == "nocraven.arena-01.syslog" for m in on_stream)

            # Paused from the CLI: new records wait in the buffer, nothing more reaches the NOC.
            assert engine.cli("forward", "pause", "noc").returncode == 0
            wait_for(engine, lambda s: s["state"] == "paused", "paused")
            batches_before = stream_count(server)
            sent += send_tcp(engine, "fwd", 3_000, 500)
            waiting = wait_for(engine, lambda s: s["backlog_records"] == 500, "500 records held while paused")
            assert waiting["state"] == "paused"
            assert stream_count(server) == batches_before
            assert engine.cli("forward", "resume").returncode == 0
            wait_for(
                engine, lambda s: s["backlog_records"] == 0 and s["state"] == "forwarding", "the drain after resume"
            )
            on_stream = stream(server)
            assert_each_batch_once(on_stream)
            assert syslog_messages(on_stream) == sent
        finally:
            engine.stop()


@pytest.mark.timeout(240)
def test_an_engine_killed_mid_drain_loses_nothing_and_the_stream_holds_each_batch_once(tmp_path: Path) -> None:
    server = nats_server(tmp_path)
    # Capped (~10 s for the backlog) so the kill lands in the middle of the drain.
    config = engine_config(server, max_bytes_per_s=400_000, batch_records=200)
    engine = start_engine(tmp_path / "engine", config, wait=60)
    total = 15_000
    with running([server]):
        try:
            sent = send_tcp(engine, "crash", 0, total)
            wait_for(engine, lambda s: s["backlog_records"] == total, f"{total:,} records waiting")
            server.start()
            wait_for(engine, lambda s: s["delivered_records"] >= 2_000, "the drain to start")
            engine.proc.send_signal(signal.SIGKILL)
            engine.proc.wait(10)
        finally:
            engine.stop()
        partial = stream(server)
        assert 0 < sum(len(m.records) for m in partial) < total, "the kill did not land mid-drain"

        restarted = start_engine(tmp_path / "engine", config, wait=60)
        try:
            wait_for(restarted, lambda s: s["backlog_records"] == 0 and s["state"] == "forwarding", "the drain", 120)
        finally:
            restarted.stop()
        on_stream = stream(server)
        assert_each_batch_once(on_stream)
        assert syslog_messages(on_stream) == sent


@pytest.mark.timeout(240)
def test_records_evicted_while_nats_is_down_arrive_as_gap_events_matching_the_ledger(tmp_path: Path) -> None:
    server = nats_server(tmp_path)
    # A tiny syslog quota: while the NOC is down, old segments are evicted (reason quota).
    small = 'seal_bytes = 65536\nservices.syslog = { quota_bytes = 40000, overflow = "drop_oldest" }'
    engine = start_engine(tmp_path / "engine", engine_config(server, buffer=small), wait=60)
    total = 8_000
    with running([server]):
        try:
            sent = send_tcp(engine, "gap", 0, total)
            deadline = time.monotonic() + 60
            while True:
                ledger = engine_ledger(engine)
                held = forward_status(engine)["backlog_records"]
                evicted = sum(e["records"] for e in ledger if e["reason"] == "quota")
                if held + evicted == total and evicted > 0:
                    break
                assert time.monotonic() < deadline, f"records held {held} + evicted {evicted} != {total}"
                time.sleep(0.3)
            server.start()
            wait_for(engine, lambda s: s["backlog_records"] == 0 and s["gap_events"] >= len(ledger), "the drain")
        finally:
            engine.stop()
        on_stream = stream(server)
    assert_each_batch_once(on_stream)
    gaps = [msgspec.json.decode(r) for m in on_stream if m.headers["Nocraven-Service"] == "gap" for r in m.records]
    assert all(m.subject == "nocraven.arena-01.gap" for m in on_stream if m.headers["Nocraven-Service"] == "gap")
    by_id = {g["ledger_id"]: g for g in gaps}
    assert set(by_id) == {e["id"] for e in ledger}
    for entry in ledger:
        gap = by_id[entry["id"]]
        assert (gap["reason"], gap["records"], gap["bytes"], gap["lost_service"]) == (
            entry["reason"],
            entry["records"],
            entry["bytes"],
            entry["service"],
        )
    # Completeness at the NOC: what arrived plus what the gap events account for is all that was sent.
    delivered = syslog_messages(on_stream)
    assert len(delivered) + sum(g["records"] for g in gaps) == total
    assert delivered == sent[total - len(delivered) :], "the newest records survive, in order"


def engine_ledger(engine: RunningEngine) -> list[dict[str, Any]]:
    from nocraven.client import Client

    with Client(engine.socket, timeout=30) as client:
        entries = client.buffer_ledger(limit=1000, service="syslog").entries
    return [msgspec.to_builtins(e) for e in entries]


@pytest.mark.timeout(240)
def test_an_operators_pause_survives_an_engine_restart_until_resumed(tmp_path: Path) -> None:
    server = nats_server(tmp_path).start()
    config = engine_config(server)
    with running([server]):
        engine = start_engine(tmp_path / "engine", config, wait=60)
        try:
            wait_for(engine, lambda s: s["state"] == "forwarding", "the sink to connect")
            assert engine.cli("forward", "pause", "noc").returncode == 0
            wait_for(engine, lambda s: s["state"] == "paused", "paused")
        finally:
            assert engine.stop() == 0

        restarted = start_engine(tmp_path / "engine", config, wait=60)
        try:
            status = wait_for(restarted, lambda s: s["state"] in ("paused", "forwarding"), "the sink's first state")
            assert status["state"] == "paused", "the pause was forgotten by the restart"
            sent = send_tcp(restarted, "held", 0, 300)
            held = wait_for(restarted, lambda s: s["backlog_records"] == 300, "300 records held while paused")
            assert held["state"] == "paused" and held["delivered_records"] == 0
            time.sleep(1.0)  # a sink that forgot its pause would have sent them by now
            assert stream_count(server) == 0
            assert restarted.cli("forward", "resume", "noc").returncode == 0
            wait_for(restarted, lambda s: s["backlog_records"] == 0 and s["state"] == "forwarding", "the drain")
        finally:
            assert restarted.stop() == 0
        assert syslog_messages(stream(server)) == sent

        # Resumed is kept too: the next start forwards at once.
        again = start_engine(tmp_path / "engine", config, wait=60)
        try:
            sent += send_tcp(again, "after", 300, 100)
            wait_for(again, lambda s: s["backlog_records"] == 0 and s["delivered_records"] == 100, "forwarding")
        finally:
            again.stop()
        assert syslog_messages(stream(server)) == sent
