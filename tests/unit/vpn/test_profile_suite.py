"""The `.ovpn` parser suite: varied profiles (every form OpenVPN client profiles take in the
wild), each checked for what a user would notice: usable or refused with the right line, the
remotes and credentials found, and a faithful round trip."""

from __future__ import annotations

import base64
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12
from hypothesis import given
from hypothesis import strategies as st

from nocraven.vpn.profile import (
    Profile,
    ProfileError,
    classify,
    load_profile,
    parse_profile,
    refusals,
    render,
    split_credentials,
    warnings,
)
from nocraven.vpn.store import check_profile
from tests.support.vpn_pki import TestPki, make_pki


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return make_pki()


def blocks(pki: TestPki) -> dict[str, str]:
    return {
        "ca": f"<ca>\n{pki.ca.cert_pem}</ca>",
        "cert": f"<cert>\n{pki.client.cert_pem}</cert>",
        "key": f"<key>\n{pki.client.key_pem}</key>",
        "ta": pki.tls_auth,
        "creds": f"<ca>\n{pki.ca.cert_pem}</ca>\n<cert>\n{pki.client.cert_pem}</cert>\n<key>\n"
        f"{pki.client.key_pem}</key>",
    }


@dataclass
class Case:
    name: str
    text: str
    refused: str | None = None  # a substring of the first refusal, None = usable
    line: int | None = None  # the refused line
    warns: list[str] = field(default_factory=list)
    remotes: list[tuple[str, int, str]] | None = None
    files: dict[str, str] = field(default_factory=dict)  # files next to the profile
    allow: tuple[str, ...] = ()
    check: Any = None  # extra assertion on the loaded profile


