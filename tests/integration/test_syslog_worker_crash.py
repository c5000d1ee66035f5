"""A UDP worker process that dies is replaced on its own: the collector, its TCP connections
and its other workers live on, and every datagram sent is either stored or accounted in the
ledger as lost with the worker (collector_crash)."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.support.abuse import child_pids, collector_pid, ledger
from tests.support.engine import RunningEngine, start_engine
from tests.support.syslog import listener_port, wait_for_syslog, with_message

pytestmark = pytest.mark.integration


def worker_pids(collector: int) -> list[int]:
    return child_pids(collector, "collectors.syslog.udp_worker")


def stored_messages(engine: RunningEngine, run: str, out: Path) -> set[str]:
    result = engine.cli("buffer", "export", "--service", "syslog", "--out", str(out))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in out.read_bytes().split(b"\n") if line.strip()]
    return {str(r.get("message")) for r in records if run in str(r.get("message"))}


def test_a_killed_udp_worker_is_replaced_without_touching_tcp(tmp_path: Path) -> None:
    # Issue 9 item 6: one dead UDP worker restarted the whole collector, dropping TCP connections.
    engine = start_engine(tmp_path / "engine", "[syslog]\nudp_workers = 2\n")
    try:
        udp_port, tcp_port = listener_port(engine, "udp"), listener_port(engine, "tcp")
        collector = collector_pid(engine)
        workers = worker_pids(collector)
        assert len(workers) == 2
        run = uuid.uuid4().hex[:10]
        tcp = socket.create_connection(("127.0.0.1", tcp_port))
        tcp.sendall(f"<13>Dec  1 10:00:00 sw app: {run} tcp before\n".encode())
        wait_for_syslog(engine, with_message(f"{run} tcp before"))

        sent: list[str] = []

        def send_udp() -> None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                for i in range(3000):
                    text = f"{run} udp {i}"
                    udp.sendto(f"<13>Dec  1 10:00:00 sw app: {text}".encode(), ("127.0.0.1", udp_port))
                    sent.append(text)
                    if i % 50 == 0:
                        time.sleep(0.01)

        sender = threading.Thread(target=send_udp, daemon=True)
        sender.start()
        time.sleep(0.2)
        for pid in workers:  # one after the other, while datagrams arrive
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.3)
        sender.join(30)

        tcp.sendall(f"<13>Dec  1 10:00:00 sw app: {run} tcp after\n".encode())  # the same connection
        wait_for_syslog(engine, with_message(f"{run} tcp after"))
        assert collector_pid(engine) == collector
        replaced = worker_pids(collector)
        assert len(replaced) == 2 and not set(replaced) & set(workers)

        deadline = time.monotonic() + 15
        while True:
            stored = stored_messages(engine, run, tmp_path / "export.ndjson")
            lost = sum(e.records for e in ledger(engine) if e.reason == "collector_crash")
            kernel = sum(e.records for e in ledger(engine) if e.reason == "kernel_drop")
            udp_stored = sum(1 for text in sent if text in stored)
            if udp_stored + lost + kernel >= len(sent) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert udp_stored + lost + kernel == len(sent), (udp_stored, lost, kernel)
        assert udp_stored > len(sent) // 2
        tcp.close()
    finally:
        engine.stop()
