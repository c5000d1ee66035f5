"""The iperf3 client: `iperf3 -c SERVER -J` run as a child process (never through a shell).

iperf3 3.12 prints its JSON report only at the end, so while it runs we yield a tick a second;
`parse_report` (sans-IO) turns the report into the summary. Throughput is what the receiving side
counted (`sum_received`), so bytes still in flight when the sender stopped are not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from nocraven.diag.schema import DiagEvent, DiagFailed, IperfProgressed, IperfRequest, IperfSummary

GRACE_SECONDS = 15.0  # connection set-up and the final report, on top of the test's own length


def command(binary: str, req: IperfRequest) -> list[str]:
    args = [binary, "-c", req.server, "-p", str(req.port), "-t", str(req.seconds), "-P", str(req.streams)]
    args += ["-J", "--connect-timeout", "5000"]
    if req.reverse:
        args.append("-R")
    return args


def parse_report(text: str, req: IperfRequest) -> IperfSummary:
    try:
        report: dict[str, Any] = json.loads(text)
    except ValueError:
        raise DiagFailed(f"iperf3 printed no JSON report for {req.server}:{req.port}") from None
    if not isinstance(report, dict):
        raise DiagFailed(f"iperf3 printed an unexpected report for {req.server}:{req.port}")
    if report.get("error"):
        raise DiagFailed(f"iperf3 against {req.server}:{req.port}: {str(report['error']).splitlines()[0]}")
    end = report.get("end") or {}
    received, sent = end.get("sum_received"), end.get("sum_sent")
    if not isinstance(received, dict) or not isinstance(sent, dict):
        raise DiagFailed(f"iperf3 report for {req.server}:{req.port} has no totals (a UDP or aborted test?)")
    retransmits = sent.get("retransmits")
    return IperfSummary(
        server=req.server,
        port=req.port,
        direction="download" if req.reverse else "upload",
        seconds=round(float(received.get("seconds", 0.0)), 3),
        bytes=int(received.get("bytes", 0)),
        bits_per_second=round(float(received.get("bits_per_second", 0.0)), 1),
        retransmits=int(retransmits) if isinstance(retransmits, int) else None,
    )


async def run_iperf(
    request: IperfRequest, *, binary: str | None = None, clock: Callable[[], float] = time.monotonic
) -> AsyncIterator[DiagEvent]:
    req = request.checked()
    program = binary or shutil.which("iperf3")
    if program is None:
        raise DiagFailed("iperf3 is not installed; install the Debian package iperf3")
    started = clock()
    process = await asyncio.create_subprocess_exec(
        *command(program, req),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    output = asyncio.ensure_future(process.communicate())
    try:
        deadline = started + req.seconds + GRACE_SECONDS
        while not output.done():
            if clock() >= deadline:
                raise DiagFailed(
                    f"iperf3 against {req.server}:{req.port} did not finish within {deadline - started:g} s"
                )
            await asyncio.wait({output}, timeout=min(1.0, max(0.0, deadline - clock())))
            if not output.done():
                yield IperfProgressed(elapsed_s=round(clock() - started, 1))
        stdout, stderr = output.result()
    finally:
        if process.returncode is None:
            process.kill()
            with contextlib.suppress(ProcessLookupError, TimeoutError):
                async with asyncio.timeout(5):
                    await process.wait()
        if not output.done():
            output.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await output
    if not stdout.strip() and stderr.strip():
        raise DiagFailed(f"iperf3 against {req.server}:{req.port}: {stderr.decode(errors='replace').splitlines()[0]}")
    yield parse_report(stdout.decode(errors="replace"), req)
