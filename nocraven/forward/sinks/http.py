"""HTTP sink: POST each batch as NDJSON (zstd or gzip) to a NOC gateway.

`Idempotency-Key` carries the batch's message id, so a gateway removes re-sent batches. 2xx is
success; 429 and 503 are retried after their Retry-After; other 4xx mean the gateway will never
take this batch (it is quarantined, the rest goes on); 5xx and timeouts are retried. Several URLs
are tried in order when one cannot be reached.
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import aiohttp

from nocraven.forward.batching import Batch, Encoder
from nocraven.forward.settings import SinkSettings
from nocraven.forward.sinks.base import Delivered, Outcome, Rejected, Retry, SinkUnavailable, client_tls

_NDJSON = "application/x-ndjson"


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - now)


def classify(status: int, body: str, retry_after_s: float | None, key: str) -> Outcome:
    """What an HTTP answer means for the batch (sans-IO, see module doc)."""
    if 200 <= status < 300:
        return Delivered()
    detail = body.strip().replace("\n", " ")[:200]
    if status in (429, 503):
        return Retry(f"gateway answered {status} for {key}: {detail}", retry_after_s)
    if 400 <= status < 500:
        return Rejected(f"gateway refused {key} with {status}: {detail}")
    return Retry(f"gateway answered {status} for {key}: {detail}")


class HttpSink:
    def __init__(self, settings: SinkSettings, site: str) -> None:
        self.name = settings.name
        self.settings = settings
        self.site = site
        self.encoder = Encoder(settings.encoding)
        self._session: aiohttp.ClientSession | None = None
        self._url_index = 0

    async def connect(self) -> None:
        await self.close()
        tls = client_tls(self.settings) if any(u.startswith("https://") for u in self.settings.urls) else None
        connector = aiohttp.TCPConnector(ssl=tls if tls is not None else False, limit=self.settings.in_flight)
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_s)
        self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)

    async def deliver(self, batch: Batch) -> Outcome:
        session = self._session
        if session is None:
            raise SinkUnavailable(f"HTTP sink {self.name}: not connected")
        headers = {**self.settings.headers, **self.encoder.headers(batch)}
        headers["Content-Type"] = _NDJSON
        headers["Idempotency-Key"] = batch.message_id
        payload = self.encoder.payload(batch)
        urls = self.settings.urls
        errors: list[str] = []
        for attempt in range(len(urls)):
            url = urls[(self._url_index + attempt) % len(urls)]
            try:
                async with session.post(url, data=payload, headers=headers) as response:
                    body = await response.text(errors="replace")
                    self._url_index = (self._url_index + attempt) % len(urls)
                    after = retry_after(response.headers.get("Retry-After"), time.time())
                    return classify(response.status, body, after, batch.message_id)
            except TimeoutError:
                return Retry(f"{url} did not answer {batch.message_id} within {self.settings.timeout_s:g} s")
            except aiohttp.ClientError as exc:
                errors.append(f"{url}: {exc}")
        raise SinkUnavailable("HTTP gateway unreachable: " + "; ".join(errors))

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
