"""The one client of the control API, used by every front end (CLI, console, web panel, scripts).

Every call is described once, in `Api`, as an `Endpoint` (method, path, parameters, body and
the wire Struct it answers with). `Client` (synchronous, for the CLI) and `AsyncClient` (for
asyncio front ends) only differ in how they move bytes; the same descriptor gives `Client` a
method returning `BufferStats` and `AsyncClient` one returning `Awaitable[BufferStats]`.
Streams (NDJSON: the watch feed, tails, exports, diagnostics jobs started by a POST) come back
as iterators of typed items; closing one cancels it on the engine's side.

Both raise `ApiError` for refusals (the engine's envelope, re-raised as is) and
`EngineUnreachable` when nothing answers on the socket.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, ParamSpec, TypeVar, overload
from urllib.parse import quote

import httpx
import msgspec

from nocraven.api import wire
from nocraven.errors import ApiError, ErrorCode
from nocraven.paths import user_state_dir
from nocraven.schema import diag as diag_wire
from nocraven.schema.buffer import BufferStats, Ledger, Purged, PurgeRequest
from nocraven.schema.engine import BundleWritten, EngineStatus, StopRequested, SystemInfo
from nocraven.schema.events import EVENT_TYPES, Event, Published, Snapshot
from nocraven.schema.flow import FlowExporters, FlowTemplates, FlowTop
from nocraven.schema.forward import ForwardStatus, SinkRequest, SinksControlled
from nocraven.schema.health import AlertCleared, AlertRaised, HealthHistory, HealthReport
from nocraven.schema.ports import PortChange, PortChanged, PortsList
from nocraven.schema.records import Record, decode_record
from nocraven.schema.snmppoll import PollTargets
from nocraven.schema.snmptrap import MibAdded, MibUpload, TrapAgents, TrapMibs
from nocraven.schema.vpn import (
    VpnCredentials,
    VpnExport,
    VpnHistory,
    VpnImported,
    VpnImportRequest,
    VpnNameRequest,
    VpnProfile,
    VpnProfiles,
    VpnRemoved,
    VpnStateChanged,
    VpnStatus,
)
from nocraven.schema.winevents import WineventsAgents
from nocraven.vpn.profile import ProfileError
from nocraven.vpn.upload import read_upload

__all__ = [
    "AlertCleared",
    "AlertRaised",
    "AsyncClient",
    "Client",
    "EngineUnreachable",
    "VpnStateChanged",
    "default_socket",
]

ENV_SOCKET = "NOCRAVEN_SOCKET"
SYSTEM_SOCKET = Path("/run/nocraven/control.sock")
BASE_URL = "http://nocraven"  # the host part is ignored on a Unix socket
STREAM_TIMEOUT = httpx.Timeout(10.0, read=None)

T = TypeVar("T")
P = ParamSpec("P")


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


# ---- calls: what to send and how to read the answer --------------------------------------------


@dataclass(frozen=True)
class Call(Generic[T]):
    """One exchange: `decode` turns the answer's body (or each NDJSON line) into a T."""

    method: str
    path: str
    decode: Callable[[bytes], T]
    params: dict[str, str | int | float] = field(default_factory=dict)
    body: bytes | None = None
    timeout: float | None = None
    text: bool = False  # the answer is text (metrics), not JSON


def _params(**params: object) -> dict[str, str | int | float]:
    out: dict[str, str | int | float] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, (str, int, float)):
            out[key] = value
        else:
            out[key] = str(value)
    return out


def get(path: str, tp: type[T], timeout: float | None = None, **params: object) -> Call[T]:
    return Call("GET", path, _struct_decoder(tp), _params(**params), timeout=timeout)


def post(path: str, tp: type[T], body: object = None, timeout: float | None = None) -> Call[T]:
    encoded = msgspec.json.encode(body if body is not None else {})
    return Call("POST", path, _struct_decoder(tp), body=encoded, timeout=timeout)


