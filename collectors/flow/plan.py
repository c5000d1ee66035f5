"""A template compiled once into a decode plan: the function that turns a data set into records.

A NetFlow v9 / IPFIX template (and the fixed NetFlow v5 record, written as one) says which
elements a record holds and how long each is. Reading that list field by field for every record
is what makes flow collectors slow, so a template is compiled the first time data arrives for
it: fixed-length templates become one `struct.Struct` run over the whole set with
`iter_unpack`, and the record dict is built by generated code with the conversions inlined.
Templates with variable-length fields take a field-by-field path that ends in the same record
builder. The generated code is built only from element ids, lengths and names of our own table
(never from datagram bytes), so compiling it is safe.

Records carry the design brief's keys first (`src_addr` ... `sampling_rate`, then the raw and
scaled counters), then every other element by its IANA name.
"""

from __future__ import annotations

import ast
import re
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from collectors.flow.iana import element

VARIABLE = 65535  # an IPFIX field length that means "length prefix in the data"
V9_SCOPE_PEN = -1  # NetFlow v9 options scope fields have their own type space (RFC 3954 6.1)
V9_SCOPES = {1: "scopeSystem", 2: "scopeInterface", 3: "scopeLineCard", 4: "scopeCache", 5: "scopeTemplate"}
PADDING = 210
NTP_UNIX_OFFSET_S = 2208988800

Field = tuple[int, int, int]  # (element id, length, enterprise number or 0)


@dataclass(slots=True)
class SetContext:
    """What the records of one data set share: the datagram they came in and its clock."""

    received_at: str
    source: str
    exporter: str
    version: int | str
    domain: int
    export_ms: int
    boot_ms: int  # exporter boot time in Unix ms (from sysUpTime or systemInitTime), 0 when unknown
    default_rate: int | None = None  # the scope's sampling rate when records name no sampler
    samplers: dict[int, int] = field(default_factory=dict)  # sampler / selector id -> rate
    header: dict[str, Any] = field(default_factory=dict)  # per-datagram fields copied into records


# ---- value conversions the generated code calls ------------------------------------------------

_seconds_text: dict[int, str] = {}


def ms_text(ms: int) -> str:
    """RFC 3339 UTC with milliseconds, e.g. 2026-12-01T11:06:24.123Z."""
    seconds = ms // 1000
    return (_seconds_text.get(seconds) or new_second(seconds)) + MILLIS_TEXT[ms % 1000]


def text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def ntp_ns(raw: int) -> int:
    """An NTP timestamp (RFC 7011 dateTimeMicro/Nanoseconds) as Unix nanoseconds."""
    return ((raw >> 32) - NTP_UNIX_OFFSET_S) * 1_000_000_000 + (((raw & 0xFFFFFFFF) * 1_000_000_000) >> 32)


def ntp_ms(raw: int) -> int:
    return ntp_ns(raw) // 1_000_000


ntoa = socket.inet_ntoa
ntop6 = partial(socket.inet_ntop, socket.AF_INET6)

# Address and second texts are cached: a flow set repeats a few hosts and seconds, and a dict
# lookup costs a tenth of formatting. The caches are emptied when they grow past their bound.
MAX_CACHED = 65_536
IPV4_TEXT: dict[bytes, str] = {}
IPV6_TEXT: dict[bytes, str] = {}
MILLIS_TEXT = tuple(f".{ms:03d}Z" for ms in range(1000))


def new_ipv4(raw: bytes) -> str:
    if len(IPV4_TEXT) >= MAX_CACHED:
        IPV4_TEXT.clear()
    text = IPV4_TEXT[raw] = ntoa(raw)
    return text


def new_ipv6(raw: bytes) -> str:
    if len(IPV6_TEXT) >= MAX_CACHED:
        IPV6_TEXT.clear()
    text = IPV6_TEXT[raw] = ntop6(raw)
    return text


MAC_TEXT: dict[bytes, str] = {}


def new_mac(raw: bytes) -> str:
    if len(MAC_TEXT) >= MAX_CACHED:
        MAC_TEXT.clear()
    text = MAC_TEXT[raw] = raw.hex(":")
    return text


