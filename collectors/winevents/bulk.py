"""The Elasticsearch `_bulk` body and reply (sans-IO), as far as Winlogbeat uses them.

A bulk body is NDJSON: an action line (`{"create": {"_index": "winlogbeat-8.13.0"}}`), then
for `index`/`create`/`update` a document line. Winlogbeat 7.5+ sends `create` (or `index` when
an event sets the op type). We store the documents of `index` and `create`; `update` and
`delete` have nothing to do with an event stream and get a per-item 400.

The reply carries one item per action, in order, with an HTTP status each; libbeat retries
items answered 429 or 5xx, counts 409 as a duplicate it need not resend, and drops other 4xx
items (logging our reason). A broken action line breaks the pairing of the lines after it,
so, as in Elasticsearch, it refuses the whole request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import msgspec

from collectors.winevents.body import MAX_DEPTH, BodyError, parse_ndjson

STORED_ACTIONS: Final = ("create", "index")
ACTIONS: Final = (*STORED_ACTIONS, "update", "delete")


@dataclass
class BulkAction:
    action: str
    index: str | None
    doc_id: str | None
    document: Any = None
    error: str | None = None  # set when this item cannot be stored


def parse_bulk(data: bytes, default_index: str | None, max_depth: int = MAX_DEPTH) -> list[BulkAction]:
    lines = parse_ndjson(data, max_depth)
    broken = {error.index: error.reason for error in lines.errors}
    by_line = dict(lines.items)
    last_line = max([*by_line, *broken])
    actions: list[BulkAction] = []
    line = 0
    while line <= last_line:
        if line not in by_line and line not in broken:
            line += 1  # a blank line
            continue
        if line in broken:
            raise BodyError(f"bulk action line {line + 1} is not valid JSON: {broken[line]}", code="bad_bulk")
        header = by_line[line]
        action, meta = _action(header, line)
        item = BulkAction(action, _meta_text(meta.get("_index")) or default_index, _meta_text(meta.get("_id")))
        actions.append(item)
        line += 1
        if action == "delete":
            item.error = "delete is not supported: this endpoint only stores events"
            continue
        if line > last_line or (line not in by_line and line not in broken):
            raise BodyError(f"bulk action line {line} ({action}) has no document line after it", code="bad_bulk")
        if line in broken:
            item.error = broken[line]
        elif action not in STORED_ACTIONS:
            item.error = f"{action} is not supported: this endpoint only stores events"
        else:
            item.document = by_line[line]
        line += 1
    if not actions:
        raise BodyError("the bulk body has no actions", code="empty_body")
    return actions


def _action(header: Any, line: int) -> tuple[str, dict[str, Any]]:
    if not isinstance(header, dict) or len(header) != 1:
        raise BodyError(
            f"bulk line {line + 1} is not an action (expected one of {', '.join(ACTIONS)} as the only key)",
            code="bad_bulk",
        )
    ((action, meta),) = header.items()
    if action not in ACTIONS or not isinstance(meta, dict):
        raise BodyError(f"bulk line {line + 1}: unknown action {action!r}", code="bad_bulk")
    return action, meta


def _meta_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# ---- the reply --------------------------------------------------------------------------------

ITEM_STORED: Final = 201
ITEM_DUPLICATE: Final = 409
ITEM_REFUSED: Final = 400


def item_reply(action: BulkAction, status: int, reason: str | None, seq_no: int) -> dict[str, Any]:
    body: dict[str, Any] = {"_index": action.index or "winevents", "status": status}
    if action.doc_id is not None:
        body["_id"] = action.doc_id
    if status == ITEM_STORED:
        body.update(result="created", _version=1, _seq_no=seq_no, _primary_term=1)
        body["_shards"] = {"total": 1, "successful": 1, "failed": 0}
    elif status == ITEM_DUPLICATE:
        body["error"] = {"type": "version_conflict_engine_exception", "reason": reason or "duplicate event"}
    else:
        body["error"] = {"type": "mapper_parsing_exception", "reason": reason or "refused"}
    return {action.action: body}


def bulk_reply(items: list[dict[str, Any]], took_ms: int) -> bytes:
    errors = any(next(iter(item.values()))["status"] >= 300 for item in items)
    return msgspec.json.encode({"took": took_ms, "errors": errors, "items": items})