CASES = [
    Case(
        "minimal-p2p",
        "tls-client\ndev null\nremote 127.0.0.1 1194\nremote-cert-tls server\n{creds}\n",
        remotes=[("127.0.0.1", 1194, "udp")],
    ),
    Case(
        "classic-client",
        "client\ndev tun\nproto udp\nremote vpn.example.net 1194\nresolv-retry infinite\nnobind\npersist-key\n"
        "persist-tun\nremote-cert-tls server\ncipher AES-256-GCM\nverb 3\n{creds}\n",
        remotes=[("vpn.example.net", 1194, "udp")],
    ),
    Case(
        "crlf",
        "client\r\ndev tun\r\nremote a.example 1194 udp\r\nremote-cert-tls server\r\n{creds}\r\n",
        remotes=[("a.example", 1194, "udp")],
    ),
    Case(
        "bom-crlf",
        "\ufeffclient\r\nremote b.example 443 tcp\r\nremote-cert-tls server\r\n{creds}\r\n",
        remotes=[("b.example", 443, "tcp")],
    ),
    Case(
        "comments",
        "# NOC profile\n; generated\nclient\n  # indented comment\nremote c.example 1194 # the main one\n"
        "remote-cert-tls server ; checked\n{creds}\n",
        remotes=[("c.example", 1194, "udp")],
    ),
    Case(
        "quoted",
        "client\nremote d.example 1194\nremote-cert-tls server\n"
        "verify-x509-name \"CN=NOC Server #1\" subject\nsetenv FRIENDLY_NAME 'Venue NOC'\n{creds}\n",
        warns=["setenv"],
        check=lambda p: p.first("verify-x509-name").args == ("CN=NOC Server #1", "subject"),
    ),
    Case(
        "escapes",
        'client\nremote e.example\nremote-cert-tls server\nverify-x509-name "a \\"quoted\\" \\\\name" name\n{creds}\n',
        check=lambda p: p.first("verify-x509-name").args[0] == 'a "quoted" \\name',
    ),
    Case(
        "remote-list-random",
        "client\nremote-random\nremote r1.example 1194\nremote r2.example 1195 tcp\nremote r3.example\n"
        "remote-cert-tls server\n{creds}\n",
        remotes=[("r1.example", 1194, "udp"), ("r2.example", 1195, "tcp"), ("r3.example", 1194, "udp")],
        check=lambda p: p.remote_random,
    ),
    Case(
        "port-proto-defaults",
        "client\nport 443\nproto tcp-client\nremote f.example\nremote-cert-tls server\n{creds}\n",
        remotes=[("f.example", 443, "tcp-client")],
    ),
    Case(
        "connection-blocks",
        "client\nremote-cert-tls server\n<connection>\nremote g1.example 1194 udp\n</connection>\n"
        "<connection>\nremote g2.example 443 tcp\nconnect-timeout 5\n</connection>\n{creds}\n",
        remotes=[("g1.example", 1194, "udp"), ("g2.example", 443, "tcp")],
    ),
    Case(
        "tls-auth-inline",
        "client\nremote h.example\nremote-cert-tls server\nkey-direction 1\n<tls-auth>\n{ta}</tls-auth>\n{creds}\n",
        check=lambda p: p.inline("tls-auth") is not None,
    ),
    Case(
        "tls-auth-no-direction",
        "client\nremote h.example\nremote-cert-tls server\n<tls-auth>\n{ta}</tls-auth>\n{creds}\n",
        warns=["key-direction"],
    ),
    Case(
        "tls-auth-file",
        "client\nremote i.example\nremote-cert-tls server\ntls-auth ta.key 1\n{creds}\n",
        files={"ta.key": "{ta}"},
        check=lambda p: p.inline("tls-auth") is not None and p.first("key-direction").args == ("1",),
    ),
    Case(
        "tls-crypt",
        "client\nremote j.example\nremote-cert-tls server\n<tls-crypt>\n{ta}</tls-crypt>\n{creds}\n",
        check=lambda p: p.inline("tls-crypt") is not None,
    ),
    Case(
        "tls-crypt-v2",
        "client\nremote k.example\nremote-cert-tls server\n<tls-crypt-v2>\n"
        "-----BEGIN OpenVPN tls-crypt-v2 client key-----\nAAAA\n"
        "-----END OpenVPN tls-crypt-v2 client key-----\n</tls-crypt-v2>\n{creds}\n",
        check=lambda p: "tls-crypt-v2 client key" in (p.inline("tls-crypt-v2") or ""),
    ),
    Case(
        "extra-certs",
        "client\nremote l.example\nremote-cert-tls server\n{creds}\n<extra-certs>\n{ca_pem}</extra-certs>\n",
        check=lambda p: p.inline("extra-certs") is not None,
    ),
    Case(
        "files-relative",
        "client\nremote m.example\nremote-cert-tls server\nca keys/ca.crt\ncert keys/client.crt\nkey keys/client.key\n",
        files={"keys/ca.crt": "{ca_pem}", "keys/client.crt": "{cert_pem}", "keys/client.key": "{key_pem}"},
        check=lambda p: p.inline("key") is not None,
    ),
    Case(
        "inline-tag-style",
        "client\nremote n.example\nremote-cert-tls server\nca [inline]\ncert [inline]\nkey [inline]\n{creds}\n",
    ),
    Case(
        "auth-user-pass-inline",
        "client\nremote o.example\nremote-cert-tls server\n<auth-user-pass>\ntech\ns3cret pass\n"
        "</auth-user-pass>\n<ca>\n{ca_pem}</ca>\n",
    ),
    Case(
        "auth-user-pass-file",
        "client\nremote p.example\nremote-cert-tls server\nauth-user-pass creds.txt\n<ca>\n{ca_pem}</ca>\n",
        files={"creds.txt": "tech\npw\n"},
    ),
    Case(
        "double-dash",
        "--client\n--remote q.example 1194\n--remote-cert-tls server\n{creds}\n",
        remotes=[("q.example", 1194, "udp")],
    ),
    Case(
        "windows-options",
        "client\nremote r.example\nremote-cert-tls server\nblock-outside-dns\nregister-dns\n{creds}\n",
        warns=["block-outside-dns", "register-dns"],
    ),
    Case(
        "daemon-log",
        "client\nremote s.example\nremote-cert-tls server\ndaemon\nlog /var/log/openvpn.log\n"
        "auth-retry interact\n{creds}\n",
        warns=["daemon", "log", "auth-retry"],
    ),
    Case(
        "server-directive",
        "client\nremote t.example\nserver 10.8.0.0 255.255.255.0\n{creds}\n",
        refused="server-only",
        line=3,
    ),
    Case(
        "push-directive",
        'client\nremote t.example\nremote-cert-tls server\npush "route 10.0.0.0 255.0.0.0"\n{creds}\n',
        refused="server-only",
        line=4,
    ),
    Case(
        "management",
        "client\nremote u.example\nmanagement 127.0.0.1 7505\n{creds}\n",
        refused="management interface",
        line=3,
    ),
    Case(
        "up-script",
        "client\nremote v.example\nscript-security 2\nup /etc/openvpn/update-resolv-conf\n{creds}\n",
        refused="run a command",
        line=4,
    ),
    Case(
        "up-script-allowed",
        "client\nremote v.example\nremote-cert-tls server\nup /etc/openvpn/update-resolv-conf\n{creds}\n",
        allow=("up",),
        warns=["up"],
    ),
    Case(
        "route-up", 'client\nremote w.example\n\nroute-up "/bin/sh -c true"\n{creds}\n', refused="run a command", line=4
    ),
    Case(
        "tls-verify",
        "client\nremote w.example\ntls-verify /usr/local/bin/check\n{creds}\n",
        refused="run a command",
        line=3,
    ),
    Case(
        "auth-user-pass-verify",
        "client\nremote w.example\nauth-user-pass-verify /bin/check via-env\n{creds}\n",
        refused="run a command",
        line=3,
    ),
    Case(
        "plugin",
        "client\nremote x.example\nplugin /usr/lib/openvpn/plugins/openvpn-plugin-down-root.so down\n{creds}\n",
        refused="run a command",
        line=3,
    ),
    Case(
        "missing-inline-ca",
        "client\nremote y.example\nca [inline]\n<cert>\n{cert_pem}</cert>\n<key>\n{key_pem}</key>\n",
        refused="no <ca> block",
        line=3,
    ),
    Case("missing-key", "client\nremote y.example\n{ca}\n{cert}\n", refused="<key>"),
    Case("no-remote", "client\ndev tun\n{creds}\n", refused="names no server"),
    Case("bad-port", "client\nremote z.example http\n{creds}\n", refused="not a number", line=2),
    Case("bad-key-direction", "client\nremote z.example\nkey-direction 2\n{creds}\n", refused="0 or 1", line=3),
    Case("unknown-directive", "client\nremote z.example\nfrobnicate yes\n{creds}\n", refused="unknown option", line=3),
    Case("nested-config", "client\nremote z.example\nconfig other.conf\n{creds}\n", refused="nested config", line=3),
    Case("not-a-client", "dev tun\nremote z.example\n{creds}\n", refused="not a client profile"),
]


