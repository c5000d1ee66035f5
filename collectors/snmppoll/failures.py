"""pysnmp's error indications as one line a person can act on, sans-IO (by class name).

A v1/v2c agent says nothing to a wrong community, so a wrong community and a dead device look
the same from here: the timeout line names both.
"""

from __future__ import annotations

from collectors.snmppoll.report import ErrorKind
from collectors.snmppoll.settings import PollTarget


class PollFailure(Exception):
    """A poll (or part of one) that failed: its kind for the counters, its line for people."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message


_AUTH = {
    "WrongDigest": "refused the authentication key of user {user} (wrong digest); check auth_key and "
    "auth_protocol of [[snmptrap.users]] {user} against the device",
    "UnknownUserName": "does not know SNMPv3 user {user}; create the user on the device or fix snmp.poll user",
    "UnsupportedSecurityLevel": "does not allow user {user} at this security level; match auth_protocol/"
    "priv_protocol of [[snmptrap.users]] {user} to the device's user",
    "DecryptionError": "could not decrypt with user {user}'s privacy key; check priv_key and priv_protocol of "
    "[[snmptrap.users]] {user}",
    "AuthenticationFailure": "refused user {user}'s authentication; check its keys",
    "AuthenticationError": "refused user {user}'s authentication; check its keys",
    "NotInTimeWindow": "answered outside the SNMPv3 time window for user {user}; the device may have restarted, "
    "the next poll retries",
    "UnknownSecurityName": "does not know security name {user}; check snmp.poll user",
}


def describe(indication: object, target: PollTarget) -> PollFailure:
    """The failure for a pysnmp errorIndication of a request to `target`."""
    kind = type(indication).__name__
    where = f"{target.label} ({target.host}:{target.port}, SNMPv{target.version})"
    if kind == "RequestTimedOut":
        tries = target.retries + 1
        hint = (
            "check that the device is up and reachable, that it answers SNMP on this port"
            if target.version == "3"
            else "check that the device is up and reachable, and its community and access list "
            "(v1/v2c agents ignore a wrong community)"
        )
        return PollFailure("timeout", f"{where}: no answer in {target.timeout_s:g} s x {tries} tries; {hint}")
    template = _AUTH.get(kind)
    if template is not None:
        return PollFailure("auth", f"{where} {template.format(user=target.user or '?')}")
    return PollFailure("error", f"{where}: {indication}")


def refused(status: str, what: str, target: PollTarget) -> PollFailure:
    """An error-status in the device's answer (authorizationError, genErr, ...)."""
    where = f"{target.label} ({target.host}:{target.port})"
    hint = "; the community or user may lack access to it" if status in ("authorizationError", "noAccess") else ""
    return PollFailure("refused", f"{where} answered {status} for {what}{hint}")
