"""Vendor dialects of syslog seen at venues, recognised from the message body.

Each matcher takes the text left after the BSD header (or after the PRI when a device sends no
header) and returns a `ProfileMatch`, or None when the text is not in that dialect. Matchers
are pure functions of the text: times come back as a `WallClock` exactly as the device wrote
it, and `parse.py` turns them into UTC against the receive time. Vendor fields land in
`structured_data` under the profile's name, so a user finds them under the `format` value.
"""

from __future__ import annotations

import csv
import re
from itertools import compress
from typing import NamedTuple

from collectors.syslog.shapes import Shapes

_TRAILING = " \t\r\n\x00\x0b\x0c"  # trimmed from the end of a message, as parse.py does

# Both spellings occur: "Jan" from BSD syslogd and "JAN" from some embedded stacks.
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
MONTHS: dict[str, int] = {
    spelling: number for number, name in enumerate(_MONTH_NAMES, 1) for spelling in (name, name.title(), name.upper())
}

# Zone abbreviations devices print after the time (Cisco `clock timezone`). Ambiguous ones
# (IST, CST-as-China) are left out: an unknown zone is flagged rather than guessed.
ZONE_OFFSETS_S: dict[str, int] = {
    "UTC": 0, "GMT": 0, "Z": 0, "UT": 0, "WET": 0, "WEST": 3600, "BST": 3600,
    "CET": 3600, "CEST": 7200, "MET": 3600, "MEST": 7200, "EET": 7200, "EEST": 10800,
    "MSK": 10800, "EST": -18000, "EDT": -14400, "CST": -21600, "CDT": -18000,
    "MST": -25200, "MDT": -21600, "PST": -28800, "PDT": -25200, "AKST": -32400,
    "AKDT": -28800, "HST": -36000, "AST": -14400, "NZST": 43200, "NZDT": 46800,
    "AEST": 36000, "AEDT": 39600, "ACST": 34200, "AWST": 28800, "JST": 32400,
    "KST": 32400, "HKT": 28800, "SGT": 28800,
}  # fmt: skip

_SEVERITY_NAMES = {
    "emerg": 0, "emergency": 0, "alert": 1, "crit": 2, "critical": 2, "err": 3,
    "error": 3, "warning": 4, "warn": 4, "notice": 5, "notification": 5, "info": 6,
    "information": 6, "informational": 6, "debug": 7, "debugging": 7,
}  # fmt: skip

# ArubaOS prints its own four-letter levels in angle brackets.
_ARUBA_LEVELS = {
    "EMER": 0, "ALRT": 1, "ALERT": 1, "CRIT": 2, "ERRS": 3, "ERR": 3, "WARN": 4,
    "NOTI": 5, "INFO": 6, "DBUG": 7, "DEBUG": 7,
}  # fmt: skip


class WallClock(NamedTuple):
    """A time as the device printed it; `year` None when the wire carries no year."""

    year: int | None
    month: int
    day: int
    hour: int
    minute: int
    second: int
    fraction: str  # "" or "." followed by 1-6 digits, as sent
    offset_s: int | None  # east of UTC; None when the device names no zone (read as UTC)
    # The device named a zone we cannot resolve ("IST" is India, Israel or Ireland): the time
    # stays local, unresolved, rather than being passed off as UTC.
    zone_unknown: bool = False


class ProfileMatch(NamedTuple):
    """What a vendor dialect adds on top of the header. None fields keep the header's value."""

    format: str
    hostname: str | None
    app_name: str | None
    procid: str | None
    msgid: str | None
    message: str
    structured_data: dict[str, dict[str, str]]
    clock: WallClock | None
    severity: int | None  # the body's own severity, used only when the PRI is missing
    warnings: tuple[str, ...]
    # A UTC epoch time the device sent ((seconds, "" or "." and its digits)): exact, so it is
    # preferred over `clock` and over the header's stamp.
    epoch: tuple[int, str] | None = None


