"""`nocraven buffer ...` against a real engine with real syslog traffic."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import zstandard

from tests.support.engine import NOCRAVEN, RunningEngine
from tests.support.syslog import listener_port, wait_for_syslog


def send_udp(engine: RunningEngine, count: int, tag: str) -> None:
    port = listener_port(engine, "udp")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for i in range(count):
            udp.sendto(f"<30>Nov 27 06:00:00 sw{i % 3} {tag}[7]: event {i}".encode(), ("127.0.0.1", port))
            if i % 200 == 0:
                time.sleep(0.001)


def test_stats_tail_export_and_purge(engine: RunningEngine, tmp_path: Path) -> None:
    send_udp(engine, 500, "statstest")
    wait_for_syslog(engine, lambda rs: sum(r["app_name"] == "statstest" for r in rs) == 500)
    time.sleep(1.5)  # past the durability window: sealed into a segment

    stats = json.loads(engine.cli("buffer", "stats", "--json").stdout)
    syslog = stats["services"]["syslog"]
    assert syslog["records"] == 500 and syslog["unsealed_records"] == 0
    assert syslog["stored_bytes"] * 4 < syslog["raw_bytes"]  # compressed
    assert stats["total"]["budget_bytes"] > 0 and stats["forecast_days"] is not None
    human = engine.cli("buffer", "stats")
    assert human.returncode == 0 and "syslog" in human.stdout and "500" in human.stdout

    tail = engine.cli("buffer", "tail", "--service", "syslog", "--limit", "3", "--json")
    lines = [json.loads(line) for line in tail.stdout.splitlines()]
    assert [r["message"] for r in lines] == ["event 497", "event 498", "event 499"]

    out = tmp_path / "export.ndjson.zst"
    exported = engine.cli(
        "buffer", "export", "--service", "syslog", "--since", "2000-01-01T00:00:00Z", "--out", str(out)
    )
    assert exported.returncode == 0, exported.stderr
    assert "wrote 500 records" in exported.stderr
    text = zstandard.ZstdDecompressor().stream_reader(out.open("rb")).read().decode()
    assert [json.loads(line)["message"] for line in text.splitlines()] == [f"event {i}" for i in range(500)]
    nothing = engine.cli(
        "buffer",
        "export",
        "--service",
        "syslog",
        "--until",
        "2000-01-01T00:00:00Z",
        "--out",
        str(tmp_path / "none.ndjson"),
    )
    assert nothing.returncode == 0 and (tmp_path / "none.ndjson").read_text() == ""

    refused = engine.cli("buffer", "purge", "--service", "syslog", input="syslog\n")
    assert refused.returncode == 2  # not a terminal and no --yes: never purge by accident
    purged = engine.cli("buffer", "purge", "--service", "syslog", "--yes")
    assert purged.returncode == 0 and json.loads(purged.stdout)["records"] == 500
    after = json.loads(engine.cli("buffer", "stats", "--json").stdout)["services"]["syslog"]
    assert after["records"] == 0
    assert after["dropped_by_reason"]["purged"]["records"] == 500


def test_tail_follow_streams_new_records(engine: RunningEngine) -> None:
    env = dict(os.environ, NOCRAVEN_SOCKET=str(engine.socket))
    follow = subprocess.Popen(
        [NOCRAVEN, "buffer", "tail", "--follow", "--json", "--limit", "1"], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        time.sleep(1.0)
        send_udp(engine, 5, "followtest")
        assert follow.stdout is not None
        seen = []
        deadline = time.monotonic() + 15
        while len(seen) < 5 and time.monotonic() < deadline:
            record = json.loads(follow.stdout.readline())
            if record.get("app_name") == "followtest":
                seen.append(record["message"])
        assert seen == [f"event {i}" for i in range(5)]
    finally:
        follow.send_signal(signal.SIGINT)
        follow.wait(10)


def test_bad_arguments_are_refused_clearly(engine: RunningEngine) -> None:
    bad_service = engine.cli("buffer", "tail", "--service", "netflow")
    assert bad_service.returncode == 2  # a usage error: the engine names the services it knows
    assert "unknown service 'netflow'" in bad_service.stderr
    bad_time = engine.cli("buffer", "export", "--service", "syslog", "--since", "yesterday", "--out", "/dev/null")
    assert bad_time.returncode == 2
    assert "RFC 3339" in bad_time.stderr
