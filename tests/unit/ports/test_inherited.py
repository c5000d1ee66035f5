"""The engine-to-collector hand-over: which descriptor is which (environment), and a socket
passed over the control channel arrives as the same bound socket."""

from __future__ import annotations

import socket

import msgspec
import pytest

from collectors.common.inherited import (
    ENV,
    Inherited,
    InheritedSocket,
    Rebind,
    inherited,
    receive_rebind,
    send_rebind,
)


def test_the_environment_names_each_listener_and_the_channel() -> None:
    given = Inherited(listeners={"udp": InheritedSocket(fd=7, drops_seen=12)}, control=9)
    assert inherited({ENV: msgspec.json.encode(given).decode()}) == given
    assert inherited({}) == Inherited()  # run on its own: nothing inherited


def test_a_socket_sent_over_the_channel_is_the_same_bound_socket() -> None:
    engine_end, collector_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with engine_end, collector_end, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as bound:
        bound.bind(("127.0.0.1", 0))
        send_rebind(engine_end, Rebind(listener="udp", drain_s=0.5), bound)
        received = receive_rebind(collector_end)
        assert received is not None
        request, sock = received
        with sock:
            assert request == Rebind(listener="udp", drain_s=0.5)
            assert sock.getsockname() == bound.getsockname() and sock.type == socket.SOCK_DGRAM
            # Queued once, readable from either descriptor: it is one socket.
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                sender.sendto(b"<13>hello", bound.getsockname())
            assert sock.recv(100) == b"<13>hello"


def test_a_closed_channel_reads_as_none_and_an_empty_one_would_block() -> None:
    engine_end, collector_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    collector_end.setblocking(False)
    with pytest.raises(BlockingIOError):
        receive_rebind(collector_end)
    engine_end.close()
    assert receive_rebind(collector_end) is None
    collector_end.close()
