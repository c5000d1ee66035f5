"""The Windows event collector process: the HTTPS endpoint feeding the engine's buffer.

Every batch an agent posts is answered only once the engine says its records are committed to
disk: the store encodes the batch as NDJSON once, sends it as a RECORDS_DURABLE frame and waits
for the engine's DURABLE answer (`collectors.common.durable`). When the engine cannot store them
(no buffer open, or the engine is going away) the agent gets 429 with Retry-After and sends the
batch again, so an acknowledged event is never lost and a refused one is never counted as safe.

About once a second the endpoint's counters go to the engine (`report.WineventsCounters`:
events per listener and sender, and per agent), and the events it refused go to the drop
ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import signal
import socket

from collectors.common import handover
from collectors.common.durable import Durability, read_engine_frames
from collectors.common.frames import BoundListener
from collectors.common.harness import (
    Output,
    configure_logging,
    die_with_parent,
    read_engine_settings,
    tune_gc,
    tune_malloc,
)
from collectors.winevents.report import LISTENER
from collectors.winevents.server import StoreBusy, WineventsServer
from collectors.winevents.settings import WineventsSettings

log = configure_logging("winevents")

REPORT_INTERVAL_S = 1.0


class BindError(Exception):
    """The endpoint could not be set up; the message names the setting and says why."""


class DurableStore:
    """The server's `store`: the records are safe once this returns."""

    def __init__(self, durability: Durability, retry_after_s: int) -> None:
        self._durability = durability
        self._retry_after_s = retry_after_s

    async def __call__(self, ndjson: bytes, count: int, wire_bytes: int = 0) -> None:
        # The buffer takes newline-joined records without the last newline (as Output.ndjson),
        # which is how the server hands them over, encoded once where they were normalised.
        # Received bytes are the body as sent (gzip'd if it was): what crossed the venue's
        # network, as for every other collector; the decoded size is near the record bytes.
        if not await self._durability.store(ndjson, wire_bytes):
            raise StoreBusy("the engine could not store the events (its buffer is not open)", self._retry_after_s)


def listen_address(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def start(server: WineventsServer) -> tuple[str, int]:
    """Serve the engine's socket (inherited), or one bound here when run on its own."""
    listen = server.settings.listen
    try:
        sock, _drops = handover.own_socket(LISTENER, "tcp", listen)
        return await server.start(sock)
    except (OSError, ValueError) as exc:
        reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
        in_use = getattr(exc, "errno", None) == errno.EADDRINUSE
        hint = "; stop whatever holds it or choose another port" if in_use else ""
        raise BindError(f"winevents.listen = {listen!r}: cannot listen: {reason}{hint}") from None


async def serve(settings: WineventsSettings, out: Output, durability: Durability) -> None:
    try:
        server = WineventsServer(settings, DurableStore(durability, settings.retry_after_s))
    except ValueError as exc:  # the TLS files
        raise BindError(str(exc)) from None
    address = await start(server)
    out.ready([BoundListener(listener=LISTENER, proto="tcp", address=listen_address(address))])

    async def replace(name: str, sock: socket.socket) -> handover.Served:
        """A port change: the new socket accepts now; the old one a little longer, and the
        connections it accepted finish as usual (keep-alive ends them, or the stop)."""
        if name != LISTENER:
            raise LookupError(f"winevents has no listener {name!r}")
        new = await server.replace(sock)
        out.ready([BoundListener(listener=LISTENER, proto="tcp", address=listen_address(new))])
        return listen_address(new), server.stop_old_listener

    changes = handover.PortChanges("winevents", replace)
    control = handover.control_channel()
    if control is not None:
        changes.listen(control)
    if not settings.tokens:
        out.log("warning", "winevents: no token in winevents.tokens, so every agent is refused (401)")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tune_gc()

    def report() -> None:
        out.counters(server.counters())
        out.drops(server.traffic.take_drops())

    try:
        while not stop.is_set() and not out.broken and not durability.closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), REPORT_INTERVAL_S)
            report()
    finally:
        changes.cancel()
        # No new connections; requests in hand get a moment to be stored and answered.
        await server.close()
        report()


def main() -> None:
    die_with_parent()
    tune_malloc()
    settings = read_engine_settings(WineventsSettings)
    out = Output()
    durability = Durability(out.write)
    read_engine_frames(0, durability)
    try:
        asyncio.run(serve(settings, out, durability))
    except BindError as exc:
        # One clear line for the engine's log and status; the engine retries with backoff.
        out.log("error", str(exc))
        raise SystemExit(3) from None


if __name__ == "__main__":
    main()
