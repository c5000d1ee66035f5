"""Abuse, all at once, against a live engine: while a legitimate sender sends steadily over UDP
and TCP (one long connection, and one that reconnects every half second), attackers send a
lying octet count, hold 60 idle connections against max_connections = 50 (slowloris), leave
150 TLS handshakes half-finished, and send one UDP message with U+2028 in it.

The legitimate sender loses nothing: every message it sent is in `nocraven buffer export`
and `buffer tail --json`. Every abusive byte is either stored (an evicted slowloris connection's
partial line is kept, as everything sent is) or accounted in the drop ledger, per source.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest
import trustme

from tests.support.abuse import PARTIAL_CLIENT_HELLO, connect_from, ledger_by_source
from tests.support.engine import RunningEngine, start_engine
from tests.support.syslog import listener_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LEGIT = "127.0.0.1"
LIAR = "127.0.0.3"
ODD_UDP = "127.0.0.4"
SLOWLORIS = ("127.0.0.10", "127.0.0.11")
TLS_ATTACKERS = ("127.0.0.20", "127.0.0.21", "127.0.0.22")
SEND_S = 8.0


class LegitimateSender:
    """Sends numbered messages over UDP, one TCP connection and reconnecting TCP connections,
    each loop bounded in count and time; remembers every message it sent."""

    def __init__(self, run: str, udp_port: int, tcp_port: int) -> None:
        self.run = run
        self.udp_port = udp_port
        self.tcp_port = tcp_port
        self.sent: list[str] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._udp, daemon=True),
            threading.Thread(target=self._tcp_long, daemon=True),
            threading.Thread(target=self._tcp_reconnecting, daemon=True),
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def join(self) -> None:
        for thread in self._threads:
            thread.join(SEND_S + 20)

    def _message(self, channel: str, i: int) -> tuple[str, bytes]:
        text = f"{self.run} legit {channel} {i}"
        with self._lock:
            self.sent.append(text)
        return text, f"<13>Dec  1 10:00:00 venue-sw app: {text}".encode()

    def _udp(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((LEGIT, 0))
            deadline = time.monotonic() + SEND_S
            for i in range(2000):
                if time.monotonic() > deadline:
                    break
                udp.sendto(self._message("udp", i)[1], ("127.0.0.1", self.udp_port))
                time.sleep(0.005)

    def _tcp_long(self) -> None:
        with connect_from(LEGIT, self.tcp_port) as sock:
            deadline = time.monotonic() + SEND_S
            for i in range(1000):
                if time.monotonic() > deadline:
                    break
                sock.sendall(self._message("tcp", i)[1] + b"\n")
                time.sleep(0.01)

    def _tcp_reconnecting(self) -> None:
        deadline = time.monotonic() + SEND_S
        for round_ in range(40):
            if time.monotonic() > deadline:
                break
            with connect_from(LEGIT, self.tcp_port) as sock:
                for i in range(5):
                    message = self._message("tcp-reconnect", round_ * 5 + i)[1]
                    sock.sendall(b"%d %s" % (len(message), message))
            time.sleep(0.5)


def exported(engine: RunningEngine, out: Path) -> list[dict[str, object]]:
    result = engine.cli("buffer", "export", "--service", "syslog", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in out.read_bytes().split(b"\n") if line.strip()]


def test_legitimate_traffic_survives_abuse_and_every_abusive_byte_is_accounted(tmp_path: Path) -> None:
    ca = trustme.CA()
    pem = tmp_path / "server.pem"
    ca.issue_cert("localhost", "127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(pem))
    engine = start_engine(
        tmp_path / "engine",
        f'[syslog]\ntls = "127.0.0.1:0"\ntls_cert = "{pem}"\ntls_key = "{pem}"\n'
        "max_connections = 50\nmax_connections_per_source = 40\nidle_timeout_s = 6\n"
        "tls_handshake_timeout_s = 2\nmax_message_bytes = 2048\n",
    )
    started = time.monotonic()
    run = uuid.uuid4().hex[:10]
    held: list[socket.socket] = []
    try:
        udp_port, tcp_port, tls_port = (listener_port(engine, name) for name in ("udp", "tcp", "tls"))

        # Slowloris: 60 connections, each with a line it never finishes, against 50 places.
        slow_lines = [f"<13>Dec  1 10:00:00 slow app: {run} slowloris {i}".encode() for i in range(60)]
        for i, line in enumerate(slow_lines):
            try:
                sock = connect_from(SLOWLORIS[i % 2], tcp_port)
                sock.sendall(line)
                held.append(sock)
            except OSError:
                pass  # refused at once: accounted by the engine, checked below
        time.sleep(2.5)  # idle long enough to make room for newcomers

        sender = LegitimateSender(run, udp_port, tcp_port)
        sender.start()

        # A lying octet count, then 20 good messages on the same connection.
        lie = f"999999999 <13>1 2026-12-01T10:00:00Z liar app - - - {run} the lie ".encode() + b"x" * 500
        liar_good = [f"<13>1 2026-12-01T10:00:00Z liar app - - - {run} after the lie {i}".encode() for i in range(20)]
        with connect_from(LIAR, tcp_port) as sock:
            sock.sendall(lie + b"".join(b"%d %s" % (len(m), m) for m in liar_good))

        # TLS handshakes left half-finished.
        half_open = []
        for i in range(150):
            try:
                sock = connect_from(TLS_ATTACKERS[i % 3], tls_port)
                sock.sendall(PARTIAL_CLIENT_HELLO)
                half_open.append(sock)
            except OSError:
                pass

        # One UDP message with a Unicode line separator in it.
        odd = f"{run} line\u2028separator"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((ODD_UDP, 0))
            udp.sendto(f"<13>1 - h a - - - {odd}".encode(), ("127.0.0.1", udp_port))

        sender.join()
        for sock in [*held, *half_open]:
            sock.close()

        # The legitimate sender lost nothing.
        deadline = time.monotonic() + 20
        while True:
            records = exported(engine, tmp_path / "export.ndjson")
            messages = {str(r.get("message") or "") for r in records}
            missing = [m for m in sender.sent if m not in messages]
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert len(sender.sent) > 1000
        assert missing == [], f"{len(missing)} of {len(sender.sent)} legitimate messages lost: {missing[:5]}"
        assert odd in messages
        assert all(f"{run} after the lie {i}" in messages for i in range(20))
        tail = engine.cli("buffer", "tail", "--service", "syslog", "--json", "--limit", "10000")
        assert tail.returncode == 0, tail.stderr
        tailed = {json.loads(line).get("message") for line in tail.stdout.split("\n") if line.strip()}
        assert set(sender.sent[-500:]) <= tailed and odd in tailed

        # Every abusive byte is stored or in the ledger, per source.
        deadline = time.monotonic() + 10
        while True:
            ledger = ledger_by_source(engine)
            tls_records = sum(ledger.get(s, (0, 0, 0))[1] for s in TLS_ATTACKERS)
            if (tls_records >= 150 and LIAR in ledger) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert ledger[LIAR][1:] == (1, len(lie))  # the lie, header and all; nothing else of the liar
        assert tls_records == 150  # every half-open handshake: timed out, or refused at the limit
        tls_bytes = sum(ledger.get(s, (0, 0, 0))[2] for s in TLS_ATTACKERS)
        assert tls_bytes <= 150 * len(PARTIAL_CLIENT_HELLO)
        status = json.loads(engine.cli("status", "--json").stdout)["components"]["syslog"]["detail"]
        tls = next(x for x in status["listeners"] if x["listener"] == "tls")["counters"]
        timed_out = tls["handshake_failures"]
        assert timed_out > 0 and tls_bytes >= timed_out * len(PARTIAL_CLIENT_HELLO)
        slow_kept = sum(1 for line in slow_lines if line.decode().partition(": ")[2] in messages)
        slow_refused = sum(ledger.get(s, (0, 0, 0))[1] for s in SLOWLORIS)
        assert slow_kept + slow_refused == 60
        for source in (*SLOWLORIS, *TLS_ATTACKERS):
            assert ledger.get(source, (0, 0, 0))[0] <= 4, ledger  # rows per source, not per connection
        assert ledger.get(LEGIT) is None and ledger.get(ODD_UDP) is None
        log = engine.log()
        assert "Traceback" not in log
        assert log.count("TLS handshake with") <= 6 and log.count(": refused 127.0.0.") <= 6
        assert "refused 127.0.0.1:" not in log  # the legitimate sender never was
    finally:
        for sock in held:
            sock.close()
        engine.stop()
    assert time.monotonic() - started < 90
