"""The syslog collector's settings: the `[syslog]` section of the config, and what the engine
hands the collector process."""

from __future__ import annotations

from dataclasses import dataclass

from collectors.common.settings import between, checked, listen_address, networks


@dataclass(frozen=True)
class SyslogSettings:
    udp: str = checked("0.0.0.0:514", listen_address)
    tcp: str = checked("0.0.0.0:514", listen_address)
    tls: str = checked("", listen_address)
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""  # when set, TLS clients must present a certificate signed by it
    max_message_bytes: int = checked(65536, between(480, 1048576))
    max_connections: int = checked(1000, between(1, 100000))  # TCP and TLS each, handshakes included
    # One IP address may hold at most this many; beyond, its own longest-idle connection goes.
    max_connections_per_source: int = checked(100, between(1, 100000))
    # A connection without a complete message for this long is closed (the sender reconnects).
    idle_timeout_s: float = checked(300.0, between(1, 86400))
    # A TLS client that has not finished its handshake by then is dropped (and counted).
    tls_handshake_timeout_s: float = checked(10.0, between(0.1, 300))
    # 32 MiB holds about 0.8 s of UDP at 100,000 msgs/s: room for a burst or a slow moment.
    receive_buffer_bytes: int = checked(32 * 1024 * 1024, between(65536, 1 << 30))
    udp_workers: int = checked(0, between(0, 64))  # UDP parse processes; 0 = one per core
    # Processes that read and parse TCP and TLS connections (each connection in one of them,
    # so its order is kept); 0 = one per core.
    stream_workers: int = checked(0, between(0, 64))
    allow: list[str] = checked([], networks)  # sender networks; empty = everyone

    def cross_checks(self) -> list[str]:
        if self.tls and not (self.tls_cert and self.tls_key):
            return [f"syslog.tls = {self.tls!r}: a TLS listener needs syslog.tls_cert and syslog.tls_key"]
        return []
