"""Every service end to end: the real engine receives NetFlow v9 and IPFIX (our own exporter),
SNMP traps (net-snmp's `snmptrap`), Windows events (HTTPS POST with a token) and syslog (TCP), and
a real nats-server's JetStream stream holds each service's records under
`nocraven.{site}.{service}` with the fields DESIGN.md §2.3 names."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import ssl
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from tests.support import flowpackets as fp
from tests.support.engine import RunningEngine, start_engine
from tests.support.forwarding import NATS_SERVER, StreamMessage, by_service, nats_server, read_stream, running
from tests.support.snmptrap import IF_DESCR_3, LINK_DOWN, marker, net_snmp, trap_address, trap_config
from tests.support.syslog import listener_port
from tests.support.winevents import CANONICAL, generic
from tests.support.winevents_live import NDJSON, wait_for_listener, winevents_toml
from tests.support.winevents_server import DC01, DC01_SECRET, tls_files

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(not shutil.which(NATS_SERVER), reason="needs nats-server (Debian package nats-server)"),
    pytest.mark.skipif(not shutil.which("snmptrap"), reason="needs net-snmp's snmptrap (Debian package snmp)"),
]

SITE = "arena-07"
SYSLOG_LINES = 40
V9_FLOWS = 30
IPFIX_FLOWS = 20
TRAPS = 3


def flow_port(engine: RunningEngine, name: str, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        status = json.loads(engine.cli("status", "--json").stdout)
        for listener in status["components"]["flow"]["detail"]["listeners"]:
            if listener["listener"] == name:
                return int(listener["address"].rpartition(":")[2])
        assert time.monotonic() < deadline, f"no flow {name} listener: {status['components']['flow']}"
        time.sleep(0.2)


def stream_by_service(url: str, expected: dict[str, int], timeout: float = 90) -> list[StreamMessage]:
    """The stream once it holds at least the expected records of every service."""
    deadline = time.monotonic() + timeout
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        try:
            messages = asyncio.run(read_stream([url], "NOCRAVEN", timeout=2))
        except Exception:
            messages = []  # the stream is not created yet
        counts = {service: len(records) for service, records in by_service(messages).items()}
        if all(counts.get(service, 0) >= n for service, n in expected.items()):
            return messages
        time.sleep(0.5)
    raise AssertionError(f"the stream holds {counts}, expected {expected}")


@pytest.mark.timeout(300)
def test_every_service_reaches_jetstream_under_its_subject(tmp_path: Path) -> None:
    server = nats_server(tmp_path).start()
    _, cert_file, key_file, ca_file = tls_files(tmp_path)
    config = f"""
{trap_config()}
{winevents_toml(cert_file, key_file, (DC01,))}
[flow]
netflow = "127.0.0.1:0"
ipfix = "127.0.0.1:0"
udp_workers = 1

[syslog]
udp_workers = 1

[buffer]
min_free_bytes = 0

[forward]
site = "{SITE}"

