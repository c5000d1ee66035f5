"""OpenVPN's management protocol: notifications, replies, listings, encoders, fuzz."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nocraven.vpn import management as m
from nocraven.vpn.profile import split_line


def feed_all(connection: m.ManagementConnection, data: bytes, step: int) -> list[m.Message]:
    out: list[m.Message] = []
    for start in range(0, len(data), step):
        out += connection.feed(data[start : start + step])
    return out


SESSION = (
    b">INFO:OpenVPN Management Interface Version 5 -- type 'help' for more info\r\n"
    b">HOLD:Waiting for hold release:0\r\n"
    b"SUCCESS: real-time state notification set to ON\r\n"
    b"SUCCESS: hold release succeeded\r\n"
    b">REMOTE:vpn.example.net,1194,udp\r\n"
    b">STATE:1700000000,WAIT,,,,,,\r\n"
    b">PASSWORD:Need 'Auth' username/password\r\n"
    b">STATE:1700000002,CONNECTED,SUCCESS,10.8.0.2,192.0.2.1,1194,,\r\n"
    b">BYTECOUNT:1234,5678\r\n"
    b">STATE:1700000010,RECONNECTING,ping-restart,,,,,\r\n"
    b">LOG:1700000010,W,VERIFY EKU ERROR\r\n"
    b">FATAL:Cannot load private key file\r\n"
    b"ERROR: unknown command, enter 'help' for more options\r\n"
)


@pytest.mark.parametrize("step", [1, 7, 4096])
def test_a_session_in_any_chunking(step: int) -> None:
    connection = m.ManagementConnection()
    for command in ("state on", "hold release", "bogus"):
        connection.send(command)
    messages = feed_all(connection, SESSION, step)
    assert messages[0] == m.Info("OpenVPN Management Interface Version 5 -- type 'help' for more info")
    assert messages[1] == m.Hold("Waiting for hold release:0")
    assert messages[2] == m.Success("real-time state notification set to ON")
    assert messages[4] == m.RemoteQuery("vpn.example.net", 1194, "udp")
    assert messages[5] == m.State(1700000000, "WAIT")
    assert messages[6] == m.PasswordRequest("Auth", "need", "Need 'Auth' username/password")
    assert messages[7] == m.State(1700000002, "CONNECTED", "SUCCESS", "10.8.0.2", "192.0.2.1", "1194")
    assert messages[8] == m.ByteCount(1234, 5678)
    assert messages[9].description == "ping-restart"  # type: ignore[union-attr]
    assert messages[10] == m.Log(1700000010, "W", "VERIFY EKU ERROR")
    assert messages[11] == m.Fatal("Cannot load private key file")
    assert messages[12] == m.Error("unknown command, enter 'help' for more options")
    assert connection.rejected_lines == 0


def test_listing_reply_collected_up_to_end_with_notifications_between() -> None:
    connection = m.ManagementConnection()
    connection.send("state")
    messages = connection.feed(b"1700000000,CONNECTED,SUCCESS,10.8.0.2,192.0.2.1,1194,,\n>BYTECOUNT:1,2\nEND\n")
    assert messages == [
        m.ByteCount(1, 2),
        m.Listing("state", ("1700000000,CONNECTED,SUCCESS,10.8.0.2,192.0.2.1,1194,,",)),
    ]


def test_password_failure_and_private_key() -> None:
    connection = m.ManagementConnection()
    messages = connection.feed(b">PASSWORD:Verification Failed: 'Auth'\n>PASSWORD:Need 'Private Key' password\n")
    assert messages == [
        m.PasswordRequest("Auth", "failed", "Verification Failed: 'Auth'"),
        m.PasswordRequest("Private Key", "need", "Need 'Private Key' password"),
    ]


def test_remote_with_ipv6_host() -> None:
    assert m.ManagementConnection().feed(b">REMOTE:2001:db8::1,443,tcp-client\n") == [
        m.RemoteQuery("2001:db8::1", 443, "tcp-client")
    ]


def test_malformed_notifications_do_not_raise() -> None:
    messages = m.ManagementConnection().feed(
        b">STATE:notatime,X\n>BYTECOUNT:a,b\n>REMOTE:x\n>NEED-OK:Need 'token-insertion-request' confirmation\n"
    )
    assert all(isinstance(x, m.OtherNotification) for x in messages) and len(messages) == 4


def test_encoders_quote_and_refuse_line_breaks() -> None:
    assert m.username("Auth", 'we"ird\\user') == 'username "Auth" "we\\"ird\\\\user"'
    assert split_line(m.password("Auth", 'p a"ss')) == ["password", "Auth", 'p a"ss']
    with pytest.raises(ValueError):
        m.password("Auth", "a\nsignal SIGTERM")
    with pytest.raises(ValueError):
        m.ManagementConnection().send("hold release\nsignal SIGTERM")
    with pytest.raises(ValueError):
        m.signal("SIGKILL")
    assert m.ManagementConnection().send(m.remote_skip()) == b"remote SKIP\n"


@given(st.binary(max_size=2048), st.integers(min_value=1, max_value=64))
def test_fuzz_random_bytes_never_raise(data: bytes, step: int) -> None:
    connection = m.ManagementConnection()
    connection.send("state")
    feed_all(connection, data, step)


@given(st.integers(min_value=0, max_value=len(SESSION)))
def test_fuzz_truncated_session_never_raises(cut: int) -> None:
    connection = m.ManagementConnection()
    messages = connection.feed(SESSION[:cut])
    assert len(messages) <= SESSION[:cut].count(b"\n")


def test_overlong_line_is_dropped_and_counted() -> None:
    connection = m.ManagementConnection()
    assert connection.feed(b">LOG:" + b"x" * (m.MAX_LINE + 10)) == []
    assert connection.rejected_lines == 1
    assert connection.feed(b"\n>HOLD:again\n")[-1] == m.Hold("again")
