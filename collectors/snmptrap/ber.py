"""The BER subset SNMP uses, read and written by hand (sans-IO, no pysnmp on the hot path).

pysnmp's generic decoder builds an ASN.1 object tree per message (~2,000 traps/s per core);
traps are flat, so this reader walks the bytes once with integer offsets into the datagram.
The discipline is strict: single-byte tags only, definite lengths (at most 4 length bytes)
that must fit inside their parent, minimal OID subidentifiers, INTEGERs of 1-9 bytes. Any
breach raises `Malformed` with a short reason, which the receiver counts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SEQUENCE = 0x30
INTEGER = 0x02
OCTET_STRING = 0x04
NULL = 0x05
OBJECT_IDENTIFIER = 0x06
IP_ADDRESS = 0x40
COUNTER32 = 0x41
GAUGE32 = 0x42
TIMETICKS = 0x43
OPAQUE = 0x44
COUNTER64 = 0x46
NO_SUCH_OBJECT = 0x80
NO_SUCH_INSTANCE = 0x81
END_OF_MIB_VIEW = 0x82

# PDU tags (context-specific, constructed)
GET_REQUEST = 0xA0
RESPONSE = 0xA2
TRAP_V1 = 0xA4
INFORM_REQUEST = 0xA6
TRAP_V2 = 0xA7
REPORT = 0xA8

TYPE_NAMES = {
    INTEGER: "Integer32",
    OCTET_STRING: "OctetString",
    NULL: "Null",
    OBJECT_IDENTIFIER: "ObjectIdentifier",
    IP_ADDRESS: "IpAddress",
    COUNTER32: "Counter32",
    GAUGE32: "Gauge32",
    TIMETICKS: "TimeTicks",
    OPAQUE: "Opaque",
    COUNTER64: "Counter64",
    NO_SUCH_OBJECT: "noSuchObject",
    NO_SUCH_INSTANCE: "noSuchInstance",
    END_OF_MIB_VIEW: "endOfMibView",
}
_UNSIGNED = frozenset({COUNTER32, GAUGE32, TIMETICKS, COUNTER64})
_EMPTY_VALUED = frozenset({NULL, NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW})
# Bytes that make an OctetString "binary" (shown as hex): C0 controls except tab, CR, LF, and DEL.
_BINARY_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_MAX_OID_PARTS = 128
_OID_CACHE_MAX = 65536

Varbind = tuple[str, int, Any]  # numeric OID, BER tag, decoded value


class Malformed(ValueError):
    """The datagram breaks BER or SNMP structure; the message is a short reason to count."""


def header(buf: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """The TLV at `pos`: (tag, content start, content end), checked to lie within `end`."""
    if pos + 2 > end:
        raise Malformed("truncated")
    tag = buf[pos]
    if tag & 0x1F == 0x1F:
        raise Malformed("multi-byte tag")
    length = buf[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0:
            raise Malformed("indefinite length")
        if count > 4 or pos + count > end:
            raise Malformed("bad length")
        length = int.from_bytes(buf[pos : pos + count], "big")
        pos += count
    stop = pos + length
    if stop > end:
        raise Malformed("length overruns its container")
    return tag, pos, stop


def expect(buf: bytes, pos: int, end: int, tag: int) -> tuple[int, int]:
    """The content span of the TLV at `pos`, which must carry `tag`."""
    found, start, stop = header(buf, pos, end)
    if found != tag:
        raise Malformed(f"expected tag 0x{tag:02x}, found 0x{found:02x}")
    return start, stop


def integer(buf: bytes, start: int, stop: int, signed: bool = True) -> int:
    if not 0 < stop - start <= 9:
        raise Malformed("bad integer length")
    return int.from_bytes(buf[start:stop], "big", signed=signed)


def read_integer(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """(value, next position) of the INTEGER at `pos`."""
    if pos + 2 <= end and buf[pos] == INTEGER and 0 < buf[pos + 1] <= 9:
        stop = pos + 2 + buf[pos + 1]
        if stop <= end:
            return int.from_bytes(buf[pos + 2 : stop], "big", signed=True), stop
    start, stop = expect(buf, pos, end, INTEGER)
    return integer(buf, start, stop), stop


def read_octets(buf: bytes, pos: int, end: int) -> tuple[bytes, int]:
    """(content, next position) of the OCTET STRING at `pos`."""
    if pos + 2 <= end and buf[pos] == OCTET_STRING and buf[pos + 1] < 0x80:
        stop = pos + 2 + buf[pos + 1]
        if stop <= end:
            return buf[pos + 2 : stop], stop
    start, stop = expect(buf, pos, end, OCTET_STRING)
    return buf[start:stop], stop


_oid_cache: dict[bytes, str] = {}


def oid_text(raw: bytes) -> str:
    """The dotted form of an OID's content octets (cached: traps repeat the same OIDs)."""
    text = _oid_cache.get(raw)
    if text is not None:
        return text
    text = _decode_oid(raw)
    if len(_oid_cache) >= _OID_CACHE_MAX:
        _oid_cache.clear()
    _oid_cache[raw] = text
    return text


