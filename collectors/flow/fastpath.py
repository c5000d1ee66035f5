"""The compiled fast path of the flow decoder: a template's records straight to NDJSON bytes.

`_fastflow` (C, built by setup.py when a compiler is there) runs a program of ops per record of a
fixed-length data set, and writes sFlow flow samples of the common layout (`sflow.py`'s
`_common_flow`: one raw Ethernet/IPv4 TCP or UDP header, optionally the extended switch data);
a datagram with any other sample goes to the reference whole. The program is translated here from the plan items of
`collectors.flow.plan` (the same `"key": expression` list the reference compiles into Python),
one op per key, and only for the expressions whose result the C code writes exactly; a template
with any other (variable-length fields, strings, floats, NTP times, integers wider than 64 bits,
sampling elements in the record, options templates) gets no program, and its data goes to the
reference. `FlowDecoder.decode_encode` uses it per datagram and falls back to `decode`;
tests/unit/flow/test_flow_fastpath.py holds both to the same bytes and counters.

Without the compiled module, or with NOCRAVEN_FLOW_FASTPATH=0, every datagram goes through the
reference decoder.
"""

from __future__ import annotations

import ast
import importlib
import os
import struct
from types import ModuleType
from typing import Any

import msgspec

from collectors.flow.plan import Field, PlanError, _ms_text_expr, plan_items

_fast: ModuleType | None
try:
    _fast = importlib.import_module("collectors.flow._fastflow")
except ImportError:
    _fast = None

_DISABLED = os.environ.get("NOCRAVEN_FLOW_FASTPATH", "1") == "0"
FAST_PATH = _fast is not None and not _DISABLED
# One line for the collector's log, or None when the fast path is on.
FAST_PATH_NOTICE: str | None = (
    None
    if FAST_PATH
    else "flow: decoding in pure Python (NOCRAVEN_FLOW_FASTPATH=0)"
    if _DISABLED
    else "flow: compiled decoder not built (no C compiler or Python headers at install); decoding in pure "
    "Python, several times the CPU per record: install gcc and python3-dev, then `pip install -e .` again"
)

# Op kinds and roles, as _fastflow.c numbers them.
(
    OP_LIT, OP_CTX, OP_UINT, OP_SINT, OP_IP4, OP_IP6, OP_MAC, OP_HEX, OP_BOOL, OP_SCALED_U, OP_SCALED_S,
    OP_T_MS, OP_T_SEC, OP_T_UP_CTX, OP_T_UP_FIELD, OP_T_DELTA,
) = range(16)  # fmt: skip
ROLES = {"src_addr": 1, "dst_addr": 2, "protocol": 3, "bytes_scaled": 4, "packets_scaled": 5}
# The per-datagram values an op can name, in the order `context` gives them.
CONTEXT = ("received_at", "source", "exporter", "version", "domain", "rate", "h0", "h1")
_CTX_INDEX = {name: index for index, name in enumerate(CONTEXT)}

_UNSIGNED = frozenset("BHIQ")
_SIGNED = frozenset("bhiq")
_ADDRESS_OPS = {"ip4_get": OP_IP4, "ip6_get": OP_IP6, "mac_get": OP_MAC}
_encode = msgspec.json.encode

Op = tuple[bytes, int, int, int, int, int, int]


class _Untranslatable(Exception):
    """An expression the compiled path does not write: the template stays with the reference."""


def program(fields: tuple[Field, ...], options: bool, header_keys: tuple[str, ...] = ()) -> Any:
    """The compiled program for a template's data records, or None when the reference must
    decode them (or the compiled module is not there)."""
    if _fast is None or _DISABLED or options or len(header_keys) > 2:
        return None
    try:
        planned = plan_items(fields, options, header_keys)
    except PlanError:
        return None
    if planned.variable or planned.prologue:
        return None
    # Each field's offset in the record and its struct code (padding included).
    offsets: list[int] = []
    position = 0
    for code in planned.codes:
        assert code is not None
        offsets.append(position)
        position += struct.calcsize("!" + code)
    literal = ast.parse("{" + ", ".join(planned.items) + "}", mode="eval").body
    assert isinstance(literal, ast.Dict)
    keys = [ast.literal_eval(key) for key in literal.keys if key is not None]
    if len(keys) != len(literal.values) or len(set(keys)) != len(keys):
        return None  # a repeated key: the dict keeps the last value at the first place
    ops: list[Op] = []
    translator = _Translator(planned.codes, offsets, fields)
    try:
        for number, (key, value) in enumerate(zip(keys, literal.values, strict=True)):
            prefix = (b"{" if number == 0 else b",") + _encode(key) + b":"
            kind, off, length, aux_off, aux_len, constant = translator.op(value)
            if kind == OP_LIT:
                prefix += constant
            ops.append((prefix, kind, off, length, aux_off, aux_len, ROLES.get(key, 0) if not options else 0))
    except _Untranslatable:
        return None
    return _fast.plan(position, ops)


