"""The collector side of engine-held sockets, shared by every collector that listens.

`own_socket` takes the listener's socket the engine passed (`collectors.common.inherited`), or
binds one when the collector runs on its own (tests, tools). `PortChanges` serves the control
channel in an asyncio collector: a `Rebind` arrives with the new socket, the collector's
`Replace` serves it and says how to retire the old one; the engine is answered once the new
socket is served, the old one is served `drain_s` longer and then retired (read empty, closed).
A collector with a blocking receive loop (snmptrap) polls with `poll_rebind` and answers with
`answer` itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable

import msgspec

from collectors.common.inherited import Rebind, Rebound, adopt, inherited, receive_rebind
from collectors.common.listen import bind_socket
from collectors.common.settings import parse_listen

log = logging.getLogger("collectors.handover")

# (new address as served, what retires the old socket once the drain time is over)
Served = tuple[str, Callable[[], Awaitable[None]]]
# Serve the new socket for a listener; raise LookupError or OSError to refuse (the engine is told).
Replace = Callable[[str, socket.socket], Awaitable[Served]]


def own_socket(name: str, proto: str, address: str, receive_buffer: int = 0) -> tuple[socket.socket, int | None]:
    """The listener's socket and the kernel drops already reported on it: the engine's
    (inherited), or one bound here (drops None: count from what the kernel says now). Raises
    OSError (or ValueError for an address that does not parse) when binding here fails."""
    given = inherited().listeners.get(name)
    if given is not None:
        return adopt(given.fd), given.drops_seen
    host, port = parse_listen(address)
    sock, _granted = bind_socket(proto, host, port, receive_buffer if proto == "udp" else 0)
    return sock, None


def control_channel() -> socket.socket | None:
    """The collector's end of the engine's control channel, None when run on its own."""
    given = inherited()
    return socket.socket(fileno=given.control) if given.control >= 0 else None


def answer(control: socket.socket, reply: Rebound) -> None:
    with contextlib.suppress(OSError):  # the engine went away; it will not wait for the answer
        control.send(msgspec.json.encode(reply))


def poll_rebind(control: socket.socket, service: str) -> tuple[Rebind, socket.socket] | None:
    """The next port change waiting on a non-blocking channel, or None (nothing there, the
    engine closed it, or a request that cannot be read, which is logged)."""
    try:
        return receive_rebind(control)
    except BlockingIOError:
        return None
    except (OSError, ValueError, msgspec.ValidationError, msgspec.DecodeError) as exc:
        log.error("%s: unreadable port change request: %s", service, exc)
        return None


class PortChanges:
    """The control channel of an asyncio collector: each request runs as a task."""

    def __init__(self, service: str, replace: Replace) -> None:
        self.service = service
        self._replace = replace
        self.tasks: set[asyncio.Task[None]] = set()

    def listen(self, control: socket.socket) -> None:
        control.setblocking(False)
        asyncio.get_running_loop().add_reader(control.fileno(), self._on_control, control)

    def _on_control(self, control: socket.socket) -> None:
        try:
            received = receive_rebind(control)
        except BlockingIOError:
            return
        except (OSError, ValueError, msgspec.ValidationError, msgspec.DecodeError) as exc:
            log.error("%s: unreadable port change request: %s", self.service, exc)
            return
        if received is None:  # the engine is gone; its stop reaches us as SIGTERM
            asyncio.get_running_loop().remove_reader(control.fileno())
            return
        request, sock = received
        task = asyncio.ensure_future(self._change(control, request, sock))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _change(self, control: socket.socket, request: Rebind, sock: socket.socket) -> None:
        name = request.listener
        try:
            address, retire = await self._replace(name, sock)
        except (LookupError, OSError) as exc:
            sock.close()
            answer(control, Rebound(listener=name, ok=False, error=f"{self.service}.{name}: cannot change: {exc}"))
            return
        answer(control, Rebound(listener=name, ok=True, address=address))
        log.info(
            "%s.%s: now listening on %s; the old socket is served %.1f s more",
            self.service,
            name,
            address,
            request.drain_s,
        )
        await asyncio.sleep(request.drain_s)
        await retire()

    def cancel(self) -> None:
        for task in list(self.tasks):
            task.cancel()
