"""The one client of the control API, used by every front end (CLI, console, web panel, scripts).

`Client` is synchronous (the CLI); `AsyncClient` is for asyncio front ends and streams the
watch feed. Both raise `ApiError` for refusals (the engine's envelope, re-raised as is),
`EngineUnreachable` when nothing answers on the socket.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx

from nocraven.api import wire
from nocraven.config import user_state_dir
from nocraven.errors import ApiError, ErrorCode

ENV_SOCKET = "NOCRAVEN_SOCKET"
SYSTEM_SOCKET = Path("/run/nocraven/control.sock")
BASE_URL = "http://nocraven"  # the host part is ignored on a Unix socket


def default_socket() -> Path:
    """$NOCRAVEN_SOCKET, else the appliance's socket if present, else the dev default's."""
    if os.environ.get(ENV_SOCKET):
        return Path(os.environ[ENV_SOCKET])
    if SYSTEM_SOCKET.exists():
        return SYSTEM_SOCKET
    return user_state_dir() / "control.sock"


class EngineUnreachable(Exception):
    def __init__(self, socket_path: Path, reason: str) -> None:
        self.socket_path = socket_path
        self.reason = reason
        self.denied = "permission denied" in reason
        super().__init__(
            f"no engine answers on {socket_path} ({reason}); start one with `nocraven engine` "
            "or `systemctl start nocraven`, or point --socket at it"
        )


def _raise_for_error(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        error = wire.loads(response.read())["error"]
        raise ApiError(error["code"], error["message"], response.status_code)
    except (ValueError, KeyError, TypeError):
        raise ApiError(
            ErrorCode.INTERNAL,
            f"engine answered HTTP {response.status_code} without an error body",
            response.status_code,
        ) from None


class Client:
    def __init__(self, socket_path: Path | None = None, timeout: float = 10.0) -> None:
        self.socket_path = socket_path or default_socket()
        self._http = httpx.Client(
            transport=httpx.HTTPTransport(uds=str(self.socket_path)),
            base_url=BASE_URL,
            timeout=timeout,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        timeout: float | None = None,
    ) -> Any:
        try:
            response = self._http.request(
                method,
                path,
                params=_clean(params),
                content=None if body is None else wire.dumps(body),
                headers={"Content-Type": wire.JSON} if body is not None else None,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except (httpx.TransportError, FileNotFoundError) as exc:
            raise _transport_error(exc, self.socket_path, method, path) from None
        _raise_for_error(response)
        return wire.loads(response.content) if response.content else None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None, timeout: float | None = None) -> Any:
        return self.request("POST", path, body=body if body is not None else {}, timeout=timeout)

    def stream(self, path: str, **params: Any) -> Iterator[Any]:
        """An NDJSON stream (watch, tail --follow), one decoded object per line."""
        with (
            _stream_errors(self.socket_path, path),
            self._http.stream("GET", path, params=_clean(params), timeout=httpx.Timeout(10.0, read=None)) as response,
        ):
            _raise_for_error(response)
            for line in response.iter_lines():
                if line:
                    yield wire.loads(line)

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self.get("/v1/status")
        return result


class AsyncClient:
    def __init__(self, socket_path: Path | None = None, timeout: float = 10.0) -> None:
        self.socket_path = socket_path or default_socket()
        self._http = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=str(self.socket_path)),
            base_url=BASE_URL,
            timeout=timeout,
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        try:
            response = await self._http.request(
                method,
                path,
                params=_clean(params),
                content=None if body is None else wire.dumps(body),
                headers={"Content-Type": wire.JSON} if body is not None else None,
            )
        except (httpx.TransportError, FileNotFoundError) as exc:
            raise _transport_error(exc, self.socket_path, method, path) from None
        _raise_for_error(response)
        return wire.loads(response.content) if response.content else None

    async def get(self, path: str, **params: Any) -> Any:
        return await self.request("GET", path, params=params)

    async def post(self, path: str, body: Any = None) -> Any:
        return await self.request("POST", path, body=body if body is not None else {})

    async def stream(self, path: str, **params: Any) -> AsyncIterator[Any]:
        with _stream_errors(self.socket_path, path):
            async with self._http.stream(
                "GET", path, params=_clean(params), timeout=httpx.Timeout(10.0, read=None)
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    _raise_for_error(response)
                async for line in response.aiter_lines():
                    if line:
                        yield wire.loads(line)

    def watch(self) -> AsyncIterator[Any]:
        """The engine's event feed: first {"kind": "snapshot"}, then events with rising `seq`."""
        return self.stream("/v1/watch")


@contextlib.contextmanager
def _stream_errors(socket_path: Path, path: str) -> Iterator[None]:
    """A stream that the engine ends (it is stopping) just ends; other failures are translated."""
    try:
        yield
    except (httpx.RemoteProtocolError, httpx.ReadError):
        return
    except (httpx.TransportError, FileNotFoundError) as exc:
        raise _transport_error(exc, socket_path, "GET", path) from None


def _transport_error(exc: Exception, socket_path: Path, method: str, path: str) -> Exception:
    """What a failed exchange means to a person: no engine, or an engine too slow to answer."""
    if isinstance(exc, httpx.TimeoutException):
        return ApiError(ErrorCode.TIMEOUT, f"the engine did not answer {method} {path} in time")
    if isinstance(exc, httpx.RemoteProtocolError):
        return EngineUnreachable(socket_path, f"connection dropped: {exc}")
    return EngineUnreachable(socket_path, _reason(exc))


def _clean(params: dict[str, Any] | None) -> dict[str, Any] | None:
    if not params:
        return None
    return {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in params.items() if v is not None}


def _reason(exc: BaseException) -> str:
    text = str(exc)
    if "No such file" in text or isinstance(exc, FileNotFoundError):
        return "socket file not found"
    if "Connection refused" in text:
        return "connection refused"
    if "Permission denied" in text:
        return "permission denied on the socket; are you in the nocraven group?"
    return text or type(exc).__name__
