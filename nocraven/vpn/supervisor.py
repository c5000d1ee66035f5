"""The asyncio glue: runs Debian's `openvpn` for the profile the policy picks and feeds the policy
what openvpn says over its management socket.

openvpn starts with `--management-hold`, so it waits for us before every (re)connection: we turn
on state and log notifications, then release the hold. `--management-query-remote` lets us
answer `remote SKIP` for a remote that just failed instead of openvpn retrying it. Server-pushed
`ping` timers are filtered out (`pull-filter ignore "ping"`) and ours set, so a drop is seen in
`ping_restart_s`, not the server's minute. Every decision (which profile, when to retry, when to
fail back) is the policy's; this module only starts and stops processes and moves messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import shutil
import signal
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from collectors.common.lifetime import term_with_parent
from nocraven.diag.ping import ping
from nocraven.diag.schema import PingRequest, PingSummary
from nocraven.schema.events import Event
from nocraven.schema.vpn import (
    VpnConnected,
    VpnConnecting,
    VpnDisconnected,
    VpnHealthDegraded,
    VpnHealthRecovered,
    VpnProbed,
)
from nocraven.vpn import management as mgmt
from nocraven.vpn.history import HistoryEntry, VpnMemory
from nocraven.vpn.policy import (
    Candidate,
    CheckStandby,
    Connect,
    Decision,
    Disconnect,
    FailoverPolicy,
    Phase,
    PolicyTimers,
)
from nocraven.vpn.profile import IGNORED, SCRIPT_HOOKS, Directive, Profile, render
from nocraven.vpn.settings import VpnSettings
from nocraven.vpn.store import ProfileStore
from nocraven.vpn.tunnel import device_from_log

log = logging.getLogger(__name__)

# Directives the supervisor sets itself (or that would fight it).
OWNED = frozenset(
    {
        "ping",
        "ping-restart",
        "ping-exit",
        "keepalive",
        "connect-retry",
        "connect-retry-max",
        "auth-retry",
        "script-security",
        "remote-random",
    }
)


@dataclass(frozen=True)
class TunnelInfo:
    profile: str
    local_ip: str
    remote_ip: str
    remote_port: str
    device: str = ""  # e.g. tun0; "" with dev null


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    latency_ms: float | None = None
    loss_percent: float = 0.0
    jitter_ms: float | None = None


Probe = Callable[[TunnelInfo], Awaitable[ProbeResult]]


def ping_probe(target: str, count: int = 3, timeout_s: float = 2.0) -> Probe:
    """Echo requests to `target` (default: the tunnel's remote end) with the engine's own ICMP
    pinger (nocraven.diag): no `ping` binary needed, the same sockets and figures as `diag ping`."""

    async def probe(tunnel: TunnelInfo) -> ProbeResult:
        request = PingRequest(host=target or tunnel.remote_ip, count=count, interval=0.2, timeout=timeout_s)
        summary: PingSummary | None = None
        try:
            async for event in ping(request):
                if isinstance(event, PingSummary):
                    summary = event
        except (OSError, ValueError) as exc:  # no ICMP socket, no route, a bad address
            log.debug("VPN probe of %s failed: %s", request.host, exc)
            return ProbeResult(False, None, 100.0, None)
        if summary is None:
            return ProbeResult(False, None, 100.0, None)
        return ProbeResult(summary.received > 0, summary.avg_ms, summary.loss_pct, summary.stddev_ms)

    return probe


def launch_config(
    profile: Profile, settings: VpnSettings, socket_path: Path, *, standby: bool, has_credentials: bool
) -> str:
    """The config openvpn runs: the profile's usable directives plus the supervisor's own."""
    kept: list[Directive] = []
    for directive in profile.directives:
        if directive.name in IGNORED or directive.name in OWNED:
            continue
        if standby and directive.name in ("dev", "dev-type", "dev-node"):
            continue
        kept.append(directive)
    uses_pull = profile.has("client") or profile.has("pull")
    scripts = any(d.name in SCRIPT_HOOKS for d in profile.directives)
    ours = [
        f"management {socket_path} unix",
        "management-hold",
        f"ping {settings.ping_s}",
        f"ping-restart {settings.ping_restart_s}",
        "connect-retry 1 1",
        # Each remote gets its share of the connect timeout before openvpn polls the next one.
        f"server-poll-timeout {max(2, int(settings.connect_timeout_s) // max(1, len(profile.remotes)))}",
        "auth-retry none",
        f"script-security {2 if scripts and not standby else 1}",
    ]
    if len(profile.remotes) > 1:
        # Lets us answer `remote SKIP` for a remote that just failed. Only when there is a choice:
        # openvpn polls the answer about once a second, which delays every connection.
        ours.append("management-query-remote")
    if uses_pull:
        ours.append('pull-filter ignore "ping"')
    if has_credentials:
        ours.append("management-query-passwords")
    if standby:
        # A health check only: no device, no routes, nothing touches the active tunnel.
        ours.append("dev null")
        if uses_pull:
            # A server's push sets up a device openvpn then fails to configure on `dev null`
            # ("Linux can't set mtu (1500) on null", a fatal error): drop those with the routes.
            ours += ["route-nopull", 'pull-filter ignore "ifconfig"', 'pull-filter ignore "tun-mtu"']
    return render(Profile(tuple(kept))) + "\n".join(ours) + "\n"


def health_alert(result: ProbeResult, settings: VpnSettings) -> str | None:
    """The threshold a probe result is over (one line), or None when the tunnel is healthy."""
    if not result.ok:
        return "the probe through the tunnel got no answer"
    if result.loss_percent > settings.alert_loss_percent:
        return f"loss {result.loss_percent:.0f} % is over vpn.alert_loss_percent = {settings.alert_loss_percent:g}"
    if result.latency_ms is not None and result.latency_ms > settings.alert_latency_ms:
        return f"latency {result.latency_ms:.0f} ms is over vpn.alert_latency_ms = {settings.alert_latency_ms:g}"
    return None


def translate_log(text: str) -> str | None:
    """openvpn log lines that say more than the state's `tls-error`."""
    if "VERIFY EKU ERROR" in text or "VERIFY KU ERROR" in text:
        return "the server certificate lacks the TLS server usage that `remote-cert-tls server` requires"
    if "VERIFY ERROR" in text and "certificate has expired" in text:
        return "the server's certificate (or its CA) has expired"
    if "VERIFY ERROR" in text:
        return "the server certificate does not verify against the profile's CA: " + text.split("error=", 1)[-1]
    if "VERIFY X509NAME ERROR" in text:
        return "the server certificate's name does not match verify-x509-name"
    if "AUTH_FAILED" in text:
        return "the server refused the username/password"
    if "TLS key negotiation failed" in text:
        return "no TLS answer from the server (wrong address, port, tls-auth key, or the server is down)"
    return None


class OpenVpnProcess:
    """One openvpn process and its management session."""

    def __init__(
        self,
        name: str,
        binary: str,
        standby: bool,
        on_message: Callable[[OpenVpnProcess, mgmt.Message], None],
        on_exit: Callable[[OpenVpnProcess, int], None],
    ) -> None:
        self.name = name
        self.binary = binary
        self.standby = standby
        self._on_message = on_message
        self._on_exit = on_exit
        self.directory = Path(tempfile.mkdtemp(prefix="ncvpn-"))  # short: unix socket paths max 107 bytes
        self.socket_path = self.directory / "mgmt.sock"
        self.process: asyncio.subprocess.Process | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._connection = mgmt.ManagementConnection()
        self._tasks: list[asyncio.Task[None]] = []
        self.holds = 0
        self.reason: str | None = None  # the most specific reason seen for a failure
        self.failed_remotes: set[tuple[str, int]] = set()
        self.remote: tuple[str, int] | None = None
        self.remotes_total = 0
        self.started_at = time.monotonic()
        self.stopping = False
        self.reported_down = False  # VpnDisconnected already sent for this process
        self.output: list[str] = []
        self.device = ""

    async def start(self, config: str, remotes_total: int) -> None:
        self.remotes_total = remotes_total
        path = self.directory / "client.conf"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(config)
        self.process = await asyncio.create_subprocess_exec(
            self.binary, "--config", str(path), "--suppress-timestamps",
            cwd=self.directory, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
            preexec_fn=term_with_parent,  # no openvpn left behind to fight a restarted engine
        )  # fmt: skip
        self._tasks.append(asyncio.create_task(self._watch()))
        self._tasks.append(asyncio.create_task(self._manage()))

    def send(self, command: str) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(self._connection.send(command))

    async def _manage(self) -> None:
        deadline = time.monotonic() + 10
        while not self.socket_path.exists():
            if time.monotonic() > deadline or self.process is None or self.process.returncode is not None:
                return
            await asyncio.sleep(0.02)
        try:
            reader, self._writer = await asyncio.open_unix_connection(str(self.socket_path))
        except OSError as exc:
            self.reason = f"cannot reach openvpn's management socket: {exc}"
            return
        while True:
            data = await reader.read(65536)
            if not data:
                return
            for message in self._connection.feed(data):
                self._on_message(self, message)

    async def _watch(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        async for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.output = [*self.output, line][-50:]
            self.device = device_from_log(line) or self.device
            reason = translate_log(line)
            if reason and not self.stopping:
                self.reason = reason
            if line.startswith("Options error:"):
                self.reason = "openvpn refused the profile: " + line.removeprefix("Options error: ")
        code = await self.process.wait()
        if not self.stopping:
            self._on_exit(self, code)

    async def stop(self, grace_s: float = 3.0) -> None:
        """SIGTERM, then SIGKILL after `grace_s` (openvpn may wait to send explicit-exit-notify)."""
        self.stopping = True
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), grace_s)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await asyncio.wait_for(self.process.wait(), 3)
        if self._writer is not None:
            self._writer.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        shutil.rmtree(self.directory, ignore_errors=True)