def get_text(path: str, timeout: float | None = None, **params: object) -> Call[str]:
    return Call(
        "GET", path, lambda data: data.decode("utf-8", "replace"), _params(**params), timeout=timeout, text=True
    )


def stream(path: str, tp: type[T], method: str = "GET", body: object = None, **params: object) -> Call[T]:
    encoded = msgspec.json.encode(body) if body is not None else None
    return Call(method, path, _struct_decoder(tp), _params(**params), body=encoded)


def _struct_decoder(tp: type[T]) -> Callable[[bytes], T]:
    decoder = msgspec.json.Decoder(tp)

    def decode(data: bytes) -> T:
        try:
            return decoder.decode(data)
        except msgspec.ValidationError as exc:
            # An engine of another version: say what did not fit instead of a traceback.
            raise ApiError(ErrorCode.INTERNAL, f"the engine's answer does not fit this client: {exc}") from None

    return decode


def decode_published(line: bytes) -> Published:
    """A watch line (`{"seq", "kind", "at", "data"}`) as the typed event it carries; an event kind
    this client does not know is skipped by the caller (None from `EVENT_TYPES`)."""
    envelope = msgspec.json.decode(line, type=_WatchLine)
    if envelope.kind == Snapshot.kind:
        event: Event = Snapshot(status=msgspec.json.decode(envelope.data, type=EngineStatus))
    else:
        tp = EVENT_TYPES.get(envelope.kind)
        event = msgspec.json.decode(envelope.data, type=tp) if tp is not None else UnknownEvent(kind_=envelope.kind)
    return Published(seq=envelope.seq, at=envelope.at, event=event)


class _WatchLine(msgspec.Struct):
    seq: int
    kind: str
    data: msgspec.Raw
    at: float = 0.0


class UnknownEvent(Event, frozen=True, kw_only=True):
    """An event kind newer than this client: passed on so a front end can ignore it."""

    kind_: str


# ---- endpoints: one description, a sync and an async method from it -----------------------------


class Endpoint(Generic[P, T]):
    """A call returning one T: `Client.x(...) -> T`, `AsyncClient.x(...) -> Awaitable[T]`."""

    def __init__(self, build: Callable[P, Call[T]]) -> None:
        self.build = build

    @overload
    def __get__(self, client: None, owner: type) -> Endpoint[P, T]: ...
    @overload
    def __get__(self, client: Client, owner: type) -> Callable[P, T]: ...
    @overload
    def __get__(self, client: AsyncClient, owner: type) -> Callable[P, Awaitable[T]]: ...

    def __get__(self, client: object, owner: type) -> object:
        if client is None:
            return self
        perform = client.perform  # type: ignore[attr-defined]

        def bound(*args: P.args, **kwargs: P.kwargs) -> object:
            return perform(self.build(*args, **kwargs))

        return bound


class StreamEndpoint(Generic[P, T]):
    """A call answering NDJSON: `Client.x(...) -> Iterator[T]`, `AsyncClient.x(...) -> AsyncIterator[T]`."""

    def __init__(self, build: Callable[P, Call[T]]) -> None:
        self.build = build

    @overload
    def __get__(self, client: None, owner: type) -> StreamEndpoint[P, T]: ...
    @overload
    def __get__(self, client: Client, owner: type) -> Callable[P, Iterator[T]]: ...
    @overload
    def __get__(self, client: AsyncClient, owner: type) -> Callable[P, AsyncIterator[T]]: ...

    def __get__(self, client: object, owner: type) -> object:
        if client is None:
            return self
        perform = client.perform_stream  # type: ignore[attr-defined]

        def bound(*args: P.args, **kwargs: P.kwargs) -> object:
            return perform(self.build(*args, **kwargs))

        return bound


def _record(data: bytes) -> Record:
    return decode_record(data)


def _watch() -> Call[Published]:
    return Call("GET", "/v1/watch", decode_published)


