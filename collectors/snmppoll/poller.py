"""The asyncio glue: each target on its own cadence, reads through pysnmp's asyncio API.

One pysnmp engine serves every target. Each target is its own task, so a device that times
out only delays itself; a semaphore bounds how many devices are asked at once. Tables are read
with GETBULK (GETNEXT for SNMPv1); a poll that does not finish within its interval is cut off
and counted as a timeout, so it cannot pile up behind itself. Everything a poll read goes
through the sans-IO `sample.build_record`; failures become one line through `failures`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from collectors.snmppoll.counters import CounterMemory
from collectors.snmppoll.failures import PollFailure, describe, refused
from collectors.snmppoll.report import ErrorKind, InterfaceLoad, TargetStatus
from collectors.snmppoll.sample import SYS_UPTIME_0, PollAnswer, build_record
from collectors.snmppoll.schedule import Cadence
from collectors.snmppoll.settings import PollTarget
from collectors.snmptrap import ber
from collectors.snmptrap.ber import Varbind
from collectors.snmptrap.settings import SnmpUser

log = logging.getLogger("collectors.snmppoll")

MAX_REPETITIONS = 25
BUSIEST = 5
_V1_NO_SUCH_NAME = 2
_EMPTY_TAGS = (ber.NO_SUCH_OBJECT, ber.NO_SUCH_INSTANCE, ber.END_OF_MIB_VIEW)

Emit = Callable[[dict[str, Any]], None]


def _auth_protocols() -> tuple[dict[str, Any], dict[str, Any]]:
    from pysnmp.hlapi.v3arch import asyncio as hl

    auth = {
        "": hl.usmNoAuthProtocol,
        "MD5": hl.usmHMACMD5AuthProtocol,
        "SHA": hl.usmHMACSHAAuthProtocol,
        "SHA224": hl.usmHMAC128SHA224AuthProtocol,
        "SHA256": hl.usmHMAC192SHA256AuthProtocol,
        "SHA384": hl.usmHMAC256SHA384AuthProtocol,
        "SHA512": hl.usmHMAC384SHA512AuthProtocol,
    }
    # net-snmp's AES192/AES256 extend the key as draft-blumenthal-aes-usm-04 does.
    priv = {
        "": hl.usmNoPrivProtocol,
        "DES": hl.usmDESPrivProtocol,
        "AES": hl.usmAesCfb128Protocol,
        "AES192": hl.usmAesBlumenthalCfb192Protocol,
        "AES256": hl.usmAesBlumenthalCfb256Protocol,
    }
    return auth, priv


def credentials(target: PollTarget, users: dict[str, SnmpUser]) -> Any:
    """pysnmp's CommunityData or UsmUserData for a target."""
    from pysnmp.hlapi.v3arch import asyncio as hl

    if target.version != "3":
        return hl.CommunityData(target.community, mpModel=0 if target.version == "1" else 1)
    user = users[target.user]
    auth, priv = _auth_protocols()
    return hl.UsmUserData(
        user.name,
        authKey=user.auth_key or None,
        privKey=user.priv_key or None,
        authProtocol=auth[user.auth_protocol.upper()],
        privProtocol=priv[user.priv_protocol.upper()],
    )


def to_varbind(name: Any, value: Any) -> Varbind:
    """A pysnmp (ObjectName, value) as the trap decoder's (oid, BER tag, value)."""
    tag_spec = value.tagSet[0]
    tag = tag_spec.tagClass | tag_spec.tagFormat | tag_spec.tagId
    oid = str(name)
    if tag in _EMPTY_TAGS or tag == ber.NULL:
        return oid, tag, None
    if tag in (ber.OCTET_STRING, ber.OPAQUE):
        return oid, tag, value.asOctets()
    if tag == ber.IP_ADDRESS:
        return oid, tag, ber.ip_text(value.asOctets())
    if tag == ber.OBJECT_IDENTIFIER:
        return oid, tag, str(value)
    try:
        return oid, tag, int(value)
    except (TypeError, ValueError):
        return oid, tag, value.prettyPrint()


