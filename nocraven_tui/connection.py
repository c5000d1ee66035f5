"""The console's only way to the engine: the watch worker and one-shot requests, all ending in messages.

`EngineLink.watch_forever` is the body of the app's one connection worker: it follows
/v1/watch, posts a message per event, and when the engine goes away posts EngineDisconnected and
reconnects with backoff. `read` and `write` run a screen's declared `Read` or `Write` in a
short request worker; `stream` follows a `Stream` event by event. None of them touches a widget
or the console's state; they only post.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.message import Message

from nocraven.client import AsyncClient, EngineUnreachable
from nocraven.errors import ApiError
from nocraven_tui import messages
from nocraven_tui.exchange import Read, Stream, Write

Post = Callable[[Message], object]


class Backoff:
    """Reconnect delays: quick at first (an engine restart takes about a second), then capped."""

    def __init__(self, initial_s: float = 0.25, maximum_s: float = 5.0) -> None:
        self.initial_s = initial_s
        self.maximum_s = maximum_s
        self.next_s = initial_s

    def take(self) -> float:
        delay = self.next_s
        self.next_s = min(self.next_s * 2, self.maximum_s)
        return delay

    def reset(self) -> None:
        self.next_s = self.initial_s


class EngineLink:
    def __init__(
        self,
        socket_path: Path,
        post: Post,
        backoff: Backoff | None = None,
        stream_client: Callable[[], AsyncClient] | None = None,
    ) -> None:
        self.socket_path = socket_path
        # A stream holds its connection for as long as it runs: each gets its own client.
        self.stream_client = stream_client or (lambda: AsyncClient(self.socket_path))
        self.post = post
        self.backoff = backoff or Backoff()
        self._retry_now = asyncio.Event()
        self._requests: AsyncClient | None = None

    def _request_client(self) -> AsyncClient:
        # One client for all requests: making one costs ~20 ms of CPU (httpx builds a TLS
        # context even for a Unix socket), which a mode switch would otherwise pay each time.
        if self._requests is None:
            self._requests = AsyncClient(self.socket_path)
        return self._requests

    async def aclose(self) -> None:
        await self._drop_request_client()

    async def _drop_request_client(self) -> None:
        """After a failure the pooled connections may point at an engine that is gone."""
        client, self._requests = self._requests, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()

    def retry_now(self) -> None:
        """Cut the current backoff wait short (the "Reconnect" command)."""
        self._retry_now.set()

    async def watch_forever(self) -> None:
        while True:
            reason = await self._watch_once()
            delay = self.backoff.take()
            self.post(messages.EngineDisconnected(reason, delay))
            self._retry_now.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._retry_now.wait(), delay)

    async def _watch_once(self) -> str:
        """Follow one watch stream to its end; returns why it ended."""
        try:
            async with AsyncClient(self.socket_path) as client:
                connected = False
                async for event in client.watch():
                    if not connected:
                        connected = True
                        self.backoff.reset()
                        self.post(messages.EngineConnected(str(self.socket_path)))
                    message = messages.from_event(event)
                    if message is not None:
                        self.post(message)
                    if isinstance(message, messages.WatchDropped):
                        return f"the engine dropped this console's event stream: {message.reason}"
                return "the engine closed the event stream" if connected else "the engine sent no snapshot"
        except EngineUnreachable as exc:
            return f"no engine answers on {exc.socket_path} ({exc.reason})"
        except ApiError as exc:
            return f"the engine refused the event stream: {exc.message}"
        except Exception as exc:  # a torn stream or a bad line must not end the worker
            return f"event stream failed: {type(exc).__name__}: {exc}"

    async def read(self, read: Read[Any]) -> None:
        try:
            value = await read.fetch(self._request_client())
        except EngineUnreachable as exc:
            await self._drop_request_client()
            self.post(messages.ReadFailed(read.key, "unreachable", str(exc), unreachable=True))
        except ApiError as exc:
            self.post(messages.ReadFailed(read.key, str(exc.code), exc.message))
        except Exception as exc:
            await self._drop_request_client()
            self.post(messages.ReadFailed(read.key, "internal", f"{type(exc).__name__}: {exc}"))
        else:
            self.post(messages.ReadCompleted(read.key, value))

    async def write(self, write: Write[Any]) -> None:
        # Writes get their own client: a support bundle may take longer than reads may wait.
        try:
            async with AsyncClient(self.socket_path, timeout=60.0) as client:
                result = await write.perform(client)
        except EngineUnreachable as exc:
            self.post(messages.ActionFailed(write.key, write.title, "unreachable", str(exc)))
        except ApiError as exc:
            self.post(messages.ActionFailed(write.key, write.title, str(exc.code), exc.message))
        except Exception as exc:
            self.post(messages.ActionFailed(write.key, write.title, "internal", f"{type(exc).__name__}: {exc}"))
        else:
            self.post(messages.ActionCompleted(write, result))

    async def stream(self, stream: Stream[Any], run: int) -> None:
        """Post each event of the stream, then how it ended. Cancelling this body (the app cancels
        the worker) closes the generator and the connection: the engine cancels the job."""
        ended = messages.StreamEnded(stream.key, run)
        try:
            async with self.stream_client() as client:
                events = stream.open(client)
                try:
                    async for event in events:
                        self.post(messages.StreamEvent(stream.key, run, event))
                finally:
                    aclose = getattr(events, "aclose", None)
                    if aclose is not None:
                        with contextlib.suppress(Exception):
                            await aclose()
        except asyncio.CancelledError:
            ended = messages.StreamEnded(stream.key, run, "cancelled", "cancelled from the console")
            raise
        except EngineUnreachable as exc:
            ended = messages.StreamEnded(stream.key, run, "unreachable", str(exc))
        except ApiError as exc:
            ended = messages.StreamEnded(stream.key, run, str(exc.code), exc.message)
        except Exception as exc:
            ended = messages.StreamEnded(stream.key, run, "internal", f"{type(exc).__name__}: {exc}")
        finally:
            self.post(ended)
