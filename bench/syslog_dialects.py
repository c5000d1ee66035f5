"""CPU microseconds per message of the pure-Python syslog parser, dialect by dialect.

The compiled fast path takes plain RFC 5424/3164 lines only; every vendor dialect is parsed by
`collectors/syslog/parse.py`, at ingest and again whenever the buffer rebuilds records from raw.
This times `parse_batch` on the varied venue mix (`nocraven/simulate/venue_mix.py`), the items
grouped by the format their record gets, with process CPU time (a shared machine disturbs it
less than wall time), median of `--repeat` runs, in batches of `--batch` whose records are
dropped, as a worker does. With `--reference`, the frozen pre-optimisation
parser (tests/unit/syslog/reference_v1) is timed in the same run, interleaved, for a fair ratio.
Prints one JSON document: {format: {"share": ..., "us": ..., "reference_us": ...}}.
Usage: python bench/syslog_dialects.py [--messages N] [--repeat R] [--seed S] [--reference]
"""

from __future__ import annotations

import argparse
import calendar
import gc
import json
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collectors.syslog.parse import parse_batch  # noqa: E402
from nocraven.simulate.venue_mix import venue_mix  # noqa: E402

Items = list[tuple[bytes, float, str]]


def cpu_us_per_message(parse: Callable[[Items], Any], items: Items, batch: int, at_least: int) -> float:
    """Parse in batches and drop the records, as a worker does (it encodes them and moves on);
    the items are gone through as often as it takes to parse `at_least` messages, so a small
    group is timed over a long enough stretch for a busy machine's noise to even out."""
    passes = max(1, -(-at_least // len(items)))
    gc.collect()
    start = time.process_time()
    for _ in range(passes):
        for at in range(0, len(items), batch):
            parse(items[at : at + batch])
    return (time.process_time() - start) * 1e6 / (len(items) * passes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10000, help="the mix; each timing parses this many")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch", type=int, default=500, help="messages per parse_batch call")
    parser.add_argument("--reference", action="store_true", help="also time tests/unit/syslog/reference_v1")
    args = parser.parse_args()
    start = calendar.timegm((2026, 12, 2, 16, 0, 0, 0, 0, 0))
    items = list(venue_mix(args.seed, args.messages, start))
    groups: dict[str, Items] = defaultdict(list)
    for item, record in zip(items, parse_batch(items), strict=True):
        groups[record["format"]].append(item)
    parsers: dict[str, Callable[[Items], Any]] = {"us": parse_batch}
    if args.reference:
        from tests.unit.syslog.reference_v1.parse import parse_batch as reference_batch

        parsers["reference_us"] = reference_batch
    times: dict[str, dict[str, list[float]]] = {fmt: defaultdict(list) for fmt in groups}
    for _ in range(args.repeat):
        for fmt, group in groups.items():
            for name, parse in parsers.items():
                times[fmt][name].append(cpu_us_per_message(parse, group, args.batch, len(items)))
    report: dict[str, dict[str, float]] = {}
    for fmt, group in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        row = {"share": round(len(group) / len(items), 3)}
        row |= {name: round(statistics.median(values), 2) for name, values in times[fmt].items()}
        if "reference_us" in row:
            row["speedup"] = round(row["reference_us"] / row["us"], 2)
        report[fmt] = row
    whole: dict[str, list[float]] = defaultdict(list)
    for _ in range(args.repeat):
        for name, parse in parsers.items():
            whole[name].append(cpu_us_per_message(parse, items, args.batch, len(items)))
    report["all"] = {"share": 1.0} | {name: round(statistics.median(v), 2) for name, v in whole.items()}
    if args.reference:
        report["all"]["speedup"] = round(report["all"]["reference_us"] / report["all"]["us"], 2)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
