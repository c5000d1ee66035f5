"""`nocraven forward ...` against a real engine whose NOC does not answer: records wait in the
buffer (buffering, a growing backlog), pause/resume by sink name, refusals in one line."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.cli.test_cli_buffer import send_udp
from tests.support.engine import RunningEngine, run_cli, start_engine
from tests.support.forwarding import free_port

FORWARD = """
[forward]
site = "arena-01"

[[forward.sinks]]
name = "noc"
type = "nats"
urls = ["nats://127.0.0.1:{port}"]
timeout_s = 0.5
"""


def forward_status(engine: RunningEngine) -> dict[str, Any]:
    result = engine.cli("forward", "status", "--json")
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def wait_status(engine: RunningEngine, check: Any, what: str, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = forward_status(engine)
        if check(status):
            return status
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}; last status {status}")


def test_status_pause_and_resume_with_the_noc_down(tmp_path: Path) -> None:
    engine = start_engine(tmp_path / "engine", FORWARD.format(port=free_port()), wait=60)
    try:
        first = wait_status(
            engine,
            lambda s: s["sinks"][0]["state"] == "buffering" and "unreachable" in s["sinks"][0]["reason"],
            "buffering, the NOC unreachable",
        )
        sink = first["sinks"][0]
        assert set(sink) >= {
            "name",
            "type",
            "state",
            "reason",
            "backlog_records",
            "backlog_bytes",
            "oldest_age_s",
            "rate_rps",
            "eta_s",
            "last_delivery",
        }
        assert sink["name"] == "noc" and sink["type"] == "nats" and "unreachable" in sink["reason"]
        assert sink["last_delivery"] is None and first["state"] == "buffering" and first["site"] == "arena-01"

        send_udp(engine, 300, "fwdtest")
        grown = wait_status(engine, lambda s: s["sinks"][0]["backlog_records"] >= 300, "a backlog of 300")
        assert grown["sinks"][0]["backlog_bytes"] > 300 * 50 and grown["sinks"][0]["oldest_age_s"] is not None
        # The engine's status carries the same detail (the dashboard and the header read it).
        detail = json.loads(engine.cli("status", "--json").stdout)["components"]["forward"]
        assert detail["state"] == "running" and detail["detail"]["state"] == "buffering"

        human = engine.cli("forward", "status")
        assert human.returncode == 0 and "noc" in human.stdout and "buffering" in human.stdout
        assert "unreachable" in human.stdout and "never" in human.stdout

        paused = engine.cli("forward", "pause", "noc")
        assert paused.returncode == 0, paused.stderr
        assert "paused: noc" in paused.stderr
        status = wait_status(engine, lambda s: s["sinks"][0]["state"] == "paused", "paused")
        assert status["sinks"][0]["reason"] == "paused by an operator"
        assert status["sinks"][0]["backlog_records"] >= 300  # kept, not dropped

        unknown = engine.cli("forward", "resume", "nosuch")
        assert unknown.returncode == 1
        assert unknown.stderr.strip() == "nocraven: no sink named 'nosuch' (configured: noc)"

        resumed = engine.cli("forward", "resume")
        assert resumed.returncode == 0 and "resumed: noc" in resumed.stderr
        wait_status(engine, lambda s: s["sinks"][0]["state"] == "buffering", "buffering again")
    finally:
        engine.stop()


def test_without_sinks_status_says_so_and_pause_is_refused(engine: RunningEngine) -> None:
    status = forward_status(engine)
    assert status["state"] is None and status["sinks"] == []
    human = engine.cli("forward", "status")
    assert human.returncode == 0 and "no sink configured" in human.stdout
    refused = engine.cli("forward", "pause")
    assert refused.returncode == 1
    assert "no sink is configured" in refused.stderr and refused.stderr.count("\n") == 1


def test_a_bad_forward_section_is_refused_at_start_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[forward]\n[[forward.sinks]]\nname = "noc"\nurls = ["http://x"]\n')
    result = run_cli("config", "check", str(config), socket=tmp_path / "none.sock")
    assert result.returncode == 2
    assert "forward.site" in result.stderr
    assert "forward.sinks[0].urls: 'http://x': a nats sink takes nats:// or tls:// URLs" in result.stderr
