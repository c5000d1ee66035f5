"""Agent tokens: who may post events, and under which name they are counted.

A token is configured as `"name:secret"` (the name is what `winevents agents` shows) or as a
plain `"secret"` (named `token-N`, N its position in the list, from 1). A secret is at least
16 characters. Agents present the secret in any of the forms their HTTP outputs can send:
- `Authorization: Bearer <secret>` (NXLog om_http `AddHeader`, Vector `auth.strategy = "bearer"`,
  curl, scripts);
- `Authorization: ApiKey <base64(name:secret)>` (Winlogbeat `output.elasticsearch.api_key:
  "name:secret"`);
- `Authorization: Basic <base64(user:secret)>` (Winlogbeat `username`/`password`).

Every configured secret is compared, in constant time, against a digest of what was
presented, so neither a match's position nor a prefix shows in the response time. No token
configured means nothing matches: every request is refused. `replace` swaps the whole list at
once (a running server picks it up on the next request).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable
from typing import Final

MIN_SECRET_CHARS: Final = 16
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}\Z")


def split_token(entry: str, position: int) -> tuple[str, str]:
    """(name, secret) of one configured token; `position` counts from 1."""
    name, sep, secret = entry.partition(":")
    if not sep:
        return f"token-{position}", entry
    return name, secret


def token_problem(entries: list[str]) -> str | None:
    """Why a token list is refused, or None (used by the settings check)."""
    names: set[str] = set()
    for position, entry in enumerate(entries, 1):
        name, secret = split_token(entry, position)
        if not _NAME.match(name):
            return f"token {position}: name {name!r} must be 1-64 letters, digits, '.', '_', '@' or '-'"
        if len(secret) < MIN_SECRET_CHARS:
            return f"token {position} ({name}): the secret must have at least {MIN_SECRET_CHARS} characters"
        if name in names:
            return f"token {position}: the name {name!r} is used twice"
        names.add(name)
    return None


def presented_secret(authorization: str | None) -> str | None:
    """The secret an Authorization header carries, or None when it carries none we know."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if not value:
        return None
    if scheme == "bearer":
        return value
    if scheme in ("apikey", "basic"):
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        _, sep, secret = decoded.partition(":")
        return secret if sep else decoded
    return None


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).digest()


class Tokens:
    def __init__(self, entries: Iterable[str] = ()) -> None:
        self._by_digest: tuple[tuple[bytes, str], ...] = ()
        self.replace(entries)

    def replace(self, entries: Iterable[str]) -> None:
        pairs = [split_token(entry, position) for position, entry in enumerate(entries, 1)]
        self._by_digest = tuple((_digest(secret), name) for name, secret in pairs)

    @property
    def names(self) -> list[str]:
        return [name for _, name in self._by_digest]

    def __len__(self) -> int:
        return len(self._by_digest)

    def agent(self, secret: str | None) -> str | None:
        """The name of the token whose secret this is, or None."""
        if secret is None:
            return None
        presented = _digest(secret)
        found: str | None = None
        for digest, name in self._by_digest:  # no early exit: the time does not depend on the match
            if hmac.compare_digest(presented, digest) and found is None:
                found = name
        return found