def _decode_oid(raw: bytes) -> str:
    if not raw:
        raise Malformed("empty OID")
    if raw[-1] & 0x80:
        raise Malformed("truncated OID")
    parts: list[int] = []
    value = 0
    fresh = True
    for byte in raw:
        if fresh and byte == 0x80:
            raise Malformed("non-minimal OID subidentifier")
        value = (value << 7) | (byte & 0x7F)
        if byte & 0x80:
            fresh = False
        else:
            parts.append(value)
            value = 0
            fresh = True
    if len(parts) >= _MAX_OID_PARTS:
        raise Malformed("OID too long")
    first = parts[0]
    head = f"{first // 40}.{first % 40}" if first < 80 else f"2.{first - 80}"
    if len(parts) == 1:
        return head
    return head + "." + ".".join(map(str, parts[1:]))


def read_varbinds(buf: bytes, pos: int, end: int) -> list[Varbind]:
    """The VarBindList at `pos` (which must fill exactly up to `end`).

    The hot loop of the receiver: short-form lengths (nearly every varbind) are read inline,
    anything else goes through `header()`; every span is checked against its container."""
    start, stop = expect(buf, pos, end, SEQUENCE)
    if stop != end:
        raise Malformed("trailing bytes after the varbinds")
    out: list[Varbind] = []
    append = out.append
    cache = _oid_cache
    pos = start
    while pos < stop:
        # VarBind ::= SEQUENCE { name OBJECT IDENTIFIER, value }
        if pos + 2 > stop or buf[pos] != SEQUENCE or buf[pos + 1] & 0x80:
            vb_start, vb_stop = expect(buf, pos, stop, SEQUENCE)
        else:
            vb_start = pos + 2
            vb_stop = vb_start + buf[pos + 1]
            if vb_stop > stop:
                raise Malformed("length overruns its container")
        if vb_start + 2 > vb_stop or buf[vb_start] != OBJECT_IDENTIFIER or buf[vb_start + 1] & 0x80:
            o_start, o_stop = expect(buf, vb_start, vb_stop, OBJECT_IDENTIFIER)
        else:
            o_start = vb_start + 2
            o_stop = o_start + buf[vb_start + 1]
            if o_stop > vb_stop:
                raise Malformed("length overruns its container")
        raw = buf[o_start:o_stop]
        oid = cache.get(raw)
        if oid is None:
            oid = oid_text(raw)
        if o_stop + 2 > vb_stop or buf[o_stop + 1] & 0x80 or buf[o_stop] & 0x1F == 0x1F:
            tag, v_start, v_stop = header(buf, o_stop, vb_stop)
        else:
            tag = buf[o_stop]
            v_start = o_stop + 2
            v_stop = v_start + buf[o_stop + 1]
        if v_stop != vb_stop:
            raise Malformed("varbind value does not fill its varbind")
        if tag == INTEGER:
            if not 0 < v_stop - v_start <= 9:
                raise Malformed("bad integer length")
            append((oid, tag, int.from_bytes(buf[v_start:v_stop], "big", signed=True)))
        elif tag == OCTET_STRING:
            append((oid, tag, buf[v_start:v_stop]))
        else:
            append((oid, tag, _value(buf, tag, v_start, v_stop)))
        pos = vb_stop
    return out