def zone_offset(zone: str) -> int | None:
    """Seconds east of UTC for "UTC", "CET", "+01:00", "-0800"; None if unknown."""
    named = ZONE_OFFSETS_S.get(zone.upper())
    if named is not None:
        return named
    if len(zone) in (5, 6) and zone[0] in "+-":
        digits = zone[1:].replace(":", "")
        if len(digits) == 4 and digits.isascii() and digits.isdigit():
            hours, minutes = int(digits[:2]), int(digits[2:])
            if hours <= 23 and minutes <= 59:
                sign = -1 if zone[0] == "-" else 1
                return sign * (hours * 3600 + minutes * 60)
    return None


# Digits of an integer epoch time -> the power of ten it counts in (s, ms, us, ns).
_EPOCH_SCALES = {9: 0, 10: 0, 12: 3, 13: 3, 15: 6, 16: 6, 18: 9, 19: 9}


def epoch_digits(text: str) -> tuple[int, str] | None:
    """(seconds, "" or "." and the sub-second digits) of an integer epoch time in seconds,
    milliseconds, microseconds or nanoseconds (told apart by length: years 2001-2286)."""
    scale = _EPOCH_SCALES.get(len(text))
    if scale is None or not (text.isascii() and text.isdigit()):
        return None
    if scale == 0:
        return int(text), ""
    return int(text[:-scale]), "." + text[-scale:]


def epoch_decimal(text: str) -> tuple[int, str] | None:
    """(seconds, "" or "." and the digits) of "1795752611.123456789" (Meraki's stamp)."""
    seconds, dot, fraction = text.partition(".")
    if not (9 <= len(seconds) <= 10 and seconds.isascii() and seconds.isdigit()):
        return None
    if dot and not (0 < len(fraction) <= 9 and fraction.isascii() and fraction.isdigit()):
        return None
    return int(seconds), dot + fraction


# --- Cisco IOS / IOS-XE / NX-OS / ASA / AireOS ----------------------------------------------

# `[counter: ][origin-host: ][seq: ][origin-host: ][*task: ][*|.]timestamp[ zone]: %FAC-SEV-MNEMONIC: text`
# IOS puts the `logging origin-id` hostname before or after the `service sequence-numbers`
# number depending on release; AireOS WLCs name the task (`*spamApTask4:`) and may use `#`.
_UPTIME = r"\d+[ywdh]\d+[wdhm]"  # 1w2d, 2d03h: time since boot instead of a date
_ORIGIN = r"(?!" + _UPTIME + r": )(?!\d+: )[A-Za-z0-9][\w.\-]{0,254}"  # not a bare number: that is a counter
_CISCO = re.compile(
    r"(?:(?P<counter>\d{1,10})?: )?"  # message counter; NX-OS sends an empty one
    r"(?:(?P<origin>" + _ORIGIN + r"): )?"  # `logging origin-id` hostname
    r"(?:(?P<sequence>\d{1,10}): )?"  # `service sequence-numbers`
    r"(?:(?P<origin_after>" + _ORIGIN + r"): )?"  # the origin-id after the sequence number
    r"(?:\*(?P<task>[A-Za-z][^:*]{0,63}): )?"  # AireOS task name
    r"(?:(?:(?P<mark>[*.]?)"
    r"(?:(?P<year_first>\d{4}) )?"  # NX-OS puts the year first
    r"(?P<month>[A-Za-z]{3}) {1,2}(?P<day>\d{1,2}) "
    r"(?:(?P<year>\d{4}) )?"  # IOS `service timestamps ... year`
    r"(?P<hour>\d{1,2}):(?P<minute>\d\d):(?P<second>\d\d)(?P<fraction>\.\d{1,6})?"
    r"(?: (?P<zone>[A-Za-z]{1,6}|[+-]\d\d:?\d\d))?"
    r"|[*.]?(?P<uptime>" + _UPTIME + r"|\d+:\d\d:\d\d)"  # `service timestamps ... uptime`
    r"): ?)?"
    r"[%#](?P<facility>[A-Z0-9][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*?)"
    r"-(?P<severity>[0-7])-(?P<mnemonic>[A-Za-z0-9_]+) ?: ?"
    r"(?P<text>.*)",
    re.S | re.A,
)
_ASA_FACILITIES = frozenset({"ASA", "FTD", "FWSM", "PIX"})


