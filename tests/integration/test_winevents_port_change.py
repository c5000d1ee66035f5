"""The Windows event endpoint moved to another socket in process (what a `nocraven ports set
winevents.listen` does in the collector): the new socket serves at once, a keep-alive connection
made to the old one goes on working, a connection the kernel completed on the old socket but the
server had not accepted yet is served rather than reset, and the old port is closed after."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import httpx
import pytest

from collectors.common.listen import bind_socket
from tests.support.winevents import LOGON, generic
from tests.support.winevents_server import DC01_SECRET, start_endpoint

pytestmark = pytest.mark.integration

HEADERS = {"Authorization": f"Bearer {DC01_SECRET}", "Content-Type": "application/x-ndjson"}


def body(computer: str) -> bytes:
    event = generic(LOGON)
    event["computer"] = computer
    return json.dumps(event).encode() + b"\n"


async def test_a_moved_endpoint_serves_old_connections_and_the_new_socket(tmp_path: Path) -> None:
    endpoint = await start_endpoint(tmp_path, idle_timeout_s=30.0)
    server, old_port = endpoint.server, endpoint.port
    old = httpx.AsyncClient(base_url=endpoint.url, verify=endpoint.client_ssl(), timeout=10)
    try:
        assert (await old.post("/v1/events", content=body("BEFORE"), headers=HEADERS)).status_code == 200
        sock, _ = bind_socket("tcp", "127.0.0.1", 0)
        host, new_port = await server.replace(sock)
        assert (host, new_port) == server.address and new_port != old_port
        async with httpx.AsyncClient(
            base_url=f"https://127.0.0.1:{new_port}", verify=endpoint.client_ssl(), timeout=10
        ) as new:
            assert (await new.post("/v1/events", content=body("NEW"), headers=HEADERS)).status_code == 200

        # Completed by the kernel on the old socket, not accepted yet (the loop has not run).
        waiting = socket.create_connection(("127.0.0.1", old_port))
        await server.stop_old_listener()
        reader, writer = await asyncio.open_connection(
            sock=waiting, ssl=endpoint.client_ssl(), server_hostname="127.0.0.1"
        )
        payload = body("QUEUED")
        head = (
            f"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {HEADERS['Authorization']}\r\n"
            f"Content-Type: application/x-ndjson\r\nContent-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode() + payload)
        status_line = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
        assert status_line.startswith(b"HTTP/1.1 200"), status_line

        # The keep-alive connection made before the move still carries requests.
        assert (await old.post("/v1/events", content=body("AFTER"), headers=HEADERS)).status_code == 200
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", old_port)) != 0  # the old port is closed
        computers = [record["computer"] for record in endpoint.store.records]
        assert computers == ["BEFORE", "NEW", "QUEUED", "AFTER"]
    finally:
        await old.aclose()
        await server.close()