def _ledger(since_id: int | None = None, limit: int | None = None, service: str | None = None) -> Call[Ledger]:
    return get("/v1/buffer/ledger", Ledger, since_id=since_id, limit=limit, service=service)


def _purge(service: str) -> Call[Purged]:
    return post("/v1/buffer/purge", Purged, PurgeRequest(service=service))


def _tail(
    service: str | None = None,
    limit: int = 20,
    follow: bool = False,
    source: str | None = None,
    grep: str | None = None,
) -> Call[Record]:
    """The newest records; `source` and `grep` filter in the engine, over every record."""
    params = _params(service=service, limit=limit, follow=follow, source=source, grep=grep)
    return Call("GET", "/v1/buffer/tail", _record, params)


def _export(service: str, since: str | None = None, until: str | None = None) -> Call[Record]:
    return Call("GET", "/v1/buffer/export", _record, _params(service=service, since=since, until=until))


def _export_lines(service: str, since: str | None = None, until: str | None = None) -> Call[bytes]:
    """The records as the buffer keeps them, one NDJSON line each (for files: nothing re-encoded)."""
    return Call("GET", "/v1/buffer/export", bytes, _params(service=service, since=since, until=until))


def _vpn_import(
    name: str,
    text: str,
    priority: int = 100,
    files: dict[str, str] | None = None,
    credentials: VpnCredentials | None = None,
) -> Call[VpnImported]:
    body = VpnImportRequest(name=name, text=text, priority=priority, files=files or {}, credentials=credentials)
    return post("/v1/vpn/import", VpnImported, body, timeout=30.0)


def _vpn_import_file(path: Path, name: str | None = None, priority: int = 100) -> Call[VpnImported]:
    """Import a profile file: it and the files it names are read here, on the caller's side. A
    file that cannot be read is refused like the engine refuses a profile (`profile_refused`)."""
    try:
        text, files = read_upload(path)
    except ProfileError as exc:
        raise ApiError(ErrorCode.PROFILE_REFUSED, str(exc)) from None
    return _vpn_import(name or path.stem, text, priority, files)


def _vpn_profile(name: str) -> Call[VpnProfile]:
    return get(f"/v1/vpn/profiles/{quote(name, safe='')}", VpnProfile)


def _vpn_export(name: str) -> Call[VpnExport]:
    return get(f"/v1/vpn/profiles/{quote(name, safe='')}/export", VpnExport)


def _vpn_remove(name: str) -> Call[VpnRemoved]:
    return post("/v1/vpn/remove", VpnRemoved, VpnNameRequest(name=name))


def _vpn_connect(name: str) -> Call[VpnStatus]:
    return post("/v1/vpn/connect", VpnStatus, VpnNameRequest(name=name))


def _vpn_history(limit: int | None = None) -> Call[VpnHistory]:
    return get("/v1/vpn/history", VpnHistory, limit=limit)


def _flow_top(by: str = "bytes", minutes: int = 5, limit: int | None = None) -> Call[FlowTop]:
    """The busiest hosts and protocols over the last `minutes` (bytes, packets or flows)."""
    return get("/v1/flow/top", FlowTop, by=by, minutes=minutes, limit=limit)


def _diag(path: str, request: object) -> Call[diag_wire.DiagEvent]:
    """A diagnostic started by a POST of its request, answered by its NDJSON event stream."""
    return Call("POST", path, _diag_event, body=msgspec.json.encode(request))


def _diag_event(line: bytes) -> diag_wire.DiagEvent:
    try:
        return diag_wire.decode_event(line)
    except msgspec.ValidationError as exc:
        raise ApiError(ErrorCode.INTERNAL, f"the engine's answer does not fit this client: {exc}") from None


def _diag_ping(request: diag_wire.PingRequest) -> Call[diag_wire.DiagEvent]:
    return _diag("/v1/diag/ping", request)


def _diag_trace(request: diag_wire.TraceRequest) -> Call[diag_wire.DiagEvent]:
    return _diag("/v1/diag/trace", request)


