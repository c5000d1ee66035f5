"""Profiles on disk: `<data>/vpn/profiles/<name>/` holds `profile.ovpn` (self-contained, every
referenced file inlined, credentials taken out), `credentials.json` (only when the profile uses
a username/password) and `meta.json`. Directories are 0700 and files 0600: the profiles carry
private keys. Credentials are read only by the supervisor (`credentials()`), never listed,
shown or exported."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from nocraven.vpn.profile import (
    Credentials,
    Directive,
    Finding,
    Profile,
    ProfileError,
    classify,
    inline_files,
    load_profile,
    parse_profile,
    refusals,
    render,
    split_credentials,
)

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class StoreError(ValueError):
    """A store operation refused; the message is one line saying what to do."""


class ProfileNotFound(StoreError):
    pass


class ProfileExists(StoreError):
    pass


class BadProfileName(StoreError):
    pass


@dataclass(frozen=True)
class ProfileMeta:
    name: str
    priority: int = 100  # lower is preferred
    enabled: bool = True
    added: str = ""  # ISO 8601 UTC
    last_connected: str | None = None
    cert_expiry: str | None = None  # the earliest of the client and CA certificates
    client_subject: str = ""
    remotes: list[str] = field(default_factory=list)  # "host:port/proto"
    warnings: list[str] = field(default_factory=list)
    has_credentials: bool = False

    def days_left(self, now: dt.datetime | None = None) -> int | None:
        if not self.cert_expiry:
            return None
        now = now or dt.datetime.now(dt.UTC)
        return (dt.datetime.fromisoformat(self.cert_expiry) - now).days


@dataclass(frozen=True)
class ImportResult:
    meta: ProfileMeta
    warnings: list[Finding]


def check_profile(
    profile: Profile, *, allow: Iterable[str] = (), now: dt.datetime | None = None
) -> tuple[list[Finding], str | None]:
    """All findings of a profile, and the first refusal as one line (None when usable)."""
    findings = classify(profile, allow=allow)
    refused = refusals(findings)
    if refused:
        return findings, str(refused[0])
    # On use: the checks need cryptography, ~9 MiB of the engine's memory, only when a profile is read.
    from nocraven.vpn.validate import validate_certificates

    report = validate_certificates(profile, now)
    findings += report.findings
    if report.refused:
        return findings, str(report.refused[0])
    return findings, None


class ProfileStore:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "vpn" / "profiles"

    def _ensure(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for directory in (self.root.parent, self.root):
            directory.chmod(0o700)

    def _dir(self, name: str) -> Path:
        if not NAME.match(name):
            raise BadProfileName(f"{name!r} is not a valid profile name (letters, digits, '.', '_', '-'; at most 64)")
        return self.root / name

    # ---- import / remove ----------------------------------------------------------------------

    def import_file(
        self,
        path: Path,
        *,
        name: str | None = None,
        priority: int = 100,
        allow: Iterable[str] = (),
        now: dt.datetime | None = None,
    ) -> ImportResult:
        profile, credentials = load_profile(path)
        return self.import_profile(
            profile, credentials, name=name or path.stem, priority=priority, allow=allow, now=now
        )

    def import_text(
        self,
        text: str | bytes,
        *,
        name: str,
        priority: int = 100,
        allow: Iterable[str] = (),
        now: dt.datetime | None = None,
        files: Mapping[str, str] | None = None,
        credentials: Credentials | None = None,
    ) -> ImportResult:
        """A profile sent as text (the API), with the files it references sent along by name
        (`files`); line numbers in a refusal are the text's own. `credentials` replace the
        profile's own `auth-user-pass`."""
        given = files or {}

        def read(file_name: str, directive: Directive | None = None) -> str:
            if file_name in given:
                return given[file_name]
            where = f"line {directive.line}: {directive.name}: " if directive else ""
            raise ProfileError(
                f"{where}file {file_name!r} was not sent with the profile; inline it or import the file with the CLI",
                line=directive.line if directive else None,
            )

        profile = inline_files(parse_profile(text), read)
        auth = profile.first("auth-user-pass")
        # Credentials sent apart win: the profile's own file then need not come along.
        profile, found = split_credentials(profile, None if credentials else lambda file_name: read(file_name, auth))
        return self.import_profile(profile, credentials or found, name=name, priority=priority, allow=allow, now=now)

    def import_profile(
        self,
        profile: Profile,
        credentials: Credentials | None,
        *,
        name: str,
        priority: int = 100,
        allow: Iterable[str] = (),
        now: dt.datetime | None = None,
    ) -> ImportResult:
        now = now or dt.datetime.now(dt.UTC)
        directory = self._dir(name)
        if directory.exists():
            raise ProfileExists(
                f"a VPN profile named {name!r} already exists; remove it first or import with another --name"
            )
        findings, refusal = check_profile(profile, allow=allow, now=now)
        if refusal:
            raise ProfileError(refusal)
        if profile.has("auth-user-pass") and credentials is None:
            raise ProfileError(
                "auth-user-pass: the profile asks for a username/password but none is given;"
                " inline it as <auth-user-pass> or name a file"
            )
        from nocraven.vpn.validate import validate_certificates

        report = validate_certificates(profile, now)
        warnings = [f for f in findings if f.severity == "warning"]
        meta = ProfileMeta(
            name=name,
            priority=priority,
            added=now.isoformat(timespec="seconds"),
            cert_expiry=report.expires.isoformat(timespec="seconds") if report.expires else None,
            client_subject=report.client_subject,
            remotes=[f"{r.host}:{r.port}/{r.proto}" for r in profile.remotes],
            warnings=[str(w) for w in warnings],
            has_credentials=credentials is not None,
        )
        self._ensure()
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=self.root))
        try:
            _write(staging / "profile.ovpn", render(profile))
            if credentials is not None:
                _write(staging / "credentials.json", json.dumps(asdict(credentials)))
            _write(staging / "meta.json", json.dumps(asdict(meta), indent=2))
            staging.rename(directory)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return ImportResult(meta, warnings)

    def remove(self, name: str) -> None:
        directory = self._dir(name)
        if not directory.exists():
            raise ProfileNotFound(f"no VPN profile named {name!r}; `nocraven vpn list` shows the profiles")
        shutil.rmtree(directory)

    # ---- reading ------------------------------------------------------------------------------

    def names(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def list(self) -> list[ProfileMeta]:
        """Every profile, preferred first (priority, then name)."""
        return sorted((self.meta(n) for n in self.names()), key=lambda m: (m.priority, m.name))

    def meta(self, name: str) -> ProfileMeta:
        path = self._dir(name) / "meta.json"
        try:
            return ProfileMeta(**json.loads(path.read_text()))
        except FileNotFoundError:
            raise ProfileNotFound(f"no VPN profile named {name!r}; `nocraven vpn list` shows the profiles") from None

    def profile(self, name: str) -> Profile:
        self.meta(name)
        return parse_profile((self._dir(name) / "profile.ovpn").read_text())

    def export(self, name: str) -> str:
        """The stored profile as `.ovpn` text, without the username/password."""
        self.meta(name)
        return (self._dir(name) / "profile.ovpn").read_text()

    def credentials(self, name: str) -> Credentials | None:
        """For the supervisor only (answering openvpn's >PASSWORD); never for display."""
        path = self._dir(name) / "credentials.json"
        if not path.exists():
            return None
        return Credentials(**json.loads(path.read_text()))

    # ---- metadata changes ---------------------------------------------------------------------

    def update(
        self,
        name: str,
        *,
        priority: int | None = None,
        enabled: bool | None = None,
        last_connected: dt.datetime | None = None,
    ) -> ProfileMeta:
        meta = self.meta(name)
        if priority is not None:
            meta = replace(meta, priority=priority)
        if enabled is not None:
            meta = replace(meta, enabled=enabled)
        if last_connected is not None:
            meta = replace(meta, last_connected=last_connected.isoformat(timespec="seconds"))
        _write(self._dir(name) / "meta.json", json.dumps(asdict(meta), indent=2))
        return meta


def _write(path: Path, text: str) -> None:
    """Atomic write of a 0600 file."""
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
