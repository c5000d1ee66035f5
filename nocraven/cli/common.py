"""What every CLI command shares: the client, JSON/human output, and errors as one stderr line."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from nocraven.api.wire import to_plain
from nocraven.client import Client

# Human output goes to stdout only when it is the data; messages and errors go to stderr.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

JsonOption = typer.Option(False, "--json", help="Print one JSON document (NDJSON for streams).")


class State:
    socket: Path | None = None


state = State()


def client(timeout: float = 10.0) -> Client:
    return Client(state.socket, timeout=timeout)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(to_plain(data), indent=2, sort_keys=True, default=str) + "\n")


def print_json_line(data: Any) -> None:
    sys.stdout.write(json.dumps(to_plain(data), separators=(",", ":"), default=str) + "\n")
    sys.stdout.flush()


def emit(data: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    if as_json:
        print_json(data)
    else:
        render(data)


def fail(message: str, code: int) -> typer.Exit:
    err.print(f"nocraven: {message}", markup=False)
    return typer.Exit(code)