def new_second(seconds: int) -> str:
    """The RFC 3339 text of a second up to the fraction (the cache of ms_text)."""
    prefix = _seconds_text.get(seconds)
    if prefix is None:
        if len(_seconds_text) >= MAX_CACHED:
            _seconds_text.clear()
        try:
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        except (OverflowError, OSError, ValueError):
            prefix = "1970-01-01T00:00:00" if seconds < 0 else "9999-12-31T23:59:59"
        _seconds_text[seconds] = prefix
    return prefix


_GLOBALS: dict[str, Any] = {
    "ms_text": ms_text,
    "ip4_get": IPV4_TEXT.get,
    "ip4_new": new_ipv4,
    "ip6_get": IPV6_TEXT.get,
    "ip6_new": new_ipv6,
    "sec_get": _seconds_text.get,
    "sec_new": new_second,
    "ms3": MILLIS_TEXT,
    "mac_get": MAC_TEXT.get,
    "mac_new": new_mac,
    "text": text,
    "ntp_ns": ntp_ns,
    "ntp_ms": ntp_ms,
    "ntoa": ntoa,
    "ntop6": ntop6,
    "from_bytes": int.from_bytes,
}

_INT_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}
_SIGNED_CODES = {1: "b", 2: "h", 4: "i", 8: "q"}


def field_code(kind: str, length: int) -> tuple[str | None, str]:
    """The struct code and the value expression (over `{v}`) for an element of this type and
    length; code None for a variable-length field, whose `{v}` is the bytes."""
    if length == VARIABLE:
        if kind == "string":
            return None, "text({v})"
        return None, "{v}.hex()"
    if kind.startswith("unsigned") or kind in ("dateTimeSeconds", "dateTimeMilliseconds"):
        code = _INT_CODES.get(length)
        return (code, "{v}") if code else (f"{length}s", "from_bytes({v})")
    if kind.startswith("signed"):
        code = _SIGNED_CODES.get(length)
        return (code, "{v}") if code else (f"{length}s", "from_bytes({v}, signed=True)")
    if kind in ("float64", "float32") and length in (4, 8):
        return ("f" if length == 4 else "d"), "{v}"
    if kind == "ipv4Address" and length == 4:
        return "4s", "(ip4_get({v}) or ip4_new({v}))"
    if kind == "ipv6Address" and length == 16:
        return "16s", "(ip6_get({v}) or ip6_new({v}))"
    if kind == "macAddress" and length == 6:
        return "6s", "(mac_get({v}) or mac_new({v}))"
    if kind == "string":
        return f"{length}s", "text({v})"
    if kind == "boolean" and length == 1:
        return "B", "({v} == 1)"
    if kind == "dateTimeMicroseconds" and length == 8:
        return "Q", "ntp_ns({v}) // 1000"
    if kind == "dateTimeNanoseconds" and length == 8:
        return "Q", "ntp_ns({v})"
    return f"{length}s", "{v}.hex()"


def field_name(ie: int, pen: int) -> tuple[str, str]:
    if pen == V9_SCOPE_PEN:
        return V9_SCOPES.get(ie, f"scope{ie}"), "unsigned64"
    return element(ie, pen)


# Which element feeds each of the brief's keys, in order of preference.
_ADDRESS = {"src_addr": (8, 27), "dst_addr": (12, 28)}
_SCALAR = {
    "src_port": (7, 180, 182),
    "dst_port": (11, 181, 183),
    "protocol": (4,),
    "bytes": (1, 85, 23, 352),
    "packets": (2, 86, 24),
    "input_if": (10, 252),
    "output_if": (14, 253),
    "tcp_flags": (6,),
}
# Time elements as Unix milliseconds, for the start and end keys.
_START = {152: "{v}", 150: "{v} * 1000", 154: "ntp_ms({v})", 156: "ntp_ms({v})"}
_END = {153: "{v}", 151: "{v} * 1000", 155: "ntp_ms({v})", 157: "ntp_ms({v})"}


def _ms_text_expr(ms: str, slot: str) -> str:
    """ms_text inlined (a call costs more than the work): the second's text from the cache,
    the milliseconds from a table; `slot` holds the value so it is computed once."""
    return f"((sec_get(({slot} := {ms}) // 1000) or sec_new({slot} // 1000)) + ms3[{slot} % 1000])"


