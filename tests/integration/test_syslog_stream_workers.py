"""TCP connections are read and parsed by stream worker processes (the main collector process
accepts them and hands each to one worker): several connections are spread over the workers,
each connection's messages are stored in the order it sent them, whatever the framing, and a
worker that dies is replaced without taking the listener down."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import uuid
from pathlib import Path

import pytest

from tests.support.abuse import child_pids, closed_by_peer, collector_pid
from tests.support.engine import RunningEngine, start_engine
from tests.support.syslog import listener_port, wait_for_syslog, with_message

pytestmark = pytest.mark.integration

PER_CONNECTION = 1500


def stream_workers(collector: int) -> list[int]:
    return child_pids(collector, "collectors.syslog.stream_worker")


def sockets_held(pid: int) -> int:
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(fd).startswith("socket:")
        except OSError:
            continue
    return count


def exported(engine: RunningEngine, out: Path) -> list[dict[str, object]]:
    result = engine.cli("buffer", "export", "--service", "syslog", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in out.read_bytes().split(b"\n") if line.strip()]


def test_connections_are_spread_over_workers_and_each_keeps_its_order(tmp_path: Path) -> None:
    engine = start_engine(tmp_path / "engine", "[syslog]\nstream_workers = 2\n")
    try:
        port = listener_port(engine, "tcp")
        workers = stream_workers(collector_pid(engine))
        assert len(workers) == 2
        run = uuid.uuid4().hex[:10]
        connections = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
        # Framing per connection as senders do it: octet counting on two, newlines on two.
        for index, sock in enumerate(connections):
            lines = [f"<13>Dec  1 10:00:00 sw app: {run} c{index} n{n}".encode() for n in range(PER_CONNECTION)]
            if index % 2:
                sock.sendall(b"".join(b"%d %s" % (len(line), line) for line in lines))
            else:
                sock.sendall(b"\n".join(lines) + b"\n")
        deadline = time.monotonic() + 15
        records: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            records = [r for r in exported(engine, tmp_path / "out.ndjson") if run in str(r.get("message"))]
            if len(records) >= 4 * PER_CONNECTION:
                break
            time.sleep(0.5)
        assert len(records) == 4 * PER_CONNECTION
        # Both workers hold connections (each has its hand-off socket besides).
        assert all(sockets_held(pid) >= 2 for pid in workers), [sockets_held(pid) for pid in workers]
        by_source: dict[str, list[tuple[int, int]]] = {}
        for record in records:
            _, connection, number = str(record["message"]).split()
            by_source.setdefault(str(record["source"]), []).append((int(connection[1:]), int(number[1:])))
        assert len(by_source) == 4
        for sent in by_source.values():
            assert len({connection for connection, _ in sent}) == 1  # one source port, one connection
            assert [number for _, number in sent] == list(range(PER_CONNECTION))  # in the order sent
        for sock in connections:
            sock.close()
    finally:
        engine.stop()


def test_a_killed_stream_worker_is_replaced_and_its_connections_closed(tmp_path: Path) -> None:
    engine = start_engine(tmp_path / "engine", "[syslog]\nstream_workers = 1\n")
    try:
        port = listener_port(engine, "tcp")
        collector = collector_pid(engine)
        (worker,) = stream_workers(collector)
        run = uuid.uuid4().hex[:10]
        held = socket.create_connection(("127.0.0.1", port))
        held.sendall(f"<13>Dec  1 10:00:00 sw app: {run} before\n".encode())
        wait_for_syslog(engine, with_message(f"{run} before"))
        os.kill(worker, signal.SIGKILL)
        assert closed_by_peer(held, timeout=5)  # its connection went with it: the sender reconnects
        held.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and stream_workers(collector) in ([], [worker]):
            time.sleep(0.2)
        assert len(stream_workers(collector)) == 1 and stream_workers(collector) != [worker]
        with socket.create_connection(("127.0.0.1", port)) as again:
            again.sendall(f"<13>Dec  1 10:00:00 sw app: {run} after\n".encode())
            wait_for_syslog(engine, with_message(f"{run} after"))
        assert collector_pid(engine) == collector  # the collector itself lived on
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            status = json.loads(engine.cli("status", "--json").stdout)["components"]["syslog"]["detail"]
            tcp = next(x for x in status["listeners"] if x["listener"] == "tcp")["counters"]
            if tcp["active_connections"] == 0:
                break
            time.sleep(0.3)
        assert tcp["active_connections"] == 0  # the dead worker's connection gave up its place
    finally:
        engine.stop()
