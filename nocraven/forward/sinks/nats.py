"""NATS JetStream sink: each batch is one message, published and acknowledged by the stream.

Headers: `Nats-Msg-Id` (`site.service.first-last`: JetStream drops a re-sent batch within the
stream's duplicate window), `Nocraven-Records`, `Nocraven-Service`, `Content-Encoding: zstd`
when compressed. With `compression = "zstd-dict"` a batch that is a whole sealed segment is the
buffer's stored blob, and names the zstd dictionary it needs in `Nocraven-Dictionary`; that
dictionary was published before it on the subject of service `dictionary` (id
`site.dictionary.KEY`), once per connection. Several URLs are one cluster: nats-py reconnects
to another server by itself, and a publish that times out meanwhile is sent again with the same
id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig

from nocraven.forward.batching import DICTIONARY_SERVICE, Batch, Encoder, WireDictionary, dictionary_headers
from nocraven.forward.settings import SinkSettings
from nocraven.forward.sinks.base import Delivered, Outcome, Rejected, Retry, SinkUnavailable, client_tls, subject_for

log = logging.getLogger(__name__)

STREAM_SUBJECTS = ["nocraven.>"]


class NatsSink:
    def __init__(self, settings: SinkSettings, site: str) -> None:
        self.name = settings.name
        self.settings = settings
        self.site = site
        self.encoder = Encoder(settings.encoding)
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._last_error = ""
        # Dictionaries the stream acknowledged on this connection ("zstd-dict"): each goes once
        # per connection, before the first batch that names it (a re-send within the duplicate
        # window is dropped by its message id).
        self._dictionaries_sent: set[str] = set()
        self._dictionary_lock = asyncio.Lock()
        self._dictionary_queue = 0  # batches holding or awaiting the lock

    async def connect(self) -> None:
        await self.close()
        settings = self.settings
        options: dict[str, Any] = {
            "servers": list(settings.urls),
            "connect_timeout": max(1, int(settings.timeout_s)),
            "allow_reconnect": True,
            "max_reconnect_attempts": -1,
            "reconnect_time_wait": 0.5,
            "name": f"nocraven {self.site} {self.name}",
            "error_cb": self._on_error,
            "disconnected_cb": self._on_disconnected,
        }
        if settings.tls_ca or settings.tls_cert or any(url.startswith("tls://") for url in settings.urls):
            options["tls"] = client_tls(settings)
        if settings.creds_file:
            options["user_credentials"] = settings.creds_file
        where = ", ".join(settings.urls)
        nc = Client()
        try:
            # nats-py retries an unreachable server for as long as it may reconnect (forever,
            # here): bound the first connection; our own backoff decides when to try again.
            await asyncio.wait_for(nc.connect(**options), settings.timeout_s + 1)
        except Exception as exc:  # nats-py raises many kinds (OSError, NoServersError, timeouts)
            with contextlib.suppress(Exception):
                await nc.close()
            reason = _describe(exc)
            if isinstance(exc, TimeoutError):
                reason = self._last_error or f"no answer within {settings.timeout_s + 1:g} s"
            raise SinkUnavailable(f"NATS {where} unreachable: {reason}") from None
        self._nc = nc
        self._js = nc.jetstream(timeout=settings.timeout_s)
        self._dictionaries_sent = set()
        try:
            await self._ensure_stream()
        except Exception as exc:
            await self.close()
            raise SinkUnavailable(f"NATS {where}: stream {settings.stream}: {_describe(exc)}") from None

    async def _ensure_stream(self) -> None:
        assert self._js is not None
        settings = self.settings
        try:
            await self._js.stream_info(settings.stream)
            return
        except nats.js.errors.NotFoundError:
            pass
        await self._js.add_stream(
            StreamConfig(
                name=settings.stream,
                subjects=STREAM_SUBJECTS,
                storage=StorageType.FILE,
                duplicate_window=settings.duplicate_window_s,
                num_replicas=settings.stream_replicas,
            )
        )
        log.info("created JetStream stream %s (subjects nocraven.>)", settings.stream)

    async def deliver(self, batch: Batch) -> Outcome:
        nc, js = self._nc, self._js
        if nc is None or js is None or nc.is_closed:
            raise SinkUnavailable(f"NATS {self.settings.urls[0]}: not connected")
        headers = self.encoder.headers(batch)
        headers["Nats-Msg-Id"] = batch.message_id
        subject = subject_for(self.settings.subject, self.site, batch.service)
        payload = self.encoder.payload(batch)
        if self._dictionary_queue or (
            batch.dictionary is not None and batch.dictionary.key not in self._dictionaries_sent
        ):
            # A dictionary goes out first: this batch, and every batch handed over until the
            # queue is empty again, waits its turn (the lock is first come, first served), so
            # the stream keeps the order the batches were handed over in.
            self._dictionary_queue += 1
            try:
                async with self._dictionary_lock:
                    if batch.dictionary is not None and batch.dictionary.key not in self._dictionaries_sent:
                        refused = await self._send_dictionary(js, batch.dictionary)
                        if refused is not None:
                            return refused
                    return await self._publish(js, subject, payload, headers, batch)
            finally:
                self._dictionary_queue -= 1
        return await self._publish(js, subject, payload, headers, batch)

    async def _publish(
        self, js: JetStreamContext, subject: str, payload: bytes, headers: dict[str, str], batch: Batch
    ) -> Outcome:
        try:
            ack = await js.publish(subject, payload, timeout=self.settings.timeout_s, headers=headers)
        except (TimeoutError, nats.errors.TimeoutError):
            return Retry(f"JetStream did not acknowledge {batch.message_id} within {self.settings.timeout_s:g} s")
        except nats.js.errors.NoStreamResponseError:
            return Retry(f"no JetStream stream takes {subject} (stream {self.settings.stream} missing?)")
        except nats.errors.MaxPayloadError as exc:
            return Rejected(f"{batch.message_id}: {_describe(exc)} (lower max_batch_bytes)")
        except nats.js.errors.APIError as exc:
            return Retry(f"JetStream refused {batch.message_id}: {_describe(exc)}")
        except (nats.errors.ConnectionClosedError, nats.errors.StaleConnectionError, OSError) as exc:
            raise SinkUnavailable(f"NATS connection lost: {_describe(exc)}") from None
        return Delivered(duplicate=bool(ack.duplicate))

    async def _send_dictionary(self, js: JetStreamContext, dictionary: WireDictionary) -> Outcome | None:
        """Publish a dictionary (acknowledged) before the first batch that needs it; an
        outcome for that batch when it could not be. The caller holds the dictionary lock."""
        subject = subject_for(self.settings.subject, self.site, DICTIONARY_SERVICE)
        headers = dictionary_headers(self.site, dictionary)
        headers["Nats-Msg-Id"] = f"{self.site}.{DICTIONARY_SERVICE}.{dictionary.key}"
        try:
            await js.publish(subject, dictionary.data, timeout=self.settings.timeout_s, headers=headers)
        except (TimeoutError, nats.errors.TimeoutError):
            return Retry(f"JetStream did not acknowledge dictionary {dictionary.key} in {self.settings.timeout_s:g} s")
        except nats.js.errors.NoStreamResponseError:
            return Retry(f"no JetStream stream takes {subject} (stream {self.settings.stream} missing?)")
        except nats.js.errors.APIError as exc:
            return Retry(f"JetStream refused dictionary {dictionary.key}: {_describe(exc)}")
        except (nats.errors.ConnectionClosedError, nats.errors.StaleConnectionError, OSError) as exc:
            raise SinkUnavailable(f"NATS connection lost: {_describe(exc)}") from None
        self._dictionaries_sent.add(dictionary.key)
        return None

    async def close(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            try:
                await nc.close()
            except Exception as exc:
                log.debug("closing NATS connection: %s", exc)

    async def _on_error(self, exc: Exception) -> None:
        self._last_error = _describe(exc)
        log.debug("NATS sink %s: %s", self.name, _describe(exc))

    async def _on_disconnected(self) -> None:
        log.info("NATS sink %s disconnected; nats-py reconnects to another server", self.name)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
