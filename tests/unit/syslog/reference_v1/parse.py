# Pre-optimisation reference (frozen copy of collectors/syslog/parse.py at main 811a179), kept only so
# tests/unit/syslog/test_syslog_parse_stable.py can prove the optimised parser writes byte-identical
# records. Never edit it to follow a change in the real parser: a deliberate output change retires it.
# ruff: noqa
# mypy: ignore-errors
"""Syslog message parser (sans-IO): one datagram or frame in, one record dict out.

Understands RFC 5424, RFC 3164 as devices really send it (missing PRI, missing hostname,
years and milliseconds in the timestamp, RFC 3339 stamps in BSD headers) and the vendor
dialects in `profiles.py`. It never raises and never drops text: whatever it cannot read
becomes a `format: "unparsed"` record whose message is the whole text.

This is the collector's hot path (100k messages/s on two cores), so the common shapes go
through one precompiled regex each, dates are looked up in per-day caches instead of being
computed, the received-at text is cached per second, and the record is a plain dict.
"""

from __future__ import annotations

import re
from base64 import b64encode
from collections.abc import Iterable
from datetime import date
from typing import TypedDict

from tests.unit.syslog.reference_v1 import profiles
from tests.unit.syslog.reference_v1.profiles import MONTHS, ProfileMatch, WallClock


class _RecordKeys(TypedDict):
    """The keys every record has, in this order."""

    service: str
    received_at: str
    source: str
    facility: int | None
    severity: int | None
    timestamp: str | None
    hostname: str | None
    app_name: str | None
    procid: str | None
    msgid: str | None
    structured_data: dict[str, dict[str, str]]
    message: str
    format: str
    raw: str
    clock_skew_s: float | None
    parse_warnings: list[str]


class SyslogRecord(_RecordKeys, total=False):
    """One received syslog message (DESIGN §2.3), plus `clock_skew_s` and `parse_warnings`.

    `raw_b64` (after the others) only when the bytes are not valid UTF-8: `raw` and `message`
    then hold U+FFFD for what could not be decoded, and the original bytes are here.
    """

    raw_b64: str


RECORD_KEYS: tuple[str, ...] = tuple(_RecordKeys.__annotations__)
OPTIONAL_KEYS: tuple[str, ...] = ("raw_b64",)
FORMATS = frozenset(
    {"rfc5424", "rfc3164", "unparsed", "juniper", "aruba", "fortios", "paloalto", "meraki", "unifi", "snare"}
    | {"cisco_ios", "cisco_nxos", "cisco_asa", "cisco_aireos"}
)
# A device clock further than this from ours is flagged: it breaks event correlation.
CLOCK_SKEW_WARN_S = 3600.0

# A yearless date is put in the latest year that does not place it more than this after its
# receive time: a device clock a little ahead is believed, a date from the future is not.
_AHEAD_S = 86400
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# Trailing whitespace (and the NULs some C senders append) is trimmed from messages.
_TRAILING = " \t\r\n\x00\x0b\x0c"
# RFC 5424 §6 field limits; longer values are kept but flagged.
_MAX_HOSTNAME, _MAX_APP_NAME, _MAX_PROCID, _MAX_MSGID = 255, 48, 128, 32

