"""TCP_INFO tells how many bytes a peer sent, read by us or not (what a refusal accounts)."""

from __future__ import annotations

import socket
import time

from collectors.common.tcpinfo import bytes_received


def test_bytes_received_counts_what_the_peer_sent_before_any_read() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server, socket.create_connection(server.getsockname()) as client:
        client.sendall(b"\x16\x03\x01" * 7)
        conn, _ = server.accept()
        with conn:
            deadline = time.monotonic() + 5
            while bytes_received(conn) < 21 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert bytes_received(conn) == 21
    assert bytes_received(conn) == 0  # closed: the kernel cannot say, and nothing raises
    assert bytes_received(None) == 0
