"""A kill -9 of the syslog collector under load: what its processes held in memory is accounted
in the ledger (collector_crash, with the pid and the signal), and the TCP connections it reset
too (connection_reset). For UDP the books balance exactly: every datagram sent is stored, or
dropped by the kernel, or lost in the crash, as the ledger says."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.support.abuse import child_pids, collector_pid, ledger
from tests.support.engine import RunningEngine, start_engine
from tests.support.syslog import listener_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def stored_texts(engine: RunningEngine, run: str, out: Path) -> set[str]:
    result = engine.cli("buffer", "export", "--service", "syslog", "--out", str(out))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in out.read_bytes().split(b"\n") if line.strip()]
    return {str(r.get("message")) for r in records if run in str(r.get("message"))}


def wait_for_new_collector(engine: RunningEngine, old: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid = collector_pid(engine)
        except AssertionError:
            pid = old
        if pid != old:
            return pid
        time.sleep(0.1)
    raise AssertionError("the syslog collector was not restarted")


def crash_entries(engine: RunningEngine, reason: str) -> list[tuple[int, int, str | None]]:
    return [(e.records, e.bytes, e.source) for e in ledger(engine) if e.reason == reason]


@pytest.mark.parametrize("worker_killed_first", [False, True], ids=["collector", "worker-then-collector"])
def test_a_killed_collector_loses_nothing_unaccounted_over_udp(tmp_path: Path, worker_killed_first: bool) -> None:
    # worker-then-collector: a UDP worker's lost batch is ledgered once, not again at the crash.
    engine = start_engine(tmp_path / "engine", "[syslog]\nudp_workers = 2\n")
    try:
        port = listener_port(engine, "udp")
        collector = collector_pid(engine)
        udp_worker = udp_worker_pids(collector)[0]
        run = uuid.uuid4().hex[:10]
        sent: list[str] = []
        kill_at = 4000

        def send() -> None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                for i in range(10_000):
                    text = f"{run} udp {i}"
                    udp.sendto(f"<13>Dec  1 10:00:00 sw app: {text}".encode(), ("127.0.0.1", port))
                    sent.append(text)
                    if worker_killed_first and i == kill_at // 2:
                        os.kill(udp_worker, signal.SIGKILL)
                    if i == kill_at:
                        os.kill(collector, signal.SIGKILL)  # mid-stream: batches are in flight
                    if i % 100 == 0:
                        time.sleep(0.01)  # about 10,000 a second, bounded

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        sender.join(60)
        assert not sender.is_alive()
        wait_for_new_collector(engine, collector)

        deadline = time.monotonic() + 20
        while True:
            stored = stored_texts(engine, run, tmp_path / "export.ndjson")
            crashed = crash_entries(engine, "collector_crash")
            lost = sum(records for records, _, _ in crashed)
            kernel = sum(records for records, _, _ in crash_entries(engine, "kernel_drop"))
            udp_stored = sum(1 for text in sent if text in stored)
            if udp_stored + lost + kernel >= len(sent) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert udp_stored + lost + kernel == len(sent), (udp_stored, lost, kernel)
        assert len(stored) == udp_stored  # nothing stored twice
        # The engine's own books agree: received (over both collector runs) = stored + lost in the
        # crash. A batch lost with a worker alone was never received (parsed): it is not counted.
        in_worker = sum(records for records, _, source in crashed if source is None)
        deadline = time.monotonic() + 15
        while True:
            totals = json.loads(engine.cli("status", "--json").stdout)["components"]["syslog"]["detail"]["totals"]
            if totals["messages"] >= len(sent) - kernel - in_worker or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert totals["messages"] == len(sent) - kernel - in_worker, totals
        assert totals["lost_in_crashes"] == lost - in_worker
        assert totals["messages"] == totals["records_stored"] + totals["lost_without_buffer"] + lost - in_worker
        for records, size, source in crashed:  # says which process died and how
            assert source in (f"syslog collector pid {collector}, signal SIGKILL", None)
            assert size >= records * len("<13>Dec  1 10:00:00 sw app: ")
        listing = engine.cli("buffer", "ledger", "--service", "syslog")
        as_json = engine.cli("buffer", "ledger", "--service", "syslog", "--json")
        assert listing.returncode == 0 and as_json.returncode == 0
        shown = [e for e in json.loads(as_json.stdout)["entries"] if e["reason"] == "collector_crash"]
        assert sum(e["records"] for e in shown) == lost
        if lost:
            assert "collector_crash" in listing.stdout and str(collector) in listing.stdout
    finally:
        engine.stop()


def test_a_killed_collector_ledgers_the_tcp_connections_it_reset(tmp_path: Path) -> None:
    engine = start_engine(tmp_path / "engine", "[syslog]\nstream_workers = 2\n")
    try:
        port = listener_port(engine, "tcp")
        collector = collector_pid(engine)
        run = uuid.uuid4().hex[:10]
        connections = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(3)]
        sent = [0, 0, 0]
        stop = threading.Event()

        def send(index: int) -> None:
            conn = connections[index]
            try:
                for i in range(20_000):  # bounded; stops at the reset
                    if stop.is_set():
                        return
                    conn.sendall(f"<13>Dec  1 10:00:00 sw app: {run} tcp {index} {i}\n".encode())
                    sent[index] += 1
                    if i % 50 == 0:
                        time.sleep(0.005)
            except OSError:
                return

        senders = [threading.Thread(target=send, args=(i,), daemon=True) for i in range(3)]
        for thread in senders:
            thread.start()
        time.sleep(1.0)
        os.kill(collector, signal.SIGKILL)
        for thread in senders:
            thread.join(30)
        stop.set()
        wait_for_new_collector(engine, collector)

        deadline = time.monotonic() + 20
        while not crash_entries(engine, "connection_reset") and time.monotonic() < deadline:
            time.sleep(0.3)
        resets = crash_entries(engine, "connection_reset")
        assert [(records, source) for records, _, source in resets] == [
            (3, f"syslog collector pid {collector}, signal SIGKILL")
        ]
        # What was stored and what the ledger says was lost in the crash never exceed what was
        # sent (the rest was in the kernel's buffers of the reset connections: only the senders know).
        stored = stored_texts(engine, run, tmp_path / "export.ndjson")
        lost = sum(records for records, _, _ in crash_entries(engine, "collector_crash"))
        assert len(stored) > 0 and len(stored) + lost <= sum(sent)
        # A new connection works against the restarted collector, and its end is not a reset.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as after:
            after.sendall(f"<13>Dec  1 10:00:00 sw app: {run} after\n".encode())
        for conn in connections:
            conn.close()
    finally:
        engine.stop()
    assert len(crash_entries_after_stop(tmp_path)) == 1


def crash_entries_after_stop(tmp_path: Path) -> list[str]:
    """connection_reset rows in the stopped engine's buffer: the clean stop added none."""
    with sqlite3.connect(tmp_path / "engine" / "data" / "buffer.db") as db:
        return [row[0] for row in db.execute("SELECT source FROM ledger WHERE reason = 'connection_reset'")]


