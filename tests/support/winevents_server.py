"""A Windows event endpoint on 127.0.0.1 over TLS (trustme certificates), with a store that
keeps what it is given and can be made to wait, push back or fail."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import msgspec
import trustme

from collectors.winevents.normalise import WineventRecord
from collectors.winevents.server import StoreBusy, WineventsServer
from collectors.winevents.settings import WineventsSettings

DC01 = "dc01:dc01-secret-0123456789abcdef"
FS01 = "fs01:fs01-secret-0123456789abcdef"
DC01_SECRET = DC01.split(":", 1)[1]
FS01_SECRET = FS01.split(":", 1)[1]


@dataclass
class RecordingStore:
    records: list[WineventRecord] = field(default_factory=list)
    calls: int = 0
    wire_bytes: int = 0  # the request bodies' sizes as sent, added up
    gate: asyncio.Event | None = None  # when set, store waits for it
    busy: bool = False
    fail: bool = False

    async def __call__(self, ndjson: bytes, count: int, wire_bytes: int = 0) -> None:
        # The buffer takes a chunk whole only when it has no trailing or empty line.
        assert ndjson and not ndjson.endswith(b"\n") and b"\n\n" not in ndjson
        records = [msgspec.json.decode(line) for line in ndjson.split(b"\n")]
        assert len(records) == count, "the count the server gave is not the records it sent"
        self.calls += 1
        self.wire_bytes += wire_bytes
        if self.gate is not None:
            await self.gate.wait()
        if self.busy:
            raise StoreBusy("the buffer is full", retry_after_s=7)
        if self.fail:
            raise OSError("disk I/O error")
        self.records.extend(records)


@dataclass
class Endpoint:
    server: WineventsServer
    store: RecordingStore
    ca: trustme.CA
    ca_file: Path
    last_upload: int = 0  # bytes curl sent in the last request (tests of Expect: 100-continue)

    @property
    def port(self) -> int:
        assert self.server.address is not None
        return self.server.address[1]

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def client_ssl(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context


def tls_files(tmp_path: Path) -> tuple[trustme.CA, Path, Path, Path]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file, ca_file = tmp_path / "server.pem", tmp_path / "server.key", tmp_path / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(str(cert_file), append=True)
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    return ca, cert_file, key_file, ca_file


async def start_endpoint(tmp_path: Path, **overrides: Any) -> Endpoint:
    ca, cert_file, key_file, ca_file = tls_files(tmp_path)
    settings = WineventsSettings(
        listen="127.0.0.1:0",
        tokens=[DC01, FS01],
        tls_cert=str(cert_file),
        tls_key=str(key_file),
        read_timeout_s=2.0,
        idle_timeout_s=2.0,
    )
    settings = replace(settings, **overrides)
    store = RecordingStore()
    server = WineventsServer(settings, store)
    await server.start()
    return Endpoint(server, store, ca, ca_file)