def _diag_dns(request: diag_wire.DnsRequest) -> Call[diag_wire.DiagEvent]:
    return _diag("/v1/diag/dns", request)


def _diag_bandwidth(request: diag_wire.BandwidthRequest) -> Call[diag_wire.DiagEvent]:
    return _diag("/v1/diag/bandwidth", request)


def _diag_iperf(request: diag_wire.IperfRequest) -> Call[diag_wire.DiagEvent]:
    return _diag("/v1/diag/iperf", request)


def _diag_port(request: diag_wire.PortRequest) -> Call[diag_wire.DiagEvent]:
    return _diag("/v1/diag/port", request)


def _diag_cancel(job_id: str) -> Call[diag_wire.JobCancelled]:
    return post(f"/v1/diag/jobs/{quote(job_id, safe='')}/cancel", diag_wire.JobCancelled, timeout=5.0)


def _add_mib(text: str, filename: str | None = None) -> Call[MibAdded]:
    """Store a MIB file's text and restart the trap collector; answers once it compiled (or not)."""
    return post("/v1/traps/mibs", MibAdded, MibUpload(text=text, filename=filename), timeout=150.0)


def _forward_pause(sink: str | None = None) -> Call[SinksControlled]:
    """Pause one sink, or every sink when `sink` is None (admin)."""
    return post("/v1/forward/pause", SinksControlled, SinkRequest(sink=sink))


def _forward_resume(sink: str | None = None) -> Call[SinksControlled]:
    return post("/v1/forward/resume", SinksControlled, SinkRequest(sink=sink))


def _health_history(minutes: int = 60) -> Call[HealthHistory]:
    return get("/v1/health/history", HealthHistory, minutes=minutes)


def _ports_set(listener: str, address: str, check: bool = False) -> Call[PortChanged]:
    """Move a listener live (admin); `check` only validates. Returns once the new socket serves."""
    return post("/v1/ports/set", PortChanged, PortChange(listener=listener, address=address, check=check), timeout=30.0)


class Api:
    """Every call of the control API, described once. A capability adds its calls here."""

    # engine
    status = Endpoint(lambda: get("/v1/status", EngineStatus))
    system = Endpoint(lambda: get("/v1/system", SystemInfo))
    write_bundle = Endpoint(lambda: post("/v1/system/bundle", BundleWritten, timeout=60.0))
    stop_engine = Endpoint(lambda: post("/v1/engine/stop", StopRequested))
    config = Endpoint(lambda: get("/v1/config", dict[str, object]))
    watch = StreamEndpoint(_watch)

    # buffer
    buffer_stats = Endpoint(lambda: get("/v1/buffer/stats", BufferStats))
    buffer_ledger = Endpoint(_ledger)
    buffer_purge = Endpoint(_purge)
    buffer_tail = StreamEndpoint(_tail)
    buffer_export = StreamEndpoint(_export)
    buffer_export_lines = StreamEndpoint(_export_lines)

    # vpn
    vpn_status = Endpoint(lambda: get("/v1/vpn/status", VpnStatus))
    vpn_history = Endpoint(_vpn_history)
    vpn_profiles = Endpoint(lambda: get("/v1/vpn/profiles", VpnProfiles))
    vpn_profile = Endpoint(_vpn_profile)
    vpn_export = Endpoint(_vpn_export)
    vpn_import = Endpoint(_vpn_import)
    vpn_import_file = Endpoint(_vpn_import_file)
    vpn_remove = Endpoint(_vpn_remove)
    vpn_connect = Endpoint(_vpn_connect)
    vpn_auto = Endpoint(lambda: post("/v1/vpn/auto", VpnStatus))
    vpn_disconnect = Endpoint(lambda: post("/v1/vpn/disconnect", VpnStatus))
    # flow
    flow_exporters = Endpoint(lambda: get("/v1/flow/exporters", FlowExporters))
    flow_templates = Endpoint(lambda: get("/v1/flow/templates", FlowTemplates))
    flow_top = Endpoint(_flow_top)

    # diagnostics: each a stream of DiagEvent (job.started, progress, summary, job.ended);
    # closing the stream cancels the job in the engine
    diag_ping = StreamEndpoint(_diag_ping)
    diag_trace = StreamEndpoint(_diag_trace)
    diag_dns = StreamEndpoint(_diag_dns)
    diag_bandwidth = StreamEndpoint(_diag_bandwidth)
    diag_iperf = StreamEndpoint(_diag_iperf)
    diag_port = StreamEndpoint(_diag_port)
    diag_jobs = Endpoint(lambda: get("/v1/diag/jobs", diag_wire.DiagJobs))
    diag_cancel = Endpoint(_diag_cancel)
    diag_noc_plan = Endpoint(lambda: get("/v1/diag/noc", diag_wire.NocPlan))
    # SNMP traps
    traps_agents = Endpoint(lambda: get("/v1/traps/agents", TrapAgents))
    traps_mibs = Endpoint(lambda: get("/v1/traps/mibs", TrapMibs))
    traps_add_mib = Endpoint(_add_mib)
    # SNMP polling
    snmp_targets = Endpoint(lambda: get("/v1/snmp/targets", PollTargets))

    # winevents
    winevents_agents = Endpoint(lambda: get("/v1/winevents/agents", WineventsAgents))
    # forward
    forward_status = Endpoint(lambda: get("/v1/forward/status", ForwardStatus))
    forward_pause = Endpoint(_forward_pause)
    forward_resume = Endpoint(_forward_resume)

    # health
    health = Endpoint(lambda: get("/v1/health", HealthReport))
    health_history = Endpoint(_health_history)
    health_metrics = Endpoint(lambda: get_text("/v1/health/metrics"))

    # ports
    ports = Endpoint(lambda: get("/v1/ports", PortsList))
    ports_set = Endpoint(_ports_set)


