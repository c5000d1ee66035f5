"""`nocraven snmp targets [--json]` through the real entry point, on an engine with no
`[[snmp.poll]]` targets (the poller then runs no process). Polling real devices is
tests/integration/test_snmppoll_engine.py."""

from __future__ import annotations

import json

from tests.support.engine import RunningEngine


def test_targets_with_nothing_to_poll(engine: RunningEngine) -> None:
    result = engine.cli("snmp", "targets", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["targets"] == [] and data["running"] is False and data["problems"] == []
    human = engine.cli("snmp", "targets")
    assert human.returncode == 0
    assert "no devices are polled (add [[snmp.poll]] targets to the config)" in human.stdout
    status = json.loads(engine.cli("status", "--json").stdout)
    assert status["components"]["snmppoll"]["state"] == "running"  # ready, with no process to run