class _Translator:
    def __init__(self, codes: list[str | None], offsets: list[int], fields: tuple[Field, ...]) -> None:
        self.codes = codes
        self.offsets = offsets
        self.fields = fields

    def slot(self, node: ast.expr) -> int:
        if isinstance(node, ast.Name) and node.id.startswith("v") and node.id[1:].isdigit():
            return int(node.id[1:])
        raise _Untranslatable(ast.unparse(node))

    def field(self, index: int) -> tuple[int, int]:
        return self.offsets[index], self.fields[index][1]

    def integer(self, node: ast.expr) -> tuple[int, int, int]:
        """(kind OP_UINT / OP_SINT, offset, length) of `vN` or `from_bytes(vN[, signed=True])`."""
        if isinstance(node, ast.Name):
            index = self.slot(node)
            code = self.codes[index]
            if code in _UNSIGNED:
                return OP_UINT, *self.field(index)
            if code in _SIGNED:
                return OP_SINT, *self.field(index)
            raise _Untranslatable(f"v{index} is {code}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "from_bytes":
            index = self.slot(node.args[0])
            off, length = self.field(index)
            signed = any(
                k.arg == "signed" and isinstance(k.value, ast.Constant) and k.value.value for k in node.keywords
            )
            if len(node.args) != 1 or not 1 <= length <= 8:
                raise _Untranslatable(ast.unparse(node))
            return (OP_SINT if signed else OP_UINT), off, length
        raise _Untranslatable(ast.unparse(node))

    def op(self, node: ast.expr) -> tuple[int, int, int, int, int, bytes]:
        """(kind, offset, length, aux offset, aux length, constant JSON) of one value."""
        if isinstance(node, ast.Constant):
            return OP_LIT, 0, 0, 0, 0, _encode(node.value)
        if isinstance(node, ast.Name) and node.id in _CTX_INDEX:
            return OP_CTX, 0, 0, _CTX_INDEX[node.id], 0, b""
        if isinstance(node, ast.Name) or (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "from_bytes"
        ):
            kind, off, length = self.integer(node)
            return kind, off, length, 0, 0, b""
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or) and len(node.values) == 2:
            first = node.values[0]
            if isinstance(first, ast.Call) and isinstance(first.func, ast.Name) and first.func.id in _ADDRESS_OPS:
                off, length = self.field(self.slot(first.args[0]))
                return _ADDRESS_OPS[first.func.id], off, length, 0, 0, b""
        hexed = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "hex"
        if hexed and isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.args or node.keywords:
                raise _Untranslatable(ast.unparse(node))
            off, length = self.field(self.slot(node.func.value))
            return OP_HEX, off, length, 0, 0, b""
        if (
            isinstance(node, ast.Compare)
            and isinstance(node.ops[0], ast.Eq)
            and isinstance(node.comparators[0], ast.Constant)
            and node.comparators[0].value == 1
            and self.codes[self.slot(node.left)] == "B"
        ):
            return OP_BOOL, *self.field(self.slot(node.left)), 0, 0, b""
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult) and ast.unparse(node.right) == "rate or 1":
            kind, off, length = self.integer(node.left)
            return (OP_SCALED_U if kind == OP_UINT else OP_SCALED_S), off, length, 0, 0, b""
        if isinstance(node, ast.IfExp):
            # `(time) if boot_ms else None` / `if vM else None`: the C op writes null for a zero boot
            if not (isinstance(node.orelse, ast.Constant) and node.orelse.value is None):
                raise _Untranslatable(ast.unparse(node))
            kind, off, length, aux_off, aux_len, _ = self.time(node.body)
            test = ast.unparse(node.test)
            if (kind == OP_T_UP_CTX and test == "boot_ms") or (kind == OP_T_UP_FIELD and self._boot_ok(node)):
                return kind, off, length, aux_off, aux_len, b""
            raise _Untranslatable(ast.unparse(node))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            kind, off, length, aux_off, aux_len, _ = self.time(node)
            if kind in (OP_T_UP_CTX, OP_T_UP_FIELD):
                raise _Untranslatable("uptime time without its boot test")
            return kind, off, length, aux_off, aux_len, b""
        raise _Untranslatable(ast.unparse(node))

    def _boot_ok(self, node: ast.IfExp) -> bool:
        """The test of an uptime time is the same field its boot time is read from."""
        named = next(n for n in ast.walk(node.body) if isinstance(n, ast.NamedExpr))
        assert isinstance(named.value, ast.BinOp)
        return ast.unparse(node.test) == ast.unparse(named.value.left)

    def time(self, node: ast.expr) -> tuple[int, int, int, int, int, bytes]:
        """A ms_text expression inlined by plan._ms_text_expr, by the milliseconds it formats."""
        shape = ast.unparse(node)
        named = [n for n in ast.walk(node) if isinstance(n, ast.NamedExpr)]
        if len(named) != 1:
            raise _Untranslatable(shape)
        slot = named[0].target.id
        ms = named[0].value
        expected = ast.parse(_ms_text_expr(f"({ast.unparse(ms)})", slot), mode="eval").body
        if shape != ast.unparse(expected):
            raise _Untranslatable(shape)
        if isinstance(ms, ast.Name):
            index = self.slot(ms)
            if self.codes[index] in _UNSIGNED:
                return OP_T_MS, *self.field(index), 0, 0, b""
        elif isinstance(ms, ast.BinOp):
            right, left = ms.right, ms.left
            if isinstance(ms.op, ast.Mult) and isinstance(right, ast.Constant) and right.value == 1000:
                index = self.slot(left)
                if self.codes[index] in _UNSIGNED:
                    return OP_T_SEC, *self.field(index), 0, 0, b""
            if isinstance(ms.op, ast.Add) and isinstance(right, ast.Name):
                index = self.slot(right)
                if self.codes[index] in _UNSIGNED:
                    if isinstance(left, ast.Name) and left.id == "boot_ms":
                        return OP_T_UP_CTX, *self.field(index), 0, 0, b""
                    boot = self.slot(left)
                    if self.codes[boot] in _UNSIGNED:
                        return OP_T_UP_FIELD, *self.field(index), *self.field(boot), b""
            if (
                isinstance(ms.op, ast.Sub)
                and isinstance(left, ast.Name)
                and left.id == "export_ms"
                and isinstance(right, ast.BinOp)
                and isinstance(right.op, ast.FloorDiv)
                and isinstance(right.right, ast.Constant)
                and right.right.value == 1000
            ):
                index = self.slot(right.left)
                if self.codes[index] in _UNSIGNED:
                    return OP_T_DELTA, *self.field(index), 0, 0, b""
        raise _Untranslatable(shape)


