"""The syslog listener's refusals: senders outside the allowlist and connections over the limit
are refused, counted per source and accounted in the drop ledger; allowed traffic goes on."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from pathlib import Path

import pytest

from tests.support.engine import start_engine
from tests.support.syslog import listener_port, wait_for_syslog, with_message

pytestmark = pytest.mark.integration


def test_senders_outside_the_allowlist_are_refused_and_accounted(tmp_path: Path) -> None:
    engine = start_engine(tmp_path / "engine", '[syslog]\nallow = ["127.0.0.2/32"]\n')
    try:
        port = listener_port(engine, "udp")
        for source, text in (("127.0.0.1", "from a stranger"), ("127.0.0.2", "from the venue switch")):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.bind((source, 0))
                for i in range(10):
                    udp.sendto(f"<13>Nov 27 06:00:00 sw app: {text} {i}".encode(), ("127.0.0.1", port))
        records = wait_for_syslog(engine, with_message("from the venue switch 9"))
        assert not with_message("from a stranger")(records)
        time.sleep(2.5)  # refusals are reported each second, then written with the next seal
        detail = json.loads(engine.cli("status", "--json").stdout)["components"]["syslog"]["detail"]
        assert detail["sources"]["127.0.0.1"]["rejected"] == 10
        assert detail["sources"]["127.0.0.2"]["messages"] == 10
        stats = json.loads(engine.cli("buffer", "stats", "--json").stdout)
        assert stats["services"]["syslog"]["dropped_by_reason"]["rejected_input"]["records"] == 10
        ledger = json.loads(engine.cli("status", "--json").stdout)  # the engine is still fine
        assert ledger["components"]["syslog"]["state"] == "running"
    finally:
        engine.stop()


def test_connections_over_the_limit_are_refused(tmp_path: Path) -> None:
    engine = start_engine(tmp_path / "engine", "[syslog]\nmax_connections = 2\n")
    try:
        port = listener_port(engine, "tcp")
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
        time.sleep(0.5)
        extra = socket.create_connection(("127.0.0.1", port))
        extra.settimeout(5)
        with contextlib.suppress(ConnectionResetError):  # closed by the engine, either way
            assert extra.recv(1) == b""
        held[0].sendall(b"<13>Nov 27 06:00:00 sw app: still served\n")
        wait_for_syslog(engine, with_message("still served"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # counters come from the collector about once a second
            detail = json.loads(engine.cli("status", "--json").stdout)["components"]["syslog"]["detail"]
            tcp = next(x for x in detail["listeners"] if x["listener"] == "tcp")
            if tcp["counters"].get("rejected"):
                break
            time.sleep(0.3)
        assert tcp["counters"]["rejected"] == 1
        assert tcp["counters"]["active_connections"] == 2
        for sock in [*held, extra]:
            sock.close()
    finally:
        engine.stop()
