"""Helpers for trap tests against a real engine: the receiver's address, net-snmp senders, and
reading trap records back through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.engine import RunningEngine

LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"
IF_DESCR_3 = "1.3.6.1.2.1.2.2.1.2.3"  # a varbind whose text marks each test's trap

USERS_TOML = """
[[snmptrap.users]]
name = "noc"
auth_protocol = "SHA"
auth_key = "noc-auth-pass"
priv_protocol = "AES"
priv_key = "noc-priv-pass"
"""
NOC_AUTH_PRIV = ["-v3", "-u", "noc", "-l", "authPriv", "-a", "SHA", "-A", "noc-auth-pass", "-x", "AES", "-X"]
NOC_PRIV_KEY = "noc-priv-pass"


def trap_config(communities: str = '["public"]', users: str = USERS_TOML) -> str:
    return f'[snmptrap]\nudp = "127.0.0.1:0"\ncommunities = {communities}\n{users}'


def trap_address(engine: RunningEngine, timeout: float = 90) -> str:
    """The receiver's `IP:PORT`, once the collector has loaded its MIBs and is listening."""
    deadline = time.monotonic() + timeout
    component: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = json.loads(engine.cli("status", "--json").stdout)
        component = status["components"]["snmptrap"]
        listeners = component["detail"]["listeners"]
        if component["state"] == "running" and listeners:
            return str(listeners[0]["address"])
        time.sleep(0.3)
    raise AssertionError(f"the trap receiver did not start: {component}\n{engine.log()[-2000:]}")


def net_snmp(home: Path, *command: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """Run snmptrap/snmpinform with net-snmp's persistent state and config kept in `home`."""
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SNMP_PERSISTENT_DIR": str(home), "SNMPCONFPATH": str(home), "HOME": str(home)}
    return subprocess.run(list(command), env=env, capture_output=True, text=True, timeout=timeout, check=False)


def read_traps(engine: RunningEngine, limit: int = 5000) -> list[dict[str, Any]]:
    result = engine.cli("buffer", "tail", "--json", "--service", "trap", "--limit", str(limit))
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def wait_for_traps(
    engine: RunningEngine, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 15
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    records: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        records = read_traps(engine)
        if predicate(records):
            return records
        time.sleep(0.3)
    raise AssertionError(f"timed out; last {len(records)} trap records: {records[-5:]}")


def marker(record: dict[str, Any]) -> str | None:
    """The ifDescr.3 text a test put in its trap."""
    return next((str(v["value"]) for v in record.get("varbinds", []) if v["oid"] == IF_DESCR_3), None)


def with_marker(records: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    return [r for r in records if marker(r) == text]


def agents(engine: RunningEngine) -> dict[str, Any]:
    result = engine.cli("traps", "agents", "--json")
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))
