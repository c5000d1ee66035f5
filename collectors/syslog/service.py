"""The syslog collector process: UDP, TCP (RFC 6587) and TLS listeners feeding the engine.

UDP is received in a thread of its own with recvmmsg, parsed in bulk and sent on as NDJSON;
TCP and TLS connections run on asyncio, one framer per connection. Nothing is dropped for its
format; what is refused (sender not allowed, over-long frames, too many connections) is counted
per source and reported to the engine for the drop ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import signal
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import msgspec

from collectors.common.channel import FrameKind
from collectors.common.harness import Output, configure_logging, die_with_parent, read_config
from collectors.common.udp import BatchReceiver, kernel_drops
from collectors.syslog.framing import SyslogFramer
from collectors.syslog.parse import parse_batch

log = configure_logging("syslog")

MAX_SOURCES = 10_000  # per-source counters kept; beyond that, new senders count under "other"
REPORT_INTERVAL_S = 1.0


def split_host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


class Stats:
    """Counters per source IP and per listener; one lock, taken once per batch."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sources: dict[str, dict[str, Any]] = {}
        self.listeners: dict[str, dict[str, int]] = {}
        self._drops: dict[tuple[str | None, str], list[float]] = {}  # (source, reason) -> [records, bytes, first, last]

    def listener(self, name: str) -> dict[str, int]:
        return self.listeners.setdefault(
            name, {"messages": 0, "bytes": 0, "rejected": 0, "framing_errors": 0, "connections": 0, "kernel_drops": 0}
        )

    def _source(self, ip: str) -> dict[str, Any]:
        entry = self.sources.get(ip)
        if entry is None:
            if len(self.sources) >= MAX_SOURCES:
                ip = "other"
                entry = self.sources.get(ip)
            if entry is None:
                entry = self.sources[ip] = {"messages": 0, "bytes": 0, "rejected": 0, "formats": {}, "last_seen": 0.0}
        return entry

    def received(self, listener: str, records: list[Any], sizes: list[int], now: float) -> None:
        per_source = Counter((r["source"].rpartition(":")[0], r["format"]) for r in records)
        bytes_per_source: Counter[str] = Counter()
        for record, size in zip(records, sizes, strict=True):
            bytes_per_source[record["source"].rpartition(":")[0]] += size
        with self._lock:
            lst = self.listener(listener)
            lst["messages"] += len(records)
            lst["bytes"] += sum(sizes)
            for (ip, fmt), count in per_source.items():
                entry = self._source(ip)
                entry["messages"] += count
                entry["formats"][fmt] = entry["formats"].get(fmt, 0) + count
                entry["last_seen"] = now
            for ip, size in bytes_per_source.items():
                self._source(ip)["bytes"] += size

    def rejected(self, listener: str, source: str | None, records: int, size: int, reason: str, now: float) -> None:
        with self._lock:
            self.listener(listener)["rejected"] += records
            if source is not None:
                self._source(source.rpartition(":")[0] or source)["rejected"] += records
            drop = self._drops.setdefault((source, reason), [0, 0, now, now])
            drop[0] += records
            drop[1] += size
            drop[3] = now

    def take_drops(self) -> list[dict[str, Any]]:
        with self._lock:
            drops, self._drops = self._drops, {}
        return [
            {
                "source": source,
                "detail": reason,
                "records": int(d[0]),
                "bytes": int(d[1]),
                "first": d[2],
                "last": d[3],
                "reason": "kernel_drop" if reason == "kernel_drop" else "rejected_input",
            }
            for (source, reason), d in drops.items()
        ]

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "listeners": {k: dict(v) for k, v in self.listeners.items()},
                "sources": {k: dict(v, formats=dict(v["formats"])) for k, v in self.sources.items()},
            }


class Allowlist:
    def __init__(self, networks: list[str]) -> None:
        self._networks = [ipaddress.ip_network(n, strict=False) for n in networks]
        self._cache: dict[str, bool] = {}
        self.active = bool(self._networks)

    def allows(self, source: str) -> bool:
        if not self._networks:
            return True
        ip = source.rpartition(":")[0].strip("[]")
        allowed = self._cache.get(ip)
        if allowed is None:
            if len(self._cache) > 100_000:
                self._cache.clear()
            try:
                address = ipaddress.ip_address(ip)
                allowed = any(address in n for n in self._networks)
            except ValueError:
                allowed = False
            self._cache[ip] = allowed
        return allowed