def _cisco_clock(
    year_first: str | None,
    month_name: str,
    day: str,
    year_after: str | None,
    hour: str,
    minute: str,
    second: str,
    fraction: str | None,
    zone: str | None,
) -> tuple[WallClock | None, tuple[str, ...]]:
    month = MONTHS.get(month_name)
    if month is None:
        return None, ("bad_timestamp",)
    offset = None
    zone_unknown = False
    warnings: tuple[str, ...] = ()
    if zone is not None:
        offset = zone_offset(zone)
        if offset is None:
            zone_unknown = True
            warnings = ("unknown_timezone",)
    year = year_first or year_after
    clock = WallClock(
        int(year) if year else None,
        month,
        int(day),
        int(hour),
        int(minute),
        int(second),
        fraction or "",
        offset,
        zone_unknown,
    )
    return clock, warnings


def match_cisco(body: str) -> ProfileMatch | None:
    m = _CISCO.match(body)
    if m is None:
        return None
    # One groups() call: a named lookup per group costs more than the match's own work here.
    (
        counter, origin, sequence, origin_after, task, mark, year_first, month, day, year, hour, minute, second,
        fraction, zone, uptime, facility, severity, mnemonic, text,
    ) = m.groups()  # fmt: skip
    if task is None and body[m.start(17) - 1] == "#":
        return None  # `#FAC-SEV-MNEMONIC` is AireOS only
    if month is not None:
        clock, warnings = _cisco_clock(year_first, month, day, year, hour, minute, second, fraction, zone)
    else:
        clock, warnings = None, ()
    if facility in _ASA_FACILITIES:
        profile = "cisco_asa"
    elif task is not None:
        profile = "cisco_aireos"
    elif year_first is not None:
        profile = "cisco_nxos"
    else:
        profile = "cisco_ios"
    fields = {"facility": facility, "severity": severity, "mnemonic": mnemonic}
    if counter is not None:
        fields["counter"] = counter
    if sequence is not None:
        fields["sequence"] = sequence
    if uptime is not None:
        fields["uptime"] = uptime
    if task is not None:
        fields["task"] = task
    if mark:
        # `*`: the clock was never synchronised; `.`: NTP sync was lost since.
        fields["clock"] = "unsynchronised" if mark == "*" else "sync_lost"
    if clock is not None and clock.zone_unknown:
        fields["timezone"] = zone
    return ProfileMatch(
        profile,  # format
        origin or origin_after,  # hostname
        facility,  # app_name
        None,  # procid
        f"{facility}-{severity}-{mnemonic}",  # msgid
        text,  # message
        {profile: fields},  # structured_data
        clock,  # clock
        int(severity),  # severity
        warnings,  # warnings
    )


# --- Fortinet FortiOS: key=value pairs, usually with no syslog header at all -----------------

# key="quoted value" (group 2, closing quote optional at the end) or key=bare (group 3).
_KEY_VALUE = re.compile(r'([A-Za-z_][\w\-]*)=(?:"([^"\\]*(?:\\.[^"\\]*)*)"?|(\S*))', re.S | re.A)
_KV_ESCAPE = re.compile(r'\\(["\\])')
_FORTI_DATE = re.compile(r"(\d{4})-(\d\d)-(\d\d)", re.A)
_FORTI_TIME = re.compile(r"(\d\d):(\d\d):(\d\d)", re.A)