# ---- transports --------------------------------------------------------------------------------


def _raise_for_error(status_code: int, content: bytes) -> None:
    if status_code < 400:
        return
    try:
        error = msgspec.json.decode(content, type=_Envelope).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise ApiError(
            ErrorCode.INTERNAL, f"engine answered HTTP {status_code} without an error body", status_code
        ) from None
    raise ApiError(error.code, error.message, status_code)


class _ErrorBody(msgspec.Struct):
    code: str
    message: str


class _Envelope(msgspec.Struct):
    error: _ErrorBody


def _lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """NDJSON lines: split on b"\\n" only (JSON strings may hold U+2028 and other line breaks)."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        yield from (line for line in complete if line.strip())
    if pending.strip():
        yield pending


async def _alines(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    pending = b""
    async for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            if line.strip():
                yield line
    if pending.strip():
        yield pending


def _check_stream_line(line: bytes) -> None:
    """An error the engine reports inside a stream (`{"error": ...}` as a line) is raised."""
    if line.startswith(b'{"error"'):
        with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
            error = msgspec.json.decode(line, type=_Envelope).error
            raise ApiError(error.code, error.message)


class Client(Api):
    def __init__(self, socket_path: Path | None = None, timeout: float = 10.0) -> None:
        self.socket_path = socket_path or default_socket()
        self._http = httpx.Client(
            transport=httpx.HTTPTransport(uds=str(self.socket_path)), base_url=BASE_URL, timeout=timeout
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def perform(self, call: Call[T]) -> T:
        try:
            response = self._http.send(_request(self._http, call))
        except (httpx.TransportError, FileNotFoundError) as exc:
            raise _transport_error(exc, self.socket_path, call.method, call.path) from None
        _raise_for_error(response.status_code, response.content)
        return call.decode(response.content)

    def perform_stream(self, call: Call[T]) -> Iterator[T]:
        with (
            _stream_errors(self.socket_path, call),
            contextlib.closing(self._http.send(_request(self._http, call, STREAM_TIMEOUT), stream=True)) as response,
        ):
            if response.status_code >= 400:
                _raise_for_error(response.status_code, response.read())
            for line in _lines(response.iter_bytes()):
                _check_stream_line(line)
                yield call.decode(line)

    # Untyped access for scripts and tests that explore the API.
    def get(self, path: str, **params: object) -> Any:
        return msgspec.json.decode(self.perform(Call("GET", path, _struct_decoder(msgspec.Raw), _params(**params))))

    def post(self, path: str, body: object = None, timeout: float | None = None) -> Any:
        return msgspec.json.decode(self.perform(post(path, msgspec.Raw, body, timeout)))


class AsyncClient(Api):
    def __init__(self, socket_path: Path | None = None, timeout: float = 10.0) -> None:
        self.socket_path = socket_path or default_socket()
        self._http = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=str(self.socket_path)), base_url=BASE_URL, timeout=timeout
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def perform(self, call: Call[T]) -> T:
        try:
            response = await self._http.send(_request(self._http, call))
        except (httpx.TransportError, FileNotFoundError) as exc:
            raise _transport_error(exc, self.socket_path, call.method, call.path) from None
        _raise_for_error(response.status_code, response.content)
        return call.decode(response.content)

    async def perform_stream(self, call: Call[T]) -> AsyncIterator[T]:
        with _stream_errors(self.socket_path, call):
            response = await self._http.send(_request(self._http, call, STREAM_TIMEOUT), stream=True)
            async with contextlib.aclosing(response):
                if response.status_code >= 400:
                    _raise_for_error(response.status_code, await response.aread())
                async for line in _alines(response.aiter_bytes()):
                    _check_stream_line(line)
                    yield call.decode(line)

    async def get(self, path: str, **params: object) -> Any:
        raw = await self.perform(Call("GET", path, _struct_decoder(msgspec.Raw), _params(**params)))
        return msgspec.json.decode(raw)

    async def post(self, path: str, body: object = None, timeout: float | None = None) -> Any:
        return msgspec.json.decode(await self.perform(post(path, msgspec.Raw, body, timeout)))


def _request(
    http: httpx.Client | httpx.AsyncClient, call: Call[Any], timeout: httpx.Timeout | None = None
) -> httpx.Request:
    """The HTTP request for a call, the same for both clients (only sending differs)."""
    return http.build_request(
        call.method,
        call.path,
        params=call.params or None,
        content=call.body,
        headers={"Content-Type": wire.JSON} if call.body is not None else None,
        timeout=timeout or (call.timeout if call.timeout is not None else httpx.USE_CLIENT_DEFAULT),
    )


@contextlib.contextmanager
def _stream_errors(socket_path: Path, call: Call[Any]) -> Iterator[None]:
    """A stream that the engine ends (it is stopping) raises EngineUnreachable for the caller to
    report; other failures are translated the same way as for single calls."""
    try:
        yield
    except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
        raise EngineUnreachable(socket_path, f"the engine closed the stream ({type(exc).__name__})") from None
    except (httpx.TransportError, FileNotFoundError) as exc:
        raise _transport_error(exc, socket_path, call.method, call.path) from None


def _transport_error(exc: Exception, socket_path: Path, method: str, path: str) -> Exception:
    """What a failed exchange means to a person: no engine, or an engine too slow to answer."""
    if isinstance(exc, httpx.TimeoutException):
        return ApiError(ErrorCode.TIMEOUT, f"the engine did not answer {method} {path} in time")
    if isinstance(exc, httpx.RemoteProtocolError):
        return EngineUnreachable(socket_path, f"connection dropped: {exc}")
    return EngineUnreachable(socket_path, _reason(exc))


def _reason(exc: BaseException) -> str:
    text = str(exc)
    if "No such file" in text or isinstance(exc, FileNotFoundError):
        return "socket file not found"
    if "Connection refused" in text:
        return "connection refused"
    if "Permission denied" in text:
        return "permission denied on the socket; are you in the nocraven group?"
    return text or type(exc).__name__
