"""`compression = "zstd-dict"` against a real nats-server: whole segments go out as the buffer
stored them, each dictionary before the first batch that needs it, and a NOC that reads the
stream in order decodes every record once, in order."""

from __future__ import annotations

import random
import shutil
import time
from pathlib import Path

import nats
import pytest

from nocraven.buffer.limits import BufferLimits
from nocraven.buffer.store import SegmentStore
from nocraven.forward.forwarder import Forwarder
from nocraven.forward.health import Backoff
from nocraven.forward.settings import ForwardSettings, SinkSettings
from tests.support.forwarding import NATS_SERVER, by_service, make_record, nats_server, read_stream, running, wait_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not shutil.which(NATS_SERVER), reason="needs nats-server (Debian package nats-server)"),
]

SERVICES = ("syslog", "flow")


async def dictionary_messages(url: str) -> list[dict[str, str]]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream(timeout=5)
        info = await js.stream_info("NOCRAVEN")
        found = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg("NOCRAVEN", seq)
            headers = dict(msg.headers or {})
            if headers.get("Nocraven-Service") == "dictionary":
                found.append({**headers, "subject": msg.subject, "size": str(len(msg.data or b""))})
        return found
    finally:
        await nc.close()


@pytest.mark.timeout(120)
async def test_stored_segments_reach_jetstream_once_and_decode_with_their_dictionaries(tmp_path: Path) -> None:
    now = time.time()
    store = SegmentStore.open(tmp_path / "buffer", BufferLimits(), now)
    rng = random.Random(5)
    appended: dict[str, list[bytes]] = {service: [] for service in SERVICES}
    for _ in range(30):  # ~2 MiB per service: the buffer trains a dictionary for each
        for service in SERVICES:
            burst = [
                make_record(service, len(appended[service]) + i, now, host=f"sw-{rng.randint(1, 50)}", pad="p" * 600)
                for i in range(120)
            ]
            store.append(service, burst, now)
            appended[service].extend(burst)
        store.seal_due(now)
    store.seal_all(now)
    server = nats_server(tmp_path)
    sink = SinkSettings(name="noc", type="nats", urls=[server.url], compression="zstd-dict", timeout_s=3.0)
    forwarder = Forwarder(store, ForwardSettings(site="arena-01", sinks=[sink]), SERVICES, backoff=Backoff(0.1, 1.0))
    with running([server.start()]):
        forwarder.start()
        try:
            await wait_until(
                lambda: all(store.cursor("noc", s) == store.sealed_seq(s) for s in SERVICES), 60, "the drain"
            )
            status = forwarder.status()[0]
            assert status.backlog_records == 0
            assert status.delivered_records == sum(len(r) for r in appended.values())
        finally:
            await forwarder.stop()
        messages = await read_stream([server.url], "NOCRAVEN")  # raises if a batch precedes its dictionary
        dictionaries = await dictionary_messages(server.url)
    received = by_service(messages)
    for service in SERVICES:
        assert received[service] == appended[service], f"{service}: content or order differs"
    ids = [m.headers["Nats-Msg-Id"] for m in messages]
    assert len(ids) == len(set(ids)), "a batch is stored twice"
    named = {m.headers["Nocraven-Dictionary"] for m in messages if "Nocraven-Dictionary" in m.headers}
    assert named and named == {d["Nocraven-Dictionary"] for d in dictionaries}
    assert len(dictionaries) == len(named)  # each sent once
    assert {d["Nocraven-Dictionary-Service"] for d in dictionaries} == set(SERVICES)
    assert all(d["subject"] == "nocraven.arena-01.dictionary" for d in dictionaries)
    assert all(d["Nats-Msg-Id"] == f"arena-01.dictionary.{d['Nocraven-Dictionary']}" for d in dictionaries)
    store.close()
