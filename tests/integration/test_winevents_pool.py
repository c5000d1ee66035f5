"""Large batches parsed by worker processes: what is stored and answered is the same as when the
endpoint parses in place, refusals come back whole, and a killed worker loses nothing that was
acknowledged."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from collectors.winevents.server import WineventsServer
from collectors.winevents.settings import WineventsSettings
from tests.support.winevents import CANONICAL, RENDERERS
from tests.support.winevents_server import DC01, DC01_SECRET, RecordingStore, tls_files

pytestmark = pytest.mark.integration

HEADERS = {"Authorization": f"Bearer {DC01_SECRET}", "Content-Type": "application/x-ndjson"}
NOW = 1_709_648_556.25


class Running:
    def __init__(self, server: WineventsServer, store: RecordingStore, ca_file: Path) -> None:
        self.server, self.store, self.ca_file = server, store, ca_file

    def client(self) -> httpx.AsyncClient:
        assert self.server.address is not None
        return httpx.AsyncClient(
            base_url=f"https://127.0.0.1:{self.server.address[1]}",
            verify=ssl.create_default_context(cafile=self.ca_file),
            timeout=30,
        )


async def running(tmp_path: Path, *, workers: int, pool_min_bytes: int) -> Running:
    tmp_path.mkdir(parents=True, exist_ok=True)
    _ca, cert, key, ca_file = tls_files(tmp_path)
    settings = WineventsSettings(
        listen="127.0.0.1:0", tokens=[DC01], tls_cert=str(cert), tls_key=str(key), parse_workers=workers
    )
    store = RecordingStore()
    server = WineventsServer(settings, store, clock=lambda: NOW, pool_min_bytes=pool_min_bytes)
    await server.start()
    return Running(server, store, ca_file)


@pytest.fixture
async def pooled(tmp_path: Path) -> AsyncIterator[Running]:
    endpoint = await running(tmp_path / "pooled", workers=2, pool_min_bytes=0)  # every body to a worker
    yield endpoint
    await endpoint.server.close()


@pytest.fixture
async def in_place(tmp_path: Path) -> AsyncIterator[Running]:
    endpoint = await running(tmp_path / "in_place", workers=2, pool_min_bytes=1 << 40)  # none
    yield endpoint
    await endpoint.server.close()


def mixed_body(copies: int) -> bytes:
    """Every dialect, bad lines among them, an event repeated inside the batch."""
    lines: list[bytes] = []
    for copy in range(copies):
        for name, render in sorted(RENDERERS.items()):
            for event in CANONICAL:
                lines.append(json.dumps(render(replace(event, computer=f"HOST-{copy}-{name}"))).encode())
        lines += [b'{"msg": "no dialect"}', b'{"event_id": 4625,', b"[1, 2]", b""]
    lines.append(lines[0])  # a duplicate of the first event
    return b"\n".join(lines) + b"\n"


def without_source(records: list[Any]) -> list[Any]:
    return [{key: value for key, value in record.items() if key != "source"} for record in records]


async def test_workers_store_and_answer_what_the_endpoint_does_in_place(pooled: Running, in_place: Running) -> None:
    body = mixed_body(copies=20)
    async with pooled.client() as left, in_place.client() as right:
        by_worker = await left.post("/v1/events", content=body, headers=HEADERS)
        here = await right.post("/v1/events", content=body, headers=HEADERS)
        resent = await left.post("/v1/events", content=body, headers=HEADERS)
    assert by_worker.status_code == here.status_code == 200
    assert by_worker.json() == here.json()
    assert by_worker.json()["duplicates"] == 1 and by_worker.json()["refused"] == 20 * 3
    assert pooled.server.pool is not None and pooled.server.pool.pids(), "no worker parsed the body"
    assert without_source(pooled.store.records) == without_source(in_place.store.records)
    assert len(pooled.store.records) == 20 * len(RENDERERS) * len(CANONICAL)
    # The duplicate memory is the endpoint's, whichever process parsed.
    assert resent.json()["accepted"] == 0 and resent.json()["duplicates"] == len(pooled.store.records) + 1
    left_agent, right_agent = (e.server.agents.get("dc01") for e in (pooled, in_place))
    assert left_agent.events == right_agent.events == len(pooled.store.records)
    assert left_agent.security_events == right_agent.security_events > 0
    assert left_agent.refused_events == 2 * right_agent.refused_events  # it got the body twice


async def test_winlogbeat_bulk_through_workers_answers_each_item_as_in_place(
    pooled: Running, in_place: Running
) -> None:
    winlogbeat = RENDERERS["winlogbeat"]
    lines: list[bytes] = []
    for copy in range(40):
        for event in CANONICAL:
            document = winlogbeat(replace(event, computer=f"HOST-{copy}"))
            lines += [b'{"create": {"_index": "winlogbeat-8.13.4"}}', json.dumps(document).encode()]
        lines += [b'{"delete": {"_id": "x"}}', b'{"index": {}}', b'{"no": "dialect"}']
    lines += lines[:2]  # the first event again
    body = b"\n".join(lines) + b"\n"
    headers = HEADERS | {"Content-Type": "application/json"}
    async with pooled.client() as left, in_place.client() as right:
        by_worker = (await left.post("/_bulk", content=body, headers=headers)).json()
        here = (await right.post("/_bulk", content=body, headers=headers)).json()
    assert pooled.server.pool is not None and pooled.server.pool.pids(), "no worker parsed the body"
    assert by_worker["items"] == here["items"]
    statuses = [next(iter(item.values()))["status"] for item in by_worker["items"]]
    assert statuses.count(201) == 40 * len(CANONICAL) and statuses.count(409) == 1 and statuses.count(400) == 80
    assert without_source(pooled.store.records) == without_source(in_place.store.records)


@pytest.mark.parametrize(
    ("body", "code", "reason"),
    [
        (b'[{"event_id": 4624}, {"event_id": ', "bad_json", "bad JSON at byte 34"),
        (b"[" * 40 + b"]" * 40, "too_deep", "nested deeper than 32 levels"),
        (b'{"event_id": 4624, "message": "\xff"}', "invalid_utf8", "invalid UTF-8 at byte 31"),
    ],
)
async def test_a_body_refused_in_a_worker_is_refused_whole(
    pooled: Running, body: bytes, code: str, reason: str
) -> None:
    async with pooled.client() as http:
        response = await http.post("/v1/events", content=body, headers=HEADERS)
    assert response.status_code == 400
    assert response.json()["error"] == code
    assert reason in response.json()["reason"]
    assert pooled.store.records == []


async def test_killed_workers_lose_no_acknowledged_event(pooled: Running) -> None:
    body = mixed_body(copies=2)
    acknowledged = 0
    async with pooled.client() as http:
        for round_number in range(3):
            unique = body.replace(b"HOST-", f"R{round_number}-HOST-".encode())
            response = await http.post("/v1/events", content=unique, headers=HEADERS)
            if response.status_code == 200:
                acknowledged += response.json()["accepted"]
            else:  # a worker died holding it: refused whole, the agent resends
                assert response.status_code == 503 and response.json()["error"] == "worker_lost"
            assert pooled.server.pool is not None
            for pid in pooled.server.pool.pids():
                os.kill(pid, signal.SIGKILL)
            await asyncio.sleep(0.2)
        final = await http.post("/v1/events", content=body.replace(b"HOST-", b"LAST-"), headers=HEADERS)
    assert final.status_code == 200
    acknowledged += final.json()["accepted"]
    assert acknowledged >= 3 * len(RENDERERS) * len(CANONICAL)
    assert len(pooled.store.records) == acknowledged
    assert pooled.server.pool is not None and pooled.server.pool.restarts >= 3
