"""Real peers for forwarder tests: nats-server (single or a JetStream cluster) on loopback, and
helpers to fill a buffer and read a stream back."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from nocraven.buffer.store import SegmentStore
from nocraven.forward.batching import DICTIONARY_SERVICE, decode_payload

NATS_SERVER = "/usr/sbin/nats-server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@dataclass
class NatsServer:
    port: int
    store_dir: Path
    name: str = "n1"
    cluster_port: int | None = None
    routes: list[int] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> NatsServer:
        args = [
            NATS_SERVER,
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-sd",
            str(self.store_dir),
            "-n",
            self.name,
        ]
        if self.cluster_port is not None:
            args += ["--cluster_name", "noc", "--cluster", f"nats://127.0.0.1:{self.cluster_port}"]
            args += ["--routes", ",".join(f"nats://127.0.0.1:{p}" for p in self.routes)]
        log = open(self.store_dir.parent / f"{self.name}.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_port(self.port)
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def nats_server(directory: Path, name: str = "n1") -> NatsServer:
    store_dir = directory / name
    store_dir.mkdir(parents=True, exist_ok=True)
    return NatsServer(free_port(), store_dir, name)


def nats_cluster(directory: Path, size: int = 3) -> list[NatsServer]:
    cluster_ports = [free_port() for _ in range(size)]
    servers = []
    for index in range(size):
        server = nats_server(directory, f"n{index + 1}")
        server.cluster_port = cluster_ports[index]
        server.routes = [p for i, p in enumerate(cluster_ports) if i != index]
        servers.append(server)
    return servers


@contextlib.contextmanager
def running(servers: list[NatsServer]) -> Iterator[list[NatsServer]]:
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def make_record(service: str, index: int, now: float, **extra: Any) -> bytes:
    record = {"service": service, "received_at": rfc3339(now), "source": "10.1.0.9:514", "n": index, **extra}
    return msgspec.json.encode(record)


def fill(store: SegmentStore, per_service: dict[str, int], now: float, chunk: int = 500) -> dict[str, list[bytes]]:
    """Append records (interleaved between services) and seal them; returns them per service."""
    appended: dict[str, list[bytes]] = {service: [] for service in per_service}
    remaining = dict(per_service)
    while any(remaining.values()):
        for service, left in remaining.items():
            if not left:
                continue
            take = min(chunk, left)
            start = per_service[service] - left
            records = [
                make_record(service, start + i, now, message=f"{service} record {start + i}") for i in range(take)
            ]
            store.append(service, records, now)
            appended[service].extend(records)
            remaining[service] = left - take
        store.seal_due(now)
    store.seal_all(now)
    return appended


async def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@dataclass
class StreamMessage:
    subject: str
    headers: dict[str, str]
    records: list[bytes]


async def read_stream(urls: list[str], stream: str, timeout: float = 30.0) -> list[StreamMessage]:
    """Every batch of a JetStream stream, in stream order (read directly by sequence), decoded
    as a NOC does: a batch naming a `Nocraven-Dictionary` is decompressed with the dictionary
    message of that key, which must come before it (dictionary messages are not returned)."""
    import nats

    nc = await nats.connect(servers=urls, connect_timeout=5)
    try:
        js = nc.jetstream(timeout=5)
        deadline = time.monotonic() + timeout
        while True:
            try:
                info = await js.stream_info(stream)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        messages = []
        dictionaries: dict[str, bytes] = {}
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(stream, seq)
            headers = dict(msg.headers or {})
            if headers.get("Nocraven-Service") == DICTIONARY_SERVICE:
                dictionaries[headers["Nocraven-Dictionary"]] = msg.data or b""
                continue
            key = headers.get("Nocraven-Dictionary")
            dictionary = dictionaries[key] if key is not None else None  # KeyError: sent after its batch
            records = decode_payload(msg.data or b"", headers.get("Content-Encoding"), dictionary)
            messages.append(StreamMessage(msg.subject, headers, records))
        return messages
    finally:
        await nc.close()


def by_service(messages: list[StreamMessage]) -> dict[str, list[bytes]]:
    found: dict[str, list[bytes]] = {}
    for message in messages:
        found.setdefault(message.headers["Nocraven-Service"], []).extend(message.records)
    return found


def kill_quietly(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
