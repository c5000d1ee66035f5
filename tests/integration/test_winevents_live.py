"""The Windows event endpoint through the live engine: agents post over TLS (Debian's curl,
httpx), the events come back from the buffer with `nocraven buffer tail --json`, a kill -9 of
the engine right after a 200 loses none of the acknowledged events, and bad input from one
agent leaves the others served."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from collectors.winevents.pool import POOL_MIN_BYTES
from tests.support.winevents import BAD_INPUTS, CANONICAL, EXPECTED_SECURITY, RENDERERS, expected_time, winlogbeat
from tests.support.winevents_live import NDJSON, LiveEndpoint, restart_live, start_live
from tests.support.winevents_server import DC01_SECRET, FS01_SECRET

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(not shutil.which("curl"), reason="needs Debian curl"),
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveEndpoint]:
    endpoint = start_live(tmp_path_factory.mktemp("winevents-live"), max_body_bytes=65536, max_decoded_bytes=1 << 20)
    yield endpoint
    endpoint.engine.stop()


def ndjson(documents: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(document).encode() + b"\n" for document in documents)


def on_computer(computer: str) -> list[Any]:
    return [replace(event, computer=computer) for event in CANONICAL]


def wait_for_records(live: LiveEndpoint, computer: str, count: int, wait: float = 15) -> list[dict[str, Any]]:
    deadline = time.monotonic() + wait
    while True:
        records = [record for record in live.records() if record["computer"] == computer]
        if len(records) >= count or time.monotonic() > deadline:
            return records
        time.sleep(0.2)


@pytest.mark.parametrize("dialect", sorted(RENDERERS))
def test_curl_posts_each_dialect_and_the_buffer_has_them(live: LiveEndpoint, dialect: str) -> None:
    events = on_computer(f"{dialect.upper()}-DC.contoso.local")
    status, reply = live.curl(
        "/v1/events",
        ndjson([RENDERERS[dialect](event) for event in events]),
        f"Authorization: Bearer {DC01_SECRET}",
        f"Content-Type: {NDJSON}",
    )
    assert status == 200, reply
    assert reply == {"accepted": len(events), "duplicates": 0, "refused": 0, "errors": []}
    # Acknowledged means committed: the records are in the buffer as soon as the reply is.
    stored = [record for record in live.records() if record["computer"] == events[0].computer]
    assert [record["event_id"] for record in stored] == [event.event_id for event in events]
    for record, event in zip(stored, events, strict=True):
        assert record["service"] == "winevent"
        assert record["dialect"] == dialect
        assert record["agent"] == "dc01"
        assert record["source"].startswith("127.0.0.1:")
        assert (record["channel"], record["provider"], record["record_id"]) == (
            event.channel,
            event.provider,
            event.record_id,
        )
        assert record["time_created"] == expected_time(event, dialect)
        assert record["message"] == event.message
        assert record["security"] == EXPECTED_SECURITY[event.event_id]
        if not event.user_data:
            assert record["event_data"] == event.data


def test_a_large_batch_parsed_by_the_workers_reaches_the_buffer(live: LiveEndpoint) -> None:
    events = [replace(event, computer=f"POOL-{copy}.contoso.local") for copy in range(10) for event in CANONICAL]
    body = ndjson([RENDERERS[("nxlog", "vector")[n % 2]](event) for n, event in enumerate(events)])
    assert POOL_MIN_BYTES <= len(body) <= 65536
    status, reply = live.curl("/v1/events", body, f"Authorization: Bearer {DC01_SECRET}", f"Content-Type: {NDJSON}")
    assert status == 200, reply
    assert reply == {"accepted": len(events), "duplicates": 0, "refused": 0, "errors": []}
    stored = [record for record in live.records() if record["computer"].startswith("POOL-")]
    assert [(r["computer"], r["event_id"]) for r in stored] == [(e.computer, e.event_id) for e in events]
    assert [r["dialect"] for r in stored] == [("nxlog", "vector")[n % 2] for n in range(len(events))]
    assert [r["security"] for r in stored] == [EXPECTED_SECURITY[e.event_id] for e in events]
    again_status, again = live.curl(
        "/v1/events", body, f"Authorization: Bearer {DC01_SECRET}", f"Content-Type: {NDJSON}"
    )
    assert (again_status, again["accepted"], again["duplicates"]) == (200, 0, len(events))


def test_winlogbeat_bulk_with_curl_reaches_the_buffer(live: LiveEndpoint) -> None:
    events = on_computer("BULK-DC.contoso.local")
    lines: list[dict[str, Any]] = []
    for event in events:
        lines += [{"create": {"_index": "winlogbeat-8.13.4"}}, winlogbeat(event)]
    status, reply = live.curl(
        "/_bulk", ndjson(lines), f"Authorization: Bearer {FS01_SECRET}", "Content-Type: application/x-ndjson"
    )
    assert status == 200, reply
    assert reply["errors"] is False
    assert [item["create"]["status"] for item in reply["items"]] == [201] * len(events)
    stored = [record for record in live.records() if record["computer"] == events[0].computer]
    assert [(record["event_id"], record["agent"]) for record in stored] == [(e.event_id, "fs01") for e in events]


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_through_the_engine_leaves_other_agents_served(live: LiveEndpoint, case: str) -> None:
    headers, body, status, reason = BAD_INPUTS[case]
    computer = f"GOOD-{case.replace(' ', '-').upper()}"
    good_events = on_computer(computer)[:3]
    replies: dict[str, httpx.Response] = {}

    def post(name: str, content: bytes, request_headers: dict[str, str]) -> None:
        with live.client() as http:
            replies[name] = http.post("/v1/events", content=content, headers=request_headers)

    bad_headers = {"Authorization": f"Bearer {DC01_SECRET}"} | headers
    good_headers = {"Authorization": f"Bearer {FS01_SECRET}", "Content-Type": NDJSON}
    good_body = ndjson([RENDERERS["generic"](event) for event in good_events])
    threads = [
        threading.Thread(target=post, args=("bad", body, bad_headers)),
        threading.Thread(target=post, args=("good", good_body, good_headers)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert replies["bad"].status_code == status, replies["bad"].text
    assert reason in replies["bad"].json()["reason"]
    assert replies["good"].status_code == 200, replies["good"].text
    assert replies["good"].json()["accepted"] == len(good_events)
    assert [record["agent"] for record in live.records() if record["computer"] == computer] == ["fs01"] * 3
    # The refusal is counted against the agent that sent it (or against no agent, for a bad token).
    deadline = time.monotonic() + 10
    bad_agent = "(unauthenticated)" if status == 401 else "dc01"
    while time.monotonic() < deadline:
        agents = live.agents()["agents"]
        if agents.get(bad_agent, {}).get("last_error") and reason in agents[bad_agent]["last_error"]:
            break
        time.sleep(0.3)
    else:
        pytest.fail(f"the refusal did not show in `winevents agents`: {agents}")


def generic_batch(computer: str, count: int) -> bytes:
    return ndjson(
        [
            RENDERERS["generic"](replace(CANONICAL[i % len(CANONICAL)], computer=computer, record_id=i + 1))
            for i in range(count)
        ]
    )


# 50 events are parsed in the collector's own process, 120 by its parse workers.
@pytest.mark.parametrize("per_batch", [50, 120])
def test_kill_9_right_after_a_200_loses_no_acknowledged_event(tmp_path: Path, per_batch: int) -> None:
    assert (len(generic_batch("KILL-0-0", per_batch)) >= POOL_MIN_BYTES) == (per_batch > 50)
    live = start_live(tmp_path / "engine")
    acknowledged: list[tuple[str, int]] = []  # (computer, record_id) of every event answered 200
    first_ack = threading.Event()
    lock = threading.Lock()
    stop_at = time.monotonic() + 20

    def agent(number: int) -> None:
        batch = 0
        with live.client(timeout=5) as http:
            while time.monotonic() < stop_at:
                batch += 1
                computer = f"KILL-{number}-{batch}"
                try:
                    reply = http.post(
                        "/v1/events",
                        content=generic_batch(computer, per_batch),
                        headers={"Authorization": f"Bearer {DC01_SECRET}", "Content-Type": NDJSON},
                    )
                except httpx.HTTPError:
                    return  # the engine is gone
                if reply.status_code == 200:
                    with lock:
                        acknowledged.extend((computer, i + 1) for i in range(per_batch))
                    first_ack.set()

    agents = [threading.Thread(target=agent, args=(n,)) for n in range(3)]
    for thread in agents:
        thread.start()
    try:
        assert first_ack.wait(15), live.engine.log()
        time.sleep(0.3)  # a few more batches in flight, and acknowledged ones among them
        first_ack.clear()
        assert first_ack.wait(10)
        os.kill(live.engine.proc.pid, signal.SIGKILL)  # right after a 200
        live.engine.proc.wait(10)
    finally:
        for thread in agents:
            thread.join(30)
    with lock:
        promised = set(acknowledged)
    assert promised
    again = restart_live(live)
    try:
        stored = {(record["computer"], record["record_id"]) for record in again.records(limit=10_000)}
    finally:
        again.engine.stop()
    assert promised <= stored, f"{len(promised - stored)} acknowledged events lost of {len(promised)}"