[[forward.sinks]]
name = "noc"
type = "nats"
urls = ["{server.url}"]
services = ["syslog", "flow", "trap", "winevent"]
timeout_s = 2.0
retry_max_s = 1.0
"""
    with running([server]):
        engine = start_engine(tmp_path / "engine", config, wait=60)
        try:
            # syslog over TCP
            syslog = [f"<34>Nov 27 06:00:0{i % 10} core-sw{i % 3} sshd[42]: login {i}\n" for i in range(SYSLOG_LINES)]
            with socket.create_connection(("127.0.0.1", listener_port(engine, "tcp")), 5) as conn:
                conn.sendall("".join(syslog).encode())

            # NetFlow v9 and IPFIX from our own exporter, template and data in one datagram each
            v9_flows, ipfix_flows = fp.flows(V9_FLOWS, seed=1), fp.flows(IPFIX_FLOWS, seed=2)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as exporter:
                exporter.bind(("127.0.0.1", 0))
                exporter_source = f"127.0.0.1:{exporter.getsockname()[1]}"
                exporter.sendto(fp.v9_flows(v9_flows), ("127.0.0.1", flow_port(engine, "netflow")))
                exporter.sendto(fp.ipfix_flows(ipfix_flows), ("127.0.0.1", flow_port(engine, "ipfix")))

            # SNMP traps with net-snmp
            address = trap_address(engine)
            markers = [f"fwd-trap-{i}" for i in range(TRAPS)]
            for i, text in enumerate(markers):
                sent = net_snmp(
                    tmp_path / "net-snmp", "snmptrap", "-v2c", "-c", "public", address, str(100 + i), LINK_DOWN,
                    "1.3.6.1.2.1.2.2.1.1.3", "i", "3", IF_DESCR_3, "s", text,
                )  # fmt: skip
                assert sent.returncode == 0, sent.stderr

            # Windows events: an HTTPS POST with the agent's token
            endpoint = wait_for_listener(engine)
            body = b"".join(msgspec.json.encode(generic(event)) + b"\n" for event in CANONICAL)
            with httpx.Client(verify=ssl.create_default_context(cafile=str(ca_file)), timeout=30) as http:
                reply = http.post(
                    f"https://{endpoint}/v1/events",
                    content=body,
                    headers={"Authorization": f"Bearer {DC01_SECRET}", "Content-Type": NDJSON},
                )
            assert reply.status_code == 200, reply.text
            assert reply.json()["accepted"] == len(CANONICAL)

            expected = {
                "syslog": SYSLOG_LINES,
                "flow": V9_FLOWS + IPFIX_FLOWS,
                "trap": TRAPS,
                "winevent": len(CANONICAL),
            }
            messages = stream_by_service(server.url, expected)
            status = json.loads(engine.cli("forward", "status", "--json").stdout)["sinks"][0]
        finally:
            engine.stop()

    # Each service under its own subject, its batches named by their headers, each batch once.
    assert {m.subject for m in messages} == {f"nocraven.{SITE}.{service}" for service in expected}
    for message in messages:
        assert message.subject == f"nocraven.{SITE}.{message.headers['Nocraven-Service']}"
        assert int(message.headers["Nocraven-Records"]) == len(message.records)
        first, last = message.headers["Nocraven-First-Seq"], message.headers["Nocraven-Last-Seq"]
        assert message.headers["Nats-Msg-Id"] == f"{SITE}.{message.headers['Nocraven-Service']}.{first}-{last}"
    ids = [m.headers["Nats-Msg-Id"] for m in messages]
    assert len(ids) == len(set(ids))
    records = {service: [json.loads(r) for r in rs] for service, rs in by_service(messages).items()}
    assert {service: len(rs) for service, rs in records.items()} == expected, "each record arrives exactly once"
    assert status["delivered_records"] == sum(expected.values()) and status["backlog_records"] == 0
    for service, rs in records.items():
        assert all(r["service"] == service and r["received_at"].endswith("Z") and r["source"] for r in rs)

    check_syslog(records["syslog"])
    check_flows(records["flow"], exporter_source, v9_flows, ipfix_flows)
    check_traps(records["trap"], markers)
    check_winevents(records["winevent"])


def check_syslog(records: list[dict[str, Any]]) -> None:
    assert [r["message"] for r in records] == [f"login {i}" for i in range(SYSLOG_LINES)], "order kept"
    first = records[0]
    assert (first["facility"], first["severity"], first["hostname"], first["app_name"], first["procid"]) == (
        4,
        2,
        "core-sw0",
        "sshd",
        "42",
    )
    assert first["format"] == "rfc3164" and first["source"].startswith("127.0.0.1:")


def check_flows(records: list[dict[str, Any]], source: str, v9: list[fp.Flow], ipfix: list[fp.Flow]) -> None:
    assert Counter(r["version"] for r in records) == {9: len(v9), 10: len(ipfix)}
    assert all(r["source"] == source and r["exporter"] for r in records)
    for version, sent in ((9, v9), (10, ipfix)):
        got = sorted(
            (r["src_addr"], r["dst_addr"], r["src_port"], r["dst_port"], r["protocol"], r["bytes"], r["packets"])
            for r in records
            if r["version"] == version
        )
        assert got == sorted((f.src, f.dst, f.src_port, f.dst_port, f.protocol, f.bytes, f.packets) for f in sent)
        assert all(r["input_if"] and r["output_if"] and r["start"] and r["end"] for r in records)


def check_traps(records: list[dict[str, Any]], markers: list[str]) -> None:
    assert sorted(marker(r) or "" for r in records) == sorted(markers)
    for record in records:
        assert (record["version"], record["community"], record["trap_oid"], record["trap_name"]) == (
            "v2c",
            "public",
            LINK_DOWN,
            "IF-MIB::linkDown",
        )
    assert sorted(r["uptime"] for r in records) == [100 + i for i in range(len(markers))]


def check_winevents(records: list[dict[str, Any]]) -> None:
    assert [r["event_id"] for r in records] == [event.event_id for event in CANONICAL]
    for record, event in zip(records, CANONICAL, strict=True):
        assert (record["channel"], record["provider"], record["computer"], record["record_id"]) == (
            event.channel,
            event.provider,
            event.computer,
            event.record_id,
        )
        assert record["message"] == event.message and record["dialect"] == "generic"
        assert record["agent"] == "dc01"
        if not event.user_data:
            assert record["event_data"] == event.data