_RFC5424 = re.compile(
    r"([1-9]\d{0,2}) "  # 1 VERSION
    # 2 TIMESTAMP: "-", RFC 3339 (3 date, 4 time, 5 fraction, 6 zone), or a malformed stamp.
    # Lenient as senders are: "+0100" is read as "+01:00", and no zone at all as UTC.
    r"(-|(\d{4}-\d\d-\d\d)[Tt](\d\d:\d\d:\d\d)(\.\d{1,9})?([Zz]|[+-]\d\d:?\d\d)?|\d\S*)"
    r"(?: (\S+)(?: (\S+)(?: (\S+)(?: (\S+)(?: (.*))?)?)?)?)?$",  # 7-11 HOST APP PROCID MSGID rest
    re.S | re.A,
)
# Unrolled `"[^"\\]*(?:\\.[^"\\]*)*"`: several times faster than an alternation per character.
_QUOTED = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_SD_ELEMENT = re.compile(r'\[([^\s=\]"]+)((?: +[^\s=\]"]+=' + _QUOTED + r")*) *\]", re.S | re.A)
_SD_PARAM = re.compile(r'([^\s=\]"]+)="([^"\\]*(?:\\.[^"\\]*)*)"', re.S | re.A)
_SD_ESCAPE = re.compile(r'\\(["\\\]])')
_BSD_HEADER = re.compile(
    r"([A-Za-z]{3}) {1,2}(\d{1,2}) "  # 1 month, 2 day
    r"(?:(\d{4}) )?"  # 3 year before the time (Cisco ASA, Junos `time-format year`)
    r"(\d\d:\d\d):(\d\d)(\.\d{1,6})?"  # 4 hh:mm, 5 ss, 6 fraction
    r"(?: (\d{4})(?= ))?"  # 7 year after the time (ArubaOS)
    r":?(?: |$)"
    r"(?:([\w.%@:\-]*[\w.%@\-])(?: :)? )?"  # 8 hostname: any token not ending in ':'
    r"(.*)",  # 9
    re.S | re.A,
)
_ISO_HEADER = re.compile(
    r"(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d:\d\d)(\.\d{1,9})?([Zz]|[+-]\d\d:?\d\d)?:?(?: |$)"
    r"(?:([\w.%@:\-]*[\w.%@\-])(?: :)? )?"
    r"(.*)",
    re.S | re.A,
)
_TAG = profiles.TAG

_MILLIS = tuple(f".{n:03d}Z" for n in range(1000))
_MINUTE_OF_DAY = {f"{h:02d}:{m:02d}": h * 3600 + m * 60 for h in range(24) for m in range(60)}


# --- time -----------------------------------------------------------------------------------


def _days_since_epoch(year: int, month: int, day: int) -> int | None:
    try:
        return date(year, month, day).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        return None


_ISO_DAYS: dict[str, int] = {}


def _iso_days(day_text: str) -> int | None:
    """Days since the epoch for "YYYY-MM-DD" (already shaped by a regex); cached."""
    days = _ISO_DAYS.get(day_text)
    if days is None:
        days = _days_since_epoch(int(day_text[:4]), int(day_text[5:7]), int(day_text[8:10]))
        if days is not None:
            if len(_ISO_DAYS) >= 4096:
                _ISO_DAYS.clear()
            _ISO_DAYS[day_text] = days
    return days


def _civil_from_days(days: int) -> tuple[int, int, int]:
    # Howard Hinnant's days-to-civil algorithm: exact for any day count, no datetime objects.
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


_SECOND_TEXT: dict[int, str | None] = {}


