"""What a screen asks of the engine, declared once: reads (a key and a client call) and writes.

A screen lists its `Read`s and builds its `Write`s; the app runs each in a worker, files the
answer under the read's key (`ConsoleState.reads`) or the write's key (`ConsoleState.writes`),
and tells the screens. Adding a screen's read needs nothing in the app, the messages or the state.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from nocraven.client import AsyncClient
from nocraven.schema.buffer import BufferStats

T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class Read(Generic[T]):
    """A one-shot read: its answer is kept as `state.reads[key]` and announced as topic `key`."""

    key: str
    fetch: Callable[[AsyncClient], Awaitable[T]]
    # Read again on every snapshot while this component is available (figures the header shows).
    refresh_with: str | None = None


@dataclass(frozen=True, eq=False)
class Write(Generic[T]):
    """A change to the box: `describe` words its answer for the screens and the notification."""

    key: str  # where its outcome is kept: "purge:syslog", "bundle", ...
    title: str
    perform: Callable[[AsyncClient], Awaitable[T]]
    describe: Callable[[T], str]
    then_read: tuple[Read[Any], ...] = ()  # what the change makes stale


@dataclass(frozen=True, eq=False)
class Stream(Generic[T]):
    """A long answer that arrives event by event (a diagnostic, later a live log).

    The app iterates `open(client)` in a worker that posts one `StreamEvent` per event and a
    `StreamEnded` at the end; its events are kept as `state.streams[key]` and announced as topic
    `key`. Cancelling the worker (`ConsoleHost.cancel_stream`) closes the stream, which the
    engine takes as "stop the job".
    """

    key: str
    open: Callable[[AsyncClient], AsyncIterator[T]]


# Reads more than one screen shows (the dashboard and the header show the buffer's fill).
BUFFER_STATS: Read[BufferStats] = Read("buffer_stats", lambda client: client.buffer_stats(), refresh_with="buffer")
