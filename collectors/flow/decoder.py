"""The flow decoder: one datagram in, records and counter updates out (sans-IO).

    decoder = FlowDecoder()
    records = decoder.decode(datagram, ("192.0.2.1", 50000), time.time())
    ndjson = encode_records(records)            # NDJSON lines for the buffer
    ndjson = decoder.decode_batch(datagrams, senders, now)   # the same for a recvmmsg batch
    delta = decoder.stats.take()                # per-exporter counters since the last take
    decoder.expire(now)                         # on a quiet socket: count held data that expired
    decoder.templates.save_if_changed(path)     # now and then, and at exit: restarts keep templates

Records: `service` "flow", `kind` ("flow"; "options" for options data, keeping every field by
its IANA name; sFlow's "counters" and "drop"), `received_at`, `source`, `exporter`, `version`,
then for flows the brief's keys (`src_addr` ... `sampling_rate`, null when the template lacks
them), `bytes_scaled` / `packets_scaled` (the counters times the sampling rate), then the other
elements by IANA name (`pen<PEN>_<ID>` for unknown enterprise elements, as hex).

The version is told by the first bytes: 0x0005 / 0x0009 / 0x000a (NetFlow v5, v9, IPFIX) or
0x00000005 (sFlow v5); a listener passes the versions it takes as `accept`. A damaged datagram
keeps the records decoded before the damage and counts one decode error with the reason; only
the parse errors below are caught, so a bug still surfaces in tests and fuzzing.

One decoder holds the templates of the exporters it hears. Workers that take turns at one UDP
socket see a template in one process and its data in another: each worker sends
`decoder.templates.take_fresh()` (what it learned, or None) to its siblings now and then, and
they pass it to `decoder.adopt(update, now)`, which also decodes the data held for it. With
SO_REUSEPORT sockets per worker the kernel keeps an exporter on one worker and this is moot.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Collection
from typing import Any

import msgspec

from collectors.flow import fastpath
from collectors.flow.hold import HeldSet, HoldQueue
from collectors.flow.netflow import (
    IPFIX_HEADER,
    SET_HEADER,
    V5_FIELDS,
    V5_HEADER,
    V5_PLAN,
    V5_RECORD_LENGTH,
    V9_HEADER,
    ipfix_templates,
    v9_templates,
)
from collectors.flow.plan import PlanError, SetContext, ms_text, ntop6
from collectors.flow.sequence import SequenceLog
from collectors.flow.settings import FlowSettings
from collectors.flow.sflow import decode_sflow
from collectors.flow.stats import FlowStats
from collectors.flow.templates import Scope, Template, TemplateCache
from collectors.flow.top import MinuteCounter

Version = int | str
ACCEPT_ALL: frozenset[Version] = frozenset({5, 9, 10, "sflow5"})
SFLOW5 = b"\x00\x00\x00\x05"
# A malformed datagram (or a template that declares an element oddly) ends as one of these;
# it is counted against its exporter and the rest of the batch goes on.
DECODE_ERRORS = (
    struct.error,
    ValueError,
    IndexError,
    OverflowError,
    UnicodeDecodeError,
    TypeError,
    ArithmeticError,
    KeyError,
)
MAX_SEQUENCE_SCOPES = 100_000
NAMES: dict[Version, str] = {5: "NetFlow v5", 9: "NetFlow v9", 10: "IPFIX", "sflow5": "sFlow v5"}

_encode_lines = msgspec.json.Encoder().encode_lines
_encode_json = msgspec.json.encode
V5_HEADER_KEYS = ("engineType", "engineId")
V5_PROGRAM = fastpath.program(V5_FIELDS, False, V5_HEADER_KEYS)  # None without the compiled path
MAX_PROGRAMS = 4096
MAX_REFRESHES, MAX_REFRESH_BYTES = 1024, 4096  # template sets remembered as refreshes
_SFLOW_TAIL = struct.Struct("!IIII")  # sub agent, sequence, uptime, samples
_U64 = 1 << 64
_I64 = 1 << 63

# What each listener of `[flow]` takes.
LISTENER_VERSIONS: dict[str, frozenset[Version]] = {
    "netflow": frozenset({5, 9, 10}),
    "ipfix": frozenset({10}),
    "sflow": frozenset({"sflow5"}),
}


def encode_records(records: list[dict[str, Any]]) -> bytes:
    """The records as NDJSON, each line ending in a newline (b"" for none)."""
    return _encode_lines(records) if records else b""


class FlowDecoder:
    def __init__(
        self,
        templates: TemplateCache | None = None,
        hold: HoldQueue | None = None,
        accept: Collection[Version] = ACCEPT_ALL,
    ) -> None:
        self.templates = templates if templates is not None else TemplateCache()
        self.hold = hold if hold is not None else HoldQueue()
        self.stats = FlowStats()
        self.accept = frozenset(accept)
        self._next_sequence: dict[tuple[Any, ...], int] = {}
        self._released = 0  # records of earlier messages released while decoding this one
        self._peers: dict[str, tuple[str, int]] = {}  # "IP:PORT" -> (IP, PORT)
        # Set by a UDP worker: sequence numbers are noted here for the main process to follow
        # across workers (`collectors.flow.sequence`) instead of being followed here.
        self.sequence_log: SequenceLog | None = None
        self._address = ""
        self.fast = fastpath.FAST_PATH  # the compiled path for the datagrams it takes (decode_encode)
        self._programs: dict[tuple[Scope, int], tuple[Template, Any]] = {}
        self._shared_programs: dict[tuple[tuple[Any, ...], bool], Any] = {}
        self._refreshes: dict[tuple[Scope, bytes], list[tuple[int, Template]]] = {}  # template sets seen
        self._fast_peers: dict[tuple[str, int], tuple[bytes, bytes]] = {}  # peer -> source, exporter JSON

    def decode(self, datagram: bytes, exporter: tuple[str, int], now: float) -> list[dict[str, Any]]:
        address, port = exporter
        self._address = address
        entry = self.stats.exporter(address)
        entry["datagrams"] += 1
        entry["bytes"] += len(datagram)
        entry["last_seen"] = now
        records: list[dict[str, Any]] = []
        source = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        version: Version = "sflow5" if datagram[:4] == SFLOW5 else int.from_bytes(datagram[:2], "big")
        if version not in self.accept:
            entry["refused_versions"] += 1
            entry["last_error"] = (
                f"datagram from {source} is not {' / '.join(_names(self.accept))} (starts {datagram[:4].hex()})"
            )
        else:
            received_at = ms_text(int(now * 1000))
            try:
                if version == 10:
                    self._ipfix(datagram, address, port, source, received_at, now, records, entry)
                elif version == 9:
                    self._v9(datagram, address, port, source, received_at, now, records, entry)
                elif version == 5:
                    self._v5(datagram, address, source, received_at, records, entry)
                else:
                    key, sequence = decode_sflow(datagram, source, received_at, records)
                    self._sequence(key, sequence, 1, entry, "lost_datagrams")
            except DECODE_ERRORS as exc:
                self.stats.error(address, f"{NAMES[version]} datagram from {source}: {exc}")
        entry["records"] += len(records)
        if self.hold.sets:
            self.expire(now)
        return records

    def decode_batch(self, datagrams: list[bytes], senders: list[str], now: float) -> bytes:
        """NDJSON of a received batch; senders as `BatchReceiver` gives them ("IP:PORT",
        "[IPv6]:PORT")."""
        return self.decode_encode(datagrams, senders, now)[0]

    def decode_encode(
        self, datagrams: list[bytes], senders: list[str], now: float, top: MinuteCounter | None = None
    ) -> tuple[bytes, int]:
        """NDJSON of a received batch and the bytes of the datagrams that gave records; the
        flow records counted into `top` too. Each datagram the compiled path takes
        (`collectors.flow.fastpath`) is encoded there, the others by `decode`: the same bytes
        and counters either way."""
        parts: list[bytes] = []
        received = 0
        peers = self._peers
        target = top.target(now) if top is not None else None
        fast = self._fast_datagram if self.fast else None
        received_at = _encode_json(ms_text(int(now * 1000))) if fast is not None else b""
        for datagram, sender in zip(datagrams, senders, strict=True):
            peer = peers.get(sender)
            if peer is None:
                if len(peers) >= MAX_SEQUENCE_SCOPES:
                    peers.clear()
                host, _, port = sender.rpartition(":")
                peer = peers[sender] = (host.strip("[]"), int(port) if port.isdigit() else 0)
            if fast is not None:
                done = fast(datagram, peer, now, received_at, target)
                if done is not None:
                    if done[1]:
                        parts.append(done[0])
                        received += len(datagram)
                    continue
            records = self.decode(datagram, peer, now)
            if records:
                if top is not None:
                    top.add(records, now)
                parts.append(_encode_lines(records))
                received += len(datagram)
        return b"".join(parts), received

    def adopt(self, dump: bytes, now: float) -> list[dict[str, Any]]:
        """Take in templates and sampler tables another worker learned (`take_fresh`), and
        decode the data held here waiting for them. A damaged dump is ignored and counted."""
        try:
            learned = self.templates.adopt_bytes(dump)
        except (msgspec.DecodeError, ValueError) as exc:
            self.stats.error("other", f"template update from a sibling worker is damaged ({exc})")
            return []
        records: list[dict[str, Any]] = []
        for scope, template_id in learned:
            entry = self.stats.exporter(scope[0])
            released = self._release(scope, template_id, entry)
            entry["records"] += len(released)
            records += released
        return records

    def expire(self, now: float) -> None:
        """Count the held sets that waited too long for their template (the worker calls this
        on quiet sockets too)."""
        for held in self.hold.expire(now):
            self.stats.exporter(held.key[0][0])["expired_sets"] += 1

    # ---- the compiled path ----------------------------------------------------------------------

    def _fast_datagram(
        self, datagram: bytes, peer: tuple[str, int], now: float, received_at: bytes, top: Any
    ) -> tuple[bytes, int] | None:
        """What `decode` and `encode_records` make of a datagram, with the same counters, when
        the compiled path can take all of it; None (and nothing changed) when it cannot."""
        version: Version = "sflow5" if datagram[:4] == SFLOW5 else int.from_bytes(datagram[:2], "big")
        if version not in self.accept:
            return None
        address, port = peer
        jsons = self._fast_peers.get(peer)
        if jsons is None:
            if len(self._fast_peers) >= MAX_SEQUENCE_SCOPES:
                self._fast_peers.clear()
            source = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
            jsons = self._fast_peers[peer] = (_encode_json(source), _encode_json(address))
        length = len(datagram)
        if version == 5:
            if length < V5_HEADER.size or V5_PROGRAM is None:
                return None
            _, count, uptime, secs, nsecs, sequence, engine_type, engine_id, sampling = V5_HEADER.unpack_from(datagram)
            if (length - V5_HEADER.size) // V5_RECORD_LENGTH < count:
                return None  # the reference decodes what is whole and counts the error
            export_ms = secs * 1000 + nsecs // 1_000_000
            rate = sampling & 0x3FFF
            context = (
                received_at, *jsons, b"5", b"0", _encode_json(rate or None), _encode_json(engine_type),
                _encode_json(engine_id),
            )  # fmt: skip
            whole = [(V5_PROGRAM, V5_HEADER.size, V5_HEADER.size + count * V5_RECORD_LENGTH)]
            done = fastpath.encode(datagram, whole, context, rate, export_ms - uptime, export_ms, top)
            if done is None:
                return None
            entry = self._fast_counted(address, length, now, done[1])
            self._sequence((address, 5, engine_type, engine_id), sequence, count, entry, "lost_records")
        elif version == 9:
            if length < V9_HEADER.size:
                return None
            _, _, uptime, secs, sequence, source_id = V9_HEADER.unpack_from(datagram)
            scope: Scope = (address, port, 9, source_id)
            sets = self._fast_sets(datagram, V9_HEADER.size, length, scope, False)
            if sets is None:
                return None
            export_ms = secs * 1000
            boot_ms = export_ms - uptime
            done = self._fast_encode(datagram, sets, scope, received_at, jsons, b"9", boot_ms, export_ms, top)
            if done is None:
                return None
            entry = self._fast_counted(address, length, now, done[1])
            self._sequence(scope, sequence, 1, entry, "lost_datagrams")
        elif version == 10:
            if length < IPFIX_HEADER.size:
                return None
            _, end, export_time, sequence, domain = IPFIX_HEADER.unpack_from(datagram)
            if not IPFIX_HEADER.size <= end <= length:
                return None
            scope = (address, port, 10, domain)
            sets = self._fast_sets(datagram, IPFIX_HEADER.size, end, scope, True)
            if sets is None:
                return None
            boot_ms = self.templates.boot_ms.get(scope, 0)
            done = self._fast_encode(datagram, sets, scope, received_at, jsons, b"10", boot_ms, export_time * 1000, top)
            if done is None:
                return None
            entry = self._fast_counted(address, length, now, done[1])
            self._sequence(scope, sequence, done[1], entry, "lost_records")
        elif version == "sflow5":
            address_type = int.from_bytes(datagram[4:8], "big")
            if address_type == 1 and length >= 28:
                agent, position = socket.inet_ntoa(datagram[8:12]), 12
            elif address_type == 2 and length >= 40:
                agent, position = ntop6(datagram[8:24]), 24
            else:
                return None
            sub_agent, sequence, uptime, samples = _SFLOW_TAIL.unpack_from(datagram, position)
            head = b'{"service":"flow","kind":"flow","received_at":%b,"source":%b,"exporter":%b,"version":"sflow5"' % (
                received_at,
                jsons[0],
                _encode_json(agent),
            )
            mid = b',"sflow_sub_agent":%d,"sflow_uptime_ms":%d' % (sub_agent, uptime)
            done = fastpath.sflow(datagram, position + 16, samples, head, mid, top)
            if done is None:
                return None
            entry = self._fast_counted(address, length, now, done[1])
            self._sequence((agent, sub_agent), sequence, 1, entry, "lost_datagrams")
        else:
            return None
        if self.hold.sets:
            self.expire(now)
        return done

    def _fast_counted(self, address: str, length: int, now: float, records: int) -> dict[str, Any]:
        self._address = address
        entry = self.stats.exporter(address)
        entry["datagrams"] += 1
        entry["bytes"] += length
        entry["last_seen"] = now
        entry["records"] += records
        return entry

    def _fast_encode(
        self,
        datagram: bytes,
        sets: list[tuple[Any, int, int]],
        scope: Scope,
        received_at: bytes,
        jsons: tuple[bytes, bytes],
        version: bytes,
        boot_ms: int,
        export_ms: int,
        top: Any,
    ) -> tuple[bytes, int] | None:
        rate = self.templates.default_rates.get(scope)
        if (rate is not None and not 0 <= rate < _U64) or not -_I64 <= boot_ms < _I64:
            return None
        context = (received_at, *jsons, version, _encode_json(scope[3]), _encode_json(rate))
        return fastpath.encode(datagram, sets, context, rate, boot_ms, export_ms, top)

    def _fast_sets(
        self, datagram: bytes, position: int, end: int, scope: Scope, ipfix: bool
    ) -> list[tuple[Any, int, int]] | None:
        """The data sets of a v9 / IPFIX message with their programs, or None when any set is
        for the reference: templates, data waiting for its template, damage, a template the
        compiled path does not write."""
        template_sets = (2, 3) if ipfix else (0, 1)
        sets: list[tuple[Any, int, int]] = []
        get = self.templates.get
        while end - position >= 4:
            set_id, length = SET_HEADER.unpack_from(datagram, position)
            if length < 4:
                if not ipfix and set_id == 0 and length == 0:
                    break
                return None
            if position + length > end:
                return None
            # An exporter repeating templates the cache holds as they are changes nothing
            # (`TemplateCache.learn`), unless data waits in the hold: such sets pass.
            if set_id in template_sets and (
                self.hold.sets or not self._is_refresh(datagram[position + 4 : position + length], scope, set_id)
            ):
                return None
            if set_id >= 256:
                template = get(scope, set_id)
                if template is None:
                    return None
                cached = self._programs.get((scope, set_id))
                if cached is None or cached[0] is not template:
                    cached = self._new_program(scope, template)
                if cached[1] is None:
                    return None
                sets.append((cached[1], position + 4, position + length))
            position += length
        return sets

    def _is_refresh(self, body: bytes, scope: Scope, set_id: int) -> bool:
        """Whether a template set repeats templates the cache holds, field for field."""
        key = (scope, body)
        known = self._refreshes.get(key)
        if known is None:
            ipfix = scope[2] == 10
            parse = ipfix_templates if ipfix else v9_templates
            try:
                parsed = list(parse(body, set_id == (3 if ipfix else 1), 0.0))
            except DECODE_ERRORS:
                return False
            if not parsed or any(template is None for _, template in parsed):
                return False  # a withdrawal, or nothing (the reference decides what that means)
            known = []
            for template_id, template in parsed:
                held = self.templates.get(scope, template_id)
                assert template is not None
                if held is None or held.fields != template.fields or held.options != template.options:
                    return False
                known.append((template_id, held))
            if len(body) <= MAX_REFRESH_BYTES:  # memory bounded: at most MAX_REFRESHES x this
                if len(self._refreshes) >= MAX_REFRESHES:
                    self._refreshes.clear()
                self._refreshes[key] = known
        get = self.templates.get
        return all(get(scope, template_id) is held for template_id, held in known)

    def _new_program(self, scope: Scope, template: Template) -> tuple[Template, Any]:
        shape = (template.fields, template.options)
        if shape in self._shared_programs:
            compiled = self._shared_programs[shape]
        else:
            if len(self._shared_programs) >= MAX_PROGRAMS:
                self._shared_programs.clear()
            compiled = self._shared_programs[shape] = fastpath.program(template.fields, template.options)
        if len(self._programs) >= MAX_SEQUENCE_SCOPES:
            self._programs.clear()
        cached = self._programs[(scope, template.template_id)] = (template, compiled)
        return cached

    # ---- NetFlow v5 ---------------------------------------------------------------------------

    def _v5(
        self,
        datagram: bytes,
        address: str,
        source: str,
        received_at: str,
        records: list[dict[str, Any]],
        entry: dict[str, Any],
    ) -> None:
        if len(datagram) < V5_HEADER.size:
            raise ValueError(f"header needs {V5_HEADER.size} bytes, datagram has {len(datagram)}")
        _, count, uptime, secs, nsecs, sequence, engine_type, engine_id, sampling = V5_HEADER.unpack_from(datagram)
        export_ms = secs * 1000 + nsecs // 1_000_000
        interval = sampling & 0x3FFF  # the top two bits are the sampling mode
        context = SetContext(
            received_at, source, address, 5, 0, export_ms, export_ms - uptime, interval or None,
            header={"engineType": engine_type, "engineId": engine_id},
        )  # fmt: skip
        available = (len(datagram) - V5_HEADER.size) // V5_RECORD_LENGTH
        records += V5_PLAN.decode(
            datagram[V5_HEADER.size : V5_HEADER.size + min(count, available) * V5_RECORD_LENGTH], context
        )
        self._sequence((address, 5, engine_type, engine_id), sequence, count, entry, "lost_records")
        if available < count:
            raise ValueError(f"header announces {count} records, datagram holds {available}")

    # ---- NetFlow v9 and IPFIX -----------------------------------------------------------------

    def _v9(
        self,
        datagram: bytes,
        address: str,
        port: int,
        source: str,
        received_at: str,
        now: float,
        records: list[dict[str, Any]],
        entry: dict[str, Any],
    ) -> None:
        if len(datagram) < V9_HEADER.size:
            raise ValueError(f"header needs {V9_HEADER.size} bytes, datagram has {len(datagram)}")
        _, _, uptime, secs, sequence, source_id = V9_HEADER.unpack_from(datagram)
        scope: Scope = (address, port, 9, source_id)
        self._sequence(scope, sequence, 1, entry, "lost_datagrams")
        context = self._context(scope, received_at, source, secs * 1000, secs * 1000 - uptime)
        self._sets(datagram, V9_HEADER.size, len(datagram), scope, context, now, records, entry)

    def _ipfix(
        self,
        datagram: bytes,
        address: str,
        port: int,
        source: str,
        received_at: str,
        now: float,
        records: list[dict[str, Any]],
        entry: dict[str, Any],
    ) -> None:
        if len(datagram) < IPFIX_HEADER.size:
            raise ValueError(f"header needs {IPFIX_HEADER.size} bytes, datagram has {len(datagram)}")
        _, length, export_time, sequence, domain = IPFIX_HEADER.unpack_from(datagram)
        if not IPFIX_HEADER.size <= length <= len(datagram):
            raise ValueError(f"message length {length} does not fit the {len(datagram)}-byte datagram")
        scope: Scope = (address, port, 10, domain)
        context = self._context(scope, received_at, source, export_time * 1000, self.templates.boot_ms.get(scope, 0))
        before = len(records)
        self._released = 0
        held = self._sets(datagram, IPFIX_HEADER.size, length, scope, context, now, records, entry)
        # IPFIX counts data records; released held records belong to earlier messages.
        count = None if held else len(records) - before - self._released
        self._sequence(scope, sequence, count, entry, "lost_records")

    def _context(self, scope: Scope, received_at: str, source: str, export_ms: int, boot_ms: int) -> SetContext:
        cache = self.templates
        return SetContext(
            received_at, source, scope[0], scope[2], scope[3], export_ms, boot_ms,
            cache.default_rates.get(scope), cache.samplers.get(scope) or {},
        )  # fmt: skip

    def _sets(
        self,
        datagram: bytes,
        position: int,
        end: int,
        scope: Scope,
        context: SetContext,
        now: float,
        records: list[dict[str, Any]],
        entry: dict[str, Any],
    ) -> int:
        """Walk the sets of a v9 or IPFIX message; returns how many data sets were held."""
        ipfix = scope[2] == 10
        template_sets = (2, 3) if ipfix else (0, 1)
        held = 0
        while end - position >= SET_HEADER.size:
            set_id, length = SET_HEADER.unpack_from(datagram, position)
            if length < SET_HEADER.size:
                if not ipfix and set_id == 0 and length == 0:
                    break  # v9 exporters may pad the datagram with zeros
                raise ValueError(f"set {set_id} at byte {position} claims {length} bytes, less than its header")
            if position + length > end:
                # Cut short in transit or by the exporter: decode the records that are whole.
                if set_id >= 256 and self.templates.get(scope, set_id) is not None:
                    records += self._data(scope, set_id, datagram[position + SET_HEADER.size : end], context, entry)
                raise ValueError(f"set {set_id} at byte {position} claims {length} bytes, {end - position} remain")
            body = datagram[position + SET_HEADER.size : position + length]
            position += length
            if set_id in template_sets:
                self._templates(body, scope, set_id == template_sets[1], ipfix, now, records, entry)
            elif set_id >= 256:
                template = self.templates.get(scope, set_id)
                if template is None:
                    held += 1
                    entry["held_sets"] += 1
                    for pushed in self.hold.hold(HeldSet((scope, set_id), now, body, context)):
                        self.stats.exporter(pushed.key[0][0])["expired_sets"] += 1
                    continue
                records += self._data(scope, set_id, body, context, entry)
        return held

    def _templates(
        self,
        body: bytes,
        scope: Scope,
        options: bool,
        ipfix: bool,
        now: float,
        records: list[dict[str, Any]],
        entry: dict[str, Any],
    ) -> None:
        cache = self.templates
        parse = ipfix_templates if ipfix else v9_templates
        for template_id, template in parse(body, options, now):
            if template is None:
                whole_kind = template_id in (2, 3)
                entry["templates_withdrawn"] += cache.withdraw(scope, None if whole_kind else template_id, options)
                continue
            known = cache.get(scope, template_id)
            if not cache.learn(scope, template):
                entry["templates_refused"] += 1
                entry["last_error"] = (
                    f"template {template_id} from {scope[0]}:{scope[1]} refused: template limit reached"
                )
                continue
            if known is None or known.fields != template.fields:
                entry["templates_learned"] += 1
            records += self._release(scope, template_id, entry)

    def _release(self, scope: Scope, template_id: int, entry: dict[str, Any]) -> list[dict[str, Any]]:
        """Decode the data sets that waited for this template."""
        cache = self.templates
        records: list[dict[str, Any]] = []
        for waiting in self.hold.release((scope, template_id)):
            # Sampler tables and boot time may have come with the template: use them.
            context = waiting.context
            context.samplers = cache.samplers.get(scope) or {}
            context.default_rate = cache.default_rates.get(scope)
            context.boot_ms = context.boot_ms or cache.boot_ms.get(scope, 0)
            released = self._data(scope, template_id, waiting.body, context, entry)
            entry["released_records"] += len(released)
            self._released += len(released)
            records += released
        return records

    def _data(
        self, scope: Scope, template_id: int, body: bytes, context: SetContext, entry: dict[str, Any]
    ) -> list[dict[str, Any]]:
        template = self.templates.get(scope, template_id)
        if template is None:
            return []
        try:
            plan = self.templates.plan(scope, template)
        except PlanError as exc:
            self.stats.error(scope[0], f"template {template_id} from {scope[0]}:{scope[1]} cannot be decoded: {exc}")
            return []
        decoded = plan.decode(body, context)
        if template.options and decoded:
            self._learn_from_options(scope, decoded, context)
        return decoded

    def _learn_from_options(self, scope: Scope, decoded: list[dict[str, Any]], context: SetContext) -> None:
        """Sampler tables and the exporter's boot time come in options data (RFC 7011 4.1-4.3,
        RFC 5476); later data records of the scope use them."""
        cache = self.templates
        for record in decoded:
            interval, space = record.get("samplingPacketInterval"), record.get("samplingPacketSpace")
            rate = None
            if isinstance(interval, int) and isinstance(space, int) and interval:
                rate = (interval + space) // interval  # RFC 5477: take `interval`, skip `space`
            rate = rate or record.get("samplingInterval") or record.get("samplerRandomInterval") or interval
            size, population = record.get("samplingSize"), record.get("samplingPopulation")
            if not rate and isinstance(size, int) and isinstance(population, int) and size:
                rate = population // size
            probability = record.get("samplingProbability")
            if not rate and isinstance(probability, float) and 0 < probability <= 1:
                rate = round(1 / probability)
            if isinstance(rate, int) and rate > 0:
                sampler = record.get("samplerId", record.get("selectorId"))
                cache.set_sampler(scope, sampler if isinstance(sampler, int) else None, rate)
            boot = record.get("systemInitTimeMilliseconds")
            if isinstance(boot, int) and boot > 0:
                cache.set_boot(scope, boot)
        context.samplers = cache.samplers.get(scope) or {}
        context.default_rate = cache.default_rates.get(scope)

    # ---- sequence numbers ---------------------------------------------------------------------

    def _sequence(
        self, key: tuple[Any, ...], sequence: int, count: int | None, entry: dict[str, Any], unit: str
    ) -> None:
        """Infer loss from a sequence number: a forward jump is lost datagrams or records; a
        jump back (or beyond half the number space forward) is a restart or reordering."""
        if self.sequence_log is not None:
            self.sequence_log.note((self._address, unit, *key), sequence, count)
            return
        expected = self._next_sequence.get(key)
        if count is None:
            self._next_sequence.pop(key, None)
            return
        if expected is not None and sequence != expected:
            gap = (sequence - expected) & 0xFFFFFFFF
            if gap < 0x80000000:
                entry["sequence_gaps"] += 1
                entry[unit] += gap
            else:
                entry["sequence_resets"] += 1
        if expected is None and len(self._next_sequence) >= MAX_SEQUENCE_SCOPES:
            self._next_sequence.clear()
        self._next_sequence[key] = (sequence + count) & 0xFFFFFFFF


def decoder_for(settings: FlowSettings, accept: Collection[Version] = ACCEPT_ALL) -> FlowDecoder:
    """A decoder with the template and hold limits of the `[flow]` settings."""
    templates = TemplateCache(settings.max_templates, settings.max_templates_per_exporter)
    hold = HoldQueue(settings.hold_sets, settings.hold_bytes, settings.hold_seconds)
    return FlowDecoder(templates, hold, accept)


def _names(accept: frozenset[Version]) -> list[str]:
    return [NAMES[v] for v in (5, 9, 10, "sflow5") if v in accept]