def encode(
    datagram: bytes,
    sets: list[tuple[Any, int, int]],
    context: tuple[bytes, ...],
    rate: int | None,
    boot_ms: int,
    export_ms: int,
    top: tuple[dict[str, list[int]], dict[int, list[int]], list[int], int] | None,
) -> tuple[bytes, int] | None:
    """The NDJSON of the records of `sets` ((program, start, end) in the datagram), and how many;
    None when a value is beyond what the compiled path writes exactly (nothing counted then)."""
    assert _fast is not None
    return _fast.encode(datagram, sets, context, rate or 0, boot_ms, export_ms, top)  # type: ignore[no-any-return]


def sflow(
    datagram: bytes,
    position: int,
    samples: int,
    head: bytes,
    mid: bytes,
    top: tuple[dict[str, list[int]], dict[int, list[int]], list[int], int] | None,
) -> tuple[bytes, int] | None:
    """The NDJSON of an sFlow datagram whose samples (from `position`) are all flow samples of the
    common layout (`collectors.flow.sflow._common_flow`), and how many; None for any other.
    `head`: the records' JSON up to `"version"`; `mid`: their sub agent and uptime items."""
    assert _fast is not None
    return _fast.sflow(datagram, position, samples, head, mid, top)  # type: ignore[no-any-return]
