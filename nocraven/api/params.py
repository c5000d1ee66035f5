"""Reading request parameters and bodies: every refusal is a `bad_request` naming the parameter."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TypeVar

import msgspec
from aiohttp import web

from nocraven.errors import ApiError, ErrorCode

T = TypeVar("T")


async def json_body(request: web.Request, tp: type[T]) -> T:
    """The request body decoded into its wire Struct; what is wrong is said by field."""
    try:
        return msgspec.json.decode(await request.read() or b"{}", type=tp)
    except msgspec.ValidationError as exc:
        raise ApiError(ErrorCode.BAD_REQUEST, f"the request body is not valid: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ApiError(ErrorCode.BAD_REQUEST, f"the request body is not JSON: {exc}") from None


def choice_param(request: web.Request, name: str, allowed: Sequence[str], required: bool = False) -> str | None:
    value = request.query.get(name)
    if value is None:
        if required:
            raise ApiError(ErrorCode.BAD_REQUEST, f"{name} is required (one of {', '.join(allowed)})")
        return None
    if value not in allowed:
        raise ApiError(ErrorCode.BAD_REQUEST, f"unknown {name} {value!r} (one of {', '.join(allowed)})")
    return value


def int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ApiError(ErrorCode.BAD_REQUEST, f"{name} must be an integer, not {text!r}") from None
    if not low <= value <= high:
        raise ApiError(ErrorCode.BAD_REQUEST, f"{name} must be between {low} and {high}, not {value}")
    return value


def bool_param(request: web.Request, name: str, default: bool = False) -> bool:
    text = request.query.get(name)
    if text is None:
        return default
    if text not in ("true", "false"):
        raise ApiError(ErrorCode.BAD_REQUEST, f"{name} must be true or false, not {text!r}")
    return text == "true"


def time_param(request: web.Request, name: str) -> float | None:
    """An RFC 3339 time as epoch seconds; a time without a zone is taken as UTC."""
    text = request.query.get(name)
    if not text:
        return None
    with contextlib.suppress(ValueError):
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    raise ApiError(ErrorCode.BAD_REQUEST, f"{name} must be an RFC 3339 time such as 2026-11-27T08:00:00Z, not {text!r}")


def rfc3339(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
