"""`nocraven winevents agents` against a real engine: per agent (token name) the events stored,
security events, errors and when it was last seen, as a table and as JSON."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.engine import RunningEngine
from tests.support.winevents import CANONICAL, EXPECTED_SECURITY, generic
from tests.support.winevents_live import NDJSON, start_live
from tests.support.winevents_server import DC01_SECRET


def agents_json(engine: RunningEngine) -> dict[str, Any]:
    answer = engine.cli("winevents", "agents", "--json")
    assert answer.returncode == 0, answer.stderr
    document: dict[str, Any] = json.loads(answer.stdout)
    return document


def wait_for(engine: RunningEngine, done: Callable[[dict[str, Any]], bool], wait: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + wait
    while True:
        document = agents_json(engine)
        if done(document) or time.monotonic() > deadline:
            return document
        time.sleep(0.3)


def test_agents_when_the_endpoint_is_off(engine: RunningEngine) -> None:
    document = agents_json(engine)
    assert document == {"agents": {}, "configured": [], "listeners": [], "busy_refusals": 0}
    human = engine.cli("winevents", "agents")
    assert human.returncode == 0
    assert "winevents.listen is empty" in human.stderr


@pytest.mark.integration
def test_agents_counts_events_errors_and_last_seen(tmp_path: Path) -> None:
    live = start_live(tmp_path / "engine")
    try:
        body = b"".join(json.dumps(generic(event)).encode() + b"\n" for event in CANONICAL)
        with live.client() as http:
            good = http.post(
                "/v1/events", content=body, headers={"Authorization": f"Bearer {DC01_SECRET}", "Content-Type": NDJSON}
            )
            bad = http.post(
                "/v1/events",
                content=body,
                headers={"Authorization": "Bearer not-a-token-0123456789", "Content-Type": NDJSON},
            )
        assert (good.status_code, bad.status_code) == (200, 401)

        document = wait_for(live.engine, lambda d: "(unauthenticated)" in d["agents"])
        agents = document["agents"]
        assert document["configured"] == ["dc01", "fs01"]
        assert document["listeners"][0]["address"] == live.address
        dc01 = agents["dc01"]
        assert (dc01["events"], dc01["errors"], dc01["last_dialect"]) == (len(CANONICAL), 0, "generic")
        assert dc01["security_events"] == sum(1 for e in CANONICAL if EXPECTED_SECURITY[e.event_id])
        assert time.time() - 120 < dc01["last_seen"] <= time.time()
        assert dc01["last_source"].startswith("127.0.0.1:")
        assert agents["fs01"]["events"] == 0 and agents["fs01"]["last_seen"] is None  # configured, silent
        assert agents["(unauthenticated)"]["errors"] == 1
        assert "bad token" in agents["(unauthenticated)"]["last_error"]

        human = live.engine.cli("winevents", "agents", env={"COLUMNS": "160"})
        assert human.returncode == 0, human.stderr
        rows = {line.split()[0]: line for line in human.stdout.splitlines()[1:] if line.strip()}
        assert set(rows) == {"dc01", "fs01", "(unauthenticated)"}
        assert rows["dc01"].split()[1] == str(len(CANONICAL))
        assert "never" in rows["fs01"]
        assert "bad token" in rows["(unauthenticated)"]

        # The engine's summary counts events as the collector's messages.
        status = json.loads(live.engine.cli("status", "--json").stdout)
        totals = status["components"]["winevents"]["detail"]["totals"]
        assert totals["messages"] == len(CANONICAL) and totals["records_stored"] == len(CANONICAL)
    finally:
        live.engine.stop()