def materialise(case: Case, pki: TestPki, directory: Path) -> Path:
    values = blocks(pki) | {"ca_pem": pki.ca.cert_pem, "cert_pem": pki.client.cert_pem, "key_pem": pki.client.key_pem}

    def fill(text: str) -> str:
        for key, value in values.items():
            text = text.replace("{" + key + "}", value)
        return text

    for name, body in case.files.items():
        target = directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(fill(body))
    path = directory / f"{case.name}.ovpn"
    path.write_bytes(fill(case.text).encode())
    return path


def shape(profile: Profile) -> list[Any]:
    """A profile's content without line numbers (they change when rendered)."""
    return [(d.name, d.args, d.block, shape(d.connection) if d.connection else None) for d in profile.directives]


def test_the_suite_is_large_enough() -> None:
    assert len(CASES) >= 30
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_profile(case: Case, pki: TestPki, tmp_path: Path) -> None:
    path = materialise(case, pki, tmp_path)
    profile, credentials = load_profile(path)
    findings, refusal = check_profile(profile, allow=case.allow)
    if case.refused:
        assert refusal is not None, f"{case.name} should be refused"
        assert case.refused in refusal
        assert "\n" not in refusal
        if case.line is not None:
            assert refusal.startswith(f"line {case.line}: ")
        return
    assert refusal is None, refusal
    warned = " ".join(str(w) for w in warnings(findings))
    for word in case.warns:
        assert word in warned
    if case.remotes is not None:
        assert [(r.host, r.port, r.proto) for r in profile.remotes] == case.remotes
    if case.check is not None:
        assert case.check(profile)
    # A round trip through render keeps every directive.
    assert shape(parse_profile(render(profile))) == shape(profile)
    if "auth-user-pass" in case.name:
        assert credentials is not None and credentials.username == "tech"
        assert "tech" not in render(profile)


