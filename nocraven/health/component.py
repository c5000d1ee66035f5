"""The health monitor's engine part: samples every `health.interval_s`, raises and clears alerts
(events on the watch stream, kept in the SQLite history), forecasts, and serves
GET /v1/health, /v1/health/history, /v1/health/metrics and, when `health.metrics_listen` is
set, a plain-HTTP /metrics for the NOC's Prometheus.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Literal

from aiohttp import web

from collectors.common.settings import parse_listen
from nocraven.api.params import int_param
from nocraven.api.roles import Peer
from nocraven.api.routes import Result, Route, TextBody
from nocraven.buffer.component import stats_to_wire
from nocraven.engine.component import Component, EngineContext
from nocraven.health import metrics
from nocraven.health.forecast import forecast_full
from nocraven.health.history import HealthStore
from nocraven.health.sampler import SystemSampler
from nocraven.health.thresholds import AlertModel, Change, Threshold
from nocraven.schema.base import ComponentState
from nocraven.schema.buffer import BufferStats
from nocraven.schema.engine import ComponentStatus, Listener
from nocraven.schema.health import (
    Alert,
    AlertCleared,
    AlertRaised,
    Forecast,
    HealthHistory,
    HealthReport,
    SystemSample,
)

log = logging.getLogger("nocraven.health")

# Raw samples kept in memory for the forecasts' trend (an hour at the default interval).
TREND_POINTS = 720


def sample_values(system: SystemSample | None, buffer: BufferStats | None) -> dict[str, float]:
    """The values thresholds and the history look at, by metric name."""
    values: dict[str, float] = {}
    if system is not None:
        values.update(
            cpu=system.cpu_percent,
            memory=system.memory_percent,
            disk=system.disk_percent,
            inodes=system.inodes_percent,
            load1=system.load1,
            disk_used_bytes=float(system.disk_used_bytes),
            rss_bytes=float(system.process_rss_bytes),
            open_files=float(system.process_open_files),
            net_rx_bytes=float(sum(i.bytes_recv for i in system.interfaces.values())),
            net_tx_bytes=float(sum(i.bytes_sent for i in system.interfaces.values())),
            # Totals since boot, as the byte counters: the console's sparklines show their increase.
            net_errors=float(sum(i.errors_in + i.errors_out for i in system.interfaces.values())),
            net_drops=float(sum(i.drops_in + i.drops_out for i in system.interfaces.values())),
        )
    if buffer is not None:
        values.update(buffer=buffer.total.fill_percent, buffer_bytes=float(buffer.total.stored_bytes))
    return values


class HealthComponent(Component):
    name = "health"

    def __init__(self, ctx: EngineContext) -> None:
        super().__init__(ctx)
        self.settings = ctx.config.health
        self.model = AlertModel(
            [
                Threshold(metric, warning, critical, self.settings.clear_margin_percent)
                for metric, (warning, critical) in self.settings.levels().items()
            ],
            self.settings.hold_s,
        )
        self.store: HealthStore | None = None
        self.system: SystemSample | None = None
        self.buffer: BufferStats | None = None
        self.forecasts: list[Forecast] = []
        self._history: deque[Alert] = deque(maxlen=200)
        self._trend: deque[tuple[float, dict[str, float]]] = deque(maxlen=TREND_POINTS)
        self._metrics_address: str | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    async def run(self, ready: Callable[[], None]) -> None:
        data_dir = self.ctx.config.engine.data_dir
        store = await asyncio.to_thread(HealthStore, data_dir / "health.sqlite")
        await asyncio.to_thread(store.close_open_alerts, time.time())
        self._history.extend(reversed(await asyncio.to_thread(store.alerts, 200)))
        self.store = store
        sampler = await asyncio.to_thread(SystemSampler, data_dir)
        runner = await self._serve_metrics()
        ready()
        try:
            while True:
                try:
                    await self.tick(sampler, time.time())
                except Exception:  # one bad reading must not stop the monitor
                    log.exception("health sample failed")
                await asyncio.sleep(self.settings.interval_s)
        finally:
            self.store = None
            if runner is not None:
                await runner.cleanup()
            self._metrics_address = None
            await asyncio.to_thread(store.close)

    async def tick(self, sampler: SystemSampler, now: float) -> None:
        self.system = await asyncio.to_thread(sampler.sample)
        self.buffer = await self._buffer_stats(now)
        values = sample_values(self.system, self.buffer)
        for change in self.model.observe(values, now):
            await self._announce(change)
        self._trend.append((now, values))
        self.forecasts = self._forecasts()
        if self.store is not None:
            await asyncio.to_thread(self.store.record, now, values)

    async def _buffer_stats(self, now: float) -> BufferStats | None:
        store = self.ctx.buffer.store
        if store is None:
            return None
        try:
            return stats_to_wire(await asyncio.to_thread(store.stats, now))
        except Exception as exc:  # closed under us (the buffer restarting): no buffer figures this time
            log.debug("buffer stats unavailable: %s", exc)
            return None

    async def _announce(self, change: Change) -> None:
        store = self.store
        if change.cleared is not None:
            self._history.appendleft(change.cleared)
            self._replace_in_history(change.cleared)
            if store is not None:
                await asyncio.to_thread(store.alert_cleared, change.cleared)
            if change.raised is None:
                log.info("health alert cleared: %s", change.cleared.message)
                self.ctx.bus.publish(AlertCleared(alert=change.cleared))
        if change.raised is not None:
            self._history.appendleft(change.raised)
            if store is not None:
                await asyncio.to_thread(store.alert_raised, change.raised)
            level = logging.ERROR if change.raised.severity == "critical" else logging.WARNING
            log.log(level, "health alert: %s", change.raised.message)
            self.ctx.bus.publish(AlertRaised(alert=change.raised))

    def _replace_in_history(self, cleared: Alert) -> None:
        """The history shows each alert once: the cleared copy replaces the raised one."""
        for index, alert in enumerate(self._history):
            if index and alert.metric == cleared.metric and alert.raised_at == cleared.raised_at:
                del self._history[index]
                return

    def _forecasts(self) -> list[Forecast]:
        out = []
        system = self.system
        if system is not None:
            points = [(t, v["disk_used_bytes"]) for t, v in self._trend if "disk_used_bytes" in v]
            disk = forecast_full("disk", "disk", points, float(system.disk_total_bytes))
            if disk is not None:
                out.append(disk)
        if self.buffer is not None:
            points = [(t, v["buffer_bytes"]) for t, v in self._trend if "buffer_bytes" in v]
            buffer = forecast_full("buffer", "buffer", points, float(self.buffer.total.effective_budget_bytes))
            if buffer is not None:
                out.append(buffer)
        return out

    # ---- what it reports -------------------------------------------------------------------

    def _components(self) -> dict[str, ComponentStatus]:
        supervisor = self.ctx.supervisor
        return supervisor.states() if supervisor is not None else {}

    def _component_states(self) -> dict[str, ComponentState]:
        supervisor = self.ctx.supervisor
        return supervisor.component_states() if supervisor is not None else {}

    def report(self) -> HealthReport:
        active = self.model.active()
        supervisor = self.ctx.supervisor
        status: Literal["ok", "warning", "critical"] = "ok"
        if active:
            status = "critical" if any(a.severity == "critical" for a in active) else "warning"
        return HealthReport(
            status=status,
            system=self.system,
            # States only: the full statuses ask every component for its detail, this one included.
            components={name: str(state) for name, state in self._component_states().items()},
            listeners=supervisor.listeners() if supervisor is not None else [],
            buffer_fill_percent=self.buffer.total.fill_percent if self.buffer is not None else None,
            active=active,
            history=list(self._history)[:50],
            forecasts=self.forecasts,
            interval_s=self.settings.interval_s,
        )

    def status(self) -> HealthReport:
        report = self.report()
        report.history = []  # /v1/status stays small: the history is GET /v1/health
        report.system = None
        return report

    def metrics_text(self) -> str:
        return metrics.render(
            metrics.MetricsInput(
                components=self._components(),
                system=self.system,
                buffer=self.buffer,
                active=tuple(self.model.active()),
            )
        )

    def listeners(self) -> list[Listener]:
        if self._metrics_address is None:
            return []
        return [Listener(service="health", listener="metrics", proto="tcp", address=self._metrics_address)]

    # ---- API -------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/v1/health", self._get_health),
            Route("GET", "/v1/health/history", self._get_history),
            Route("GET", "/v1/health/metrics", self._get_metrics),
        ]

    async def _get_health(self, request: web.Request, peer: Peer) -> Result:
        return self.report()

    async def _get_history(self, request: web.Request, peer: Peer) -> Result:
        minutes = int_param(request, "minutes", 60, 1, 24 * 60)
        store = self.store
        points = await asyncio.to_thread(store.points, time.time() - minutes * 60) if store is not None else []
        resolution = store.resolution_s if store is not None else 0.0
        return HealthHistory(resolution_s=resolution, points=points)

    async def _get_metrics(self, request: web.Request, peer: Peer) -> Result:
        return TextBody(self.metrics_text(), metrics.CONTENT_TYPE)

    async def _serve_metrics(self) -> web.AppRunner | None:
        """The NOC's scrape endpoint: read-only figures, plain HTTP on the address the config
        names (a management VLAN or the VPN), nothing else served on it."""
        if not self.settings.metrics_listen:
            return None
        host, port = parse_listen(self.settings.metrics_listen)

        async def scrape(request: web.Request) -> web.Response:
            return web.Response(body=self.metrics_text().encode(), headers={"Content-Type": metrics.CONTENT_TYPE})

        app = web.Application()
        app.router.add_get("/metrics", scrape)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise OSError(
                exc.errno, f"health.metrics_listen = {self.settings.metrics_listen!r}: cannot listen ({exc.strerror})"
            ) from None
        bound = runner.addresses[0] if runner.addresses else (host, port)
        self._metrics_address = f"[{bound[0]}]:{bound[1]}" if ":" in bound[0] else f"{bound[0]}:{bound[1]}"
        log.info("metrics for Prometheus on http://%s/metrics", self._metrics_address)
        return runner