@dataclass
class Status:
    mode: str
    override: str | None
    active: str | None
    state: str  # idle, connecting, connected
    remote: str = ""
    local_ip: str = ""
    since: float | None = None  # wall clock of the last state change
    bytes_in: int = 0
    bytes_out: int = 0
    last_reason: str = ""
    probe: ProbeResult | None = None
    device: str = ""
    alert: str | None = None  # the health threshold the active tunnel is over, if any
    remotes_skipped: int = 0  # `remote SKIP` answers: a remote that just failed was not retried
    cooldowns: dict[str, float] = field(default_factory=dict)


class VpnSupervisor:
    def __init__(
        self,
        store: ProfileStore,
        settings: VpnSettings,
        data_dir: Path,
        on_event: Callable[[Event], None] = lambda event: None,
        probe: Probe | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.memory = VpnMemory(data_dir, settings.history_hours)
        self.on_event = on_event
        self.probe_fn = (
            probe if probe is not None else (ping_probe(settings.probe_target) if settings.probe_target else None)
        )
        self.policy = FailoverPolicy(
            PolicyTimers(
                failure_threshold=settings.failure_threshold,
                holddown_s=settings.holddown_s,
                standby_interval_s=settings.standby_interval_s,
                connect_timeout_s=settings.connect_timeout_s,
                max_attempts=settings.max_attempts,
                cooldown_s=settings.cooldown_s,
                cooldown_max_s=settings.cooldown_max_s,
                backoff=settings.backoff,
            )
        )
        self.process: OpenVpnProcess | None = None
        self.standbys: dict[str, OpenVpnProcess] = {}
        self._status = Status("auto", None, None, "idle")
        self._switch_lock = asyncio.Lock()
        self._loop_task: asyncio.Task[None] | None = None
        self._probe_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._closing = False

    # ---- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        now = time.monotonic()
        self.policy.set_profiles(self._candidates(), now, evaluate=False)
        snapshot = self.memory.load_state()
        decisions = self.policy.restore(snapshot, now) if snapshot else self.policy.tick(now)
        self._apply(decisions)
        self._loop_task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Stop openvpn; the persisted state keeps the active profile so a restart restores it."""
        snapshot = self.policy.snapshot()
        self._closing = True
        self._wake.set()
        if self._loop_task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._loop_task, 2)
        await self._stop_probe()
        # A switch under way finishes first (so no openvpn is left half-started); the ones
        # still waiting see `_closing` and do nothing.
        async with self._switch_lock:
            for task in list(self._background):
                task.cancel()
            for task in list(self._background):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            for process in list(self.standbys.values()):
                await process.stop()
            if self.process is not None:
                process, self.process = self.process, None
                await process.stop()
        self.memory.ended("the manager stopped", time.time())
        self.memory.save_state(snapshot)
        self.memory.close()

    # ---- commands (the API calls these) -------------------------------------------------------

    def reload_profiles(self) -> None:
        self._apply(self.policy.set_profiles(self._candidates(), time.monotonic()))

    def connect(self, name: str) -> None:
        self.store.meta(name)  # raises StoreError naming the profile
        self.policy.set_profiles(self._candidates(), time.monotonic())
        self._apply(self.policy.connect(name, time.monotonic()))

    def auto(self) -> None:
        self._apply(self.policy.auto(time.monotonic()))

    def disconnect(self) -> None:
        self._apply(self.policy.disconnect(time.monotonic()))

    def status(self) -> Status:
        now = time.monotonic()
        self._status.mode = self.policy.mode.value
        self._status.override = self.policy.override
        self._status.active = self.policy.active
        self._status.state = self.policy.phase.value
        self._status.cooldowns = {
            m.name: left for m in self.store.list() if (left := self.policy.cooldown_left(m.name, now)) > 0
        }
        return self._status

    def history(self, limit: int = 100) -> list[HistoryEntry]:
        return self.memory.history(limit)

    # ---- the policy's decisions ---------------------------------------------------------------

    def _candidates(self) -> list[Candidate]:
        return [Candidate(m.name, m.priority, m.enabled) for m in self.store.list()]

    def _apply(self, decisions: list[Decision]) -> None:
        if self._closing:
            return
        self.memory.save_state(self.policy.snapshot())
        for decision in decisions:
            if isinstance(decision, Connect):
                self._status.last_reason = decision.reason
                self.on_event(VpnConnecting(profile=decision.name, reason=decision.reason))
                self.memory.ended(decision.reason, time.time())  # the entry it replaces, if still open
                self.memory.started(decision.name, decision.reason, time.time())
                self._spawn(self._switch_to(decision.name, decision.reason))
            elif isinstance(decision, Disconnect):
                self._status.last_reason = decision.reason
                self.memory.ended(decision.reason, time.time())
                self._spawn(self._switch_to(None, decision.reason))
            elif isinstance(decision, CheckStandby):
                self._spawn(self._check_standby(decision.name))
        self._wake.set()

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _switch_to(self, name: str | None, reason: str) -> None:
        async with self._switch_lock:
            if self._closing:
                return
            current = self.process
            if (
                name is not None
                and current is not None
                and current.name == name
                and current.process is not None
                and current.process.returncode is None
                and not current.stopping
            ):
                # Same profile again (a retry): openvpn waits in HOLD; let it go on.
                if current.holds > 1 or current.reason:
                    current.reason = None
                    current.send(mgmt.hold_release())
                return
            if current is not None:
                self.process = None
                await self._stop_probe()
                # A tunnel already down has nobody to notify of its exit: do not wait for it.
                await current.stop(grace_s=0.3 if current.reported_down else 3.0)
                if not current.reported_down:
                    self.on_event(VpnDisconnected(profile=current.name, reason=reason))
            if name is None or self.policy.active != name:
                return
            try:
                profile = self.store.profile(name)
            except Exception as exc:  # a profile removed under us
                self._apply(self.policy.dropped(name, f"cannot read the profile: {exc}", time.monotonic()))
                return
            credentials = self.store.credentials(name)
            process = OpenVpnProcess(name, self.settings.openvpn, False, self._on_message, self._on_exit)
            config = launch_config(
                profile, self.settings, process.socket_path, standby=False, has_credentials=credentials is not None
            )
            self.process = process
            try:
                await process.start(config, len(profile.remotes))
            except OSError as exc:
                self.process = None
                self._apply(
                    self.policy.dropped(name, f"cannot start {self.settings.openvpn}: {exc.strerror}", time.monotonic())
                )

    # ---- messages from openvpn ----------------------------------------------------------------

    def _on_message(self, process: OpenVpnProcess, message: mgmt.Message) -> None:
        if process.standby:
            self._on_standby_message(process, message)
            return
        if process is not self.process or self._closing:
            return
        now = time.monotonic()
        if isinstance(message, mgmt.Hold):
            process.holds += 1
            if process.holds == 1:
                for command in (mgmt.state_on(), mgmt.log_on(), mgmt.bytecount(1), mgmt.hold_release()):
                    process.send(command)
            elif self.policy.active == process.name and self.policy.phase is Phase.CONNECTING:
                # The policy chose to retry this profile: let openvpn go on from its HOLD.
                process.reason = None
                process.send(mgmt.hold_release())
        elif isinstance(message, mgmt.RemoteQuery):
            key = (message.host, message.port)
            others_left = process.remotes_total > len(process.failed_remotes | {key})
            if key in process.failed_remotes and others_left:
                self._status.remotes_skipped += 1
                process.send(mgmt.remote_skip())
            else:
                process.remote = key
                process.send(mgmt.remote_accept())
        elif isinstance(message, mgmt.State):
            self._on_state(process, message, now)
        elif isinstance(message, mgmt.ByteCount):
            self._status.bytes_in, self._status.bytes_out = message.bytes_in, message.bytes_out
        elif isinstance(message, mgmt.Fatal):
            process.reason = process.reason or f"openvpn stopped: {message.text}"
        elif isinstance(message, mgmt.PasswordRequest):
            self._on_password(process, message)
        elif isinstance(message, mgmt.Log):
            process.device = device_from_log(message.text) or process.device
            reason = translate_log(message.text)
            if reason:
                process.reason = reason

    def _on_state(self, process: OpenVpnProcess, state: mgmt.State, now: float) -> None:
        self._status.since = time.time()
        if state.name == "CONNECTED":
            if state.description != "SUCCESS":
                process.reason = f"connected with errors ({state.description})"
            process.failed_remotes.clear()
            self._status.remote = f"{state.remote_ip}:{state.remote_port}"
            self._status.local_ip = state.local_ip
            self._status.device = process.device
            self._status.alert = None
            self.memory.connected(time.time())
            self.store.update(process.name, last_connected=_utcnow())
            self.on_event(
                VpnConnected(
                    profile=process.name,
                    remote=self._status.remote,
                    local_ip=state.local_ip,
                    seconds_to_connect=round(now - process.started_at, 3),
                )
            )
            self._apply(self.policy.connected(process.name, now))
            self._start_probe(
                TunnelInfo(process.name, state.local_ip, state.remote_ip, state.remote_port, process.device)
            )
        elif state.name in ("RECONNECTING", "EXITING"):
            if process.remote is not None:
                process.failed_remotes.add(process.remote)
            reason = process.reason or _describe(state.description)
            self._status.last_reason = reason
            self._spawn(self._stop_probe())
            was_connected = self.policy.phase is Phase.CONNECTED and self.policy.active == process.name
            decisions = self.policy.dropped(process.name, reason, now)
            if was_connected or decisions:
                self.memory.ended(reason, time.time())
                self.on_event(VpnDisconnected(profile=process.name, reason=reason))
                process.reported_down = True
            self._apply(decisions)

    def _on_password(self, process: OpenVpnProcess, request: mgmt.PasswordRequest) -> None:
        if request.kind == "failed":
            process.reason = "the server refused the username/password"
            return
        credentials = self.store.credentials(process.name)
        if request.realm == "Auth" and credentials is not None:
            process.send(mgmt.username("Auth", credentials.username))
            process.send(mgmt.password("Auth", credentials.password))
            return
        process.reason = f"openvpn asks for the {request.realm} password, which the profile does not hold"
        self._spawn(process.stop())
        self._apply(self.policy.dropped(process.name, process.reason, time.monotonic()))

    def _on_exit(self, process: OpenVpnProcess, code: int) -> None:
        if process.standby:
            self._standby_done(process, False)
            return
        if process is not self.process:
            return
        self.process = None
        reason = (
            process.reason
            or f"openvpn exited with status {code}: {process.output[-1] if process.output else ''}".rstrip(": ")
        )
        self._status.last_reason = reason
        self._spawn(self._stop_probe())
        self._spawn(process.stop())
        decisions = self.policy.dropped(process.name, reason, time.monotonic())
        self.memory.ended(reason, time.time())
        self.on_event(VpnDisconnected(profile=process.name, reason=reason))
        self._apply(decisions)

    # ---- standby checks -----------------------------------------------------------------------

    async def _check_standby(self, name: str) -> None:
        if name in self.standbys:
            return
        try:
            profile = self.store.profile(name)
        except Exception:
            self._apply(self.policy.standby(name, False, time.monotonic()))
            return
        credentials = self.store.credentials(name)
        process = OpenVpnProcess(name, self.settings.openvpn, True, self._on_message, self._on_exit)
        self.standbys[name] = process
        config = launch_config(
            profile, self.settings, process.socket_path, standby=True, has_credentials=credentials is not None
        )
        try:
            await process.start(config, len(profile.remotes))
        except OSError:
            self._standby_done(process, False)
            return
        deadline = time.monotonic() + self.settings.connect_timeout_s
        while name in self.standbys and self.standbys[name] is process and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        if self.standbys.get(name) is process:
            self._standby_done(process, False)

    def _on_standby_message(self, process: OpenVpnProcess, message: mgmt.Message) -> None:
        if isinstance(message, mgmt.Hold):
            process.holds += 1
            if process.holds == 1:
                process.send(mgmt.state_on())
                process.send(mgmt.hold_release())
            else:
                self._standby_done(process, False)
        elif isinstance(message, mgmt.RemoteQuery):
            process.send(mgmt.remote_accept())
        elif isinstance(message, mgmt.PasswordRequest):
            credentials = self.store.credentials(process.name)
            if credentials is None or message.kind == "failed":
                self._standby_done(process, False)
                return
            process.send(mgmt.username("Auth", credentials.username))
            process.send(mgmt.password("Auth", credentials.password))
        elif isinstance(message, mgmt.State) and message.name == "CONNECTED":
            self._standby_done(process, True)
        elif isinstance(message, mgmt.State) and message.name in ("RECONNECTING", "EXITING"):
            self._standby_done(process, False)

    def _standby_done(self, process: OpenVpnProcess, ok: bool) -> None:
        if self.standbys.get(process.name) is not process:
            return
        del self.standbys[process.name]
        self._spawn(process.stop())
        self._apply(self.policy.standby(process.name, ok, time.monotonic()))

    # ---- probing ------------------------------------------------------------------------------

    def _start_probe(self, tunnel: TunnelInfo) -> None:
        if self.probe_fn is None:
            return
        if self._probe_task is not None:
            self._probe_task.cancel()
        self._probe_task = asyncio.create_task(self._probe_loop(tunnel))

    async def _stop_probe(self) -> None:
        task, self._probe_task = self._probe_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _probe_loop(self, tunnel: TunnelInfo) -> None:
        assert self.probe_fn is not None
        latencies: list[float] = []
        while True:
            await asyncio.sleep(self.settings.probe_interval_s)
            try:
                result = await asyncio.wait_for(self.probe_fn(tunnel), self.settings.probe_timeout_s + 5)
            except (TimeoutError, OSError) as exc:
                result = ProbeResult(False, None, 100.0, None)
                log.debug("vpn probe through %s failed: %s", tunnel.profile, exc)
            if result.latency_ms is not None:
                latencies = [*latencies, result.latency_ms][-10:]
            jitter = (
                result.jitter_ms
                if result.jitter_ms is not None
                else (statistics.pstdev(latencies) if len(latencies) > 1 else None)
            )
            result = ProbeResult(result.ok, result.latency_ms, result.loss_percent, jitter)
            self._status.probe = result
            self.memory.probed(tunnel.profile, time.time(), result.ok, result.latency_ms, result.loss_percent, jitter)
            self.on_event(
                VpnProbed(
                    profile=tunnel.profile,
                    ok=result.ok,
                    latency_ms=result.latency_ms,
                    loss_percent=result.loss_percent,
                    jitter_ms=jitter,
                )
            )
            alert = health_alert(result, self.settings)
            if alert != self._status.alert:
                event: Event = (
                    VpnHealthDegraded(profile=tunnel.profile, reason=alert)
                    if alert
                    else VpnHealthRecovered(profile=tunnel.profile)
                )
                self._status.alert = alert
                self.on_event(event)
            if self.policy.active != tunnel.profile:
                return
            self._apply(self.policy.probe(tunnel.profile, result.ok, time.monotonic()))

    # ---- timers -------------------------------------------------------------------------------

    async def _loop(self) -> None:
        # A flag, not only cancel(): on 3.11 a cancel racing a completed wait_for is lost.
        while not self._closing:
            now = time.monotonic()
            wake = self.policy.next_wakeup(now)
            timeout = 0.5 if wake is None else min(0.5, max(0.01, wake - now))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._apply_quiet(self.policy.tick(time.monotonic()))

    def _apply_quiet(self, decisions: list[Decision]) -> None:
        if decisions:
            self._apply(decisions)


def _describe(description: str) -> str:
    return {
        "ping-restart": "no packet from the server within the ping-restart time (server down or path lost)",
        "tls-error": "the TLS handshake failed (server down, wrong tls-auth key, or a certificate problem)",
        "connection-reset": "the server reset the connection",
        "SIGTERM": "openvpn was stopped",
        "SIGHUP": "openvpn was restarted",
        "auth-failure": "the server refused the credentials",
    }.get(description, description or "the tunnel went down")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