class Pipeline:
    """Parse, encode and hand on a batch of messages; shared by every listener."""

    def __init__(self, out: Output, stats: Stats, allow: Allowlist) -> None:
        self._out = out
        self._stats = stats
        self._allow = allow
        self._encode = msgspec.json.Encoder().encode

    def handle(self, listener: str, messages: list[tuple[bytes, str]], now: float) -> None:
        if not messages:
            return
        allowed = messages
        if self._allow.active:
            allowed = []
            for data, source in messages:
                if self._allow.allows(source):
                    allowed.append((data, source))
                else:
                    self._stats.rejected(listener, source, 1, len(data), "sender_not_allowed", now)
        if not allowed:
            return
        records = parse_batch([(data, now, source) for data, source in allowed])
        encode = self._encode
        self._out.records([encode(r) for r in records])
        self._stats.received(listener, records, [len(data) for data, _ in allowed], now)


class UdpListener:
    def __init__(self, name: str, address: str, rcvbuf: int, pipeline: Pipeline, stats: Stats) -> None:
        host, port = split_host_port(address)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if family == socket.AF_INET6:
            self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        self.sock.bind((host, port))
        self.name = name
        self.address = (
            f"{host}:{self.sock.getsockname()[1]}"
            if family == socket.AF_INET
            else f"[{host}]:{self.sock.getsockname()[1]}"
        )
        self._pipeline = pipeline
        self._stats = stats
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"udp {self.address}", daemon=True)
        self._drops_seen = kernel_drops(self.sock) or 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _loop(self) -> None:
        receiver = BatchReceiver(self.sock, batch=256, max_datagram=65535, timeout_s=0.25)
        handle = self._pipeline.handle
        while not self._stop.is_set():
            batch = receiver.receive()
            if batch:
                handle(self.name, batch, time.time())

    def report_kernel_drops(self, now: float) -> None:
        drops = kernel_drops(self.sock)
        if drops is None or drops <= self._drops_seen:
            return
        delta, self._drops_seen = drops - self._drops_seen, drops
        self._stats.listener(self.name)["kernel_drops"] = drops
        self._stats.rejected(self.name, None, delta, 0, "kernel_drop", now)


class StreamProtocol(asyncio.Protocol):
    """One TCP or TLS connection: bytes in, framed messages through the pipeline."""

    def __init__(self, server: StreamListener) -> None:
        self._server = server
        self._framer = SyslogFramer(server.max_message_bytes)
        self._source = "unknown"
        self._transport: asyncio.Transport | None = None
        self._errors_reported = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        self._source = (
            f"{peer[0]}:{peer[1]}" if peer and ":" not in peer[0] else f"[{peer[0]}]:{peer[1]}" if peer else "unknown"
        )
        server = self._server
        stats = server.stats.listener(server.name)
        now = time.time()
        if not server.allow.allows(self._source):
            server.stats.rejected(server.name, self._source, 1, 0, "sender_not_allowed", now)
            transport.abort()
            return
        if server.active >= server.max_connections:
            server.stats.rejected(server.name, self._source, 1, 0, "connection_limit", now)
            log.warning("refused %s on %s: %d connections already", self._source, server.address, server.active)
            transport.abort()
            return
        server.active += 1
        stats["connections"] += 1
        self._counted = True

    def data_received(self, data: bytes) -> None:
        messages = self._framer.feed(data)
        self._report_framing()
        if messages:
            self._server.pipeline.handle(self._server.name, [(m, self._source) for m in messages], time.time())

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if getattr(self, "_counted", False):
            self._server.active -= 1
            messages = self._framer.flush()
            self._report_framing()
            if messages:
                self._server.pipeline.handle(self._server.name, [(m, self._source) for m in messages], time.time())

    def _report_framing(self) -> None:
        errors = self._framer.errors
        if errors > self._errors_reported:
            server = self._server
            server.stats.listener(server.name)["framing_errors"] += errors - self._errors_reported
            server.stats.rejected(
                server.name, self._source, errors - self._errors_reported, 0, "framing_error", time.time()
            )
            self._errors_reported = errors


