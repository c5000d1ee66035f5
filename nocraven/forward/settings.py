"""The forwarder's settings: the `[forward]` section and its `[[forward.sinks]]` tables.

Every sink type takes its destinations in `urls`: `nats://`/`tls://` servers of one NATS cluster
(nats-py fails over between them), `http://`/`https://` gateway URLs (tried in order), or
`tcp://`/`tls://HOST:PORT` of a central syslog server (RFC 5425 octet counting over TCP or TLS).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from collectors.common.settings import between, checked, non_negative, one_of, secret

SINK_TYPES = ("nats", "http", "syslog")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
_SCHEMES = {"nats": ("nats", "tls"), "http": ("http", "https"), "syslog": ("tcp", "tls")}
# One day: longer than any replay this appliance makes after a crash or an outage of its own
# forwarder (a batch is re-sent at most once it reconnects), well inside JetStream's memory.
_DUPLICATE_WINDOW_S = 86400.0


def token(value: str) -> str | None:
    """A name used in NATS subjects, message ids and cursor keys."""
    if value == "" or _NAME.match(value):
        return None
    return "use letters, digits, '-' and '_' only (at most 63, no dots or spaces)"


def stream_name(value: str) -> str | None:
    return None if _NAME.match(value) else "use letters, digits, '-' and '_' only"


@dataclass(frozen=True)
class SinkSettings:
    name: str = checked("", token)
    type: str = checked("nats", one_of(*SINK_TYPES))
    urls: list[str] = checked([])
    subject: str = "nocraven.{site}.{service}"  # nats: the subject each batch is published on
    services: list[str] = checked([])  # empty: every service
    requires_vpn: bool = False
    max_bytes_per_s: int = checked(0, non_negative)  # backlog drain cap; 0 = none; live never capped
    # nats
    stream: str = checked("NOCRAVEN", stream_name)  # created if missing: subjects nocraven.>, file storage
    stream_replicas: int = checked(1, between(1, 5))
    duplicate_window_s: float = checked(_DUPLICATE_WINDOW_S, between(60, 7 * 86400))
    creds_file: str = ""  # NATS user credentials (.creds: JWT and NKey seed)
    # TLS (nats tls://, https, syslog tls://): CA to trust, and a client certificate if the NOC asks
    tls_ca: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    # http
    headers: dict[str, str] = secret({})  # e.g. {"Authorization" = "Bearer ..."}
    # nats, http: "zstd" (Content-Encoding: zstd), "gzip" (http only) or "none"; "" = the type's
    # default: zstd for nats, gzip for http (common HTTP servers, aiohttp's among them, refuse
    # zstd bodies unless an extra decoder is installed). nats only, "zstd-dict": a batch that is
    # a whole sealed segment goes out as the buffer stored it (zstd with the service's trained
    # dictionary, no recompression: about twice the drain per CPU); the dictionary goes once,
    # before the first batch that needs it, as its own message (see README, Forwarder).
    compression: str = checked("", one_of("", "zstd", "gzip", "none", "zstd-dict"))
    # Batches: a sealed segment's records, cut at multiples of batch_records (so a replay
    # rebuilds the same batches) and split further to stay under max_batch_bytes.
    batch_records: int = checked(5000, between(1, 100_000))
    max_batch_bytes: int = checked(900 * 1024, between(4096, 64 * 1024 * 1024))
    in_flight: int = checked(8, between(1, 64))  # batches awaiting an acknowledgement
    timeout_s: float = checked(10.0, between(0.5, 300))
    # Retries (connecting, or after a failed delivery) back off exponentially with jitter up to
    # this: how long the NOC may wait for us after it comes back from a long outage.
    retry_max_s: float = checked(60.0, between(1, 3600))

    def cross_checks(self, key: str, services: tuple[str, ...]) -> list[str]:
        problems: list[str] = []
        if not self.name:
            problems.append(f"{key}.name: every sink needs a name (used for its cursors)")
        if not self.urls:
            problems.append(f"{key}.urls: a {self.type} sink needs at least one URL")
        for url in self.urls:
            problem = _url_problem(self.type, url)
            if problem:
                problems.append(f"{key}.urls: {url!r}: {problem}")
        for service in self.services:
            if services and service not in services:
                problems.append(f"{key}.services: unknown service {service!r} (one of {', '.join(services)})")
        if self.type == "nats" and not self.subject.startswith("nocraven."):
            problems.append(
                f"{key}.subject = {self.subject!r}: must start with 'nocraven.' (the stream takes nocraven.>)"
            )
        if self.type == "nats" and self.compression == "gzip":
            problems.append(f"{key}.compression = 'gzip': a nats sink takes 'zstd', 'zstd-dict' or 'none'")
        if self.type != "nats" and self.compression == "zstd-dict":
            problems.append(
                f"{key}.compression = 'zstd-dict': only a nats sink sends dictionaries; use 'zstd' for {self.type}"
            )
        if self.type == "syslog" and any(s != "syslog" for s in self.services):
            problems.append(f"{key}.services: a syslog sink relays only the 'syslog' service")
        if bool(self.tls_cert) != bool(self.tls_key):
            problems.append(f"{key}: a client certificate needs both tls_cert and tls_key")
        return problems

    @property
    def encoding(self) -> str:
        """The compression in effect (see `compression`)."""
        if self.compression:
            return self.compression
        return "gzip" if self.type == "http" else "zstd" if self.type == "nats" else "none"

    def forwarded(self, services: tuple[str, ...]) -> tuple[str, ...]:
        """The services this sink carries, in the order given."""
        if self.type == "syslog":
            return ("syslog",)
        return tuple(self.services) if self.services else services


def _url_problem(sink_type: str, url: str) -> str | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return str(exc)
    allowed = _SCHEMES.get(sink_type, ())
    if parts.scheme not in allowed:
        return f"a {sink_type} sink takes {' or '.join(s + '://' for s in allowed)} URLs"
    if not parts.hostname:
        return "no host"
    if sink_type == "syslog" and port is None:
        return "give the port, e.g. tls://10.8.0.1:6514"
    return None


@dataclass(frozen=True)
class ForwardSettings:
    site: str = checked("", token)  # this appliance's name at the NOC: in subjects and message ids
    sinks: list[SinkSettings] = checked([])

    def cross_checks(self, services: tuple[str, ...] = ()) -> list[str]:
        problems: list[str] = []
        if self.sinks and not self.site:
            problems.append("forward.site: set this appliance's name (e.g. 'arena-01') to forward to the NOC")
        seen: set[str] = set()
        for index, sink in enumerate(self.sinks):
            key = f"forward.sinks[{index}]"
            if sink.name in seen:
                problems.append(f"{key}.name = {sink.name!r}: two sinks have this name")
            seen.add(sink.name)
            problems.extend(sink.cross_checks(key, services))
        return problems