# A FortiGate writes the lines of one log id with the same keys, in the same order, quoted the
# same way: learnt shapes (shapes.py) read them in one match each. A line a shape fullmatches is
# one `_KEY_VALUE` reads as exactly those pairs (single spaces, each value `"no quote"` or bare:
# not starting with a quote, no whitespace), so shapes change no output. Shapes only ever see
# bodies without a backslash (an escape would make `_KEY_VALUE` read a quote differently).
_SHAPE_QUOTED = '="([^"]*)"'
_SHAPE_BARE = '=([^\\s"]\\S*|)'
_SHAPE_EMPTY = '=(?:"")?()'  # `k=` and `k=""` both read as ""
_FORTI_SHAPES = Shapes()


def _forti_fields(body: str, at: int) -> dict[str, str]:
    """The pairs of a FortiOS body without backslashes, as `_KEY_VALUE` reads them (`at`: where
    "logid=" is)."""
    shape_key = body[at + 6 : at + 24]  # the log id, and a little after it
    known = _FORTI_SHAPES.read(shape_key, body)
    if known is not None:
        return known[0]
    pairs = _KEY_VALUE.findall(body)
    fields = {key: quoted or bare for key, quoted, bare in pairs}
    if _FORTI_SHAPES.wants(shape_key):
        source = " ".join(
            re.escape(key) + (_SHAPE_QUOTED if quoted else _SHAPE_BARE if bare else _SHAPE_EMPTY)
            for key, quoted, bare in pairs
        )
        _FORTI_SHAPES.offer(shape_key, source, tuple(key for key, _, _ in pairs), body, 0, True, fields)
    return fields


FORTI_STARTS = ("date=", "logver=", "timestamp=", "itime=")  # how a FortiOS body starts


def match_fortios(body: str) -> ProfileMatch | None:
    if not body.startswith(FORTI_STARTS):
        return None
    logid_at = body.find("logid=")
    if logid_at < 0:
        return None
    if "\\" in body:  # only quoted values are escaped; bare ones (Windows paths) stay as sent
        pairs = _KEY_VALUE.findall(body)
        fields = {key: _KV_ESCAPE.sub(r"\1", quoted) if quoted else bare for key, quoted, bare in pairs}
    else:
        fields = _forti_fields(body, logid_at)
    clock = None
    warnings: tuple[str, ...] = ()
    # FortiOS 6.2+ sends `eventtime=` in UTC nanoseconds (older releases seconds or
    # microseconds): exact, and free of the `tz` guesswork of date= and time=.
    eventtime = fields.get("eventtime")
    epoch = None if eventtime is None else epoch_digits(eventtime)
    date_m = None if epoch is not None else _FORTI_DATE.fullmatch(fields.get("date", ""))
    time_m = None if date_m is None else _FORTI_TIME.fullmatch(fields.get("time", ""))
    if date_m and time_m:
        offset = None
        zone_unknown = False
        zone = fields.get("tz")
        if zone:
            offset = zone_offset(zone)
            if offset is None:
                zone_unknown = True
                warnings = ("unknown_timezone",)
        year, month, day = map(int, date_m.groups())
        hour, minute, second = map(int, time_m.groups())
        clock = WallClock(year, month, day, hour, minute, second, "", offset, zone_unknown)
    return ProfileMatch(
        "fortios",  # format
        fields.get("devname") or None,  # hostname
        fields.get("type") or None,  # app_name
        None,  # procid
        fields.get("logid") or None,  # msgid
        fields.get("msg") or body,  # message; traffic logs have no msg=: keep the whole text
        {"fortios": fields},  # structured_data
        clock,  # clock
        _SEVERITY_NAMES.get(fields.get("level", "")),  # severity
        warnings,  # warnings
        epoch,  # epoch
    )


# --- Palo Alto PAN-OS: CSV after a BSD (or 5424) header -----------------------------------

_PAN_HEAD = re.compile(r"\d{1,3},\d{4}/\d\d/\d\d \d\d:\d\d:\d\d,[^,]*,([A-Z][A-Z\-_]*),", re.A)
_PAN_TIME = re.compile(r"(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)", re.A)

