"""The sink interface: how the forwarder hands a batch to a destination.

A sink is small on purpose, so a new kind (Kafka, ...) is one module:

    class MySink:
        name: str
        async def connect(self) -> None       # raise SinkUnavailable("why") when unreachable
        async def deliver(self, batch) -> Outcome
        async def close(self) -> None

`deliver` returns only when the destination has the batch for good (acknowledged, stored) or
has refused it, and says which:
- `Delivered()`: the cursor may move past the batch (`duplicate=True`: the NOC had it already).
- `Retry(reason, after_s)`: not taken this time (overload, timeout, 5xx); sent again after the
  backoff, or after `after_s` when the destination said when (Retry-After).
- `Rejected(reason)`: the destination will never take this batch (a 4xx other than 429): it is
  quarantined with the reason and the sink moves on.
It raises `SinkUnavailable` when the connection is gone; the forwarder reconnects with backoff.
A sink that sends NDJSON payloads exposes its `encoder` (`batching.Encoder`): the forwarder
then builds each payload in a worker thread, off the event loop. An encoder with `stored_blobs`
(`compression = "zstd-dict"`) gets whole segments as the buffer stored them: the sink must
deliver `batch.dictionary` (when set) before the batch, and keep the batches' order. Several `deliver` calls run
concurrently (up to the sink's `in_flight`); a sink whose transport cannot pipeline serializes
them itself. The batch's `message_id` is the de-duplication key.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Protocol

from nocraven.forward.batching import Batch
from nocraven.forward.settings import SinkSettings


class SinkUnavailable(Exception):
    """The destination cannot be reached; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Delivered:
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class Retry:
    reason: str
    after_s: float | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str


Outcome = Delivered | Retry | Rejected


class Sink(Protocol):
    name: str

    async def connect(self) -> None: ...

    async def deliver(self, batch: Batch) -> Outcome: ...

    async def close(self) -> None: ...


def client_tls(settings: SinkSettings) -> ssl.SSLContext:
    """TLS for a sink: trust `tls_ca` (or the system's), present `tls_cert` when set."""
    context = ssl.create_default_context(cafile=settings.tls_ca or None)
    if settings.tls_cert:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    return context


def subject_for(template: str, site: str, service: str) -> str:
    return template.replace("{site}", site).replace("{service}", service)