def udp_worker_pids(collector: int) -> list[int]:
    return child_pids(collector, "collectors.syslog.udp_worker")


def stream_worker_pids(collector: int) -> list[int]:
    return child_pids(collector, "collectors.syslog.stream_worker")


def test_a_killed_stream_worker_ledgers_its_connections_and_what_it_held(tmp_path: Path) -> None:
    engine = start_engine(tmp_path / "engine", "[syslog]\nstream_workers = 1\n")
    try:
        port = listener_port(engine, "tcp")
        collector = collector_pid(engine)
        [worker] = stream_worker_pids(collector)
        run = uuid.uuid4().hex[:10]
        connections = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(2)]
        sent = [0, 0]

        def send(index: int) -> None:
            try:
                for i in range(20_000):  # bounded; stops at the reset
                    connections[index].sendall(f"<13>Dec  1 10:00:00 sw app: {run} w {index} {i}\n".encode())
                    sent[index] += 1
                    if i % 50 == 0:
                        time.sleep(0.005)
            except OSError:
                return

        senders = [threading.Thread(target=send, args=(i,), daemon=True) for i in range(2)]
        for thread in senders:
            thread.start()
        time.sleep(1.0)
        os.kill(worker, signal.SIGKILL)
        for thread in senders:
            thread.join(30)
        origin = f"syslog stream worker pid {worker}, signal SIGKILL"
        deadline = time.monotonic() + 15
        while not crash_entries(engine, "connection_reset") and time.monotonic() < deadline:
            time.sleep(0.3)
        assert [(records, source) for records, _, source in crash_entries(engine, "connection_reset")] == [(2, origin)]
        assert collector_pid(engine) == collector  # the collector lived on, with a new worker
        assert all(source == origin for _, _, source in crash_entries(engine, "collector_crash"))
        stored = stored_texts(engine, run, tmp_path / "export.ndjson")
        lost = sum(records for records, _, _ in crash_entries(engine, "collector_crash"))
        assert len(stored) > 0 and len(stored) + lost <= sum(sent)
        for conn in connections:
            conn.close()
        # A later crash of the whole collector does not count the worker's loss again.
        os.kill(collector, signal.SIGKILL)
        wait_for_new_collector(engine, collector)
        time.sleep(3)
        assert not [s for _, _, s in crash_entries(engine, "collector_crash") if s and str(collector) in s]
    finally:
        engine.stop()