@dataclass
class TargetState:
    """A target's running figures (the `TargetStatus` the engine sees is made from them)."""

    target: PollTarget
    scalars: list[str]  # numeric OIDs to GET (sysUpTime.0 first)
    tables: list[tuple[str, str]]  # (configured name, numeric OID) to walk
    memory: CounterMemory = field(default_factory=CounterMemory)
    cadence: Cadence | None = None
    polls: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    last_poll: float | None = None
    last_success: float | None = None
    duration_s: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    last_error_kind: ErrorKind | None = None
    records: int = 0
    interfaces: int = 0
    values: int = 0
    uptime: int | None = None
    busiest: list[InterfaceLoad] = field(default_factory=list)

    def failed(self, failure: PollFailure, now: float) -> None:
        self.errors[failure.kind] = self.errors.get(failure.kind, 0) + 1
        self.last_error, self.last_error_at, self.last_error_kind = failure.message, now, failure.kind

    def status(self) -> TargetStatus:
        target = self.target
        state: Literal["waiting", "ok", "failing"] = "waiting"
        if self.polls:
            state = "failing" if self.consecutive_failures else "ok"
        cadence = self.cadence
        return TargetStatus(
            target=target.label,
            host=target.host,
            port=target.port,
            version=target.version,
            interval_s=target.interval_s,
            state=state,
            last_poll=self.last_poll,
            last_success=self.last_success,
            duration_s=self.duration_s,
            next_poll=time.time() + max(0.0, cadence.due - time.monotonic()) if cadence else None,
            polls=self.polls,
            failures=self.failures,
            consecutive_failures=self.consecutive_failures,
            overruns=cadence.skipped if cadence else 0,
            errors=dict(self.errors),
            last_error=self.last_error,
            last_error_at=self.last_error_at,
            last_error_kind=self.last_error_kind,
            records=self.records,
            interfaces=self.interfaces,
            values=self.values,
            uptime=self.uptime,
            busiest=self.busiest,
        )


