"""The SNMP trap collector's engine part: its child's setup, its report, and /v1/traps.

Adding a MIB (`POST /v1/traps/mibs`, admin) stores the file under its module name in the
operator MIB directory and restarts the collector, which compiles it at start; the answer
waits for the restarted collector's first report and says whether the module compiled.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import msgspec
from aiohttp import web

from collectors.common.channel import FrameKind
from collectors.common.frames import FrameError
from collectors.snmptrap.mibfiles import MAX_MIB_BYTES, mib_files, module_name, store_mib
from collectors.snmptrap.report import (
    RECEIVE_BUFFER_BYTES,
    MibStatus,
    ReceiveCounters,
    TrapReport,
    TrapSetup,
    TrapTotals,
)
from nocraven.api.params import json_body
from nocraven.api.roles import Peer, Role
from nocraven.api.routes import Result, Route
from nocraven.engine.component import EngineContext
from nocraven.errors import ApiError, ErrorCode
from nocraven.ingest.collector import CollectorProcess, SocketSpec
from nocraven.schema.snmptrap import MibAdded, MibUpload, TrapAgents, TrapMibs

RESTART_WAIT_S = 120.0  # MIB loading takes ~5 s, compiling a large vendor MIB can take a minute
_REPORT = msgspec.json.Decoder(TrapReport)


class SnmptrapComponent(CollectorProcess):
    name = "snmptrap"
    module = "collectors.snmptrap.service"
    service = "trap"

    def __init__(self, ctx: EngineContext) -> None:
        super().__init__(ctx)
        self.report: TrapReport | None = None
        self._reported = asyncio.Event()

    @property
    def state_dir(self) -> Path:
        return Path(self.ctx.config.engine.data_dir) / "snmptrap"

    @property
    def mib_dir(self) -> Path:
        """Where operator MIBs live: `snmptrap.mib_dir`, else a directory the engine owns."""
        configured = self.ctx.config.snmptrap.mib_dir
        return Path(configured) if configured else self.state_dir / "mibs"

    def enabled(self) -> bool:
        return bool(self.ctx.config.snmptrap.udp)

    def socket_specs(self) -> dict[str, SocketSpec]:
        udp = self.ctx.config.snmptrap.udp
        return {"udp": SocketSpec("udp", udp, RECEIVE_BUFFER_BYTES)} if udp else {}

    def child_settings(self) -> TrapSetup:
        return TrapSetup(settings=self.ctx.config.snmptrap, state_dir=str(self.state_dir), mib_dir=str(self.mib_dir))

    def on_detail(self, payload: bytes, now: float) -> None:
        try:
            self.report = _REPORT.decode(payload)
        except msgspec.DecodeError as exc:
            raise FrameError(f"{FrameKind.DETAIL.name} frame: {exc}") from None
        self._reported.set()

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/v1/traps/agents", self._get_agents),
            Route("GET", "/v1/traps/mibs", self._get_mibs),
            Route("POST", "/v1/traps/mibs", self._add_mib, Role.ADMIN),
        ]

    async def _get_agents(self, request: web.Request, peer: Peer) -> Result:
        report = self.report
        if report is None:
            return TrapAgents(
                running=False,
                started=None,
                totals=TrapTotals(),
                agents={},
                receive=ReceiveCounters(),
                last_malformed=None,
            )
        return TrapAgents(
            running=bool(self.bound),
            started=report.started,
            totals=report.totals,
            agents=report.agents,
            receive=report.receive,
            last_malformed=report.last_malformed,
        )

    async def _get_mibs(self, request: web.Request, peer: Peer) -> Result:
        report = self.report
        files = await asyncio.to_thread(mib_files, self.mib_dir)
        return TrapMibs(
            running=bool(self.bound),
            status=report.mibs if report is not None else MibStatus(mib_dir=str(self.mib_dir)),
            upload_dir=str(self.mib_dir),
            files=files,
        )

    async def _add_mib(self, request: web.Request, peer: Peer) -> Result:
        upload = await json_body(request, MibUpload)
        text = upload.text.encode("utf-8")
        what = upload.filename or "the MIB"
        if len(text) > MAX_MIB_BYTES:
            raise ApiError(
                ErrorCode.BAD_REQUEST, f"{what} is {len(text):,} bytes; a MIB file may be {MAX_MIB_BYTES:,} at most"
            )
        module = module_name(text)
        if module is None:
            raise ApiError(
                ErrorCode.BAD_REQUEST,
                f"{what} is not an SMI MIB (no 'NAME DEFINITIONS ::= BEGIN' line); give the MIB's ASN.1 text file",
            )
        directory = self.mib_dir
        try:
            path = await asyncio.to_thread(store_mib, directory, module, text)
        except OSError as exc:
            raise ApiError(
                ErrorCode.WRITE_FAILED,
                f"cannot store MIB {module} in {directory}: {exc.strerror or exc}; "
                "make the directory writable for the engine's user (snmptrap.mib_dir)",
            ) from None
        supervisor = self.ctx.supervisor
        if supervisor is None or not self.ctx.config.snmptrap.udp:
            return MibAdded(module=module, path=str(path), result="pending", problems=[], loaded=0)
        before = self.report.started if self.report is not None else None
        self._reported.clear()
        # Shielded: a client that hangs up must not leave the collector stopped half-way.
        await asyncio.shield(supervisor.restart(self.name))
        report = await self._fresh_report(before)
        if report is None:
            return MibAdded(module=module, path=str(path), result="pending", problems=[], loaded=0)
        mentioned = [line for line in report.mibs.problems if module in line]
        compiled = module in report.mibs.operator
        return MibAdded(
            module=module,
            path=str(path),
            result="compiled" if compiled else "failed",
            problems=mentioned if compiled else mentioned or report.mibs.problems,
            loaded=report.mibs.loaded,
        )

    async def _fresh_report(self, before: float | None) -> TrapReport | None:
        """The first report of the restarted collector, or None if it did not come in time."""
        deadline = time.monotonic() + RESTART_WAIT_S
        while (left := deadline - time.monotonic()) > 0:
            try:
                await asyncio.wait_for(self._reported.wait(), left)
            except TimeoutError:
                return None
            self._reported.clear()
            report = self.report
            if report is not None and report.started != before:
                return report
        return None
