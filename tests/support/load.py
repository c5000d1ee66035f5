"""Steady datagram loads for tests that change something under traffic (a port move, a crash):
bounded in time, sent only to 127.0.0.1, each datagram's key and send time kept."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

TICK_S = 0.01


class UdpLoad:
    """Datagrams at a steady `rate` to `port` (which the test changes), `seconds` at most."""

    def __init__(self, make: Callable[[int], tuple[bytes, str]], port: int, rate: int, seconds: float) -> None:
        self.make = make
        self.port = port
        self.rate = rate
        self.seconds = seconds
        self.sent: list[str] = []
        self.sent_at: list[float] = []
        self._thread = threading.Thread(target=self._send, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self._thread.join(self.seconds + 10)

    def _send(self) -> None:
        per_tick = max(1, int(self.rate * TICK_S))
        start = time.monotonic()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            tick = 0
            while time.monotonic() - start < self.seconds:
                port = self.port
                for _ in range(per_tick):
                    datagram, key = self.make(len(self.sent))
                    sock.sendto(datagram, ("127.0.0.1", port))
                    self.sent.append(key)
                    self.sent_at.append(time.monotonic())
                tick += 1
                pause = start + tick * TICK_S - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
