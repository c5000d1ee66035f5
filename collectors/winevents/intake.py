"""From decoded documents to the records of one batch (sans-IO), in two steps.

`normalise_batch` normalises every document, keeps the reason for each one refused and encodes
the records as NDJSON: the costly part, which needs nothing of the server's state, so a parse
worker can run it (`pool.py`) and send back one `Prepared`, a few small lists and one bytes
object. `settle` then splits off the duplicates against the server's memory of recent events;
what is left (`Batch.ndjson`) is what the store must make durable before the agent is answered.
`prepare` is both steps at once.

Records are encoded once, here, and never decoded again on the way to the buffer: in the
usual batch without duplicates the worker's NDJSON is stored as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final, Literal

import msgspec

from collectors.winevents.body import ItemError
from collectors.winevents.dedup import Identity, RecentEvents, identity
from collectors.winevents.normalise import EventError, WineventRecord, normalise

Outcome = Literal["stored", "duplicate", "refused"]
MAX_REPORTED_ERRORS: Final = 100  # a reply lists at most this many refused events

_encode_lines = msgspec.json.Encoder().encode_lines


@dataclass
class ItemOutcome:
    index: int
    outcome: Outcome
    reason: str | None = None


@dataclass
class Prepared:
    """A body's events normalised and encoded, before the duplicate check. Candidates are the
    events that became records, in order; the lists below have one entry per candidate."""

    lines: bytes  # the candidates' records, one JSON document a line, no final newline
    positions: list[int]  # each candidate's item index (array element, NDJSON line, bulk action)
    identities: list[Identity | None]
    dialects: list[str]
    security: list[bool]
    refused: list[tuple[int, str]]  # (item index, reason), by index


@dataclass
class Batch:
    ndjson: bytes = b""  # the records to store, newline-joined, no final newline
    identities: list[Identity] = field(default_factory=list)  # of the records, to remember once stored
    stored: int = 0
    duplicates: int = 0
    refused: int = 0
    security: int = 0
    dialects: dict[str, int] = field(default_factory=dict)  # stored records per dialect
    last_dialect: str | None = None
    stored_positions: list[int] = field(default_factory=list)
    duplicate_positions: list[int] = field(default_factory=list)
    refusals: list[tuple[int, str]] = field(default_factory=list)

    @cached_property
    def outcomes(self) -> list[ItemOutcome]:
        """One entry per item, by index (the _bulk reply, tests)."""
        items = [ItemOutcome(index, "stored") for index in self.stored_positions]
        items += [ItemOutcome(index, "duplicate") for index in self.duplicate_positions]
        items += [ItemOutcome(index, "refused", reason) for index, reason in self.refusals]
        items.sort(key=lambda item: item.index)
        return items

    @property
    def records(self) -> list[WineventRecord]:
        """The records to store, decoded again from `ndjson` (tests and diagnostics)."""
        if not self.ndjson:
            return []
        return [msgspec.json.decode(line) for line in self.ndjson.split(b"\n")]

    def errors(self) -> list[dict[str, Any]]:
        return [{"index": index, "reason": reason} for index, reason in self.refusals[:MAX_REPORTED_ERRORS]]

    def first_error(self) -> str | None:
        return self.refusals[0][1] if self.refusals else None


def normalise_batch(
    documents: Iterable[tuple[int, Any]],
    refused: Iterable[ItemError],
    *,
    received_at: str,
    source: str,
    agent: str,
) -> Prepared:
    records: list[WineventRecord] = []
    positions: list[int] = []
    identities: list[Identity | None] = []
    dialects: list[str] = []
    security: list[bool] = []
    refusals = [(error.index, error.reason) for error in refused]
    for index, document in documents:
        try:
            record = normalise(document, received_at=received_at, source=source, agent=agent)
        except EventError as exc:
            refusals.append((index, str(exc)))
            continue
        records.append(record)
        positions.append(index)
        identities.append(identity(record))
        dialects.append(record["dialect"])
        security.append(record["security"] is not None)
    refusals.sort()
    return Prepared(
        lines=_encode_lines(records)[:-1],
        positions=positions,
        identities=identities,
        dialects=dialects,
        security=security,
        refused=refusals,
    )


def settle(prepared: Prepared, recent: RecentEvents) -> Batch:
    """Split off the duplicates (of events stored before, or repeated in this batch)."""
    fresh, duplicates, keys = recent.sort_out_identities(prepared.identities)
    if not duplicates:
        ndjson = prepared.lines
    else:
        lines = prepared.lines.split(b"\n")  # JSON text never holds a raw newline
        ndjson = b"\n".join([lines[position] for position in fresh])
    dialects: dict[str, int] = {}
    names = prepared.dialects
    for position in fresh:
        dialects[names[position]] = dialects.get(names[position], 0) + 1
    security = prepared.security
    positions = prepared.positions
    return Batch(
        ndjson=ndjson,
        identities=keys,
        stored=len(fresh),
        duplicates=len(duplicates),
        refused=len(prepared.refused),
        security=sum(1 for position in fresh if security[position]),
        dialects=dialects,
        last_dialect=names[fresh[-1]] if fresh else None,
        stored_positions=_pick(positions, fresh),
        duplicate_positions=_pick(positions, duplicates),
        refusals=prepared.refused,
    )


def _pick(values: list[int], positions: Sequence[int]) -> list[int]:
    if len(positions) == len(values):
        return values
    return [values[position] for position in positions]


def prepare(
    documents: Iterable[tuple[int, Any]],
    refused: Iterable[ItemError],
    recent: RecentEvents,
    *,
    received_at: str,
    source: str,
    agent: str,
) -> Batch:
    return settle(normalise_batch(documents, refused, received_at=received_at, source=source, agent=agent), recent)
