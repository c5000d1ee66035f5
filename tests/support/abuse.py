"""Abusive peers for syslog tests against a live engine: idle connections, lying octet counts,
half-finished TLS handshakes; and what to check afterwards (ledger, the collector's fds)."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

from nocraven.client import Client
from nocraven.schema.buffer import LedgerEntry
from tests.support.engine import RunningEngine

# The first bytes of a TLS ClientHello record: a handshake that never finishes.
PARTIAL_CLIENT_HELLO = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"


def connect_from(source: str, port: int, timeout: float = 5.0) -> socket.socket:
    """A TCP connection to 127.0.0.1:port from `source` (any 127.0.0.0/8 address is local)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def closed_by_peer(sock: socket.socket, timeout: float = 5.0) -> bool:
    """Whether the engine closed (or reset) this connection within `timeout`."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def ledger(engine: RunningEngine) -> list[LedgerEntry]:
    with Client(engine.socket) as client:
        return client.buffer_ledger(service="syslog", limit=10_000).entries


def ledger_by_source(engine: RunningEngine) -> dict[str | None, tuple[int, int, int]]:
    """source -> (rows, records, bytes) over the syslog ledger."""
    totals: dict[str | None, tuple[int, int, int]] = {}
    for entry in ledger(engine):
        rows, records, size = totals.get(entry.source, (0, 0, 0))
        totals[entry.source] = (rows + 1, records + entry.records, size + entry.bytes)
    return totals


def child_pids(parent: int, module: str) -> list[int]:
    """The processes whose parent is `parent` and whose command line names `module`, sorted."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, StopIteration, ValueError):
            status = (entry / "status").read_text()
            ppid = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
            if ppid == parent and module in (entry / "cmdline").read_bytes().decode(errors="replace"):
                pids.append(int(entry.name))
    return sorted(pids)


def collector_pid(engine: RunningEngine, module: str = "collectors.syslog.service") -> int:
    found = child_pids(engine.proc.pid, module)
    if not found:
        raise AssertionError(f"no {module} process under engine {engine.proc.pid}")
    return found[0]


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))