# Field names as PAN-OS's own syslog field descriptions spell them; "" = FUTURE_USE.
_PAN_HEADER_FIELDS = ("", "receive_time", "serial", "type", "subtype", "", "time_generated")
_PAN_SESSION_FIELDS = (
    "src", "dst", "natsrc", "natdst", "rule", "srcuser", "dstuser", "app", "vsys", "from",
    "to", "inbound_if", "outbound_if", "logset", "", "sessionid", "repeatcnt", "sport",
    "dport", "natsport", "natdport", "flags", "proto", "action",
)  # fmt: skip
_PAN_FIELDS: dict[str, tuple[str, ...]] = {
    "TRAFFIC": (
        *_PAN_HEADER_FIELDS, *_PAN_SESSION_FIELDS,
        "bytes", "bytes_sent", "bytes_received", "packets", "start", "elapsed", "category",
        "", "seqno", "actionflags", "srcloc", "dstloc", "", "pkts_sent", "pkts_received",
        "session_end_reason",
    ),
    "THREAT": (
        *_PAN_HEADER_FIELDS, *_PAN_SESSION_FIELDS,
        "misc", "threatid", "category", "severity", "direction", "seqno", "actionflags",
        "srcloc", "dstloc", "", "contenttype",
    ),
    "SYSTEM": (
        *_PAN_HEADER_FIELDS, "vsys", "eventid", "object", "", "", "module", "severity", "opaque", "seqno",
        "actionflags",
    ),
    "CONFIG": (
        *_PAN_HEADER_FIELDS, "host", "vsys", "cmd", "admin", "client", "result", "path",
    ),
}  # fmt: skip


def _split_csv(line: str) -> list[str]:
    if '"' not in line:  # the common case; exact unless a field is quoted
        return line.split(",")
    try:
        return next(csv.reader([line]))
    except csv.Error:  # a bare CR/LF the csv module refuses: keep the fields, quotes and all
        return line.split(",")


def _pan_layout(names: tuple[str, ...]) -> tuple[int, tuple[str, ...], tuple[bool, ...]]:
    """(length, the named fields, which CSV columns they are): a row at least that long reads as
    `dict(zip(keys, compress(row, columns)))`, what `dict(zip(names, row))` less "" holds. Each
    name is used once (module-level assert), so a name's first place is also its value's."""
    keys = tuple(name for name in names if name)
    assert len(set(keys)) == len(keys), names
    return len(names), keys, tuple(bool(name) for name in names)


_PAN_LAYOUTS = {log_type: _pan_layout(names) for log_type, names in _PAN_FIELDS.items()}
_PAN_HEADER_LAYOUT = _pan_layout(_PAN_HEADER_FIELDS)
# time_generated text -> its WallClock (None: not a time): a firewall logs many a second.
_PAN_CLOCKS: dict[str, WallClock | None] = {}


def _pan_clock(text: str) -> WallClock | None:
    clock = _PAN_CLOCKS.get(text, _MISSING_CLOCK)
    if clock is _MISSING_CLOCK:
        clock = None
        time_m = _PAN_TIME.fullmatch(text)
        if time_m:
            year, month, day, hour, minute, second = map(int, time_m.groups())
            clock = WallClock(year, month, day, hour, minute, second, "", None)
        if len(_PAN_CLOCKS) >= 4096:
            _PAN_CLOCKS.clear()
        _PAN_CLOCKS[text] = clock
    return clock


_MISSING_CLOCK = WallClock(0, 0, 0, 0, 0, 0, "", None)  # cache-miss marker, compared by identity


def match_paloalto(body: str) -> ProfileMatch | None:
    m = _PAN_HEAD.match(body)
    if m is None:
        return None
    log_type = m.group(1)
    values = _split_csv(body)
    size, keys, columns = _PAN_LAYOUTS.get(log_type, _PAN_HEADER_LAYOUT)
    if len(values) >= size:
        fields = dict(zip(keys, compress(values, columns), strict=True))
    else:  # a short row: the names it reaches
        fields = dict(zip(_PAN_FIELDS.get(log_type, _PAN_HEADER_FIELDS), values, strict=False))
        fields.pop("", None)
    return ProfileMatch(
        "paloalto",  # format
        None,  # hostname
        None,  # app_name
        None,  # procid
        log_type,  # msgid
        body,  # message
        {"paloalto": fields},  # structured_data
        _pan_clock(fields.get("time_generated", "")),  # clock
        None,  # severity
        (),  # warnings
    )