_RATE_IN_RECORD = (34, 50, 305)  # samplingInterval, samplerRandomInterval, samplingPacketInterval alone
_INTS = ("B", "H", "I", "Q")
_SAMPLER_ID = (48, 302)


@dataclass(frozen=True, slots=True)
class Plan:
    record_length: int  # fixed templates: bytes per record; variable: the least a record can take
    variable: bool
    decode: Callable[[bytes | memoryview, SetContext], list[dict[str, Any]]]


class PlanError(ValueError):
    """A template that cannot be decoded (no fields, or zero length)."""


@dataclass(frozen=True, slots=True)
class PlanItems:
    """What a plan is generated from: the record's items as `"key": expression` source in
    output order, over the unpacked values v0, v1, ... of the fields' struct codes (None: a
    variable-length field), and the line that sets `rate` when the record carries its own.
    The compiled fast path (`collectors.flow.fastpath`) translates the same items."""

    items: list[str]
    codes: list[str | None]
    prologue: list[str]
    variable: bool
    record_length: int


def compile_plan(fields: tuple[Field, ...], options: bool, header_keys: tuple[str, ...] = ()) -> Plan:
    """Compile a template's fields into a Plan. `options` records keep every field by name and
    skip the flow keys; `header_keys` are copied from `SetContext.header` into each record."""
    planned = plan_items(fields, options, header_keys)
    items, codes, prologue, variable = planned.items, planned.codes, planned.prologue, planned.variable
    slots = [f"v{i}" for i, code in enumerate(codes) if code is None or not code.endswith("x")]  # padding: no value

    base, assignments = _record_builder(items, per_set_rate=not prologue)
    setup = [
        "    received_at = ctx.received_at; source = ctx.source; exporter = ctx.exporter",
        "    version = ctx.version; domain = ctx.domain; export_ms = ctx.export_ms; boot_ms = ctx.boot_ms",
        "    default_rate = rate = ctx.default_rate; samplers = ctx.samplers; header = ctx.header",
        "    out = []; append = out.append",
        *(f"    h{number} = header[{key!r}]" for number, key in enumerate(header_keys)),
        f"    new_record = {base}.copy",
    ]
    # The helpers become default arguments: locals are found faster than globals.
    helpers = [
        "ip4_get",
        "ip4_new",
        "ip6_get",
        "ip6_new",
        "mac_get",
        "mac_new",
        "sec_get",
        "sec_new",
        "ms3",
        "text",
        "ntp_ns",
        "ntp_ms",
    ]
    def_line = "def decode(data, ctx, " + ", ".join(f"{h}={h}" for h in helpers) + ", from_bytes=from_bytes):"
    body = ["        " + line for line in [*prologue, "record = new_record()", *assignments, "append(record)"]]
    namespace: dict[str, Any] = dict(_GLOBALS)
    if not variable:
        layout = struct.Struct("!" + "".join(c for c in codes if c is not None))
        namespace["iter_unpack"] = layout.iter_unpack
        unpacked = ", ".join(slots) + ("," if len(slots) == 1 else "")
        source = "\n".join(
            [
                def_line,
                *setup,
                f"    usable = len(data) - len(data) % {layout.size}",
                f"    for ({unpacked}) in iter_unpack(data[:usable]):",
                *body,
                "    return out",
            ]
        )
    else:
        namespace["read_rows"] = partial(_read_rows, _row_readers(codes))
        unpacked = ", ".join(slots) + ("," if len(slots) == 1 else "")
        source = "\n".join(
            [
                def_line,
                *setup,
                "    for (" + unpacked + ") in read_rows(data):",
                *body,
                "    return out",
            ]
        )
    exec(compile(source, f"<flow template {len(fields)} fields>", "exec"), namespace)
    return Plan(record_length=planned.record_length, variable=variable, decode=namespace["decode"])


