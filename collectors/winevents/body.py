"""Request bodies (sans-IO): bytes and their content-encoding in, JSON documents out.

An agent posts one JSON object, a JSON array of objects, or NDJSON (one object a line), plain or
compressed with gzip, deflate or zstd. Decompression stops at a limit, so a small bomb cannot
expand into gigabytes; nesting is bounded, so a hostile body cannot exhaust the stack of
whoever reads the records later. Each refusal is a `BodyError` whose reason names the problem
and, for bad JSON, the byte where it was found.

A broken NDJSON line costs only that line: the others are returned and the line is reported in
`Documents.errors`. A broken array or object loses the whole body (there is no safe place to
resume in it), and that is reported as a `BodyError`.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from typing import Any

import msgspec
import zstandard

MAX_DEPTH = 32  # a Winlogbeat document is 4 deep; 32 leaves room for any agent's extra fields
ENCODINGS = ("identity", "gzip", "x-gzip", "deflate", "zstd")

_decoder = msgspec.json.Decoder()
_BYTE_POSITION = re.compile(r"\(byte (\d+)\)")
_NOT_OPENING_OR_NEWLINE = bytes(b for b in range(256) if b not in b"[{\n")


class BodyError(ValueError):
    """The whole body is refused. `status` is the HTTP status that describes it best."""

    def __init__(self, reason: str, status: int = 400, code: str = "bad_body") -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.code = code

    def __reduce__(self) -> tuple[type[BodyError], tuple[str, int, str]]:
        # Whole, when a parse worker sends it back (pool.py): the default keeps only `reason`.
        return (BodyError, (self.reason, self.status, self.code))


@dataclass(frozen=True)
class ItemError:
    """One event (array element, NDJSON line) refused while the rest of the batch went on."""

    index: int
    reason: str


@dataclass
class Documents:
    """What a body held: `(index, document)` pairs in order, and the items that were refused.
    The index counts array elements or NDJSON lines from 0, including refused ones."""

    items: list[tuple[int, Any]] = field(default_factory=list)
    errors: list[ItemError] = field(default_factory=list)


# ---- content-encoding --------------------------------------------------------------------------


def decode_content(body: bytes, encoding: str | None, max_decoded_bytes: int) -> bytes:
    """Undo the Content-Encoding, refusing output larger than `max_decoded_bytes`."""
    name = (encoding or "identity").strip().lower()
    if name in ("", "identity"):
        return body
    if name in ("gzip", "x-gzip"):
        return _inflate(body, zlib.decompressobj(wbits=16 + zlib.MAX_WBITS), "gzip", max_decoded_bytes)
    if name == "deflate":
        # RFC 9110 says zlib-wrapped; some clients send raw deflate. The first byte tells them apart.
        wbits = zlib.MAX_WBITS if body[:1] and body[0] & 0x0F == 8 else -zlib.MAX_WBITS
        return _inflate(body, zlib.decompressobj(wbits=wbits), "deflate", max_decoded_bytes)
    if name == "zstd":
        return _unzstd(body, max_decoded_bytes)
    raise BodyError(
        f"content-encoding {name!r} is not supported; send gzip, deflate, zstd or no encoding",
        status=415,
        code="unsupported_encoding",
    )


def _too_large(what: str, limit: int) -> BodyError:
    return BodyError(
        f"{what} body expands beyond {limit} bytes; send smaller batches",
        status=413,
        code="too_large",
    )


def _inflate(body: bytes, inflater: Any, what: str, limit: int) -> bytes:
    try:
        out = inflater.decompress(body, limit + 1)
        if len(out) > limit:
            raise _too_large(what, limit)
        if not inflater.eof:
            raise BodyError(f"{what} body is truncated (the compressed stream does not end)", code="bad_encoding")
        if inflater.unused_data and what == "gzip":
            # Concatenated gzip members are legal (RFC 1952 §2.2); inflate them in turn.
            following = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            rest: bytes = _inflate(inflater.unused_data, following, what, limit - len(out))
            return bytes(out) + rest
        return bytes(out)
    except zlib.error as exc:
        raise BodyError(f"{what} body is not valid {what} data ({exc})", code="bad_encoding") from None


def _unzstd(body: bytes, limit: int) -> bytes:
    reader = zstandard.ZstdDecompressor().decompressobj()
    parts: list[bytes] = []
    size = 0
    try:
        # decompressobj has no output cap, so feed it slices: a bomb is caught within one slice.
        for start in range(0, len(body), 16384):
            chunk = reader.decompress(body[start : start + 16384])
            size += len(chunk)
            if size > limit:
                raise _too_large("zstd", limit)
            parts.append(chunk)
            if reader.eof:
                break
    except zstandard.ZstdError as exc:
        raise BodyError(f"zstd body is not valid zstd data ({exc})", code="bad_encoding") from None
    if not reader.eof:
        raise BodyError("zstd body is truncated (the compressed frame does not end)", code="bad_encoding")
    return b"".join(parts)


# ---- JSON ---------------------------------------------------------------------------------------


def parse_documents(data: bytes, max_depth: int = MAX_DEPTH) -> Documents:
    """A JSON object, a JSON array, or NDJSON, into documents. Raises BodyError for a body
    that is empty or whose only document is unreadable."""
    start = _first_non_space(data)
    if start < 0:
        raise BodyError("the body is empty; send a JSON object, a JSON array or NDJSON", code="empty_body")
    if data[start] == ord("["):
        value = _decode(data, 0, max_depth)
        if not value:
            raise BodyError("the body is an empty array: there are no events in it", code="empty_body")
        documents = Documents()
        documents.items = list(enumerate(value))
        return documents
    try:
        value = _decoder.decode(data)
    except msgspec.DecodeError as exc:
        if "trailing characters" in str(exc):
            return parse_ndjson(data, max_depth)
        whole_body_error = _json_error(data, 0, exc)
        if data.count(b"\n", start) == 0:
            raise whole_body_error from None
        # NDJSON whose first line is broken: the other lines are still worth keeping.
        try:
            lines = parse_ndjson(data, max_depth)
        except BodyError:
            raise whole_body_error from None
        if not any(isinstance(document, dict) for _, document in lines.items):
            raise whole_body_error from None
        return lines
    except RecursionError:
        raise _too_deep(max_depth, None) from None
    _check_depth(data, value, max_depth, None)
    documents = Documents()
    documents.items = [(0, value)]
    return documents


def parse_ndjson(data: bytes, max_depth: int = MAX_DEPTH) -> Documents:
    """One JSON document a line; blank lines are skipped but still counted in the index."""
    lines = data.split(b"\n")
    whole = _ndjson_at_once(data, lines, max_depth)
    if whole is not None:
        return whole
    documents = Documents()
    offset = 0
    for index, line in enumerate(lines):
        line_start = offset
        offset += len(line) + 1
        if not line.strip():
            continue
        try:
            documents.items.append((index, _decode(line, line_start, max_depth, line=index + 1)))
        except BodyError as exc:
            documents.errors.append(ItemError(index, exc.reason))
    if not documents.items and documents.errors:
        first = documents.errors[0]
        reason = first.reason if len(documents.errors) == 1 else f"no line was readable; first: {first.reason}"
        raise BodyError(reason, code="bad_json")
    if not documents.items:
        raise BodyError("the body is empty; send a JSON object, a JSON array or NDJSON", code="empty_body")
    return documents


def _ndjson_at_once(data: bytes, lines: list[bytes], max_depth: int) -> Documents | None:
    """The common case, a clean batch of objects, decoded in one call as an array, with the
    per-line work done by C loops (split, translate, join). Any doubt (a line that is not one
    object, a decode error, a line with more opening brackets than `max_depth`) returns None
    for the line-by-line path, which says which line is at fault."""
    # A line cannot nest deeper than it has opening brackets.
    openings = data.translate(None, _NOT_OPENING_OR_NEWLINE)
    if max(map(len, openings.split(b"\n"))) > max_depth:
        return None
    objects = [line for line in lines if line and not line.isspace()]
    if not objects:
        return None
    try:
        values = _decoder.decode(b"[" + b",".join(objects) + b"]")
    except (msgspec.DecodeError, RecursionError):
        return None
    # As many objects as lines: no line held two documents or half of one.
    if len(values) != len(objects) or set(map(type, values)) != {dict}:
        return None
    documents = Documents()
    if len(objects) == len(lines):
        documents.items = list(enumerate(values))
    else:
        indexes = [index for index, line in enumerate(lines) if line and not line.isspace()]
        documents.items = list(zip(indexes, values, strict=True))
    return documents


def _decode(data: bytes, base: int, max_depth: int, line: int | None = None) -> Any:
    try:
        value = _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise _json_error(data, base, exc, line) from None
    except RecursionError:
        raise _too_deep(max_depth, line) from None
    _check_depth(data, value, max_depth, line)
    return value


def _json_error(data: bytes, base: int, exc: msgspec.DecodeError, line: int | None = None) -> BodyError:
    where = f"line {line}, " if line is not None else ""
    message = str(exc)
    if "UTF-8" in message:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as bad:
            return BodyError(
                f"invalid UTF-8 at {where}byte {base + bad.start}; JSON must be UTF-8", code="invalid_utf8"
            )
        place = where.rstrip(", ") or "the body"
        return BodyError(f"invalid UTF-8 in {place}; JSON must be UTF-8", code="invalid_utf8")
    if "truncated" in message:
        return BodyError(f"bad JSON at {where}byte {base + len(data)}: the document is truncated", code="bad_json")
    position = _BYTE_POSITION.search(message)
    detail = _BYTE_POSITION.sub("", message.removeprefix("JSON is malformed: ")).strip()
    if position:
        return BodyError(f"bad JSON at {where}byte {base + int(position.group(1))}: {detail}", code="bad_json")
    return BodyError(f"bad JSON {where.rstrip(', ')}: {detail}".replace("  ", " "), code="bad_json")


def _too_deep(max_depth: int, line: int | None) -> BodyError:
    where = f" (line {line})" if line is not None else ""
    return BodyError(f"JSON nested deeper than {max_depth} levels{where}; flatten the event", code="too_deep")


def _check_depth(data: bytes, value: Any, max_depth: int, line: int | None) -> None:
    """Refuse documents nested deeper than `max_depth`. A document with no more brackets than
    that cannot be deeper (two C calls); otherwise the decoded value is walked, which costs
    about 3 µs per Winlogbeat event and never recurses."""
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return
    stack: list[tuple[Any, int]] = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        if depth > max_depth:
            raise _too_deep(max_depth, line)
        for child in node.values() if type(node) is dict else node:
            if type(child) is dict or type(child) is list:
                push((child, depth + 1))


def _first_non_space(data: bytes) -> int:
    rest = data.lstrip(b" \t\r\n")
    return len(data) - len(rest) if rest else -1
