"""`nocraven buffer stats` counts the bytes each service's records took on the wire: what the
senders sent, exactly, from the collector's socket through its workers and the channel to the
buffer (the RECEIVED frame). A real engine; messages of known, varied sizes."""

from __future__ import annotations

import json
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import pytest
import trustme

from collectors.snmptrap import ber
from collectors.snmptrap.compose import v2c_notification
from tests.support import flowpackets as fp
from tests.support.engine import RunningEngine, start_engine
from tests.support.snmptrap import trap_address, trap_config
from tests.support.syslog import listener_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"
IF_DESCR_3 = "1.3.6.1.2.1.2.2.1.2.3"


def service_stats(engine: RunningEngine, service: str) -> dict[str, Any]:
    result = engine.cli("buffer", "stats", "--json")
    assert result.returncode == 0, result.stderr
    stats: dict[str, Any] = json.loads(result.stdout)["services"].get(service, {})
    return stats


def wait_for_stats(engine: RunningEngine, service: str, records: int, timeout: float = 20) -> dict[str, Any]:
    """The service's stats once it holds `records` records."""
    deadline = time.monotonic() + timeout
    stats: dict[str, Any] = {}
    while time.monotonic() < deadline:
        stats = service_stats(engine, service)
        if stats.get("records", 0) >= records:
            return stats
        time.sleep(0.3)
    raise AssertionError(f"{service} never held {records} records: {stats}\n{engine.log()[-2000:]}")


def syslog_lines(count: int, tag: str) -> list[bytes]:
    """Messages of varied sizes, so a count off by a message or a byte shows."""
    return [f"<30>Nov 27 06:00:00 sw{i % 3} {tag}[7]: event {i} {'x' * (i * 7 % 300)}".encode() for i in range(count)]


def test_syslog_udp_tcp_and_tls_received_bytes_are_the_bytes_sent(tmp_path: Path) -> None:
    ca = trustme.CA()
    pem = tmp_path / "server.pem"
    ca.issue_cert("localhost", "127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(pem))
    tls_config = f'tls = "127.0.0.1:0"\ntls_cert = "{pem}"\ntls_key = "{pem}"\n'
    engine = start_engine(tmp_path / "engine", "[syslog]\nudp_workers = 2\n" + tls_config)
    try:
        datagrams = syslog_lines(400, "rxudp")
        port = listener_port(engine, "udp")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            for i, datagram in enumerate(datagrams):
                udp.sendto(datagram, ("127.0.0.1", port))
                if i % 100 == 0:
                    time.sleep(0.005)
        sent_udp = sum(map(len, datagrams))
        stats = wait_for_stats(engine, "syslog", len(datagrams))
        assert stats["records"] == len(datagrams)
        assert stats["received_bytes"] == sent_udp
        # What the records take as JSON, and on disk, are other figures.
        assert stats["raw_bytes"] > sent_udp

        # TCP: newline framing and octet counting, the framing bytes counted as received; the
        # last message has no terminator and is taken when the connection closes.
        lines = syslog_lines(150, "rxtcp")
        stream = b"".join(line + b"\n" for line in lines[:100])
        stream += b"".join(str(len(line)).encode() + b" " + line for line in lines[100:149])
        stream += lines[149]
        with socket.create_connection(("127.0.0.1", listener_port(engine, "tcp"))) as tcp:
            for start in range(0, len(stream), 5000):  # in pieces that cut messages in two
                tcp.sendall(stream[start : start + 5000])
                time.sleep(0.002)
        stats = wait_for_stats(engine, "syslog", len(datagrams) + len(lines))
        assert stats["records"] == len(datagrams) + len(lines)
        assert stats["received_bytes"] == sent_udp + len(stream)

        # TLS: the syslog bytes inside the session (framing included), not the TLS records.
        secured = b"".join(line + b"\n" for line in syslog_lines(80, "rxtls"))
        context = ssl.create_default_context()
        ca.configure_trust(context)
        with (
            socket.create_connection(("127.0.0.1", listener_port(engine, "tls"))) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            tls.sendall(secured)
        stats = wait_for_stats(engine, "syslog", len(datagrams) + len(lines) + 80)
        assert stats["received_bytes"] == sent_udp + len(stream) + len(secured)

        human = engine.cli("buffer", "stats")
        assert human.returncode == 0 and "received" in human.stdout
    finally:
        engine.stop()


def test_flow_and_trap_received_bytes_are_the_datagrams_sent(tmp_path: Path) -> None:
    extra = '[flow]\nnetflow = "127.0.0.1:0"\nudp_workers = 2\n' + trap_config()
    engine = start_engine(tmp_path / "engine", extra)
    try:
        status = json.loads(engine.cli("status", "--json").stdout)
        deadline = time.monotonic() + 30
        while not status["components"]["flow"]["detail"]["listeners"] and time.monotonic() < deadline:
            time.sleep(0.2)
            status = json.loads(engine.cli("status", "--json").stdout)
        flow_port = int(status["components"]["flow"]["detail"]["listeners"][0]["address"].rpartition(":")[2])
        # NetFlow v5 datagrams of 1 to 9 flows: 24 + 48 bytes a flow.
        exports = [fp.netflow_v5(fp.flows(1 + i % 9, seed=i), sequence=i * 10) for i in range(60)]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            for export in exports:
                udp.sendto(export, ("127.0.0.1", flow_port))
        flows = sum(1 + i % 9 for i in range(60))
        stats = wait_for_stats(engine, "flow", flows)
        assert stats["records"] == flows
        assert stats["received_bytes"] == sum(map(len, exports))

        # Traps go out as RECORDS, INFORMs as RECORDS_DURABLE: both carry their bytes.
        host, _, port = trap_address(engine).rpartition(":")
        notifications = [
            v2c_notification(
                "public",
                LINK_DOWN,
                [(IF_DESCR_3, ber.OCTET_STRING, f"port {i} {'y' * (i * 5 % 120)}".encode())],
                request_id=1000 + i,
                inform=i % 4 == 0,
            )
            for i in range(40)
        ]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            for notification in notifications:
                udp.sendto(notification, (host, int(port)))
        stats = wait_for_stats(engine, "trap", len(notifications))
        assert stats["records"] == len(notifications)
        assert stats["received_bytes"] == sum(map(len, notifications))
    finally:
        engine.stop()
