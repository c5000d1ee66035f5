"""From decoded documents to the records of one batch (sans-IO).

`prepare` normalises every document, keeps the reason for each one refused, and splits off the
duplicates; what is left (`Batch.records`) is what the store must make durable before the
agent is answered. `Batch.outcomes` has one entry per document, in order, for the reply.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from collectors.winevents.body import ItemError
from collectors.winevents.dedup import Identity, RecentEvents
from collectors.winevents.normalise import EventError, WineventRecord, normalise

Outcome = Literal["stored", "duplicate", "refused"]
MAX_REPORTED_ERRORS: Final = 100  # a reply lists at most this many refused events


@dataclass
class ItemOutcome:
    index: int
    outcome: Outcome
    reason: str | None = None


@dataclass
class Batch:
    records: list[WineventRecord] = field(default_factory=list)
    identities: list[Identity] = field(default_factory=list)  # of the records, to remember once stored
    outcomes: list[ItemOutcome] = field(default_factory=list)
    stored: int = 0
    duplicates: int = 0
    refused: int = 0
    security: int = 0

    def errors(self) -> list[dict[str, Any]]:
        refused = [item for item in self.outcomes if item.outcome == "refused"][:MAX_REPORTED_ERRORS]
        return [{"index": item.index, "reason": item.reason} for item in refused]

    def first_error(self) -> str | None:
        return next((item.reason for item in self.outcomes if item.outcome == "refused"), None)


def prepare(
    documents: Iterable[tuple[int, Any]],
    refused: Iterable[ItemError],
    recent: RecentEvents,
    *,
    received_at: str,
    source: str,
    agent: str,
) -> Batch:
    batch = Batch()
    candidates: list[WineventRecord] = []
    candidate_index: list[int] = []
    for index, document in documents:
        try:
            record = normalise(document, received_at=received_at, source=source, agent=agent)
        except EventError as exc:
            batch.outcomes.append(ItemOutcome(index, "refused", str(exc)))
            continue
        candidates.append(record)
        candidate_index.append(index)
        batch.outcomes.append(ItemOutcome(index, "stored"))
    for error in refused:
        batch.outcomes.append(ItemOutcome(error.index, "refused", error.reason))
    batch.outcomes.sort(key=lambda item: item.index)

    by_index = {item.index: item for item in batch.outcomes}
    fresh, duplicates, batch.identities = recent.sort_out(candidates)
    for position in duplicates:
        by_index[candidate_index[position]].outcome = "duplicate"
    batch.records = [candidates[position] for position in fresh]
    batch.stored = len(batch.records)
    batch.duplicates = len(duplicates)
    batch.refused = sum(1 for item in batch.outcomes if item.outcome == "refused")
    batch.security = sum(1 for record in batch.records if record["security"] is not None)
    return batch
