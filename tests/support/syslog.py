"""Helpers for syslog tests against a real engine: its bound ports, and reading records back."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from tests.support.engine import RunningEngine


def listener_port(engine: RunningEngine, name: str) -> int:
    status = json.loads(engine.cli("status", "--json").stdout)
    for listener in status["components"]["syslog"]["detail"]["listeners"]:
        if listener["listener"] == name:
            return int(listener["address"].rpartition(":")[2])
    raise AssertionError(f"no syslog {name} listener in {status['components']['syslog']}")


def wait_for_syslog(
    engine: RunningEngine, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 15, limit: int = 2000
) -> list[dict[str, Any]]:
    """Poll `nocraven buffer tail --json` until `predicate(records)` holds; returns the records."""
    deadline = time.monotonic() + timeout
    records: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        result = engine.cli("buffer", "tail", "--json", "--service", "syslog", "--limit", str(limit))
        assert result.returncode == 0, result.stderr
        records = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
        if predicate(records):
            return records
        time.sleep(0.3)
    raise AssertionError(f"timed out; last {len(records)} records: {records[-5:]}")


def with_message(text: str) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda records: any(text in (r.get("message") or "") for r in records)


def find(records: list[dict[str, Any]], text: str) -> dict[str, Any]:
    return next(r for r in records if text in (r.get("message") or ""))