def _utc_second_text(epoch_s: int) -> str | None:
    """`YYYY-MM-DDTHH:MM:SS` for a UTC second, None outside years 1-9999. Cached."""
    text = _SECOND_TEXT.get(epoch_s, "")
    if text != "":
        return text
    days, rem = divmod(epoch_s, 86400)
    year, month, day = _civil_from_days(days)
    if 1 <= year <= 9999:
        hour, rem = divmod(rem, 3600)
        text = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{rem // 60:02d}:{rem % 60:02d}"
    else:
        text = None
    if len(_SECOND_TEXT) >= 4096:
        _SECOND_TEXT.clear()
    _SECOND_TEXT[epoch_s] = text
    return text


def _latest_year(
    month: int, day: int, second_of_day: int, received_at: float, received_year: int
) -> tuple[int, int] | None:
    """(year, days since epoch) of the latest year that puts a yearless date no more than a day
    after received_at: `Mar  1` received in November is this March, `Dec 31` received on 1 January
    last year's. Feb 29 goes back to the last leap year."""
    limit = received_at + _AHEAD_S
    # Next year's date can only qualify for 1 January received on 31 December.
    first = received_year + 1 if month == 1 and day == 1 else received_year
    for year in range(first, received_year - 8, -1):
        days = _days_since_epoch(year, month, day)
        if days is not None and days * 86400 + second_of_day <= limit:
            return year, days
    return None


_MISSING = (0, "")  # cache-miss marker, compared by identity


class _Clock:
    """Per-second received-at text and per-day resolution of yearless BSD dates.

    A burst of messages shares one receive second and a handful of device dates, so both are
    looked up, not computed. Each cache is one tuple replaced in a single assignment, so
    parsers in several threads (UDP batches beside TCP connections) never see half an update.
    The year of a yearless date is the same all receive day long, except for the date of the
    day after: there the time of day decides (see `_latest_year`), so that one is not cached.
    """

    __slots__ = ("bsd_dates", "last", "second")

    def __init__(self) -> None:
        self.second: tuple[int, str, int, int] = (0, "1970-01-01T00:00:00", 1970, 0)  # second, text, year, day
        # receive day, (month, day) of the day after it, cache
        self.bsd_dates: tuple[int, tuple[int, int], dict[tuple[str, str], tuple[int, str] | None]] = (-1, (0, 0), {})
        # A batch is stamped with one receive time: the last result is reused (NaN matches nothing).
        self.last: tuple[float, tuple[str, int, int]] = (float("nan"), ("", 0, 0))

    def received(self, received_at: float) -> tuple[str, int, int]:
        """(RFC 3339 text with milliseconds, UTC year, days since epoch) of a receive time."""
        last = self.last
        if received_at == last[0]:
            return last[1]
        try:
            # Round to the millisecond first: 0.123 is stored as 0.12299999... in a float.
            second, millis = divmod(round(received_at * 1000), 1000)
        except (ValueError, OverflowError, TypeError):  # NaN or infinity from a broken caller
            second, millis = 0, 0
        cached = self.second
        if second != cached[0]:
            text = _utc_second_text(second)
            if text is None:
                second, millis, text = 0, 0, "1970-01-01T00:00:00"
            cached = (second, text, int(text[:4]), second // 86400)
            self.second = cached
        result = (cached[1] + _MILLIS[millis], cached[2], cached[3])
        self.last = (received_at, result)
        return result

    def bsd_date(
        self,
        month_name: str,
        day_text: str,
        second_of_day: int,
        received_at: float,
        received_day: int,
        received_year: int,
    ) -> tuple[int, str] | None:
        """(days since epoch, "YYYY-MM-DD") of a yearless "Mmm dd" at second_of_day (0-86400)."""
        cache_day, tomorrow, cache = self.bsd_dates
        if cache_day != received_day or len(cache) >= 1024:
            cache = {}
            tomorrow = _civil_from_days(received_day + 1)[1:]
            self.bsd_dates = (received_day, tomorrow, cache)
        key = (month_name, day_text)
        found = cache.get(key, _MISSING)
        if found is not _MISSING:
            return found
        month, day = MONTHS[month_name], int(day_text)
        latest = _latest_year(month, day, second_of_day, received_at, received_year)
        result = None if latest is None else (latest[1], f"{latest[0]:04d}-{month:02d}-{day:02d}")
        if (month, day) != tomorrow:
            cache[key] = result
        return result


_CLOCK = _Clock()


def _wall_clock_to_utc(clock: WallClock, received_at: float, received_year: int) -> tuple[str, float] | None:
    """RFC 3339 UTC text and epoch seconds of a vendor clock; no zone on the wire means UTC."""
    hour, minute, second = clock.hour, clock.minute, clock.second
    if hour > 23 or minute > 59 or second > 60:
        return None
    offset = clock.offset_s or 0
    second_of_day = hour * 3600 + minute * 60 + second - offset
    year = clock.year
    if year is None:
        found = _latest_year(clock.month, clock.day, second_of_day, received_at, received_year)
        if found is None:
            return None
        year, days = found
    else:
        found_days = _days_since_epoch(year, clock.month, clock.day)
        if found_days is None:
            return None
        days = found_days
    epoch_s = days * 86400 + second_of_day
    fraction = clock.fraction[:7]
    if offset == 0:
        text = f"{year:04d}-{clock.month:02d}-{clock.day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
    else:
        second_text = _utc_second_text(epoch_s)
        if second_text is None:
            return None
        text = second_text
    return text + fraction + "Z", epoch_s + (float(fraction) if fraction else 0.0)


def _epoch_to_utc(epoch: tuple[int, str]) -> tuple[str, float] | None:
    """RFC 3339 UTC text (to the microsecond, trailing zeros dropped) and epoch seconds."""
    seconds, fraction = epoch
    text = _utc_second_text(seconds)
    if text is None:
        return None
    fraction = fraction[:7].rstrip("0")
    if fraction == ".":
        fraction = ""
    return text + fraction + "Z", seconds + (float(fraction) if fraction else 0.0)


def _rfc3339_to_utc(day_text: str, time_text: str, fraction: str | None, zone: str | None) -> tuple[str, float] | None:
    """Validate and normalise an RFC 3339 stamp already split by a regex; None if invalid."""
    days = _ISO_DAYS.get(day_text)
    if days is None:
        days = _iso_days(day_text)
    minute_s = _MINUTE_OF_DAY.get(time_text[:5])
    second = int(time_text[6:8])
    if days is None or minute_s is None or second > 60:
        return None
    fraction = fraction[:7] if fraction else ""
    epoch_s = days * 86400 + minute_s + second
    if zone is None or zone == "Z" or zone == "z" or zone[1:] in ("00:00", "0000"):
        text = day_text + "T" + time_text
    else:
        offset_hours, offset_minutes = int(zone[1:3]), int(zone[-2:])
        if offset_hours > 23 or offset_minutes > 59:
            return None
        epoch_s -= (offset_hours * 3600 + offset_minutes * 60) * (-1 if zone[0] == "-" else 1)
        second_text = _utc_second_text(epoch_s)
        if second_text is None:
            return None
        text = second_text
    return text + fraction + "Z", epoch_s + float(fraction) if fraction else epoch_s


# --- RFC 5424 -------------------------------------------------------------------------------


def _parse_structured_data(text: str) -> tuple[dict[str, dict[str, str]], str] | None:
    """SD elements at the start of `text` and the message after them; None if malformed."""
    elements: dict[str, dict[str, str]] = {}
    pos = 0
    length = len(text)
    while pos < length and text[pos] == "[":
        m = _SD_ELEMENT.match(text, pos)
        if m is None:
            return None
        sd_id, params_text = m.groups()
        params = dict(_SD_PARAM.findall(params_text)) if params_text else {}
        if "\\" in params_text:
            params = {name: _SD_ESCAPE.sub(r"\1", value) for name, value in params.items()}
        if sd_id in elements:  # repeated SD-ID: not allowed, but keep every parameter
            elements[sd_id].update(params)
        else:
            elements[sd_id] = params
        pos = m.end()
    if pos == length:
        return elements, ""
    if text[pos] in " \t\r\n":
        return elements, text[pos + 1 :]
    return None


def _rfc5424_record(
    m: re.Match[str],
    facility: int | None,
    severity: int | None,
    warnings: list[str],
    raw: str,
    received_text: str,
    received_at: float,
    source: str,
) -> SyslogRecord:
    version, stamp, day_text, time_text, fraction, zone, hostname, app_name, procid, msgid, rest = m.groups()
    if day_text is None and app_name is not None and "." in stamp:
        # Meraki: `1 1795752611.123456789 MX250 flows src=...`, version 1 but an epoch stamp.
        epoch = profiles.epoch_decimal(stamp)
        if epoch is not None:
            return _meraki_record(m, epoch, facility, severity, warnings, raw, received_text, received_at, source)
    if version != "1":
        warnings.append("unknown_version")
    timestamp: str | None = None
    clock_skew: float | None = None
    if day_text is not None:
        utc = _rfc3339_to_utc(day_text, time_text, fraction, zone)
        if utc is None:
            warnings.append("bad_timestamp")
        else:
            timestamp = utc[0]
            clock_skew = round(float(utc[1] - received_at), 3)
            if not -CLOCK_SKEW_WARN_S <= clock_skew <= CLOCK_SKEW_WARN_S:
                warnings.append("clock_skew")
    elif stamp != "-":
        warnings.append("bad_timestamp")
    structured_data: dict[str, dict[str, str]] = {}
    message = ""
    if rest is None:
        warnings.append("truncated_header")
    elif rest:
        first = rest[0]
        if first == "-" and (len(rest) == 1 or rest[1] in " \t\r\n"):
            message = rest[2:]
        elif first == "[":
            parsed = _parse_structured_data(rest)
            if parsed is None:
                warnings.append("bad_structured_data")
                message = rest
            else:
                structured_data, message = parsed
        else:
            warnings.append("bad_structured_data")
            message = rest
        if message:
            if message[0] == "\ufeff":
                message = message[1:]
            message = message.rstrip(_TRAILING)
    if msgid is not None:
        if len(hostname) > _MAX_HOSTNAME:
            warnings.append("hostname_too_long")
        if len(app_name) > _MAX_APP_NAME:
            warnings.append("app_name_too_long")
        if len(procid) > _MAX_PROCID:
            warnings.append("procid_too_long")
        if len(msgid) > _MAX_MSGID:
            warnings.append("msgid_too_long")
    record: SyslogRecord = {
        "service": "syslog",
        "received_at": received_text,
        "source": source,
        "facility": facility,
        "severity": severity,
        "timestamp": timestamp,
        "hostname": None if hostname == "-" else hostname,
        "app_name": None if app_name == "-" else app_name,
        "procid": None if procid == "-" else procid,
        "msgid": None if msgid == "-" else msgid,
        "structured_data": structured_data,
        "message": message,
        "format": "rfc5424",
        "raw": raw,
        "clock_skew_s": clock_skew,
        "parse_warnings": warnings,
    }
    # The substring test first: it is cheap, and no SD-ID can start with text that is not there.
    if structured_data and "junos@2636" in rest and any(sd_id.startswith("junos@2636") for sd_id in structured_data):
        record["format"] = "juniper"
    elif message[:1].isdigit():
        # PAN-OS in IETF format keeps its CSV body unchanged.
        pan = profiles.match_paloalto(message)
        if pan is not None:
            record["format"] = pan.format
            structured_data.update(pan.structured_data)
            if record["msgid"] is None:
                record["msgid"] = pan.msgid
    return record


def _meraki_record(
    m: re.Match[str],
    epoch: tuple[int, str],
    facility: int | None,
    severity: int | None,
    warnings: list[str],
    raw: str,
    received_text: str,
    received_at: float,
    source: str,
) -> SyslogRecord:
    record: SyslogRecord = {
        "service": "syslog",
        "received_at": received_text,
        "source": source,
        "facility": facility,
        "severity": severity,
        "timestamp": None,
        "hostname": None,
        "app_name": None,
        "procid": None,
        "msgid": None,
        "structured_data": {},
        "message": "",
        "format": "meraki",
        "raw": raw,
        "clock_skew_s": None,
        "parse_warnings": warnings,
    }
    _merge_profile(record, profiles.match_meraki(m[7], m.string[m.start(8) :]))
    _set_timestamp(record, _epoch_to_utc(epoch), received_at)
    return record


# --- RFC 3164 and vendor dialects -------------------------------------------------------------


def _set_timestamp(record: SyslogRecord, utc: tuple[str, float] | None, received_at: float) -> None:
    if utc is None:
        record["parse_warnings"].append("bad_timestamp")
        return
    record["timestamp"] = utc[0]
    skew = round(float(utc[1] - received_at), 3)
    record["clock_skew_s"] = skew
    if not -CLOCK_SKEW_WARN_S <= skew <= CLOCK_SKEW_WARN_S:
        record["parse_warnings"].append("clock_skew")


def _merge_profile(record: SyslogRecord, match: ProfileMatch) -> None:
    """Overlay what a vendor dialect found on the header's fields."""
    record["format"] = match.format
    if match.hostname is not None:
        record["hostname"] = match.hostname
    if match.app_name is not None:
        record["app_name"] = match.app_name
    if match.procid is not None:
        record["procid"] = match.procid
    if match.msgid is not None:
        record["msgid"] = match.msgid
    record["message"] = match.message.rstrip(_TRAILING)
    if match.structured_data:
        record["structured_data"] = match.structured_data
    if record["severity"] is None and record["facility"] is None:
        record["severity"] = match.severity
    record["parse_warnings"].extend(match.warnings)


def _profile_time(
    record: SyslogRecord, match: ProfileMatch, received_at: float, received_year: int
) -> tuple[str, float] | None:
    """The UTC time a dialect's body carries (None: none, or one that cannot be resolved)."""
    if match.epoch is not None:
        epoch_utc = _epoch_to_utc(match.epoch)
        if epoch_utc is not None:
            return epoch_utc
    clock = match.clock
    if clock is None:
        return None
    utc = _wall_clock_to_utc(clock, received_at, received_year)
    if utc is None:
        record["parse_warnings"].append("bad_timestamp")
        return None
    if clock.zone_unknown:
        # A zone we cannot resolve: the local time is kept as the device wrote it (the year
        # inferred as for UTC), never passed off as UTC.
        fields = record["structured_data"].get(match.format)
        if fields is not None:
            fields["local_time"] = utc[0][:-1]
        return None
    return utc


def _legacy_record(
    body: str,
    has_pri: bool,
    facility: int | None,
    severity: int | None,
    warnings: list[str],
    raw: str,
    received_text: str,
    received_at: float,
    received_year: int,
    received_day: int,
    source: str,
) -> SyslogRecord:
    record: SyslogRecord = {
        "service": "syslog",
        "received_at": received_text,
        "source": source,
        "facility": facility,
        "severity": severity,
        "timestamp": None,
        "hostname": None,
        "app_name": None,
        "procid": None,
        "msgid": None,
        "structured_data": {},
        "message": "",
        "format": "rfc3164",
        "raw": raw,
        "clock_skew_s": None,
        "parse_warnings": warnings,
    }
    # Cisco bodies start with a counter, a `*`/`.` mark or a date the BSD regex would misread
    # ("Mar  1 18:48:50.483 UTC: %SYS-..."), so they are tried first. AireOS may write `#FAC`
    # after its system name, task and time (and always sends a PRI): searched for in the first
    # 200 characters only.
    cisco_like = ": %" in body or body[:1] == "%" or (has_pri and ": #" in body[:200])
    if cisco_like:
        match = profiles.match_cisco(body)
        if match is not None:
            _merge_profile(record, match)
            utc = _profile_time(record, match, received_at, received_year)
            if utc is not None:
                _set_timestamp(record, utc, received_at)
            return _finish_legacy(record, has_pri)
    header_utc: tuple[str, float] | None = None
    has_header = True
    m = _BSD_HEADER.match(body)
    if m is not None and m.group(1) in MONTHS:
        month_name, day_text, year_before, hour_minute, second_text, fraction, year_after, hostname, body = m.groups()
        minute_s = _MINUTE_OF_DAY.get(hour_minute)
        second = int(second_text)
        year_text = year_before or year_after
        if minute_s is None or second > 60:
            days, day_iso = None, ""
        elif year_text is not None:
            days = _days_since_epoch(int(year_text), MONTHS[month_name], int(day_text))
            day_iso = f"{year_text}-{MONTHS[month_name]:02d}-{int(day_text):02d}"
        else:
            found = _CLOCK.bsd_date(month_name, day_text, minute_s + second, received_at, received_day, received_year)
            days, day_iso = (None, "") if found is None else found
        if days is not None and minute_s is not None:
            epoch_s = days * 86400 + minute_s + second
            fraction = fraction or ""
            header_utc = (
                day_iso + "T" + hour_minute + ":" + second_text + fraction + "Z",
                epoch_s + float(fraction) if fraction else epoch_s,
            )
        else:
            warnings.append("bad_timestamp")
        if hostname is not None and hostname != "-":
            record["hostname"] = hostname
    else:
        iso = _ISO_HEADER.match(body)
        if iso is not None:
            day_text, time_text, fraction, zone, hostname, body = iso.groups()
            header_utc = _rfc3339_to_utc(day_text, time_text, fraction, zone)
            if header_utc is None:
                warnings.append("bad_timestamp")
            if hostname is not None and hostname != "-":
                record["hostname"] = hostname
        else:
            has_header = False
    if not has_header and not has_pri:
        # No PRI and no header: only a dialect that needs neither (FortiOS) may claim it.
        fortios = profiles.match_fortios(body)
        if fortios is None:
            record["format"] = "unparsed"
            record["message"] = raw.rstrip("\r\n\x00")
            warnings.append("no_pri")
            return record
        match = fortios
    else:
        match = profiles.match_body(body)
        if match is None and cisco_like:
            # Relayed behind a BSD header with the origin-id first: "WLC-01: *task: ...: %X-3-Y: ..."
            match = profiles.match_cisco(body)
        if match is None:
            tag = _TAG.match(body)
            if tag is None:
                match = profiles.match_untagged(body)
            else:
                app_name, procid = tag.groups()
                # A comma in the tag is a UniFi device prefix ("f4e2c6aabbcc,U6-LR-6.5.28+14491:").
                if "," in app_name:
                    match = profiles.match_untagged(body)
                if match is None:
                    record["app_name"] = app_name
                    record["procid"] = procid or None
                    body = body[tag.end() :]
                    match = profiles.match_tagged(body)
    if match is None:
        record["message"] = body.rstrip(_TRAILING)
    else:
        _merge_profile(record, match)
        body_utc = _profile_time(record, match, received_at, received_year)
        if body_utc is not None:
            header_utc = body_utc  # the body's clock carries a year, a zone or an epoch; prefer it
    if header_utc is not None:
        _set_timestamp(record, header_utc, received_at)
    return _finish_legacy(record, has_pri)


def _finish_legacy(record: SyslogRecord, has_pri: bool) -> SyslogRecord:
    warnings = record["parse_warnings"]
    if not has_pri:
        warnings.append("no_pri")
    if record["timestamp"] is None and "bad_timestamp" not in warnings and "unknown_timezone" not in warnings:
        warnings.append("no_timestamp")
    return record


# --- entry points ---------------------------------------------------------------------------


def _parse(data: bytes, received_at: float, source: str) -> SyslogRecord:
    try:
        raw = data.decode("utf-8")
    except UnicodeDecodeError:
        return _parse_invalid_utf8(data, received_at, source)
    received_text, received_year, received_day = _CLOCK.received(received_at)
    body = raw[1:] if raw[:1] == "\ufeff" else raw
    facility: int | None = None
    severity: int | None = None
    warnings: list[str] = []
    # "<" 1-3 ASCII digits ">", read without a regex: this runs for every message.
    end = body.find(">", 2, 5) if body[:1] == "<" else -1
    digits = body[1:end]
    has_pri = end > 0 and digits.isdigit() and digits.isascii()
    if has_pri:
        pri = int(digits)
        if pri <= 191:
            facility, severity = pri >> 3, pri & 7
        else:
            warnings.append("bad_pri")
        body = body[end + 1 :]
        if body and body[0] in "123456789":
            m = _RFC5424.match(body)
            if m is not None:
                return _rfc5424_record(m, facility, severity, warnings, raw, received_text, received_at, source)
    return _legacy_record(
        body,
        has_pri,
        facility,
        severity,
        warnings,
        raw,
        received_text,
        received_at,
        received_year,
        received_day,
        source,
    )


def _parse_invalid_utf8(data: bytes, received_at: float, source: str) -> SyslogRecord:
    """Parse the text with U+FFFD for what is not UTF-8, and keep the bytes in `raw_b64`."""
    record = _parse(data.decode("utf-8", "replace").encode(), received_at, source)
    record["parse_warnings"].append("invalid_utf8")
    record["raw_b64"] = b64encode(data).decode("ascii")
    return record


def _unparsed(data: bytes, received_at: float, source: str, warning: str) -> SyslogRecord:
    raw = data.decode("utf-8", "replace")
    record: SyslogRecord = {
        "service": "syslog",
        "received_at": _CLOCK.received(received_at)[0],
        "source": source,
        "facility": None,
        "severity": None,
        "timestamp": None,
        "hostname": None,
        "app_name": None,
        "procid": None,
        "msgid": None,
        "structured_data": {},
        "message": raw.rstrip("\r\n\x00"),
        "format": "unparsed",
        "raw": raw,
        "clock_skew_s": None,
        "parse_warnings": [warning],
    }
    if "\ufffd" in raw and raw.encode() != data:
        record["parse_warnings"].append("invalid_utf8")
        record["raw_b64"] = b64encode(data).decode("ascii")
    return record


def parse_message(data: bytes, received_at: float, source: str) -> SyslogRecord:
    """Parse one syslog message.

    `data` is one UDP datagram or one TCP frame, `received_at` the POSIX time (UTC) it
    arrived and `source` the sender as "IP:PORT". Never raises: text no rule recognises
    becomes a `format: "unparsed"` record that keeps all of it.
    """
    try:
        return _parse(data, received_at, source)
    except Exception:  # last line of defence; the fuzz tests keep this path unused
        return _unparsed(data, received_at, source, "parser_error")


def parse_batch(items: Iterable[tuple[bytes, float, str]]) -> list[SyslogRecord]:
    """Parse (data, received_at, source) triples: the listener's fast path, one call a batch."""
    parse = _parse
    records = []
    for data, received_at, source in items:
        try:
            records.append(parse(data, received_at, source))
        except Exception:  # see parse_message
            records.append(_unparsed(data, received_at, source, "parser_error"))
    return records