class StreamListener:
    def __init__(
        self,
        name: str,
        address: str,
        config: dict[str, Any],
        pipeline: Pipeline,
        stats: Stats,
        allow: Allowlist,
        tls: ssl.SSLContext | None,
    ) -> None:
        self.name = name
        self.address = address
        self.pipeline = pipeline
        self.stats = stats
        self.allow = allow
        self.tls = tls
        self.max_message_bytes = int(config.get("max_message_bytes", 65536))
        self.max_connections = int(config.get("max_connections", 1000))
        self.active = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        host, port = split_host_port(self.address)
        self.server = await asyncio.get_running_loop().create_server(
            lambda: StreamProtocol(self), host, port, ssl=self.tls, reuse_address=True, backlog=512
        )
        bound = self.server.sockets[0].getsockname()
        self.address = f"{host}:{bound[1]}" if ":" not in host else f"[{host}]:{bound[1]}"


class BindError(Exception):
    """A listener could not be set up; the message names it and says why."""


@contextlib.contextmanager
def bind_errors(name: str, address: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc)
        hint = "; stop whatever holds it or choose another port" if exc.errno == errno.EADDRINUSE else ""
        raise BindError(f"syslog.{name} = {address!r}: cannot listen: {reason}{hint}") from None
    except ssl.SSLError as exc:
        raise BindError(f"syslog.{name}: cannot load the TLS certificate or key: {exc.reason or exc}") from None


def tls_context(config: dict[str, Any]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(config["tls_cert"], config["tls_key"])
    if config.get("tls_client_ca"):
        context.load_verify_locations(config["tls_client_ca"])
        context.verify_mode = ssl.CERT_REQUIRED
    return context


async def serve(config: dict[str, Any], out: Output) -> None:
    stats = Stats()
    allow = Allowlist(config.get("allow", []))
    pipeline = Pipeline(out, stats, allow)
    udp: list[UdpListener] = []
    streams: list[StreamListener] = []
    if config.get("udp"):
        with bind_errors("udp", config["udp"]):
            udp.append(
                UdpListener("udp", config["udp"], int(config.get("receive_buffer_bytes", 8 << 20)), pipeline, stats)
            )
    if config.get("tcp"):
        streams.append(StreamListener("tcp", config["tcp"], config, pipeline, stats, allow, None))
    if config.get("tls"):
        with bind_errors("tls", config["tls"]):
            context = tls_context(config)
        streams.append(StreamListener("tls", config["tls"], config, pipeline, stats, allow, context))
    for stream in streams:
        with bind_errors(stream.name, stream.address):
            await stream.start()
    for listener in udp:
        listener.start()
    out.json(
        FrameKind.READY,
        {
            "listeners": [
                *({"listener": u.name, "proto": "udp", "address": u.address} for u in udp),
                *({"listener": s.name, "proto": "tcp", "address": s.address} for s in streams),
            ]
        },
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        while not stop.is_set() and not out.broken:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), REPORT_INTERVAL_S)
            now = time.time()
            for listener in udp:
                listener.report_kernel_drops(now)
            snapshot = stats.snapshot()
            for stream in streams:
                snapshot["listeners"].setdefault(stream.name, {})["active_connections"] = stream.active
            out.json(FrameKind.COUNTERS, snapshot)
            drops = stats.take_drops()
            if drops:
                out.json(FrameKind.DROPS, drops)
    finally:
        for stream in streams:
            if stream.server is not None:
                stream.server.close()
        for listener in udp:
            listener.stop()
        out.json(FrameKind.COUNTERS, stats.snapshot())
        drops = stats.take_drops()
        if drops:
            out.json(FrameKind.DROPS, drops)


def main() -> None:
    die_with_parent()
    config = read_config()
    out = Output()
    try:
        asyncio.run(serve(config, out))
    except BindError as exc:
        # One clear line for the engine's log and status; the engine retries with backoff.
        out.json(FrameKind.LOG, {"level": "error", "message": str(exc)})
        raise SystemExit(3) from None


if __name__ == "__main__":
    main()
