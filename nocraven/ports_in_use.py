"""Who holds a port: so a refusal can say "port 514/udp is held by rsyslogd (pid 812)"."""

from __future__ import annotations

import contextlib

import psutil


def holder_of(port: int, proto: str) -> str:
    """` by NAME (pid N)` for the process bound to `port`, or "" when it cannot be told (another
    user's socket without the privilege to see it, or a race)."""
    kind = "udp" if proto == "udp" else "tcp"
    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections(kind=kind):
            if conn.laddr and conn.laddr.port == port and conn.pid and (kind == "udp" or conn.status == "LISTEN"):
                with contextlib.suppress(psutil.Error):
                    return f" by {psutil.Process(conn.pid).name()} (pid {conn.pid})"
                return f" by pid {conn.pid}"
    return ""