def match_body(body: str) -> ProfileMatch | None:
    """Dialects recognised from the text right after the header (or the PRI)."""
    first = body[:1]
    if first == "%" or (first.isdigit() and ": %" in body):
        return match_cisco(body)
    if first.isdigit():
        return match_paloalto(body)
    if first and first in "dlti":
        return match_fortios(body)
    return None


# --- Cisco Meraki: `1 <epoch> <device> <category> [event] key=value ... [key: text]` ----------

# key='quoted' / key="quoted" / key=bare (Meraki writes `type= rogue_ssid_detected`: a bare value
# after one space counts when it is no key=value itself).
_MERAKI_PAIR = re.compile(
    r"""([A-Za-z_][\w.\-]*)=(?:'([^']*)'|"([^"]*)"|(?: (?![^\s=]*=)(?=\S))?(\S*))""",
    re.S | re.A,
)
# `key: the rest of the line` ends the pairs (`pattern: allow all`, `request: GET https://...`):
# the leftmost `(?:^| )([A-Za-z_][\w\-]*): `, found by `_meraki_line` without a regex search.
_MERAKI_LINE_KEY = re.compile(r"[A-Za-z_][\w\-]*", re.A)


def _meraki_line(rest: str) -> tuple[int, int, str] | None:
    """(start, end, key) of the leftmost `key: ` after the start or a space, as a regex search for
    `(?:^| )([A-Za-z_][\\w\\-]*): ` finds it (start: the space, or 0). A key holds no space and no
    colon, so it runs back from its `: ` to the last space before it: the leftmost `: ` with a
    valid key there is the leftmost match."""
    at = rest.find(": ")
    while at >= 0:
        space = rest.rfind(" ", 0, at)
        if _MERAKI_LINE_KEY.fullmatch(rest, space + 1, at) is not None:
            return max(space, 0), at + 2, rest[space + 1 : at]
        at = rest.find(": ", at + 2)
    return None


_MERAKI_EVENT = re.compile(r"[a-z][a-z0-9_]*", re.A)
# Learnt shapes of the pairs (shapes.py): a text one fullmatches, `_MERAKI_PAIR` reads as the same
# pairs (single spaces; a bare value starts with no quote or space and holds no whitespace, so the
# `key= value` reading never applies: the next token is a key=).
_MERAKI_BARE = "=([^\\s'\"]\\S*|)"
_MERAKI_EMPTY = "=(?:''|\"\")?()"  # `k=`, `k=''` and `k=""` all read as ""
_MERAKI_SHAPES = Shapes()


def match_meraki(device: str, text: str) -> ProfileMatch:
    """The part after Meraki's epoch stamp and device name: category, event type, fields."""
    category, _, rest = text.partition(" ")
    rest = rest.rstrip(_TRAILING)
    fields = {"category": category}
    line = _meraki_line(rest)
    pairs_text = rest if line is None else rest[: line[0]]
    if "=" in pairs_text:
        first = pairs_text.partition(" ")[0]
        shape_key = category + " " + first if first.startswith("type=") else category
        known = _MERAKI_SHAPES.read(shape_key, pairs_text)
        if known is not None:
            fields.update(known[0])
        else:
            found = _MERAKI_PAIR.findall(pairs_text)
            pairs = {key: single or double or bare for key, single, double, bare in found}
            fields.update(pairs)
            if _MERAKI_SHAPES.wants(shape_key):
                source = " ".join(
                    re.escape(key)
                    + ("='([^']*)'" if single else '="([^"]*)"' if double else _MERAKI_BARE if bare else _MERAKI_EMPTY)
                    for key, single, double, bare in found
                )
                names = tuple(key for key, _, _, _ in found)
                _MERAKI_SHAPES.offer(shape_key, source, names, pairs_text, 0, True, pairs)
    if line is not None:
        fields[line[2]] = rest[line[1] :]
    event = None
    # `security_event ids_alerted signature=...`: a word before the fields is the event type;
    # two words (`events port 3 status changed ...`) are a sentence.
    word, _, after = rest.partition(" ")
    if len(fields) > 1 and "=" not in word and _MERAKI_EVENT.fullmatch(word) and "=" in after.partition(" ")[0]:
        event = fields["event"] = word
    return ProfileMatch(
        "meraki",  # format
        device,  # hostname
        category or None,  # app_name
        None,  # procid
        fields.get("type") or event,  # msgid
        rest,  # message
        {"meraki": fields},  # structured_data
        None,  # clock
        None,  # severity
        (),  # warnings
    )


