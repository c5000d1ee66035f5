"""A clean stop keeps what TCP senders already sent: the collector reads what the kernel holds
for each connection, and keeps a last message that has no terminator yet, before it exits."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest

from tests.support.engine import start_engine
from tests.support.syslog import listener_port, wait_for_syslog

pytestmark = pytest.mark.integration


def test_sigterm_keeps_the_last_tcp_batch(tmp_path: Path) -> None:
    # Issue 9 item 6: 100 messages sent just before a clean stop were lost.
    run = uuid.uuid4().hex[:10]
    engine = start_engine(tmp_path / "engine")
    try:
        port = listener_port(engine, "tcp")
        sock = socket.create_connection(("127.0.0.1", port))
        lines = [f"<13>Dec  1 10:00:00 sw app: {run} before stop {i}" for i in range(1000)]
        # The last one unterminated: the sender would end it with its next message.
        sock.sendall("\n".join(lines).encode())
        assert engine.stop() == 0
        sock.close()
    finally:
        engine.stop()
    engine = start_engine(tmp_path / "engine")  # the same data directory
    try:
        records = wait_for_syslog(
            engine, lambda rs: sum(run in (r.get("message") or "") for r in rs) >= 1000, timeout=5
        )
        kept = {r["message"] for r in records if run in (r.get("message") or "")}
        assert kept == {line.partition(": ")[2] for line in lines}
    finally:
        engine.stop()
