"""Security classification of Windows events: which ones a technician must not miss.

The `security` field of a winevent record names what happened as `group.action` (for example
`logon.failure`, `account.lockout`, `audit.log_cleared`), or is null for routine events. The
group before the dot is what the console highlights and counts by (failed logons per minute
are the `logon.failure` records).

Event ids are only unique per provider: 104 is "log cleared" from the Eventlog provider but
something else from others. So each entry names the channel and provider it belongs to, and an
event is classified only when neither of them contradicts that (agents that omit the channel or
provider still get classified by id). Sources: Microsoft's "Events to monitor" appendix of the
Active Directory security best practices, and the Security auditing event reference.
"""

from __future__ import annotations

from typing import Final

SECURITY_AUDITING: Final = "microsoft-windows-security-auditing"
EVENTLOG: Final = "microsoft-windows-eventlog"
SERVICE_CONTROL_MANAGER: Final = "service control manager"

# event id -> (classification, channel it is logged in, provider that logs it), all lowercase.
_RULES: Final[dict[int, tuple[str, str, str]]] = {
    # logons
    4625: ("logon.failure", "security", SECURITY_AUDITING),
    4771: ("logon.failure", "security", SECURITY_AUDITING),  # Kerberos pre-authentication failed
    4648: ("logon.explicit_credentials", "security", SECURITY_AUDITING),
    4672: ("logon.privileged", "security", SECURITY_AUDITING),  # special privileges assigned
    # accounts
    4720: ("account.created", "security", SECURITY_AUDITING),
    4722: ("account.enabled", "security", SECURITY_AUDITING),
    4723: ("account.password_change", "security", SECURITY_AUDITING),
    4724: ("account.password_reset", "security", SECURITY_AUDITING),
    4725: ("account.disabled", "security", SECURITY_AUDITING),
    4726: ("account.deleted", "security", SECURITY_AUDITING),
    4738: ("account.changed", "security", SECURITY_AUDITING),
    4740: ("account.lockout", "security", SECURITY_AUDITING),
    4767: ("account.unlocked", "security", SECURITY_AUDITING),
    4781: ("account.renamed", "security", SECURITY_AUDITING),
    # security groups
    4727: ("group.created", "security", SECURITY_AUDITING),
    4731: ("group.created", "security", SECURITY_AUDITING),
    4754: ("group.created", "security", SECURITY_AUDITING),
    4730: ("group.deleted", "security", SECURITY_AUDITING),
    4734: ("group.deleted", "security", SECURITY_AUDITING),
    4758: ("group.deleted", "security", SECURITY_AUDITING),
    4735: ("group.changed", "security", SECURITY_AUDITING),
    4737: ("group.changed", "security", SECURITY_AUDITING),
    4755: ("group.changed", "security", SECURITY_AUDITING),
    4728: ("group.member_added", "security", SECURITY_AUDITING),
    4732: ("group.member_added", "security", SECURITY_AUDITING),
    4756: ("group.member_added", "security", SECURITY_AUDITING),
    4729: ("group.member_removed", "security", SECURITY_AUDITING),
    4733: ("group.member_removed", "security", SECURITY_AUDITING),
    4757: ("group.member_removed", "security", SECURITY_AUDITING),
    # the audit trail itself
    1102: ("audit.log_cleared", "security", EVENTLOG),
    104: ("audit.log_cleared", "system", EVENTLOG),
    4719: ("audit.policy_changed", "security", SECURITY_AUDITING),
    # persistence
    7045: ("service.installed", "system", SERVICE_CONTROL_MANAGER),
    4697: ("service.installed", "security", SECURITY_AUDITING),
    4698: ("task.created", "security", SECURITY_AUDITING),
}

CLASSIFICATIONS: Final = frozenset(name for name, _, _ in _RULES.values())


def classify(event_id: int, channel: str | None, provider: str | None) -> str | None:
    """The security classification of an event, or None when it is routine."""
    rule = _RULES.get(event_id)
    if rule is None:
        return None
    name, rule_channel, rule_provider = rule
    if channel and channel.lower() != rule_channel:
        return None
    if provider and provider.lower() != rule_provider and not _same_provider(provider, rule_provider):
        return None
    return name


def _same_provider(provider: str, rule_provider: str) -> bool:
    # NXLog and older agents report the short legacy names ("Security", "EventLog").
    short = provider.lower().removeprefix("microsoft-windows-")
    return short == rule_provider.removeprefix("microsoft-windows-") or (
        rule_provider == SECURITY_AUDITING and short in ("security", "microsoft-windows-security-auditing")
    )
