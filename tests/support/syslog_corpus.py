"""Telegraf's syslog test corpus: case discovery, its line-protocol expectations, and the
comparison of our records with them (used by the unit and the through-the-listener tests)."""

from __future__ import annotations

import calendar
import re
from datetime import datetime
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).parents[3] / "shared" / "corpora" / "telegraf-syslog-testcases"
# RFC 3164 carries no year: the expected stamps assume 2026 (SOURCE.md), so receive then.
RECEIVED_AT = calendar.timegm((2026, 12, 2, 16, 31, 4, 0, 0, 0)) + 0.5
CLEAN_5424_WARNINGS = {"clock_skew", "unknown_version"}  # a 2016 stamp is skewed; v2+ is odd


def cases() -> list[str]:
    if not CORPUS.is_dir():
        return []
    return sorted(p.name for p in CORPUS.iterdir() if (p / "telegraf.conf").is_file())


def read_conf(case: Path) -> dict[str, str]:
    conf = {}
    for line in (case / "telegraf.conf").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            conf[key.strip()] = value.strip().strip('"')
    return conf


# --- InfluxDB line protocol (just what telegraf's serializer emits) ----------------------------

_STRING_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}


def parse_line_protocol(line: str) -> tuple[dict[str, str], dict[str, Any]]:
    """(tags, fields) of one line; string fields unescaped, ints/uints as int, bools as bool."""
    i = 0
    head_end = 0
    while True:  # the measurement and tags end at the first unescaped space
        if line[i] == "\\":
            i += 2
            continue
        if line[i] == " ":
            head_end = i
            break
        i += 1
    head = re.split(r"(?<!\\),", line[:head_end])
    tags = {}
    for item in head[1:]:
        key, _, value = item.partition("=")
        tags[key] = re.sub(r"\\([ ,=\\])", r"\1", value)
    fields: dict[str, Any] = {}
    i = head_end + 1
    while i < len(line) and line[i] != " ":
        eq = line.index("=", i)
        key = line[i:eq]
        i = eq + 1
        if line[i] == '"':
            chars = []
            i += 1
            while line[i] != '"':
                if line[i] == "\\" and line[i + 1] in _STRING_ESCAPES:
                    chars.append(_STRING_ESCAPES[line[i + 1]])
                    i += 2
                else:
                    chars.append(line[i])
                    i += 1
            fields[key] = "".join(chars)
            i += 1
        else:
            end = i
            while end < len(line) and line[end] not in ", ":
                end += 1
            raw = line[i:end]
            if raw in ("true", "false"):
                fields[key] = raw == "true"
            elif raw[-1:] in ("i", "u"):
                fields[key] = int(raw[:-1])
            else:
                fields[key] = float(raw)
            i = end
        if i < len(line) and line[i] == ",":
            i += 1
    return tags, fields


def rfc3339_to_ns(text: str) -> int:
    stamp = datetime.fromisoformat(text)
    return calendar.timegm(stamp.utctimetuple()) * 10**9 + stamp.microsecond * 1000


KNOWN_FIELDS = {"facility_code", "severity_code", "version", "timestamp", "procid", "msgid", "message"}


def assert_matches(
    record: dict[str, Any],
    tags: dict[str, str],
    fields: dict[str, Any],
    *,
    is_3164: bool,
    tolerate: frozenset[str] = frozenset(),
) -> None:
    assert record["facility"] == fields["facility_code"]
    assert record["severity"] == fields["severity_code"]
    assert record["source"].rsplit(":", 1)[0] == tags["source"]
    assert record["hostname"] == tags.get("hostname")
    assert record["app_name"] == tags.get("appname")
    assert record["procid"] == fields.get("procid")
    assert record["msgid"] == fields.get("msgid")
    # Telegraf leaves the field out when the message is empty; we keep an empty string.
    assert record["message"] == fields.get("message", "")
    if "timestamp" in fields:
        assert record["timestamp"] is not None
        assert rfc3339_to_ns(record["timestamp"]) == fields["timestamp"]
    else:
        assert record["timestamp"] is None
    if is_3164:
        assert record["format"] == "rfc3164"
        assert set(record["parse_warnings"]) <= tolerate
        return
    assert record["format"] == "rfc5424"
    # The record has no version key (DESIGN §2.3): a version other than 1 shows as a warning.
    assert ("unknown_version" in record["parse_warnings"]) == (fields["version"] != 1)
    assert set(record["parse_warnings"]) <= CLEAN_5424_WARNINGS
    # Telegraf flattens SD as `<sd-id>_<param>="value"`, and a parameterless element as `<sd-id>=true`.
    expected_sd: dict[str, dict[str, str]] = {}
    for key, value in fields.items():
        if key in KNOWN_FIELDS:
            continue
        if value is True:
            expected_sd.setdefault(key, {})
        else:
            sd_id, _, param = key.partition("_")
            expected_sd.setdefault(sd_id, {})[param] = value
    assert record["structured_data"] == expected_sd


def is_flagged(record: dict[str, Any]) -> bool:
    return record["format"] != "rfc5424" or bool(set(record["parse_warnings"]) - CLEAN_5424_WARNINGS)
