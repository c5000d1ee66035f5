"""NetFlow v5's fixed record and the template sets of NetFlow v9 (RFC 3954) and IPFIX (RFC 7011).

Template parsing is kept apart from the message walk (`collectors.flow.decoder`) so it can be
tested alone. A malformed template raises ValueError saying what was wrong with it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from collectors.flow.plan import V9_SCOPE_PEN, Field, compile_plan
from collectors.flow.templates import Template

MAX_FIELDS = 512  # per template; real ones have a few dozen, RFC 7011 would allow 16,383

# NetFlow v5's 48-byte record as a template of IANA elements (v9 inherited v5's numbering).
V5_FIELDS: tuple[Field, ...] = (
    (8, 4, 0),  # srcaddr
    (12, 4, 0),  # dstaddr
    (15, 4, 0),  # nexthop
    (10, 2, 0),  # input
    (14, 2, 0),  # output
    (2, 4, 0),  # dPkts
    (1, 4, 0),  # dOctets
    (22, 4, 0),  # first (sysUpTime ms)
    (21, 4, 0),  # last
    (7, 2, 0),  # srcport
    (11, 2, 0),  # dstport
    (210, 1, 0),  # pad1
    (6, 1, 0),  # tcp_flags
    (4, 1, 0),  # prot
    (5, 1, 0),  # tos
    (16, 2, 0),  # src_as
    (17, 2, 0),  # dst_as
    (9, 1, 0),  # src_mask
    (13, 1, 0),  # dst_mask
    (210, 2, 0),  # pad2
)
V5_HEADER = struct.Struct("!HHIIIIBBH")
V5_RECORD_LENGTH = 48
V5_PLAN = compile_plan(V5_FIELDS, options=False, header_keys=("engineType", "engineId"))

V9_HEADER = struct.Struct("!HHIIII")
IPFIX_HEADER = struct.Struct("!HHIII")
SET_HEADER = struct.Struct("!HH")
_PAIR = struct.Struct("!HH")
_PEN = struct.Struct("!I")
_OPTIONS_V9 = struct.Struct("!HHH")

TemplateItem = tuple[int, Template | None]  # (template id, template, or None for a withdrawal)


def ipfix_templates(body: bytes, options: bool, now: float) -> Iterator[TemplateItem]:
    """The template records of an IPFIX template set (2) or options template set (3).
    A record with no fields withdraws its template id (the set id itself: all of that kind)."""
    end = len(body)
    position = 0
    while end - position >= 4:
        template_id, count = _PAIR.unpack_from(body, position)
        position += 4
        scope_count = 0
        if options and count:
            if end - position < 2:
                raise ValueError(f"options template {template_id} is cut short before its scope field count")
            scope_count = (body[position] << 8) | body[position + 1]
            position += 2
        if count == 0:
            if template_id < 256 and template_id not in (2, 3):
                return  # zero padding to the set's end
            yield template_id, None
            continue
        if template_id < 256:
            raise ValueError(f"template id {template_id} is reserved (data templates start at 256)")
        if count > MAX_FIELDS:
            raise ValueError(f"template {template_id} has {count} fields, more than the {MAX_FIELDS} accepted")
        if options and not 0 < scope_count <= count:
            raise ValueError(f"options template {template_id}: scope field count {scope_count} of {count} fields")
        fields: list[Field] = []
        for _ in range(count):
            if end - position < 4:
                raise ValueError(f"template {template_id} is cut short after {len(fields)} of {count} fields")
            ie, length = _PAIR.unpack_from(body, position)
            position += 4
            pen = 0
            if ie & 0x8000:
                if end - position < 4:
                    raise ValueError(f"template {template_id}: enterprise field {ie & 0x7FFF} lacks its number")
                (pen,) = _PEN.unpack_from(body, position)
                position += 4
                ie &= 0x7FFF
            fields.append((ie, length, pen))
        yield template_id, Template(template_id, tuple(fields), options, scope_count, now)


def v9_templates(body: bytes, options: bool, now: float) -> Iterator[TemplateItem]:
    """The templates of a NetFlow v9 template flowset (0) or options template flowset (1)."""
    end = len(body)
    position = 0
    while end - position >= 4:
        if options:
            if end - position < 6:
                return
            template_id, scope_length, option_length = _OPTIONS_V9.unpack_from(body, position)
            position += 6
            if template_id < 256:
                return  # padding
            if (scope_length % 4) or (option_length % 4) or not (scope_length or option_length):
                raise ValueError(f"options template {template_id}: scope {scope_length} / option {option_length} bytes")
            scope_count, count = scope_length // 4, (scope_length + option_length) // 4
        else:
            template_id, count = _PAIR.unpack_from(body, position)
            position += 4
            scope_count = 0
            if template_id < 256 or count == 0:
                return  # padding
        if count > MAX_FIELDS:
            raise ValueError(f"template {template_id} has {count} fields, more than the {MAX_FIELDS} accepted")
        if end - position < 4 * count:
            raise ValueError(f"template {template_id} is cut short: {count} fields need {4 * count} bytes")
        fields = tuple(
            (ie, length, V9_SCOPE_PEN if index < scope_count else 0)
            for index, (ie, length) in enumerate(_PAIR.iter_unpack(body[position : position + 4 * count]))
        )
        position += 4 * count
        if options:
            position += (-position) % 4  # an options template is padded to 32 bits
        yield template_id, Template(template_id, fields, options, scope_count, now)
