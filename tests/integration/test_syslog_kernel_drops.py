"""Kernel receive-buffer drops are counted: a burst into a tiny receive buffer shows up in
`nocraven status --json`, per listener and in the buffer's drop ledger, and every datagram is
either stored or counted."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from tests.support.engine import start_engine
from tests.support.syslog import listener_port

pytestmark = pytest.mark.integration

BURST = 60_000


def test_a_burst_into_a_tiny_receive_buffer_is_counted_exactly(tmp_path: Path) -> None:
    engine = start_engine(tmp_path / "engine", "[syslog]\nreceive_buffer_bytes = 65536\n")
    try:
        port = listener_port(engine, "udp")
        message = b"<134>Nov 27 05:50:01 burst-host app[1]: " + b"x" * 300
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.connect(("127.0.0.1", port))
            for _ in range(BURST):  # bounded: a fixed count, as fast as Python sends
                udp.send(message)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status = json.loads(engine.cli("status", "--json").stdout)
            syslog = status["components"]["syslog"]["detail"]
            totals = syslog["totals"]
            if totals["messages"] + totals["kernel_drops"] >= BURST:
                break
            time.sleep(0.5)
        udp_listener = next(x for x in syslog["listeners"] if x["listener"] == "udp")
        assert udp_listener["counters"]["kernel_drops"] > 0
        assert totals["kernel_drops"] == udp_listener["counters"]["kernel_drops"]
        assert totals["messages"] + totals["kernel_drops"] == BURST
        assert syslog["sources"]["127.0.0.1"]["messages"] == totals["messages"]
        # The ledger accounts for the same datagrams, with the reason.
        time.sleep(2.5)  # drops are reported each second and written with the next seal
        ledger = json.loads(engine.cli("buffer", "stats", "--json").stdout)
        kernel = ledger["services"]["syslog"]["dropped_by_reason"]["kernel_drop"]
        assert kernel["records"] == totals["kernel_drops"]
        assert (
            ledger["services"]["syslog"]["records"] + ledger["services"]["syslog"]["unsealed_records"]
            == totals["messages"]
        )
    finally:
        engine.stop()
