"""`nocraven vpn ...`: OpenVPN profiles, the tunnel in use, and its failover history.

`vpn import FILE` reads the profile and the files it references (`ca ca.crt`, resolved next to
the profile) on the technician's side (`Client.vpn_import_file`) and uploads their text: the
engine never reads the technician's files, and a refusal names the line of the file as written.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table

from nocraven.cli.common import JsonOption, client, emit, err, fail, out, print_json
from nocraven.errors import ApiError, ErrorCode
from nocraven.exitcodes import ExitCode
from nocraven.humanize import human_bytes, human_duration
from nocraven.schema.vpn import VpnHistory, VpnProfile, VpnProfiles, VpnStatus

app = typer.Typer(help="VPN profiles and failover.", no_args_is_help=True)


# ---- import / remove / export -------------------------------------------------------------------


@app.command("import")
def import_(
    file: Path = typer.Argument(..., metavar="FILE", help="The .ovpn profile"),
    name: str = typer.Option(None, "--name", help="Its name here (default: the file name without .ovpn)"),
    priority: int = typer.Option(100, "--priority", min=0, max=1_000_000, help="Lower is preferred"),
    as_json: bool = JsonOption,
) -> None:
    """Import an .ovpn profile: checked (directives, certificates, key, chain) before it is kept (admin)."""
    with client(timeout=30.0) as c:
        try:
            result = c.vpn_import_file(file, name=name, priority=priority)
        except ApiError as exc:
            if exc.code == ErrorCode.PROFILE_REFUSED:
                raise fail(f"{file}: {exc.message}", ExitCode.FAILED) from None
            raise
    if as_json:
        print_json(result)
        return
    profile = result.profile
    out.print(
        f"imported {profile.name} (priority {profile.priority}): {', '.join(profile.remotes) or 'no remote'}; "
        f"certificate {_expiry(profile)}",
        markup=False,
    )
    for warning in result.warnings:
        err.print(f"warning: {warning}", markup=False)


@app.command("remove")
def remove(name: str = typer.Argument(..., metavar="NAME")) -> None:
    """Remove a profile (admin). A tunnel running on it moves to the next profile."""
    with client() as c:
        removed = c.vpn_remove(name)
    out.print(f"removed {removed.name}", markup=False)


@app.command("export")
def export(name: str = typer.Argument(..., metavar="NAME"), as_json: bool = JsonOption) -> None:
    """Print the stored profile as .ovpn text, self-contained, without the username/password (admin)."""
    with client() as c:
        exported = c.vpn_export(name)
    if as_json:
        print_json(exported)
    else:
        sys.stdout.write(exported.text)


# ---- reads -------------------------------------------------------------------------------------


@app.command("list")
def list_(as_json: bool = JsonOption) -> None:
    """Imported profiles, preferred first: priority, state, certificate days left, last connected."""
    with client() as c:
        emit(c.vpn_profiles(), as_json, render_profiles)


def render_profiles(data: VpnProfiles) -> None:
    if not data.profiles:
        err.print("no VPN profiles; import one with `nocraven vpn import FILE`", markup=False)
        return
    table = Table(box=None, pad_edge=False)
    for column in ("name", "priority", "state", "remotes", "cert days", "last connected"):
        table.add_column(column, justify="right" if column in ("priority", "cert days") else "left")
    for profile in data.profiles:
        state = profile.state if profile.state != "cooldown" else f"cooldown {profile.cooldown_s:.0f}s"
        table.add_row(
            profile.name,
            str(profile.priority),
            state,
            ", ".join(profile.remotes),
            "-" if profile.cert_days_left is None else str(profile.cert_days_left),
            _when(profile.last_connected),
        )
    out.print(table)


@app.command("show")
def show(name: str = typer.Argument(..., metavar="NAME"), as_json: bool = JsonOption) -> None:
    """One profile: its remotes, certificate, state and the warnings from its import."""
    with client() as c:
        emit(c.vpn_profile(name), as_json, render_profile)


def render_profile(profile: VpnProfile) -> None:
    rows = [
        ("name", profile.name),
        ("priority", str(profile.priority)),
        ("state", profile.state + (f" ({profile.cooldown_s:.0f} s left)" if profile.state == "cooldown" else "")),
        ("enabled", "yes" if profile.enabled else "no"),
        ("remotes", ", ".join(profile.remotes) or "-"),
        ("client", profile.client_subject or "-"),
        ("certificate", _expiry(profile)),
        ("credentials", "username/password stored" if profile.has_credentials else "none"),
        ("added", _when(profile.added)),
        ("last connected", _when(profile.last_connected)),
    ]
    for key, value in rows:
        out.print(f"{key:<15} {value}", markup=False)
    for warning in profile.warnings:
        out.print(f"{'warning':<15} {warning}", markup=False)


@app.command("status")
def status(as_json: bool = JsonOption) -> None:
    """The tunnel in use: profile, state, remote, address, traffic, the latest probe."""
    with client() as c:
        emit(c.vpn_status(), as_json, render_status)


def render_status(data: VpnStatus) -> None:
    mode = {"auto": "automatic", "manual": f"manual (pinned to {data.override})", "off": "off"}.get(
        data.mode, data.mode
    )
    if not data.enabled:
        out.print("VPN manager off (vpn.enabled = false)", markup=False)
        return
    head = f"{data.state.value}" + (f" via {data.active}" if data.active else "")
    out.print(f"{head}; selection {mode}; {data.profiles} profile(s)", markup=False)
    if data.connected:
        out.print(
            f"remote {data.remote}, local {data.local_ip or '-'}"
            + (f" on {data.device}" if data.device else "")
            + f", since {_when(data.since)}; in {human_bytes(data.bytes_in)}, out {human_bytes(data.bytes_out)}",
            markup=False,
        )
    if data.probe is not None:
        probe = data.probe
        latency = f"{probe.latency_ms:.1f} ms" if probe.latency_ms is not None else "no answer"
        out.print(f"probe {latency}, loss {probe.loss_percent:.0f} %", markup=False)
    if data.alert:
        out.print(f"alert: {data.alert}", markup=False)
    if data.last_reason:
        out.print(f"last change: {data.last_reason}", markup=False)
    for name, left in sorted(data.cooldowns.items()):
        out.print(f"{name} cooling down, {left:.0f} s left", markup=False)


@app.command("history")
def history(
    limit: int = typer.Option(20, "--limit", min=1, max=10000),
    as_json: bool = JsonOption,
) -> None:
    """Connections, newest first: when, how long, why each started and ended."""
    with client() as c:
        emit(c.vpn_history(limit=limit), as_json, render_history)


def render_history(data: VpnHistory) -> None:
    if not data.entries:
        err.print("no VPN connections yet", markup=False)
        return
    table = Table(box=None, pad_edge=False)
    for column in ("started", "profile", "connected", "ended", "why it started", "why it ended"):
        table.add_column(column, overflow="fold" if column.startswith("why") else "ellipsis")
    for entry in data.entries:
        table.add_row(
            _when(entry.started),
            entry.profile,
            human_duration(entry.duration_s) if entry.duration_s is not None else "never",
            _when(entry.ended) if entry.ended else "still up" if entry.connected else "-",
            entry.reason_started,
            entry.reason_ended or "",
        )
    out.print(table)


# ---- actions -----------------------------------------------------------------------------------


@app.command("connect")
def connect(name: str = typer.Argument(..., metavar="NAME"), as_json: bool = JsonOption) -> None:
    """Connect this profile now and keep it (a manual override) until `vpn auto`."""
    with client() as c:
        emit(c.vpn_connect(name), as_json, render_status)


@app.command("auto")
def auto(as_json: bool = JsonOption) -> None:
    """Back to automatic selection by priority (ends `vpn connect` and `vpn disconnect`)."""
    with client() as c:
        emit(c.vpn_auto(), as_json, render_status)


@app.command("disconnect")
def disconnect(as_json: bool = JsonOption) -> None:
    """Drop the tunnel and stay down until `vpn connect NAME` or `vpn auto` (admin)."""
    with client() as c:
        emit(c.vpn_disconnect(), as_json, render_status)


def _expiry(profile: VpnProfile) -> str:
    if profile.cert_expiry is None:
        return "none (no certificate in the profile)"
    days = profile.cert_days_left
    return f"expires {_when(profile.cert_expiry)} ({days} days left)"


def _when(stamp: str | None) -> str:
    if not stamp:
        return "-"
    try:
        parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    return parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
