"""The forwarder against an HTTP NOC gateway on loopback (a real aiohttp server) that removes
re-sent batches by Idempotency-Key and fails at random for a while; and gap events."""

from __future__ import annotations

import gzip
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import pytest
import zstandard
from aiohttp import web

from nocraven.buffer.limits import BufferLimits, ServiceLimits
from nocraven.buffer.store import SegmentStore
from nocraven.forward.forwarder import BatchQuarantined, Forwarder, ForwardEvent
from nocraven.forward.health import Backoff
from nocraven.forward.settings import ForwardSettings, SinkSettings
from tests.support.forwarding import fill, make_record, wait_until

pytestmark = [pytest.mark.integration]

SERVICES = ("syslog", "flow", "trap", "winevent")
FAST = Backoff(base_s=0.05, cap_s=0.5)


@dataclass
class Gateway:
    """A NOC gateway: stores each Idempotency-Key once; fails the first `flaky` requests at
    random (500, or 429 with Retry-After); refuses batches holding a "poison" record (422)."""

    flaky: int = 0
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    batches: dict[str, list[bytes]] = field(default_factory=dict)
    requests: int = 0
    answered: dict[int, int] = field(default_factory=dict)
    duplicates: int = 0
    encodings: set[str] = field(default_factory=set)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.read()
        encoding = request.headers.get("Content-Encoding")
        self.encodings.add(encoding or "")
        if not body.startswith(b"{"):  # aiohttp decodes gzip (and zstd when it can) by itself
            if encoding == "zstd":
                body = zstandard.ZstdDecompressor().decompressobj().decompress(body)
            elif encoding == "gzip":
                body = gzip.decompress(body)
        key = request.headers["Idempotency-Key"]
        records = [line for line in body.split(b"\n") if line]
        assert int(request.headers["Nocraven-Records"]) == len(records)
        status = 200
        if self.requests <= self.flaky and self.rng.random() < 0.5:
            status = self.rng.choice([500, 429, 503])
        elif any(b'"poison"' in record for record in records):
            status = 422
        self.answered[status] = self.answered.get(status, 0) + 1
        if status == 200:
            if key in self.batches:
                self.duplicates += 1
            self.batches.setdefault(key, records)
            return web.Response(status=200)
        headers = {"Retry-After": "0"} if status in (429, 503) else {}
        return web.Response(status=status, text=f"answer {status}", headers=headers)

    def records(self, service: str) -> list[bytes]:
        found = []
        for key in sorted(
            (k for k in self.batches if k.split(".")[1] == service),
            key=lambda k: int(k.rsplit(".", 1)[1].split("-")[0]),
        ):
            found.extend(self.batches[key])
        return found


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    state = Gateway()
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/ingest", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.url = f"http://127.0.0.1:{port}/ingest"
    yield state
    await runner.cleanup()


def http_settings(url: str, **extra: object) -> ForwardSettings:
    options: dict[str, object] = {"timeout_s": 5.0, "batch_records": 500, **extra}
    return ForwardSettings(site="arena-01", sinks=[SinkSettings(name="gw", type="http", urls=[url], **options)])  # type: ignore[arg-type]


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_every_record_reaches_a_flaky_gateway_once(tmp_path: Path, gateway: Gateway) -> None:
    now = time.time()
    store = SegmentStore.open(tmp_path / "buffer", BufferLimits(), now)
    appended = fill(store, {"syslog": 8_000, "trap": 3_000}, now)
    gateway.flaky = 60
    events: list[ForwardEvent] = []
    forwarder = Forwarder(
        store,
        http_settings(gateway.url, compression="gzip"),
        SERVICES,
        events.append,
        backoff=FAST,
        rng=random.Random(3),
    )
    forwarder.start()
    try:
        await wait_until(
            lambda: store.cursor("gw", "syslog") == 8_000 and store.cursor("gw", "trap") == 3_000, 60, "the drain"
        )
        # Live records appended now go out too.
        live = [make_record("syslog", 8_000 + i, time.time(), message="live") for i in range(10)]
        store.append("syslog", live, time.time())
        store.seal_all(time.time())
        await wait_until(lambda: store.cursor("gw", "syslog") == 8_010, 30, "the live records")
        status = forwarder.status()[0]
    finally:
        await forwarder.stop()
    assert gateway.answered.get(500, 0) + gateway.answered.get(429, 0) + gateway.answered.get(503, 0) > 5
    assert gateway.records("syslog") == appended["syslog"] + live
    assert gateway.records("trap") == appended["trap"]
    assert gateway.encodings == {"gzip"}
    assert status.state == "forwarding" and status.backlog_records == 0
    assert status.last_error.startswith("gateway answered")
    assert not [e for e in events if isinstance(e, BatchQuarantined)]
    store.close()