# --- Programs behind a prefix the BSD TAG rule misses -------------------------------------

# TAG[PID]: or TAG: or TAG[PID] (some embedded stacks drop the colon); a tab may follow.
TAG = re.compile(r"([^\s\[\]:]{1,128})(?:\[([^\s\[\]]{0,128})\]:?|:)(?:[ \t]|$)", re.S | re.A)
# UniFi: `f4e2c6aabbcc,U6-LR-6.5.28+14491: hostapd: ...` (device MAC, model-firmware) and the
# older `("U7PG2,802aa8aabbcc,v4.0.80.10875") hostapd: ...`.
_UNIFI = re.compile(
    r"(?:([0-9A-Fa-f]{12}),([\w\-]+)-v?(\d+\.\d+[\w.+]*)"
    r'|\("?([\w\-]+),([0-9A-Fa-f]{12}),v?(\d+\.\d+[\w.+]*)"?\)):? ',
    re.A,
)
# HPE ProCurve / ArubaOS-Switch: `00435 ports: port 1 is now on-line` (event id, subsystem).
_PROCURVE = re.compile(r"(\d{5}) ([A-Za-z][\w\-]{0,31}): ?", re.A)
# F5 BIG-IP: `notice mcpd[6120]: 01070638:5: text` (level word, TAG, message id:level).
_F5_ID = re.compile(r"([0-9a-f]{8}):([0-7]): ", re.A)
# Snare for Windows, tab separated after the literal MSWinEventLog (field 0).
_SNARE_FIELDS = (
    "", "criticality", "channel", "snare_counter", "submit_time", "event_id", "provider", "user",
    "sid_type", "event_type", "computer", "category", "data", "",  # 13 is the message
)  # fmt: skip


def _snare(host: str | None, text: str) -> ProfileMatch:
    values = text.split("\t")
    fields = {name: value for name, value in zip(_SNARE_FIELDS, values, strict=False) if name and value}
    # The expanded string (13) is the message; some agents leave it empty and send the text as
    # the data string (12). Too few fields: the whole text, nothing lost.
    message = (values[13] if len(values) > 13 else "") or fields.get("data") or text
    if len(values) > 14:  # event log counter or MD5 checksum, then optional name=value fields
        fields["event_log_counter"] = values[14]
        for extra in values[15:]:
            name, sep, value = extra.partition("=")
            if sep and name:
                fields[name] = value
    return ProfileMatch(
        "snare",  # format
        host,  # hostname
        "MSWinEventLog",  # app_name
        None,  # procid
        fields.get("event_id"),  # msgid
        message,  # message
        {"snare": fields},  # structured_data
        None,  # clock
        None,  # severity
        (),  # warnings
    )


def _tagged(
    body: str, format: str, structured_data: dict[str, dict[str, str]], severity: int | None
) -> ProfileMatch | None:
    tag = TAG.match(body)
    if tag is None:
        return None
    return ProfileMatch(
        format,  # format
        None,  # hostname
        tag[1],  # app_name
        tag[2] or None,  # procid
        None,  # msgid
        body[tag.end() :],  # message
        structured_data,  # structured_data
        None,  # clock
        severity,  # severity
        (),  # warnings
    )


