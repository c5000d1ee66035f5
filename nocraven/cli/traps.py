"""`nocraven traps ...`: the SNMP trap receiver's agents and MIBs."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from nocraven.cli.common import JsonOption, client, emit, err, fail, out, print_json
from nocraven.exitcodes import ExitCode
from nocraven.humanize import clock_time, human_count
from nocraven.schema.snmptrap import TrapAgents, TrapMibs

app = typer.Typer(help="SNMP traps: sending agents and MIBs.", no_args_is_help=True)
mibs_app = typer.Typer(help="The MIBs that name trap OIDs.")
app.add_typer(mibs_app, name="mibs")


@app.command("agents")
def agents(as_json: bool = JsonOption) -> None:
    """Per sending device: traps, informs, authentication failures, malformed, last seen."""
    with client() as c:
        emit(c.traps_agents(), as_json, render_agents)


def render_agents(data: TrapAgents) -> None:
    if not data.running:
        err.print("the trap receiver is not listening (see `nocraven status`)", markup=False)
    table = Table(box=None, pad_edge=False)
    for column, justify in [
        ("agent", "left"),
        ("version", "left"),
        ("traps", "right"),
        ("informs", "right"),
        ("auth failures", "right"),
        ("malformed", "right"),
        ("refused", "left"),
        ("last seen", "left"),
    ]:
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    busiest = sorted(data.agents.items(), key=lambda item: item[1].traps + item[1].informs, reverse=True)
    for ip, agent in busiest:
        refused = ", ".join(f"{reason} {count:,}" for reason, count in sorted(agent.refused.items()))
        table.add_row(
            ip,
            agent.last_version or "-",
            f"{agent.traps:,}",
            f"{agent.informs:,}",
            f"{agent.auth_failures:,}",
            f"{agent.malformed:,}",
            refused or "-",
            clock_time(agent.last_seen) if agent.last_seen else "-",
        )
    out.print(table)
    totals, receive = data.totals, data.receive
    out.print(
        f"{len(data.agents)} agents; {human_count(totals.traps)} traps, {human_count(totals.informs)} informs "
        f"({receive.acks_sent:,} acknowledged), {totals.auth_failures:,} authentication failures, "
        f"{totals.malformed:,} malformed, {receive.kernel_drops:,} dropped by the kernel",
        markup=False,
    )


@mibs_app.callback(invoke_without_command=True)
def mibs(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """The MIBs loaded, operator MIBs compiled, and broken ones (`mibs add FILE` adds one)."""
    if ctx.invoked_subcommand is not None:
        return
    with client() as c:
        emit(c.traps_mibs(), as_json, render_mibs)


def render_mibs(data: TrapMibs) -> None:
    status = data.status
    if not data.running:
        err.print("the trap receiver is not listening (see `nocraven status`)", markup=False)
    out.print(f"{status.loaded:,} MIB modules loaded", markup=False)
    out.print(f"operator MIB directory: {data.upload_dir} ({len(data.files)} files)", markup=False)
    for module in status.operator:
        out.print(f"  compiled  {module}", markup=False)
    for problem in status.problems:
        out.print(f"  problem   {problem}", markup=False)


@mibs_app.command("add")
def mibs_add(file: Path = typer.Argument(..., help="A MIB file (ASN.1 SMI text)")) -> None:
    """Add a vendor MIB (admin): stored, then the receiver restarts and compiles it."""
    try:
        text = file.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror}", ExitCode.USAGE) from None
    err.print(f"adding {file.name}; the trap receiver restarts to compile it ...", markup=False)
    with client(timeout=150.0) as c:
        added = c.traps_add_mib(text, file.name)
    print_json(added)
    if added.result == "failed":
        raise fail(f"MIB {added.module} does not compile: {'; '.join(added.problems)}", ExitCode.FAILED)
    if added.result == "pending":
        err.print(f"MIB {added.module} stored; it is compiled when the trap receiver starts", markup=False)