class Poller:
    def __init__(
        self,
        states: list[TargetState],
        users: dict[str, SnmpUser],
        emit: Emit,
        name: Callable[[str], str | None] | None,
        concurrency: int,
        max_rows: int,
        seed: int | None = None,
    ) -> None:
        from pysnmp.hlapi.v3arch import asyncio as hl

        self._hl = hl
        self.states = states
        self.users = users
        self.emit = emit
        self.name = name
        self.max_rows = max_rows
        self._slots = asyncio.Semaphore(concurrency)
        self._rng = random.Random(seed)
        self._engine = hl.SnmpEngine()
        self._stamps: dict[int, str] = {}
        self._logged: set[tuple[str, type[BaseException]]] = set()

    async def warm_up(self) -> None:
        """Load pysnmp's own MIB view before the first poll: it takes seconds, and spent inside
        a poll it would count against that device's timeout and interval."""
        from pysnmp.hlapi.varbinds import CommandGeneratorVarBinds

        hl = self._hl
        probe = (hl.ObjectType(hl.ObjectIdentity(SYS_UPTIME_0)),)

        def load() -> None:
            with warnings.catch_warnings():  # pysnmp 7 calls its own deprecated camelCase names here
                warnings.simplefilter("ignore", DeprecationWarning)
                CommandGeneratorVarBinds().make_varbinds(self._engine.cache, probe)

        await asyncio.to_thread(load)

    async def run(self) -> None:
        await self.warm_up()
        try:
            async with asyncio.TaskGroup() as group:
                for state in self.states:
                    group.create_task(self._keep_polling(state))
        finally:
            self._engine.close_dispatcher()

    async def _keep_polling(self, state: TargetState) -> None:
        # The monotonic clock: a wall clock stepped back by NTP must not stall the schedule.
        cadence = state.cadence = Cadence(state.target.interval_s, time.monotonic(), self._rng)
        while True:
            await asyncio.sleep(max(0.0, cadence.due - time.monotonic()))
            async with self._slots:
                await self.poll(state)
            cadence.advance(time.monotonic())

    async def poll(self, state: TargetState) -> dict[str, Any] | None:
        """Poll one target once: its record is emitted and returned, or the failure counted."""
        target = state.target
        started = time.time()
        state.polls += 1
        problems: list[PollFailure] = []
        try:
            async with asyncio.timeout(target.interval_s):
                answer = await self._read(state, problems)
        except TimeoutError:
            failure = PollFailure(
                "timeout",
                f"{target.label} ({target.host}:{target.port}): the poll did not finish within its "
                f"interval ({target.interval_s:g} s); poll fewer tables or raise interval_s",
            )
            self._failed(state, failure, started)
            return None
        except PollFailure as failure:
            self._failed(state, failure, started)
            return None
        except Exception as exc:  # an unexpected pysnmp error costs this poll, not the poller
            if (target.label, type(exc)) not in self._logged:  # the traceback once, the count always
                self._logged.add((target.label, type(exc)))
                log.exception("poll of %s failed", target.label)
            self._failed(state, PollFailure("error", f"{target.label}: {type(exc).__name__}: {exc}"), started)
            return None
        now = time.time()
        record = build_record(answer, state.memory, now, self.name, self._common(target, now, started))
        self.emit(record)
        state.records += 1
        state.consecutive_failures = 0
        state.last_poll = state.last_success = now
        state.duration_s = round(now - started, 3)
        state.uptime = answer.uptime
        state.interfaces = len(record["interfaces"])
        state.values = len(record["values"])
        state.busiest = _busiest(record["interfaces"])
        for problem in problems:  # the record was stored; the part that failed is still said
            state.failed(problem, now)
        if not problems and state.last_error_kind == "no_such_object":
            state.last_error = state.last_error_kind = None
        return record

    def _failed(self, state: TargetState, failure: PollFailure, started: float) -> None:
        now = time.time()
        state.failures += 1
        state.consecutive_failures += 1
        state.last_poll = now
        state.duration_s = round(now - started, 3)
        state.failed(failure, now)

    def _common(self, target: PollTarget, now: float, started: float) -> dict[str, Any]:
        second = int(now)
        stamp = self._stamps.get(second)
        if stamp is None:
            self._stamps = {second: time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))}
            stamp = self._stamps[second]
        return {
            "service": "poll",
            "received_at": f"{stamp}.{int((now - second) * 1e6):06d}Z",
            "source": f"{target.host}:{target.port}" if ":" not in target.host else f"[{target.host}]:{target.port}",
            "device": target.label,
            "version": target.version,
            "interval_s": target.interval_s,
            "duration_s": round(now - started, 3),
        }

    # ---- reading ----------------------------------------------------------------------------

    async def _transport(self, target: PollTarget) -> Any:
        hl = self._hl
        kind = hl.Udp6TransportTarget if ":" in target.host else hl.UdpTransportTarget
        try:
            return await kind.create((target.host, target.port), timeout=target.timeout_s, retries=target.retries)
        except Exception as exc:  # pysnmp wraps resolver errors in PySnmpError
            raise PollFailure(
                "unreachable",
                f"{target.label}: cannot resolve or use host {target.host!r} ({exc}); check snmp.poll host and DNS",
            ) from None

    async def _read(self, state: TargetState, problems: list[PollFailure]) -> PollAnswer:
        hl = self._hl
        target = state.target
        auth = credentials(target, self.users)
        transport = await self._transport(target)
        context = hl.ContextData()
        answer = PollAnswer()
        # The scalars (sysUpTime.0 first) in one GET: the first answer says whether the device is there.
        request = [hl.ObjectType(hl.ObjectIdentity(oid)) for oid in state.scalars]
        indication, status, index, varbinds = await hl.get_cmd(
            self._engine, auth, transport, context, *request, lookupMib=False
        )
        if indication:
            raise describe(indication, target)
        if status:
            where = state.scalars[int(index) - 1] if index and int(index) <= len(state.scalars) else "the scalars"
            if target.version == "1" and int(status) == _V1_NO_SUCH_NAME:
                problems.append(PollFailure("no_such_object", self._missing(target, where)))
                varbinds = await self._get_one_by_one(state, auth, transport, context, problems)
            else:
                raise refused(_status_text(status), self._label(where), target)
        for name, value in varbinds:
            oid, tag, decoded = to_varbind(name, value)
            if oid == SYS_UPTIME_0 and isinstance(decoded, int):
                answer.uptime = decoded
                continue
            if tag in _EMPTY_TAGS:
                problems.append(PollFailure("no_such_object", self._missing(target, oid)))
                continue
            answer.varbinds.append((oid, tag, decoded))
        rows_left = self.max_rows
        for configured, oid in state.tables:
            cells = await self._walk(target, auth, transport, context, oid, rows_left)
            if not cells:
                problems.append(PollFailure("no_such_object", self._missing(target, configured, table=True)))
            rows_left -= len(cells)
            answer.varbinds += cells
        return answer

    async def _get_one_by_one(
        self, state: TargetState, auth: Any, transport: Any, context: Any, problems: list[PollFailure]
    ) -> list[Any]:
        """SNMPv1 fails a whole GET for one missing object: ask for each alone."""
        hl = self._hl
        found: list[Any] = []
        for oid in state.scalars:
            indication, status, _, varbinds = await hl.get_cmd(
                self._engine, auth, transport, context, hl.ObjectType(hl.ObjectIdentity(oid)), lookupMib=False
            )
            if indication:
                raise describe(indication, state.target)
            if status:
                problems.append(PollFailure("no_such_object", self._missing(state.target, oid)))
                continue
            found += varbinds
        return found

    async def _walk(
        self, target: PollTarget, auth: Any, transport: Any, context: Any, root: str, limit: int
    ) -> list[Varbind]:
        hl = self._hl
        prefix = root + "."
        cells: list[Varbind] = []
        current = root
        while len(cells) < limit:
            if target.version == "1":
                indication, status, _, varbinds = await hl.next_cmd(
                    self._engine, auth, transport, context, hl.ObjectType(hl.ObjectIdentity(current)), lookupMib=False
                )
            else:
                indication, status, _, varbinds = await hl.bulk_cmd(
                    self._engine,
                    auth,
                    transport,
                    context,
                    0,
                    min(MAX_REPETITIONS, limit - len(cells)),
                    hl.ObjectType(hl.ObjectIdentity(current)),
                    lookupMib=False,
                )
            if indication:
                raise describe(indication, target)
            if status:
                if target.version == "1" and int(status) == _V1_NO_SUCH_NAME:
                    return cells  # SNMPv1's end of the MIB
                raise refused(_status_text(status), self._label(root), target)
            if not varbinds:
                return cells
            for name, value in varbinds:
                oid, tag, decoded = to_varbind(name, value)
                if tag in _EMPTY_TAGS or not oid.startswith(prefix):
                    return cells
                if not _after(oid, current):
                    return cells  # a broken agent going backwards must not loop us
                cells.append((oid, tag, decoded))
                current = oid
        return cells

    def _label(self, oid: str) -> str:
        name = self.name(oid) if self.name and oid[:1].isdigit() else None
        return f"{name} ({oid})" if name else oid

    def _missing(self, target: PollTarget, what: str, table: bool = False) -> str:
        noun = "table has no rows" if table else "object does not exist"
        return (
            f"{target.label}: {self._label(what)}: the {noun} on the device; check snmp.poll "
            f"{'tables' if table else 'oids'} for this target (or the device's MIB support)"
        )


def _status_text(status: Any) -> str:
    """pysnmp's error-status by its RFC 3416 name (an Integer32 that prints as its name)."""
    pretty = getattr(status, "prettyPrint", None)
    return str(pretty()) if callable(pretty) else str(status)


def _after(oid: str, previous: str) -> bool:
    return tuple(map(int, oid.split("."))) > tuple(map(int, previous.split(".")))


def _busiest(interfaces: list[dict[str, Any]]) -> list[InterfaceLoad]:
    def load(interface: dict[str, Any]) -> float:
        return float(interface.get("in_bps") or 0) + float(interface.get("out_bps") or 0)

    ranked = sorted(interfaces, key=lambda i: (load(i), i.get("in_octets") or 0), reverse=True)[:BUSIEST]
    return [
        InterfaceLoad(
            index=i["index"],
            name=i.get("name"),
            oper_status=i.get("oper_status"),
            in_bps=i.get("in_bps"),
            out_bps=i.get("out_bps"),
            in_errors=i.get("in_errors"),
            out_errors=i.get("out_errors"),
            in_errors_ps=i.get("in_errors_ps"),
            out_errors_ps=i.get("out_errors_ps"),
        )
        for i in ranked
    ]
