"""The Windows event endpoint's settings: the `[winevents]` section of the config.

Tokens: each entry is `"name:secret"` or a plain `"secret"` (then named `token-N`, N its
position from 1); one per agent, so `nocraven winevents agents` counts each agent under its
name. A secret has at least 16 characters and the part before the first `:` is always the
name, so a plain secret must not contain `:`. No token means every request is refused (401).
How agents present it (Bearer, Winlogbeat's `api_key: "name:secret"`, or Basic with the secret
as password) is described in `collectors/winevents/tokens.py`.

TLS is on when `tls_cert` and `tls_key` (PEM files) are both set. `max_body_bytes` bounds the
request body as sent, `max_decoded_bytes` what it may expand to once decompressed (a zip bomb
is refused with 413 at that point). `read_timeout_s` is how long a client may take to send
its whole body; `idle_timeout_s` how long a connection may sit without a complete request
(this also bounds a client that trickles its headers). `max_inflight_requests` caps the
batches being parsed or stored at once: beyond it, and whenever the buffer pushes back, agents
get 429 with `Retry-After: retry_after_s`. `dedup_window` is how many recent event identities
are remembered to recognise a batch sent twice. `es_version` is the Elasticsearch version the
Winlogbeat surface reports: Winlogbeat refuses a server older than itself. `parse_workers`
processes decode and normalise the large batches (see `pool.py`); 0 means one per core.
"""

from __future__ import annotations

from dataclasses import dataclass

from collectors.common.settings import between, checked, listen_address, secret
from collectors.winevents.tokens import token_problem


def _version(value: str) -> str | None:
    parts = value.split(".")
    if len(parts) == 3 and all(part.isdigit() for part in parts):
        return None
    return 'expected "MAJOR.MINOR.PATCH", e.g. "8.19.0"'


@dataclass(frozen=True)
class WineventsSettings:
    listen: str = checked("0.0.0.0:8084", listen_address)
    tokens: list[str] = secret([], token_problem)  # bearer tokens; none = every request is refused
    tls_cert: str = ""
    tls_key: str = ""
    max_body_bytes: int = checked(16 * 1024 * 1024, between(1024, 1 << 30))
    max_decoded_bytes: int = checked(64 * 1024 * 1024, between(1024, 1 << 31))
    max_depth: int = checked(32, between(4, 256))
    read_timeout_s: float = checked(30.0, between(0.1, 600))
    idle_timeout_s: float = checked(15.0, between(0.1, 3600))
    max_inflight_requests: int = checked(16, between(1, 1024))
    retry_after_s: int = checked(5, between(1, 3600))
    dedup_window: int = checked(200_000, between(0, 10_000_000))
    es_version: str = checked("8.19.0", _version)
    parse_workers: int = checked(0, between(0, 64))  # processes parsing large batches; 0 = one per core

    def cross_checks(self) -> list[str]:
        problems = []
        if bool(self.tls_cert) != bool(self.tls_key):
            problems.append("winevents: TLS needs both winevents.tls_cert and winevents.tls_key (or neither)")
        if self.max_decoded_bytes < self.max_body_bytes:
            problems.append("winevents.max_decoded_bytes must be at least winevents.max_body_bytes")
        return problems
