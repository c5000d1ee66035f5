"""`nocraven buffer ...`: what the store-and-forward buffer holds, and getting records out of it."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any, BinaryIO

import typer
from rich.table import Table

from nocraven.cli.common import (
    JsonOption,
    client,
    emit,
    err,
    fail,
    out,
    print_json,
    print_json_line,
)
from nocraven.exitcodes import ExitCode
from nocraven.humanize import human_bytes, one_line
from nocraven.schema.buffer import BufferStats, Ledger

app = typer.Typer(help="The store-and-forward buffer.", no_args_is_help=True)


@app.command("stats")
def stats(as_json: bool = JsonOption) -> None:
    """Per service: records, bytes received/as records/stored, oldest, newest, dropped; and the
    capacity forecast (from the stored bytes per second)."""
    with client() as c:
        emit(c.buffer_stats(), as_json, render_stats)


def render_stats(data: BufferStats) -> None:
    table = Table(box=None, pad_edge=False)
    for column, justify in [
        ("service", "left"),
        ("records", "right"),
        ("received", "right"),
        ("as records", "right"),
        ("stored", "right"),
        ("ratio", "right"),
        ("oldest", "left"),
        ("newest", "left"),
        ("dropped", "right"),
    ]:
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for name, svc in sorted(data.services.items()):
        # Stored against what arrived on the wire when the collector says; else against the records.
        base = svc.received_bytes or svc.raw_bytes
        ratio = base / svc.stored_bytes if svc.stored_bytes else None
        table.add_row(
            name,
            f"{svc.records:,}",
            human_bytes(svc.received_bytes) if svc.received_bytes else "-",
            human_bytes(svc.raw_bytes),
            human_bytes(svc.stored_bytes),
            f"{ratio:.1f}x" if ratio else "-",
            _when(svc.oldest),
            _when(svc.newest),
            f"{svc.dropped_records:,}",
        )
    out.print(table)
    total = data.total
    forecast = data.forecast_days
    out.print(
        f"total {human_bytes(total.stored_bytes)} of {human_bytes(total.budget_bytes)} "
        f"({total.fill_percent:.1f} % full); "
        + (f"at current rates the buffer holds {forecast:.1f} days" if forecast is not None else "no ingest yet")
    )
    for reason, count in sorted(total.dropped_by_reason.items()):
        out.print(f"  dropped ({reason}): {count.records:,} records, {human_bytes(count.bytes)}")


def _when(rfc3339: str | None) -> str:
    """`2026-11-27 05:54:26`: the time is never cut; on a narrow terminal the date goes."""
    if not rfc3339:
        return "-"
    return rfc3339[11:19] if out.width < 100 else f"{rfc3339[:10]} {rfc3339[11:19]}"


@app.command("tail")
def tail(
    service: str = typer.Option(None, "--service", help="syslog, flow, trap or winevent"),
    limit: int = typer.Option(20, "--limit", min=1, max=10000),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new records."),
    source: str = typer.Option(None, "--source", help="Only records whose sender contains this (e.g. 10.1.2.3)"),
    grep: str = typer.Option(None, "--grep", help="Only records containing this text (case-insensitive)"),
    as_json: bool = JsonOption,
) -> None:
    """The newest records (NDJSON with --json). Filters run in the engine over every record."""
    with client() as c:
        for record in c.buffer_tail(service=service, limit=limit, follow=follow, source=source, grep=grep):
            if as_json:
                print_json_line(record)
            else:
                out.print(one_line(record, full_time=True), markup=False)


@app.command("export")
def export(
    service: str = typer.Option(..., "--service"),
    since: str = typer.Option(None, "--since", help="RFC 3339 time, e.g. 2026-11-27T08:00:00Z"),
    until: str = typer.Option(None, "--until", help="RFC 3339 time"),
    out_path: str = typer.Option(
        ..., "--out", help="NDJSON file (- for standard output); a .zst name writes it zstd-compressed"
    ),
) -> None:
    """Write a service's records in a time range to a file."""
    import zstandard

    count = 0
    with client() as c, _output(out_path) as raw_file:
        compressed = out_path.endswith(".zst")
        sink: Any = zstandard.ZstdCompressor(level=3).stream_writer(raw_file) if compressed else raw_file
        for line in c.buffer_export_lines(service=service, since=since, until=until):
            sink.write(line + b"\n")
            count += 1
        if sink is not raw_file:
            sink.flush(zstandard.FLUSH_FRAME)
    err.print(f"wrote {count:,} records to {'standard output' if out_path == '-' else out_path}", markup=False)


@contextlib.contextmanager
def _output(path: str) -> Iterator[BinaryIO]:
    """The export's destination; a path that cannot be written is a usage error, said in one line."""
    if path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    try:
        file = open(path, "wb")  # noqa: SIM115 - closed below, after the stream ends
    except OSError as exc:
        raise fail(f"cannot write {path}: {exc.strerror}", ExitCode.USAGE) from None
    with file:
        yield file


@app.command("ledger")
def ledger(
    service: str = typer.Option(None, "--service", help="syslog, flow, trap or winevent"),
    since_id: int = typer.Option(None, "--since-id", min=0, help="Only entries after this id"),
    limit: int = typer.Option(100, "--limit", min=1, max=10000),
    as_json: bool = JsonOption,
) -> None:
    """Every drop the buffer accounted: service, reason, records, bytes, source, time range."""
    with client() as c:
        emit(c.buffer_ledger(since_id=since_id, limit=limit, service=service), as_json, render_ledger)


def render_ledger(data: Ledger) -> None:
    if not data.entries:
        err.print("nothing dropped", markup=False)
        return
    table = Table(box=None, pad_edge=False)
    for column, justify in [
        ("id", "right"),
        ("recorded", "left"),
        ("service", "left"),
        ("reason", "left"),
        ("records", "right"),
        ("bytes", "right"),
        ("source", "left"),
    ]:
        table.add_column(column, justify=justify, no_wrap=column != "source")  # type: ignore[arg-type]
    for entry in data.entries:
        table.add_row(
            str(entry.id),
            _when(entry.recorded_at),
            entry.service,
            entry.reason,
            f"{entry.records:,}",
            human_bytes(entry.bytes),
            entry.source or "-",
        )
    out.print(table)


@app.command("purge")
def purge(
    service: str = typer.Option(..., "--service"),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Delete everything a service has in the buffer (admin). Counted in the drop ledger as purged."""
    if not yes:
        if not sys.stdin.isatty():
            err.print("nocraven: purge needs --yes when not run from a terminal", markup=False)
            raise typer.Exit(ExitCode.USAGE)
        typed = typer.prompt(f"This deletes all buffered {service} records. Type the service name to confirm")
        if typed != service:
            err.print("nocraven: not confirmed; nothing purged", markup=False)
            raise typer.Exit(ExitCode.FAILED)
    with client() as c:
        print_json(c.buffer_purge(service))
