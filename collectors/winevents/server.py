"""The Windows event endpoint (asyncio glue): HTTP(S) in, batches of records to `store`.

Routes (every one needs an agent token, see `tokens.py`):
- `POST /v1/events`: a JSON object, array or NDJSON in any agent dialect (NXLog om_http,
  Vector's http sink, scripts). Reply `{"accepted", "duplicates", "refused", "errors"}`.
- The part of Elasticsearch that Winlogbeat talks to: `GET|HEAD /` (the version check),
  `GET /_license`, `GET /_xpack`, the index-management probes it makes at startup
  (`_index_template`, `_template`, `_component_template`, `_ilm/policy`, `_ingest/pipeline`,
  `_data_stream`, answered as if everything already exists), and `POST /_bulk`,
  `POST /{index}/_bulk` with per-item results.

At-least-once: the reply is sent only after `store(records)` has returned, and the engine's
store returns only once the records are durable. A store that cannot take more raises
`StoreBusy`, and so does this server when `max_inflight_requests` batches are already in
hand; the agent gets 429 with Retry-After and sends again. A failed store is a 503: nothing
was acknowledged, so the agent's retry loses nothing. Duplicates of stored events (a retry
whose first reply was lost) are acknowledged but not stored again.

Slow clients: a body must arrive within `read_timeout_s` (else 408 and the connection is
closed), and a connection without a complete request for `idle_timeout_s` is closed, which
also ends a client that trickles its headers. Refusals are 4xx with a JSON reason naming the
problem: `{"error": code, "reason": text}` on `/v1/`, Elasticsearch's `{"error": {"type",
"reason"}, "status"}` on its routes, where Winlogbeat logs it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import msgspec
from aiohttp import web

from collectors.common.listen import bind_socket
from collectors.common.settings import parse_listen
from collectors.winevents.agents import UNAUTHENTICATED, AgentBook
from collectors.winevents.body import BodyError, decode_content
from collectors.winevents.bulk import (
    ITEM_DUPLICATE,
    ITEM_REFUSED,
    ITEM_STORED,
    STORED_ACTIONS,
    BulkAction,
    bulk_reply,
    item_reply,
)
from collectors.winevents.dedup import RecentEvents
from collectors.winevents.intake import Batch, settle
from collectors.winevents.pool import (
    POOL_MIN_BYTES,
    ParsePool,
    WorkerLost,
    default_worker_count,
    parse_body,
    parse_bulk_body,
)
from collectors.winevents.report import Traffic, WineventsCounters
from collectors.winevents.settings import WineventsSettings
from collectors.winevents.tokens import Tokens, presented_secret, token_problem

# The records as NDJSON (newline-joined, no final newline), how many, and the bytes their
# request body took on the wire (compressed, as sent).
Store = Callable[[bytes, int, int], Awaitable[None]]
T = TypeVar("T")
log = logging.getLogger("collectors.winevents")

JSON_TYPES: Final = frozenset(
    {
        "application/json",
        "application/x-ndjson",
        "application/ndjson",
        "application/jsonlines",
        "application/x-jsonlines",
        "application/jsonl",
        "text/plain",  # NXLog om_http's default ContentType
        "text/json",
    }
)
INDEX_MANAGEMENT: Final = ("_index_template", "_template", "_component_template", "_ilm", "_ingest", "_data_stream")
ES_PRODUCT_HEADER: Final = {"X-Elastic-Product": "Elasticsearch"}
LINGER_S: Final = 2.0
SHUTDOWN_S: Final = 3.0  # on close, requests in hand get this long to be stored and answered
LISTEN_BACKLOG: Final = 256
# A body this large is parsed on a thread, so one big batch does not hold up other agents'
# requests (and TLS handshakes) for the tens of milliseconds its parsing takes.
PARSE_ON_THREAD_BYTES: Final = 1 << 20


class StoreBusy(Exception):
    """Raised by a store that cannot take records now (the buffer pushes back): the agent is
    answered 429 and retries after `retry_after_s` (the setting's value when None)."""

    def __init__(self, reason: str = "the buffer is busy", retry_after_s: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


class Refusal(Exception):
    def __init__(self, status: int, code: str, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.code = code
        self.reason = reason
        self.headers = headers or {}
        self.close = False


def received_text(now: float) -> str:
    second, millis = divmod(round(now * 1000), 1000)
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{millis:03d}Z"


def peer_text(request: web.BaseRequest) -> str:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    if not peer:
        return "unknown"
    host, port = peer[0], peer[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class WineventsServer:
    def __init__(
        self,
        settings: WineventsSettings,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        ssl_context: ssl.SSLContext | None = None,
        pool_min_bytes: int = POOL_MIN_BYTES,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.tokens = Tokens(settings.tokens)
        self.agents = AgentBook()
        self.traffic = Traffic()
        self.recent = RecentEvents(settings.dedup_window)
        self.ssl_context = ssl_context if ssl_context is not None else self._tls_from_settings()
        self.address: tuple[str, int] | None = None
        self.inflight = 0
        self.busy_refusals = 0
        self._runner: web.AppRunner | None = None
        self._site: web.SockSite | None = None
        self._listening: socket.socket | None = None
        self._old: list[tuple[web.SockSite, socket.socket]] = []  # replaced, not yet closed
        self._handovers: set[asyncio.Future[Any]] = set()
        self._seq_no = 0
        self._cluster_uuid = uuid.uuid4().hex[:22]
        workers = settings.parse_workers or default_worker_count()
        self.pool = ParsePool(workers) if workers > 0 else None
        self.pool_min_bytes = pool_min_bytes

    # ---- lifecycle ---------------------------------------------------------------------------

    def _tls_from_settings(self) -> ssl.SSLContext | None:
        if not (self.settings.tls_cert and self.settings.tls_key):
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(self.settings.tls_cert, self.settings.tls_key)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(
                f"winevents TLS: cannot load certificate {self.settings.tls_cert} with key "
                f"{self.settings.tls_key} ({exc}); check both paths are readable PEM files and the key matches"
            ) from None
        return context

    def application(self) -> web.Application:
        app = web.Application(client_max_size=self.settings.max_body_bytes)
        app.router.add_post("/v1/events", self.post_events, expect_handler=self.expect_v1)
        app.router.add_get("/", self.es_info)  # HEAD / too: libbeat and curl -I probe with it
        app.router.add_get("/_license", self.es_license)
        app.router.add_get("/_xpack", self.es_xpack)
        for method in ("POST", "PUT"):
            app.router.add_route(method, "/_bulk", self.es_bulk, expect_handler=self.expect_es)
            app.router.add_route(method, "/{index}/_bulk", self.es_bulk, expect_handler=self.expect_es)
        for prefix in INDEX_MANAGEMENT:
            app.router.add_route("*", f"/{prefix}", self.es_index_management)
            app.router.add_route("*", "/" + prefix + "/{tail:.*}", self.es_index_management)
        app.router.add_route("*", "/{tail:.*}", self.not_found)
        return app

    async def start(self, sock: socket.socket | None = None) -> tuple[str, int]:
        """Listen on `sock` (a bound, listening socket: the engine's) or bind `settings.listen`."""
        # The body is decompressed by us, under a size limit, not by aiohttp.
        self._runner = web.AppRunner(
            self.application(),
            access_log=None,
            auto_decompress=False,
            keepalive_timeout=self.settings.idle_timeout_s,
            # After a refusal the unread rest of a body is drained this long (so the client
            # sees the answer, not a reset), then the connection is closed.
            lingering_time=LINGER_S,
            handle_signals=False,
            shutdown_timeout=SHUTDOWN_S,
        )
        await self._runner.setup()
        if sock is None:
            host, port = parse_listen(self.settings.listen)
            sock, _granted = bind_socket("tcp", host, port)
        return await self._serve(sock)

    async def _serve(self, sock: socket.socket) -> tuple[str, int]:
        assert self._runner is not None
        self._listening = sock.dup()  # ours, to take what the kernel accepted when the site goes
        try:
            self._site = web.SockSite(self._runner, sock, ssl_context=self.ssl_context, backlog=LISTEN_BACKLOG)
            await self._site.start()
        except BaseException:
            self._listening.close()
            raise
        bound = sock.getsockname()
        self.address = (bound[0], bound[1])
        return self.address

    async def replace(self, sock: socket.socket) -> tuple[str, int]:
        """A port change: accept on `sock` from now on; the old listener accepts until
        `stop_old_listener`, and the connections it accepted finish as usual."""
        if self._runner is None or self._site is None:
            raise LookupError("it is not running")
        assert self._listening is not None
        old = self._site, self._listening
        self._old.append(old)
        try:
            return await self._serve(sock)
        except BaseException:
            self._old.remove(old)
            self._site, self._listening = old
            raise

    async def stop_old_listener(self) -> None:
        """Close the listener a port change replaced; connections the kernel completed on it
        but that were not accepted yet are taken and served, not reset."""
        if not self._old:
            return
        site, listening = self._old.pop(0)
        await site.stop()
        runner = self._runner
        loop = asyncio.get_running_loop()
        listening.setblocking(False)
        with listening:
            while runner is not None and runner.server is not None:
                try:
                    conn, _peer = listening.accept()
                except (BlockingIOError, OSError):
                    break
                # Its TLS handshake runs as a task of its own: a slow client holds up no one.
                task = asyncio.ensure_future(loop.connect_accepted_socket(runner.server, conn, ssl=self.ssl_context))
                self._handovers.add(task)
                task.add_done_callback(self._handed_over)

    def _handed_over(self, task: asyncio.Future[Any]) -> None:
        self._handovers.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.info("winevents: a connection taken from the old listener failed: %s", task.exception())

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.pool is not None:
            self.pool.close()
        for _site, listening in self._old:
            listening.close()
        self._old.clear()
        if self._listening is not None:
            self._listening.close()
            self._listening = None

    def counters(self) -> WineventsCounters:
        """Everything counted so far, as the collector reports it to the engine."""
        runner_server = self._runner.server if self._runner is not None else None
        connections = len(runner_server.connections) if runner_server is not None else 0
        return self.traffic.counters(self.agents.counters(), self.busy_refusals, self.inflight, connections)

    def replace_tokens(self, entries: list[str]) -> None:
        """Swap the token list on a running server; raises ValueError for a bad list."""
        problem = token_problem(entries)
        if problem:
            raise ValueError(problem)
        self.tokens.replace(entries)

    # ---- shared steps ------------------------------------------------------------------------

    def _authenticate(self, request: web.Request) -> str:
        header = request.headers.get("Authorization")
        if not self.tokens:
            raise Refusal(401, "no_tokens", "no agent token is configured here; add one to winevents.tokens")
        if not header:
            raise Refusal(
                401,
                "missing_token",
                "missing token: send Authorization: Bearer <token>",
                {"WWW-Authenticate": 'Bearer realm="nocraven"'},
            )
        agent = self.tokens.agent(presented_secret(header))
        if agent is None:
            raise Refusal(
                401,
                "bad_token",
                "bad token: it matches no token in winevents.tokens",
                {"WWW-Authenticate": 'Bearer realm="nocraven", error="invalid_token"'},
            )
        return agent

    def _check_content_type(self, request: web.Request) -> None:
        content_type = request.content_type.lower()
        if content_type not in JSON_TYPES:
            raise Refusal(
                415,
                "wrong_content_type",
                f"content type {content_type!r} is not accepted; send application/json or application/x-ndjson",
            )

    async def _read_body(self, request: web.Request) -> tuple[bytes, int]:
        """The body decoded (decompressed), and its size as it came on the wire."""
        limit = self.settings.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            size = request.content_length
            refusal = Refusal(413, "too_large", f"body of {size} bytes is over the {limit}-byte limit")
            refusal.close = True
            raise refusal
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.settings.read_timeout_s):
                async for chunk in request.content.iter_any():
                    size += len(chunk)
                    if size > limit:
                        refusal = Refusal(413, "too_large", f"body is over the {limit}-byte limit")
                        refusal.close = True
                        raise refusal
                    chunks.append(chunk)
        except TimeoutError:
            refusal = Refusal(
                408,
                "slow_body",
                f"the body did not arrive within {self.settings.read_timeout_s:g} s ({size} bytes received)",
            )
            refusal.close = True
            raise refusal from None
        body = b"".join(chunks)
        try:
            decoded = decode_content(body, request.headers.get("Content-Encoding"), self.settings.max_decoded_bytes)
            return decoded, len(body)
        except BodyError as exc:
            raise Refusal(exc.status, exc.code, exc.reason) from None

    async def _expect(self, request: web.Request) -> Refusal | None:
        """`Expect: 100-continue` (curl, libcurl agents, Go for large bodies): refuse a bad
        token, content type or length before the client sends the body at all."""
        if request.headers.get("Expect", "").lower() != "100-continue":
            return Refusal(417, "bad_expect", f"Expect: {request.headers.get('Expect')!r} is not supported")
        try:
            self._authenticate(request)
            self._check_content_type(request)
            limit = self.settings.max_body_bytes
            if request.content_length is not None and request.content_length > limit:
                raise Refusal(
                    413, "too_large", f"body of {request.content_length} bytes is over the {limit}-byte limit"
                )
        except Refusal as refusal:
            refusal.close = True
            agent = self.tokens.agent(presented_secret(request.headers.get("Authorization")))
            if agent is not None:
                self.agents.seen(agent, peer_text(request), self.clock())
            self._error(agent or UNAUTHENTICATED, request, refusal)
            return refusal
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the interim answer is not part of the response
        return None

    async def expect_v1(self, request: web.Request) -> web.Response | None:
        refusal = await self._expect(request)
        return None if refusal is None else self._v1_refusal(refusal, None)

    async def expect_es(self, request: web.Request) -> web.Response | None:
        refusal = await self._expect(request)
        return None if refusal is None else self._es_refusal(refusal)

    def _enter(self) -> None:
        if self.inflight >= self.settings.max_inflight_requests:
            self.busy_refusals += 1
            raise Refusal(
                429,
                "busy",
                f"{self.inflight} batches are being stored; retry later",
                {"Retry-After": str(self.settings.retry_after_s)},
            )
        self.inflight += 1

    async def _store(self, batch: Batch, wire_bytes: int) -> None:
        if not batch.stored:
            return
        try:
            await self.store(batch.ndjson, batch.stored, wire_bytes)
        except StoreBusy as exc:
            self.busy_refusals += 1
            retry = exc.retry_after_s or self.settings.retry_after_s
            raise Refusal(429, "busy", f"{exc.reason}; retry later", {"Retry-After": str(retry)}) from None
        except Exception as exc:
            log.exception("winevents: storing %d records failed", batch.stored)
            raise Refusal(
                503,
                "store_failed",
                f"the events could not be stored ({type(exc).__name__}); nothing was kept, retry later",
                {"Retry-After": str(self.settings.retry_after_s)},
            ) from None
        self.recent.remember_identities(batch.identities)

    def _account(self, agent: str, request: web.Request, batch: Batch, size: int) -> None:
        stats = self.agents.get(agent)
        stats.events += batch.stored
        stats.duplicates += batch.duplicates
        stats.refused_events += batch.refused
        stats.security_events += batch.security
        if batch.last_dialect is not None:
            stats.last_dialect = batch.last_dialect
        self.traffic.accepted(peer_text(request), size, batch.dialects, batch.refused, self.clock())

    def _error(self, agent: str, request: web.Request, refusal: Refusal) -> None:
        self.agents.error(agent, peer_text(request), refusal.reason, self.clock())
        self.traffic.refused(peer_text(request))

    async def _off_loop_if_large(self, size: int, parse: Callable[..., T], *args: Any) -> T:
        if size < PARSE_ON_THREAD_BYTES:
            return parse(*args)
        return await asyncio.to_thread(parse, *args)

    async def _parse_events(self, data: bytes, received_at: str, source: str, agent: str) -> Batch:
        """Parsed by a worker when the body is large (and there are workers), else in place;
        the duplicates are settled here, against this process's memory of stored events."""
        depth = self.settings.max_depth
        try:
            if self.pool is not None and len(data) >= self.pool_min_bytes:
                prepared = await self.pool.parse(data, depth, received_at, source, agent)
            else:
                prepared = await self._off_loop_if_large(len(data), parse_body, data, depth, received_at, source, agent)
        except BodyError as exc:
            raise Refusal(exc.status, exc.code, exc.reason) from None
        except WorkerLost as exc:
            raise Refusal(503, "worker_lost", f"{exc}; nothing was kept, send it again", {"Retry-After": "1"}) from None
        return settle(prepared, self.recent)

    async def _parse_bulk(
        self, data: bytes, index: str | None, received_at: str, source: str, agent: str
    ) -> tuple[list[BulkAction], Batch]:
        depth = self.settings.max_depth
        try:
            if self.pool is not None and len(data) >= self.pool_min_bytes:
                actions, prepared = await self.pool.parse_bulk(data, index, depth, received_at, source, agent)
            else:
                actions, prepared = await self._off_loop_if_large(
                    len(data), parse_bulk_body, data, index, depth, received_at, source, agent
                )
        except BodyError as exc:
            raise Refusal(exc.status, exc.code, exc.reason) from None
        except WorkerLost as exc:
            raise Refusal(503, "worker_lost", f"{exc}; nothing was kept, send it again", {"Retry-After": "1"}) from None
        return actions, settle(prepared, self.recent)

    # ---- /v1/events ------------------------------------------------------------------------

    async def post_events(self, request: web.Request) -> web.StreamResponse:
        agent = UNAUTHENTICATED
        entered = False
        batch: Batch | None = None
        try:
            agent = self._authenticate(request)
            self.agents.seen(agent, peer_text(request), self.clock())
            self._check_content_type(request)
            data, wire_bytes = await self._read_body(request)
            self._enter()  # after the body is in: a slow sender holds its connection, not a slot
            entered = True
            batch = await self._parse_events(data, received_text(self.clock()), peer_text(request), agent)
            if not batch.stored and not batch.duplicates:
                raise Refusal(
                    422,
                    "no_events",
                    f"no event in the batch could be read; first problem: {batch.first_error()}",
                )
            await self._store(batch, wire_bytes)
        except Refusal as refusal:
            self._error(agent, request, refusal)
            return self._v1_refusal(refusal, batch)
        finally:
            if entered:
                self.inflight -= 1
        self._account(agent, request, batch, len(data))
        reply = {
            "accepted": batch.stored,
            "duplicates": batch.duplicates,
            "refused": batch.refused,
            "errors": batch.errors(),
        }
        return web.Response(body=msgspec.json.encode(reply), content_type="application/json")

    def _v1_refusal(self, refusal: Refusal, batch: Batch | None) -> web.Response:
        body: dict[str, Any] = {"error": refusal.code, "reason": refusal.reason}
        if batch is not None and refusal.status == 422:
            body["errors"] = batch.errors()
        response = web.Response(
            status=refusal.status,
            body=msgspec.json.encode(body),
            content_type="application/json",
            headers=refusal.headers,
        )
        if refusal.close:
            response.force_close()
        return response

    # ---- the Elasticsearch surface -----------------------------------------------------------

    def _es_refusal(self, refusal: Refusal) -> web.Response:
        body = {"error": {"type": refusal.code, "reason": refusal.reason}, "status": refusal.status}
        response = web.Response(
            status=refusal.status,
            body=msgspec.json.encode(body),
            content_type="application/json",
            headers={**ES_PRODUCT_HEADER, **refusal.headers},
        )
        if refusal.close:
            response.force_close()
        return response

    def _es_json(self, body: Any) -> web.Response:
        return web.Response(body=msgspec.json.encode(body), content_type="application/json", headers=ES_PRODUCT_HEADER)

    def _es_guard(self, request: web.Request) -> str:
        agent = self._authenticate(request)
        self.agents.seen(agent, peer_text(request), self.clock())
        return agent

    async def es_info(self, request: web.Request) -> web.Response:
        try:
            self._es_guard(request)
        except Refusal as refusal:
            self._error(UNAUTHENTICATED, request, refusal)
            return self._es_refusal(refusal)
        return self._es_json(
            {
                "name": "nocraven",
                "cluster_name": "nocraven",
                "cluster_uuid": self._cluster_uuid,
                "version": {
                    "number": self.settings.es_version,
                    "build_flavor": "default",
                    "build_type": "nocraven",
                    "minimum_wire_compatibility_version": "7.17.0",
                    "minimum_index_compatibility_version": "7.0.0",
                },
                "tagline": "You Know, for Search",
            }
        )

    async def es_license(self, request: web.Request) -> web.Response:
        try:
            self._es_guard(request)
        except Refusal as refusal:
            self._error(UNAUTHENTICATED, request, refusal)
            return self._es_refusal(refusal)
        return self._es_json(
            {"license": {"status": "active", "uid": self._cluster_uuid, "type": "basic", "mode": "basic"}}
        )

    async def es_xpack(self, request: web.Request) -> web.Response:
        try:
            self._es_guard(request)
        except Refusal as refusal:
            self._error(UNAUTHENTICATED, request, refusal)
            return self._es_refusal(refusal)
        return self._es_json(
            {
                "license": {"status": "active", "uid": self._cluster_uuid, "type": "basic", "mode": "basic"},
                "features": {"ilm": {"available": True, "enabled": True}},
            }
        )

    async def es_index_management(self, request: web.Request) -> web.Response:
        """Winlogbeat sets up templates, ILM policies and pipelines before it sends: say they
        exist (GET/HEAD) or were accepted (PUT/POST/DELETE). Nothing here keeps them."""
        try:
            self._es_guard(request)
        except Refusal as refusal:
            self._error(UNAUTHENTICATED, request, refusal)
            return self._es_refusal(refusal)
        if request.method in ("GET", "HEAD"):
            name = request.path.rstrip("/").rsplit("/", 1)[-1]
            if request.path.startswith("/_index_template/"):
                return self._es_json({"index_templates": [{"name": name, "index_template": {}}]})
            return self._es_json({name: {}})
        if request.can_read_body:
            try:
                await self._read_body(request)
            except Refusal as refusal:
                return self._es_refusal(refusal)
        return self._es_json({"acknowledged": True})

    async def es_bulk(self, request: web.Request) -> web.Response:
        agent = UNAUTHENTICATED
        entered = False
        started = time.monotonic()
        try:
            agent = self._es_guard(request)
            self._check_content_type(request)
            data, wire_bytes = await self._read_body(request)
            self._enter()
            entered = True
            actions, batch = await self._parse_bulk(
                data, request.match_info.get("index"), received_text(self.clock()), peer_text(request), agent
            )
            await self._store(batch, wire_bytes)
        except Refusal as refusal:
            self._error(agent, request, refusal)
            return self._es_refusal(refusal)
        finally:
            if entered:
                self.inflight -= 1
        self._account(agent, request, batch, len(data))
        items = []
        for action, outcome in zip(actions, batch.outcomes, strict=True):
            if outcome.outcome == "stored" and action.action in STORED_ACTIONS:
                self._seq_no += 1
                items.append(item_reply(action, ITEM_STORED, None, self._seq_no))
            elif outcome.outcome == "duplicate":
                items.append(item_reply(action, ITEM_DUPLICATE, "this event was stored before", 0))
            else:
                items.append(item_reply(action, ITEM_REFUSED, outcome.reason, 0))
        took_ms = int((time.monotonic() - started) * 1000)
        return web.Response(body=bulk_reply(items, took_ms), content_type="application/json", headers=ES_PRODUCT_HEADER)

    async def not_found(self, request: web.Request) -> web.Response:
        refusal = Refusal(
            404,
            "no_such_endpoint",
            f"no such endpoint: {request.method} {request.path}; post events to /v1/events or /_bulk",
        )
        if request.path.startswith("/v1/"):
            return self._v1_refusal(refusal, None)
        return self._es_refusal(refusal)
