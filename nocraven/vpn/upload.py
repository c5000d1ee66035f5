"""Reading a profile for upload, on the caller's side (CLI, console): its text as written and
every file it names (`ca ca.crt`, `auth-user-pass login.txt`, resolved next to the profile), so
the engine never reads the technician's files and a refusal names the file's own line numbers."""

from __future__ import annotations

from pathlib import Path

from nocraven.vpn.profile import ProfileError, parse_profile, referenced_files


def read_upload(path: Path) -> tuple[str, dict[str, str]]:
    """The profile's text and its files by the name written in it. Raises ProfileError (one line
    naming the line, the directive and the file) when one cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ProfileError(f"cannot read the profile: {exc.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ProfileError(f"the profile is not UTF-8 text (byte {exc.start})") from None
    base = path.resolve().parent
    files: dict[str, str] = {}
    for directive in referenced_files(parse_profile(text)):
        name = directive.args[0]
        target = Path(name) if Path(name).is_absolute() else base / name
        where = f"line {directive.line}: {directive.name}"
        try:
            files[name] = target.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ProfileError(f"{where}: file {name!r} not found (looked in {target})") from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ProfileError(f"{where}: cannot read file {name!r} ({target}): {reason}") from None
    return text, files