def plan_items(fields: tuple[Field, ...], options: bool, header_keys: tuple[str, ...] = ()) -> PlanItems:
    """The items of a template's records (see `PlanItems`); raises PlanError."""
    if not fields:
        raise PlanError("template has no fields")
    codes: list[str | None] = []
    exprs: list[str] = []
    names: list[str] = []
    by_element: dict[tuple[int, int], int] = {}
    for index, (ie, length, pen) in enumerate(fields):
        name, kind = field_name(ie, pen)
        code, expr = field_code(kind, length)
        if ie == PADDING and pen == 0 and code is not None:
            code, expr = f"{length}x", ""
        codes.append(code)
        exprs.append(expr.format(v=f"v{index}"))
        names.append(name)
        if expr:
            by_element.setdefault((ie, pen), index)
    variable = any(code is None for code in codes)
    record_length = sum(1 if code is None else struct.calcsize("!" + code) for code in codes)
    if record_length == 0:
        raise PlanError("template records have zero length")

    consumed: set[int] = set()

    def pick(candidates: tuple[int, ...], ok: Callable[[int], bool] = lambda i: True) -> int | None:
        for ie in candidates:
            index = by_element.get((ie, 0))
            if index is not None and ok(index):
                consumed.add(index)
                return index
        return None

    items: list[str] = ['"service": "flow"', f'"kind": {"options" if options else "flow"!r}']
    items += ['"received_at": received_at', '"source": source', '"exporter": exporter', '"version": version']
    prologue: list[str] = []
    if options:
        items.append('"observation_domain": domain')
    else:
        for key, (v4, v6) in _ADDRESS.items():
            chosen = pick((v4, v6), lambda i: exprs[i].startswith(("(ip4_get", "(ip6_get")))
            items.append(f'"{key}": {exprs[chosen] if chosen is not None else "None"}')
        counters: dict[str, str] = {}
        for key, candidates in _SCALAR.items():
            chosen = pick(candidates, lambda i: exprs[i] == f"v{i}" or exprs[i].startswith("from_bytes("))
            value = exprs[chosen] if chosen is not None else "None"
            items.append(f'"{key}": {value}')
            counters[key] = value
        items.append(f'"start": {_time_expr(by_element, exprs, consumed, _START, 22, 158, "t_start")}')
        items.append(f'"end": {_time_expr(by_element, exprs, consumed, _END, 21, 159, "t_end")}')
        for key in ("input_if", "output_if", "tcp_flags"):
            # keep the brief's order: addresses, ports, protocol, counters, times, interfaces
            items.append(items.pop(next(i for i, item in enumerate(items) if item.startswith(f'"{key}"'))))
        rate_line = _rate_expr(by_element, codes, consumed)
        if rate_line != "rate = default_rate":
            prologue.append(rate_line)
        items.append('"sampling_rate": rate')
        for key in ("bytes", "packets"):
            value = counters[key]
            items.append(f'"{key}_scaled": {value} * (rate or 1)' if value != "None" else f'"{key}_scaled": None')
    seen = {item.split(":", 1)[0].strip('"') for item in items}
    for index, expr in enumerate(exprs):
        if not expr or index in consumed:
            continue
        name = names[index]
        unique, n = name, 2
        while unique in seen:
            unique, n = f"{name}_{n}", n + 1
        seen.add(unique)
        items.append(f"{unique!r}: {expr}")
    for number, key in enumerate(header_keys):
        items.append(f"{key!r}: h{number}")

    return PlanItems(items, codes, prologue, variable, record_length)


# Values the same for every record of a data set: they go in the set's base record.
_PER_SET = frozenset({"received_at", "source", "exporter", "version", "domain", "None", "'flow'", "'options'"})


def _record_builder(items: list[str], per_set_rate: bool) -> tuple[str, list[str]]:
    """The record as a base dict built once per data set (the per-set values in place, the
    rest None) and the assignments that fill in each record. Copying a dict and assigning
    the values that change costs half of building a dict of 20 to 40 keys from a literal
    (measured), and the key order, which the NDJSON keeps, is the literal's."""
    literal = ast.parse("{" + ", ".join(items) + "}", mode="eval").body
    assert isinstance(literal, ast.Dict)
    pairs = [
        (ast.literal_eval(key), ast.unparse(value))
        for key, value in zip(literal.keys, literal.values, strict=True)
        if key
    ]
    repeated = {key for key, count in Counter(key for key, _ in pairs).items() if count > 1}
    constant = _PER_SET | {"rate"} if per_set_rate else _PER_SET
    base: dict[str, str] = {}
    assignments: list[str] = []
    for key, value in pairs:
        per_set = key not in repeated and (value in constant or re.fullmatch(r"h\d+", value) is not None)
        base.setdefault(key, value if per_set else "None")
        if not per_set:
            assignments.append(f"record[{key!r}] = {value}")
    return "{" + ", ".join(f"{key!r}: {value}" for key, value in base.items()) + "}", assignments


