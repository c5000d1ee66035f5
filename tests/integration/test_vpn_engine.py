"""The VPN manager inside the real engine, driven by the real CLI, against two real openvpn servers
on loopback (`--dev null`, no root): both profiles imported with priorities, the top one connected
by the engine itself, kill -9 of its server fails over, its return fails back after the
hold-down, an engine restart reconnects the same profile, and `vpn history` tells the story."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.engine import RunningEngine, start_engine
from tests.support.vpn_pki import client_profile, make_pki
from tests.support.vpn_servers import OpenVpnServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("openvpn") is None, reason="needs Debian's openvpn (scripts/debian-packages.txt)"),
]

HOLDDOWN_S = 4
# Short timers so failover and fail-back take seconds (the defaults are for real WAN links).
FAST = f"""
[vpn]
ping_s = 1
ping_restart_s = 4
connect_timeout_s = 6
holddown_s = {HOLDDOWN_S}
standby_interval_s = 1
max_attempts = 2
cooldown_s = 2
cooldown_max_s = 8
"""


@dataclass
class Lab:
    directory: Path
    primary: OpenVpnServer
    backup: OpenVpnServer
    profiles: dict[str, Path]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    pki = make_pki()
    primary = OpenVpnServer(pki, tmp_path / "primary").start()
    backup = OpenVpnServer(pki, tmp_path / "backup").start()
    profiles = {}
    for name, server in (("noc-a", primary), ("noc-b", backup)):
        text = client_profile(pki, [("127.0.0.1", server.port)], extra="explicit-exit-notify 1\n")
        profiles[name] = tmp_path / "profiles" / f"{name}.ovpn"
        profiles[name].parent.mkdir(exist_ok=True)
        profiles[name].write_text(text)
    try:
        yield Lab(tmp_path, primary, backup, profiles)
    finally:
        primary.stop()
        backup.stop()


def vpn_json(engine: RunningEngine, *args: str) -> Any:
    result = engine.cli("vpn", *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def wait_until(condition: Callable[[], bool], timeout: float, what: str, engine: RunningEngine) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; engine log:\n{engine.log()[-4000:]}")
        time.sleep(0.3)
    return time.monotonic() - start


def connected_to(engine: RunningEngine, name: str) -> Callable[[], bool]:
    def check() -> bool:
        status = vpn_json(engine, "status")
        return bool(status["connected"] and status["active"] == name)

    return check


def test_engine_connects_fails_over_fails_back_and_restores(lab: Lab) -> None:
    engine = start_engine(lab.directory / "engine", FAST)
    try:
        for name, priority in (("noc-a", "10"), ("noc-b", "20")):
            imported = engine.cli("vpn", "import", str(lab.profiles[name]), "--priority", priority)
            assert imported.returncode == 0, imported.stderr

        # Nobody says `connect`: the engine picks the preferred profile by itself.
        wait_until(connected_to(engine, "noc-a"), 30, "the engine to connect noc-a", engine)
        status = vpn_json(engine, "status")
        assert status["mode"] == "auto" and status["state"] == "connected"
        assert status["remote"] == f"127.0.0.1:{lab.primary.port}"
        listed = {p["name"]: p for p in vpn_json(engine, "list")["profiles"]}
        assert listed["noc-a"]["state"] == "active" and listed["noc-b"]["state"] == "standby"
        assert listed["noc-a"]["last_connected"] is not None

        lab.primary.kill9()
        wait_until(connected_to(engine, "noc-b"), 40, "failover to noc-b", engine)

        lab.primary.start()
        restored = time.monotonic()
        wait_until(connected_to(engine, "noc-a"), 60, "fail-back to noc-a", engine)
        # Only once the primary had passed its standby checks for the whole hold-down.
        assert time.monotonic() - restored >= HOLDDOWN_S

        history = vpn_json(engine, "history")["entries"]  # newest first
        profiles = [entry["profile"] for entry in history]
        assert profiles[:3] == ["noc-a", "noc-b", "noc-a"], history
        first_a, on_b, back_on_a = history[2], history[1], history[0]
        assert first_a["reason_ended"] and first_a["duration_s"] is not None  # why the primary was left
        assert on_b["connected"] is not None and on_b["ended"] is not None
        assert back_on_a["ended"] is None and back_on_a["connected"] is not None
        human = engine.cli("vpn", "history")
        assert human.returncode == 0 and "noc-b" in human.stdout
    finally:
        assert engine.stop() == 0

    # After a restart the engine restores the same tunnel by itself.
    engine = start_engine(lab.directory / "engine", FAST)
    try:
        wait_until(connected_to(engine, "noc-a"), 30, "the restarted engine to reconnect noc-a", engine)
        latest = vpn_json(engine, "history")["entries"][0]
        assert latest["profile"] == "noc-a" and "restor" in latest["reason_started"]
    finally:
        engine.stop()


def test_manual_override_survives_restart_until_auto(lab: Lab) -> None:
    engine = start_engine(lab.directory / "engine", FAST)
    try:
        for name, priority in (("noc-a", "10"), ("noc-b", "20")):
            assert engine.cli("vpn", "import", str(lab.profiles[name]), "--priority", priority).returncode == 0
        wait_until(connected_to(engine, "noc-a"), 30, "noc-a", engine)
        pinned = vpn_json(engine, "connect", "noc-b")
        assert pinned["mode"] == "manual" and pinned["override"] == "noc-b"
        wait_until(connected_to(engine, "noc-b"), 30, "the manual switch to noc-b", engine)
    finally:
        engine.stop()
    engine = start_engine(lab.directory / "engine", FAST)
    try:
        wait_until(connected_to(engine, "noc-b"), 30, "noc-b after the restart", engine)
        time.sleep(HOLDDOWN_S + 1)  # an override is never failed back
        assert vpn_json(engine, "status")["active"] == "noc-b"
        assert vpn_json(engine, "auto")["mode"] == "auto"
        wait_until(connected_to(engine, "noc-a"), 40, "noc-a once automatic again", engine)

        down = vpn_json(engine, "disconnect")
        assert down["mode"] == "off"
        wait_until(lambda: vpn_json(engine, "status")["state"] == "idle", 20, "the tunnel to go down", engine)
        removed = engine.cli("vpn", "remove", "noc-b")
        assert removed.returncode == 0 and "removed noc-b" in removed.stdout
    finally:
        engine.stop()