def match_untagged(body: str) -> ProfileMatch | None:
    """Bodies whose program hides behind something the TAG rule cannot read: a UniFi device
    prefix, a ProCurve event id, an F5 level word, Snare's tab-separated fields."""
    first = body[:1]
    if first.isdigit():
        m = _PROCURVE.match(body)
        if m is not None:
            return ProfileMatch("rfc3164", None, m[2], None, m[1], body[m.end() :], {}, None, None, ())
    if first in "(0123456789abcdefABCDEF" and first:
        m = _UNIFI.match(body)
        if m is not None:
            mac, model, firmware, old_model, old_mac, old_firmware = m.groups()
            fields = {"device_mac": (mac or old_mac).lower(), "model": model or old_model}
            fields["firmware"] = firmware or old_firmware
            rest = body[m.end() :]
            found = _tagged(rest, "unifi", {"unifi": fields}, None)
            return found or ProfileMatch("unifi", None, None, None, None, rest, {"unifi": fields}, None, None, ())
    space = body.find(" ", 3, 14)  # a level word: "err" to "informational"
    if space > 0 and body[:space] in _SEVERITY_NAMES:
        found = _tagged(body[space + 1 :], "rfc3164", {}, _SEVERITY_NAMES[body[:space]])
        if found is not None:
            f5 = _F5_ID.match(found.message)
            if f5 is not None:
                found = found._replace(msgid=f5[1], message=found.message[f5.end() :])
            return found
    tab = body.find("MSWinEventLog\t", 0, 300)
    if tab == 0:
        return _snare(None, body)
    if tab > 0 and body[tab - 1] == "\t" and " " not in body[: tab - 1]:
        return _snare(body[: tab - 1], body[tab:])
    return None


# --- Juniper Junos and ArubaOS: recognised from the text after TAG[PID]: -------------------

_JUNOS_EVENT = re.compile(r"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+): ?(.*)", re.S | re.A)
# AOS 6: `<501080> <NOTI> |AP ap-01@10.1.1.2 stm| text`; AOS 8: `<522125> <2435> <WARN> <wcp2> text`.
_ARUBA = re.compile(r"<(\d{5,7})> +(?:<(\d+)> +)?<([A-Z]{3,5})> +(?:\|([^|]*)\| *|<([^<>]*)> *)?(.*)", re.S | re.A)
_ARUBA_AP = re.compile(r"AP (\S+)@(\S*) (\S+)", re.A)


def match_tagged(text: str) -> ProfileMatch | None:
    """Dialects recognised from the text after a BSD TAG: Junos event tags, ArubaOS ids."""
    first = text[:1]
    if first == "<":
        m = _ARUBA.match(text)
        if m is None:
            return None
        message_id, pid, level, component, node, rest = m.groups()
        fields = {"level": level}
        if pid is not None:
            fields["pid"] = pid
        if node is not None:
            fields["node"] = node
        if component is not None:
            fields["component"] = component.strip()
            ap = _ARUBA_AP.match(fields["component"])
            if ap is not None:
                fields["ap_name"], fields["ap_ip"], fields["process"] = ap.groups()
        return ProfileMatch(
            "aruba",  # format
            None,  # hostname
            None,  # app_name
            None,  # procid
            message_id,  # msgid
            rest.lstrip(" "),  # message
            {"aruba": fields},  # structured_data
            None,  # clock
            _ARUBA_LEVELS.get(level),  # severity
            (),  # warnings
        )
    if "A" <= first <= "Z":
        m = _JUNOS_EVENT.match(text)
        if m is None:
            return None
        return ProfileMatch(
            "juniper",  # format
            None,  # hostname
            None,  # app_name
            None,  # procid
            m[1],  # msgid
            m[2],  # message
            {},  # structured_data
            None,  # clock
            None,  # severity
            (),  # warnings
        )
    return None