def _time_expr(
    by_element: dict[tuple[int, int], int],
    exprs: list[str],
    consumed: set[int],
    absolute: dict[int, str],
    uptime_ie: int,
    delta_ie: int,
    slot: str,
) -> str:
    """The expression for a flow's start or end from the best time element the template has."""
    for ie, template in absolute.items():
        index = by_element.get((ie, 0))
        # Only a field decoded as an integer (its plain value, or an NTP time) is a time: a
        # template may declare the element with an odd length, which decodes to hex text.
        if index is not None and (exprs[index] == f"v{index}" or exprs[index].startswith("ntp_ns(")):
            consumed.add(index)
            return _ms_text_expr(template.format(v=f"v{index}"), slot)
    index = by_element.get((uptime_ie, 0))
    if index is not None and exprs[index] == f"v{index}":
        # sysUpTime-relative (v5, v9, some IPFIX): meaningless without the exporter's boot time
        init = by_element.get((160, 0))
        boot = f"v{init}" if init is not None and exprs[init] == f"v{init}" else "boot_ms"
        return f"({_ms_text_expr(f'{boot} + v{index}', slot)} if {boot} else None)"
    index = by_element.get((delta_ie, 0))
    if index is not None and exprs[index] == f"v{index}":
        consumed.add(index)
        return _ms_text_expr(f"export_ms - v{index} // 1000", slot)
    return "None"


def _rate_expr(by_element: dict[tuple[int, int], int], codes: list[str | None], consumed: set[int]) -> str:
    """The line that sets `rate`: a rate in the record, else its sampler's, else the scope's."""
    parts: list[str] = []
    interval, space = by_element.get((305, 0)), by_element.get((306, 0))
    if interval is not None and space is not None and codes[interval] in _INTS and codes[space] in _INTS:
        # RFC 5477: `interval` packets taken, then `space` packets skipped
        parts.append(f"((v{interval} + v{space}) // v{interval} if v{interval} else None)")
    for ie in _RATE_IN_RECORD:
        index = by_element.get((ie, 0))
        if index is not None and codes[index] in _INTS:
            parts.append(f"v{index}")
    size, population = by_element.get((309, 0)), by_element.get((310, 0))
    if size is not None and population is not None and codes[size] in ("I", "H") and codes[population] in ("I", "H"):
        parts.append(f"(v{population} // v{size} if v{size} else None)")
    for ie in _SAMPLER_ID:
        index = by_element.get((ie, 0))
        if index is not None and codes[index] in ("B", "H", "I", "Q"):
            parts.append(f"samplers.get(v{index})")
    parts.append("default_rate")
    return "rate = " + " or ".join(parts)


def _row_readers(codes: list[str | None]) -> list[tuple[int, Callable[[bytes, int], tuple[Any, ...]] | None, bool]]:
    readers: list[tuple[int, Callable[[bytes, int], tuple[Any, ...]] | None, bool]] = []
    for code in codes:
        if code is None:
            readers.append((0, None, True))
            continue
        layout = struct.Struct("!" + code)
        readers.append((layout.size, layout.unpack_from, code.endswith("x")))
    return readers


def _read_rows(
    readers: list[tuple[int, Callable[[bytes, int], tuple[Any, ...]] | None, bool]], data: bytes | memoryview
) -> list[tuple[Any, ...]]:
    """Split a set of variable-length records (RFC 7011 7: one length byte, or 255 and two
    more); a record cut short is padding or damage and ends the set."""
    rows: list[tuple[Any, ...]] = []
    raw = bytes(data)
    end = len(raw)
    position = 0
    while position < end:
        row: list[Any] = []
        for size, unpack_from, skip in readers:
            if unpack_from is None:
                if position >= end:
                    return rows
                size = raw[position]
                position += 1
                if size == 255:
                    if position + 2 > end:
                        return rows
                    size = (raw[position] << 8) | raw[position + 1]
                    position += 2
                if position + size > end:
                    return rows
                row.append(raw[position : position + size])
            else:
                if position + size > end:
                    return rows
                if not skip:
                    row.append(unpack_from(raw, position)[0])
            position += size
        rows.append(tuple(row))
    return rows