def _value(buf: bytes, tag: int, start: int, stop: int) -> Any:
    if tag in (OCTET_STRING, OPAQUE):
        return buf[start:stop]
    if tag == INTEGER:
        return integer(buf, start, stop)
    if tag == OBJECT_IDENTIFIER:
        return oid_text(buf[start:stop])
    if tag in _UNSIGNED:
        value = integer(buf, start, stop, signed=False)
        if value >> (64 if tag == COUNTER64 else 32):
            raise Malformed(f"{TYPE_NAMES[tag]} out of range")
        return value
    if tag == IP_ADDRESS:
        if stop - start != 4:
            raise Malformed("IpAddress is not 4 bytes")
        return ip_text(buf[start:stop])
    if tag in _EMPTY_VALUED:
        if stop != start:
            raise Malformed("non-empty NULL")
        return None
    # An application type we do not know (NsapAddress, UInteger32, ...): kept as raw bytes.
    return buf[start:stop]


def ip_text(raw: bytes) -> str:
    return f"{raw[0]}.{raw[1]}.{raw[2]}.{raw[3]}"


def render(varbinds: list[Varbind], name: Callable[[str], str | None] | None) -> list[dict[str, Any]]:
    """Record varbinds `{oid, name, type, value}`: OctetStrings that are printable UTF-8 as
    text, other byte strings as hex with `"hex": true`."""
    out = []
    names = TYPE_NAMES
    for oid, tag, value in varbinds:
        item: dict[str, Any] = {
            "oid": oid,
            "name": name(oid) if name else None,
            "type": names.get(tag) or f"tag-0x{tag:02x}",
        }
        if value.__class__ is bytes:
            if tag == OCTET_STRING and len(value.translate(None, _BINARY_BYTES)) == len(value):
                try:
                    item["value"] = value.decode("utf-8")
                except UnicodeDecodeError:
                    pass
                else:
                    out.append(item)
                    continue
            item["value"] = value.hex()
            item["hex"] = True
        else:
            item["value"] = value
        out.append(item)
    return out


# ---- writing ---------------------------------------------------------------------------------


def length_octets(length: int) -> bytes:
    if length < 0x80:
        return bytes((length,))
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + length_octets(len(content)) + content


def encode_integer(value: int) -> bytes:
    return tlv(INTEGER, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


def encode_unsigned(tag: int, value: int) -> bytes:
    return tlv(tag, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def encode_oid(text: str) -> bytes:
    parts = [int(p) for p in text.split(".")]
    body = bytearray()
    for value in [parts[0] * 40 + parts[1], *parts[2:]]:
        chunk = [value & 0x7F]
        value >>= 7
        while value:
            chunk.append(0x80 | (value & 0x7F))
            value >>= 7
        body.extend(reversed(chunk))
    return tlv(OBJECT_IDENTIFIER, bytes(body))


def encode_pdu(tag: int, request_id: int, varbinds: bytes, error_status: int = 0, error_index: int = 0) -> bytes:
    """A Response/Report/Inform PDU; `varbinds` is an encoded VarBindList (a SEQUENCE)."""
    return tlv(tag, encode_integer(request_id) + encode_integer(error_status) + encode_integer(error_index) + varbinds)


def encode_community_message(version: int, community: bytes, pdu: bytes) -> bytes:
    return tlv(SEQUENCE, encode_integer(version) + tlv(OCTET_STRING, community) + pdu)