def test_round_trip_keeps_every_directive_of_the_raw_file(pki: TestPki, tmp_path: Path) -> None:
    for case in CASES:
        if case.files:
            continue
        text = materialise(case, pki, tmp_path).read_text()
        profile = parse_profile(text)
        assert shape(parse_profile(render(profile))) == shape(profile), case.name


def test_crlf_and_lf_parse_alike(pki: TestPki) -> None:
    text = "client\nremote a.example 1194\nverify-x509-name 'NOC one' name\n" + blocks(pki)["creds"] + "\n"
    assert shape(parse_profile(text.replace("\n", "\r\n"))) == shape(parse_profile(text))


def test_missing_referenced_file_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "p.ovpn"
    path.write_text("client\nremote a.example\nca ca.crt\ncert missing-client.crt\n")
    (tmp_path / "ca.crt").write_text("x")
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    message = str(caught.value)
    assert "missing-client.crt" in message and "line 4" in message and str(tmp_path) in message


def test_unclosed_block_names_its_line() -> None:
    with pytest.raises(ProfileError, match=r"line 3: <cert> block is never closed"):
        parse_profile("client\nremote a\n<cert>\n-----BEGIN CERTIFICATE-----\n")


def test_unterminated_quote_names_its_line() -> None:
    with pytest.raises(ProfileError, match="line 2: unterminated"):
        parse_profile('client\nverify-x509-name "oops name\n')


def test_allowing_a_script_turns_the_refusal_into_a_warning() -> None:
    profile = parse_profile("client\nremote a\nup /bin/true\n")
    assert refusals(classify(profile)) and refusals(classify(profile))[0].line == 3
    assert not [f for f in refusals(classify(profile, allow=["up"])) if f.directive == "up"]


def test_pkcs12_profile_is_validated(pki: TestPki) -> None:
    bundle = pkcs12.serialize_key_and_certificates(
        b"client", pki.client.key, pki.client.cert, [pki.ca.cert], _no_encryption()
    )
    text = (
        "client\nremote a.example\nremote-cert-tls server\n<pkcs12>\n"
        + base64.encodebytes(bundle).decode()
        + "</pkcs12>\n"
    )
    _, refusal = check_profile(parse_profile(text))
    assert refusal is None, refusal


def test_credentials_are_split_out_and_the_directive_kept() -> None:
    profile, credentials = split_credentials(parse_profile("client\n<auth-user-pass>\nalice\np w\n</auth-user-pass>\n"))
    assert credentials is not None and (credentials.username, credentials.password) == ("alice", "p w")
    assert profile.first("auth-user-pass") is not None and profile.inline("auth-user-pass") is None


def _no_encryption() -> Any:
    from cryptography.hazmat.primitives.serialization import NoEncryption

    return NoEncryption()


PIECES = [
    "client",
    "remote",
    "<ca>",
    "</ca>",
    "<connection>",
    "</connection>",
    '"',
    "'",
    "\\",
    "#",
    ";",
    " ",
    "\r\n",
    "\n",
    "x",
    "1194",
]


@given(st.lists(st.sampled_from(PIECES), max_size=60))
def test_fuzz_profile_text_only_raises_profile_error(pieces: list[str]) -> None:
    text = "".join(pieces)
    try:
        profile = parse_profile(text)
    except ProfileError as exc:
        assert "\n" not in str(exc)
        return
    classify(profile)
    assert shape(parse_profile(render(profile))) == shape(profile)


@given(st.binary(max_size=512))
def test_fuzz_random_bytes(data: bytes) -> None:
    with contextlib.suppress(ProfileError):
        classify(parse_profile(data))
