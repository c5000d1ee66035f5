"""Certificates checked before launch, and the profile store: each refusal one specific line."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from nocraven.vpn.profile import ProfileError, parse_profile
from nocraven.vpn.store import ProfileStore, StoreError, check_profile
from nocraven.vpn.validate import check_server_certificate, validate_certificates
from tests.support.vpn_pki import NOW, TestPki, client_profile, issue, make_ca, make_pki


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return make_pki()


def refusal_of(text: str) -> str | None:
    return check_profile(parse_profile(text))[1]


def test_a_good_profile_passes_with_days_left(pki: TestPki) -> None:
    report = validate_certificates(parse_profile(client_profile(pki, [("127.0.0.1", 1194)])))
    assert not report.refused
    assert report.client_subject == "CN=client"
    assert report.days_left is not None and 800 <= report.days_left <= 825


def test_expired_client_certificate_is_refused_with_its_date(pki: TestPki) -> None:
    old = issue(
        pki.ca, "old-client", "client", not_before=NOW - dt.timedelta(days=400), not_after=NOW - dt.timedelta(days=3)
    )
    reason = refusal_of(client_profile(pki, [("a", 1)], client=old))
    assert reason is not None
    assert (
        "line" in reason and "cert: the client certificate CN=old-client expired on" in reason and "days ago" in reason
    )


def test_not_yet_valid_certificate_points_at_the_clock(pki: TestPki) -> None:
    future = issue(
        pki.ca, "future", "client", not_before=NOW + dt.timedelta(days=2), not_after=NOW + dt.timedelta(days=30)
    )
    reason = refusal_of(client_profile(pki, [("a", 1)], client=future))
    assert reason is not None and "not valid before" in reason and "clock" in reason


def test_certificate_expiring_soon_is_a_warning(pki: TestPki) -> None:
    soon = issue(pki.ca, "soon", "client", not_after=NOW + dt.timedelta(days=10))
    findings, refusal = check_profile(parse_profile(client_profile(pki, [("a", 1)], client=soon)))
    assert refusal is None
    assert any("expires in 9 days" in str(f) or "expires in 10 days" in str(f) for f in findings)


def test_mismatched_key_is_refused(pki: TestPki) -> None:
    other = issue(pki.ca, "other", "client")
    text = client_profile(pki, [("a", 1)]).replace(pki.client.key_pem, other.key_pem)
    reason = refusal_of(text)
    assert reason is not None
    assert "key: the private key does not match the client certificate CN=client" in reason


def test_wrong_ca_is_refused(pki: TestPki) -> None:
    stranger = make_ca("Some Other CA")
    reason = refusal_of(client_profile(pki, [("a", 1)], ca=stranger))
    assert reason is not None
    assert "not by the profile's CA (CN=Some Other CA)" in reason and "different PKIs" in reason


def test_same_name_different_ca_is_refused(pki: TestPki) -> None:
    lookalike = make_ca("NoC Raven Test CA")
    reason = refusal_of(client_profile(pki, [("a", 1)], ca=lookalike))
    assert reason is not None and "signature does not verify" in reason


def test_expired_ca_is_refused(pki: TestPki) -> None:
    ca = make_ca("Old CA", days=-1)
    leaf = issue(ca, "c", "client")
    reason = refusal_of(client_profile(pki, [("a", 1)], ca=ca, client=leaf))
    assert reason is not None and "the CA certificate CN=Old CA expired" in reason


def test_garbage_certificate_block_is_named(pki: TestPki) -> None:
    text = client_profile(pki, [("a", 1)]).replace(pki.client.cert_pem, "not a certificate\n")
    reason = refusal_of(text)
    assert reason is not None and "cert: not a PEM certificate" in reason


def test_encrypted_key_is_a_warning_not_a_crash(pki: TestPki) -> None:
    encrypted = pki.client.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
    ).decode()
    text = client_profile(pki, [("a", 1)]).replace(pki.client.key_pem, encrypted)
    findings, refusal = check_profile(parse_profile(text))
    assert refusal is None and any("encrypted" in str(f) for f in findings)


def test_remote_cert_tls_server_usage(pki: TestPki) -> None:
    profile = parse_profile(client_profile(pki, [("a", 1)]))
    assert check_server_certificate(profile, pki.server.cert) is None
    reason = check_server_certificate(profile, pki.client.cert)
    assert reason is not None and "remote-cert-tls server" in reason and "CN=client" in reason


# ---- store ----------------------------------------------------------------------------------


def test_import_stores_private_files_and_hides_credentials(pki: TestPki, tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    text = (
        client_profile(pki, [("127.0.0.1", 1194)])
        + "auth-user-pass\n<auth-user-pass>\ntech\nhunter2\n</auth-user-pass>\n"
    )
    result = store.import_text(text, name="noc-a", priority=5)
    assert result.meta.has_credentials and result.meta.cert_expiry
    directory = tmp_path / "vpn" / "profiles" / "noc-a"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "vpn" / "profiles").stat().st_mode) == 0o700
    for path in directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    shown = json.dumps(store.meta("noc-a").__dict__) + store.export("noc-a")
    assert "hunter2" not in shown and "tech" not in store.export("noc-a")
    assert store.credentials("noc-a") is not None
    assert "auth-user-pass" in store.export("noc-a")


def test_list_orders_by_priority_then_name(pki: TestPki, tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    for name, priority in (("c", 20), ("b", 10), ("a", 20)):
        store.import_text(client_profile(pki, [("h", 1)]), name=name, priority=priority)
    assert [m.name for m in store.list()] == ["b", "a", "c"]
    store.update("c", priority=1)
    assert store.list()[0].name == "c"
    store.remove("b")
    assert [m.name for m in store.list()] == ["c", "a"]


def test_refused_import_leaves_nothing_behind(pki: TestPki, tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    text = client_profile(pki, [("h", 1)]) + "up /bin/sh\n"
    with pytest.raises(ProfileError, match="up: would run a command"):
        store.import_text(text, name="bad")
    assert store.names() == []


def test_duplicate_and_invalid_names(pki: TestPki, tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    store.import_text(client_profile(pki, [("h", 1)]), name="noc")
    with pytest.raises(StoreError, match="already exists"):
        store.import_text(client_profile(pki, [("h", 1)]), name="noc")
    with pytest.raises(StoreError, match="not a valid profile name"):
        store.import_text(client_profile(pki, [("h", 1)]), name="../escape")
    with pytest.raises(StoreError, match="no VPN profile named 'ghost'"):
        store.remove("ghost")


def test_import_file_takes_its_name_and_inlines_files(pki: TestPki, tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_text(pki.ca.cert_pem)
    (tmp_path / "me.crt").write_text(pki.client.cert_pem)
    (tmp_path / "me.key").write_text(pki.client.key_pem)
    path = tmp_path / "venue-uplink.ovpn"
    path.write_text("client\nremote 127.0.0.1 1194\nremote-cert-tls server\nca ca.crt\ncert me.crt\nkey me.key\n")
    store = ProfileStore(tmp_path / "data")
    store.import_file(path)
    exported = store.export("venue-uplink")
    assert "<key>" in exported and "me.key" not in exported


def test_auth_user_pass_without_credentials_is_refused(pki: TestPki, tmp_path: Path) -> None:
    text = client_profile(pki, [("h", 1)]) + "auth-user-pass\n"
    with pytest.raises(ProfileError, match="auth-user-pass"):
        ProfileStore(tmp_path).import_text(text, name="x")
