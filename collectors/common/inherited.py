"""Listening sockets a collector inherits from the engine, and the control channel beside them.

The engine binds a collector's sockets itself and passes them to the child process as inherited
descriptors (systemd's socket activation does the same). A collector that crashes is restarted
on the same socket: what the kernel queued meanwhile is still there for the new process, and a
port change needs no restart. The engine says which descriptor is which in one environment
variable (`ENV`), JSON-encoded `Inherited`.

The control channel is a unix SOCK_SEQPACKET socketpair (one message a datagram, descriptors
passed with SCM_RIGHTS): the engine sends a `Rebind` with the new socket attached, the collector
starts serving it, answers `Rebound`, keeps serving the old one for `drain_s` (senders switch
over), reads it until empty, then closes it.
"""

from __future__ import annotations

import os
import socket

import msgspec

ENV = "NOCRAVEN_INHERITED"
MAX_CONTROL_MESSAGE = 64 * 1024


class InheritedSocket(msgspec.Struct, frozen=True, kw_only=True):
    fd: int
    # Datagrams the kernel dropped on it (SO_MEMINFO) that were reported already: a collector
    # restarted on the socket reports what was dropped while it was down, and no more.
    drops_seen: int = 0


class Inherited(msgspec.Struct, frozen=True, kw_only=True):
    listeners: dict[str, InheritedSocket] = {}
    control: int = -1  # the collector's end of the control socketpair, -1 for none
    inflight: int = -1  # the engine's counter block for this run (`collectors.common.inflight`), -1 for none


class Rebind(msgspec.Struct, frozen=True, kw_only=True):
    """Engine -> collector, with the new bound socket attached: serve `listener` on it."""

    listener: str
    drain_s: float = 2.0  # how long the old socket is still served before it is read empty and closed


class Rebound(msgspec.Struct, frozen=True, kw_only=True):
    """Collector -> engine: the new socket is served (ok), or why not."""

    listener: str
    ok: bool
    address: str = ""
    error: str = ""


def inherited(environ: dict[str, str] | None = None) -> Inherited:
    """What the engine passed (nothing when the collector runs on its own, e.g. in a test)."""
    text = (environ if environ is not None else os.environ).get(ENV, "")
    return msgspec.json.decode(text, type=Inherited) if text else Inherited()


def adopt(fd: int) -> socket.socket:
    """A socket object for an inherited descriptor (family and type are read from the kernel)."""
    return socket.socket(fileno=fd)


def send_rebind(control: socket.socket, request: Rebind, sock: socket.socket) -> None:
    socket.send_fds(control, [msgspec.json.encode(request)], [sock.fileno()])


def receive_rebind(control: socket.socket) -> tuple[Rebind, socket.socket] | None:
    """The next request with its socket, None when the engine closed the channel; raises
    BlockingIOError when nothing is there yet (the channel is non-blocking)."""
    data, fds, _flags, _address = socket.recv_fds(control, MAX_CONTROL_MESSAGE, 4)
    if not data:
        for fd in fds:
            os.close(fd)
        return None
    request = msgspec.json.decode(data, type=Rebind)
    for extra in fds[1:]:
        os.close(extra)
    if not fds:
        raise ValueError(f"rebind of {request.listener} came without its socket")
    return request, adopt(fds[0])