@pytest.mark.timeout(60)
async def test_a_batch_the_gateway_refuses_is_quarantined_and_the_rest_goes_on(
    tmp_path: Path, gateway: Gateway
) -> None:
    now = time.time()
    store = SegmentStore.open(tmp_path / "buffer", BufferLimits(), now)
    good = [make_record("syslog", i, now) for i in range(100)]
    store.append("syslog", good, now)
    store.seal_all(now)
    store.append("syslog", [make_record("syslog", 100, now, kind="poison")], now)
    store.seal_all(now)
    after = [make_record("syslog", 101 + i, now) for i in range(100)]
    store.append("syslog", after, now)
    store.seal_all(now)
    events: list[ForwardEvent] = []
    quarantine = tmp_path / "quarantine"
    forwarder = Forwarder(
        store, http_settings(gateway.url), SERVICES, events.append, quarantine_dir=quarantine, backoff=FAST
    )
    forwarder.start()
    try:
        await wait_until(lambda: store.cursor("gw", "syslog") == 201, 30, "the drain past the refused batch")
    finally:
        await forwarder.stop()
    assert gateway.records("syslog") == good + after
    refused = [e for e in events if isinstance(e, BatchQuarantined)]
    assert [(e.message_id, e.records) for e in refused] == [("arena-01.syslog.101-101", 1)]
    assert "422" in refused[0].reason
    assert (quarantine / "gw" / "arena-01.syslog.101-101.ndjson").read_bytes().count(b"poison") == 1
    store.close()


@pytest.mark.timeout(60)
async def test_records_evicted_while_the_sink_was_down_arrive_as_gap_events(tmp_path: Path, gateway: Gateway) -> None:
    now = time.time()
    limits = BufferLimits(seal_bytes=16 * 1024, services={"flow": ServiceLimits(quota_bytes=64 * 1024)})
    store = SegmentStore.open(tmp_path / "buffer", limits, now)
    rng = random.Random(11)
    for chunk in range(40):  # random payloads, so zstd cannot squeeze them under the quota
        flows = [make_record("flow", chunk * 100 + i, now, blob=rng.randbytes(48).hex()) for i in range(100)]
        store.append("flow", flows, now)
        store.seal_due(now)
    fill(store, {"syslog": 500}, now, chunk=100)
    store.record_drop("syslog", "kernel_drop", 17, 1700, now, source="10.1.0.9:514")
    store.seal_all(now)
    ledger = [entry for entry in store.ledger(None, 10_000) if entry.drop.service in ("flow", "syslog")]
    evicted = sum(e.drop.records for e in ledger if e.drop.service == "flow")
    assert evicted > 1_000, "the quota should have evicted flow records"
    forwarder = Forwarder(store, http_settings(gateway.url), SERVICES, backoff=FAST)
    forwarder.start()
    try:
        await wait_until(lambda: store.cursor("gw", "flow") == 4_000, 30, "the flow drain")
        await wait_until(lambda: store.ledger_cursor("gw") >= ledger[-1].id, 30, "the gap events")
        status = forwarder.status()[0]
    finally:
        await forwarder.stop()
    gaps = [msgspec.json.decode(r) for key, batch in gateway.batches.items() if ".gap." in key for r in batch]
    assert status.gap_events == len(gaps) == len(ledger)
    for service in ("flow", "syslog"):
        at_noc = [g for g in gaps if g["lost_service"] == service]
        in_ledger = [e.drop for e in ledger if e.drop.service == service]
        assert sum(g["records"] for g in at_noc) == sum(d.records for d in in_ledger)
        assert sum(g["bytes"] for g in at_noc) == sum(d.bytes for d in in_ledger)
    kernel = next(g for g in gaps if g["reason"] == "kernel_drop")
    assert kernel["service"] == "gap" and kernel["records"] == 17 and kernel["source"] == "10.1.0.9:514"
    assert {"first", "last", "received_at", "bytes"} <= kernel.keys()
    # The records the quota kept arrived; the evicted ones are exactly the gap.
    delivered_flow = sum(len(b) for k, b in gateway.batches.items() if ".flow." in k)
    assert delivered_flow + evicted == 4_000
    store.close()
