"""The poller in the live engine: `[[snmp.poll]]` targets against net-snmp's `snmpd`, records in
the buffer's `poll` service every interval, `nocraven snmp targets` with each target's state
and its error line."""

from __future__ import annotations

import json
import shutil
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.engine import RunningEngine, start_engine
from tests.support.snmpd import COMMUNITY, LOCATION, SYS_LOCATION_0, V3_AUTH, V3_PRIV, V3_USER, Snmpd, start_snmpd

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        not (shutil.which("snmpd") and shutil.which("snmpget")),
        reason="needs net-snmp's snmpd (Debian package snmpd) and snmpget (Debian package snmp)",
    ),
]


def config(agent: Snmpd, silent_port: int) -> str:
    return f"""
[[snmptrap.users]]
name = "{V3_USER}"
auth_protocol = "SHA"
auth_key = "{V3_AUTH}"
priv_protocol = "AES"
priv_key = "{V3_PRIV}"

[[snmp.poll]]
name = "switch-v2c"
host = "127.0.0.1"
port = {agent.port}
community = "{COMMUNITY}"
interval_s = 2
timeout_s = 1
retries = 0
oids = ["SNMPv2-MIB::sysLocation.0"]

[[snmp.poll]]
name = "ups-v3"
host = "127.0.0.1"
port = {agent.port}
version = "3"
user = "{V3_USER}"
interval_s = 2
timeout_s = 1
retries = 0
tables = []
oids = ["SNMPv2-MIB::sysLocation.0"]

[[snmp.poll]]
name = "gone"
host = "127.0.0.1"
port = {silent_port}
interval_s = 2
timeout_s = 1
retries = 0
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    directory = tmp_path_factory.mktemp("poll-engine")
    agent = start_snmpd(directory / "snmpd")
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    engine = start_engine(directory / "engine", config(agent, silent.getsockname()[1]), wait=60)
    try:
        yield engine
    finally:
        engine.stop()
        agent.stop()
        silent.close()


def poll_records(engine: RunningEngine) -> list[dict[str, Any]]:
    result = engine.cli("buffer", "tail", "--json", "--service", "poll", "--limit", "1000")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def wait_for(engine: RunningEngine, enough: Any, timeout: float = 90) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    records: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        records = poll_records(engine)
        if enough(records):
            return records
        time.sleep(0.5)
    raise AssertionError(f"timed out; {len(records)} poll records; engine log:\n{engine.log()[-3000:]}")


def test_records_arrive_every_interval_for_v2c_and_v3(live: RunningEngine) -> None:
    def enough(records: list[dict[str, Any]]) -> bool:
        devices = [r["device"] for r in records]
        return devices.count("switch-v2c") >= 3 and devices.count("ups-v3") >= 3

    records = wait_for(live, enough)
    assert {r["device"] for r in records} <= {"switch-v2c", "ups-v3"}  # nothing stored for the dead one
    switch = [r for r in records if r["device"] == "switch-v2c"]
    assert all(r["service"] == "poll" and r["interval_s"] == 2 for r in switch)
    assert any(i["name"] == "lo" and i["in_bps"] is not None for i in switch[-1]["interfaces"])
    ups = [r for r in records if r["device"] == "ups-v3"]
    assert ups[-1]["interfaces"] == [] and ups[-1]["version"] == "3"
    location = {v["oid"]: v["value"] for v in ups[-1]["values"]}[SYS_LOCATION_0]
    assert location == LOCATION


def test_snmp_targets_shows_state_and_errors(live: RunningEngine) -> None:
    deadline = time.monotonic() + 90
    targets: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        result = live.cli("snmp", "targets", "--json")
        assert result.returncode == 0, result.stderr
        targets = {t["target"]: t for t in json.loads(result.stdout)["targets"]}
        if targets["gone"]["failures"] >= 2 and targets["switch-v2c"]["records"] >= 2:
            break
        time.sleep(0.5)
    assert list(targets) == ["switch-v2c", "ups-v3", "gone"]
    assert targets["switch-v2c"]["state"] == "ok" and targets["switch-v2c"]["last_error"] is None
    assert targets["switch-v2c"]["duration_s"] is not None and targets["switch-v2c"]["busiest"]
    gone = targets["gone"]
    assert gone["state"] == "failing" and gone["records"] == 0
    assert gone["errors"]["timeout"] == gone["failures"] >= 2
    text = live.cli("snmp", "targets")
    assert text.returncode == 0, text.stderr
    assert "switch-v2c" in text.stdout and "failing" in text.stdout
    assert f"gone (127.0.0.1:{gone['port']}, SNMPv2c): no answer in 1 s x 1 tries" in " ".join(text.stdout.split())


def test_the_poller_stops_with_the_engine(live: RunningEngine) -> None:
    """Last in this module: SIGTERM stops the poller mid-schedule without the kill fallback."""
    assert live.stop(timeout=30) == 0
    log = live.log()
    assert "snmppoll collector did not stop" not in log
    assert "Traceback" not in log, log[-3000:]
