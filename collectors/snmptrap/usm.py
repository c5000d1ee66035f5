"""SNMPv3 with the User-based Security Model (RFC 3414, RFC 3826, RFC 7860), sans-IO.

Done by hand with `hashlib`, `hmac` and `cryptography` rather than through pysnmp's engine:
pysnmp's v3 path needs its dispatcher and costs ~0.5 ms a message, while a storm of v3 traps
is exactly when the receiver must keep up. The keys follow net-snmp (RFC 3414 A.2 password to
key, localised per authoritative engine ID; AES-192/256 keys extended as in
draft-blumenthal-aes-usm-04, which net-snmp's AES192/AES256 use).

Roles: a trap's sender is the authoritative engine, so the receiver localises the user's keys
to each sender's engine ID as it first sees it (many devices can share one user). An INFORM is
sent to *our* engine ID, which senders discover with an unauthenticated probe answered by a
usmStatsUnknownEngineIDs Report; then our boots and time are checked (150 s window).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.decrepit.ciphers.modes import CFB
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from collectors.snmptrap import ber
from collectors.snmptrap.ber import Malformed
from collectors.snmptrap.pdu import Pdu, decode_pdu
from collectors.snmptrap.settings import SnmpUser

# protocol -> (hashlib name, HMAC length in the message)
AUTH_PROTOCOLS = {
    "MD5": ("md5", 12),
    "SHA": ("sha1", 12),
    "SHA224": ("sha224", 16),
    "SHA256": ("sha256", 24),
    "SHA384": ("sha384", 32),
    "SHA512": ("sha512", 48),
}
PRIV_KEY_BYTES = {"DES": 16, "AES": 16, "AES192": 24, "AES256": 32}  # DES: key then pre-IV

FLAG_AUTH, FLAG_PRIV, FLAG_REPORTABLE = 0x01, 0x02, 0x04
USM_SECURITY_MODEL = 3
TIME_WINDOW_S = 150
USM_STATS = "1.3.6.1.6.3.15.1.1"
NOT_IN_TIME_WINDOWS_0 = f"{USM_STATS}.2.0"
UNKNOWN_ENGINE_IDS_0 = f"{USM_STATS}.4.0"
_MAX_ENGINES_PER_USER = 4096
_MEGABYTE = 1048576
_MAX_MESSAGE_SIZE = 65507
_MAX_INT32 = 2**31 - 1


@functools.lru_cache(maxsize=64)
def password_to_key(password: bytes, hash_name: str) -> bytes:
    """RFC 3414 A.2: the digest of the password repeated to one megabyte (cached: a megabyte
    of hashing per user is felt when settings are reloaded)."""
    if not password:
        raise ValueError("empty USM password")
    repeated = password * (_MEGABYTE // len(password) + 1)
    return hashlib.new(hash_name, repeated[:_MEGABYTE]).digest()


def localize(key: bytes, engine_id: bytes, hash_name: str) -> bytes:
    """RFC 3414 A.2: Kul = H(Ku || engineID || Ku)."""
    return hashlib.new(hash_name, key + engine_id + key).digest()


def extend_key(localized: bytes, hash_name: str, size: int) -> bytes:
    """draft-blumenthal-aes-usm-04 §3.1.2.1: append H(key so far) until long enough."""
    while len(localized) < size:
        localized += hashlib.new(hash_name, localized).digest()
    return localized[:size]


class User:
    """A configured USM user with its master keys and its keys per learned engine ID."""

    def __init__(self, settings: SnmpUser) -> None:
        self.name = settings.name
        self.auth = settings.auth_protocol.upper()
        self.priv = settings.priv_protocol.upper()
        self.hash_name, self.mac_len = AUTH_PROTOCOLS[self.auth] if self.auth else ("", 0)
        self.level = FLAG_AUTH * bool(self.auth) | FLAG_PRIV * bool(self.priv)
        self.auth_master = password_to_key(settings.auth_key.encode(), self.hash_name) if self.auth else b""
        self.priv_master = password_to_key(settings.priv_key.encode(), self.hash_name) if self.priv else b""
        self._keys: dict[bytes, tuple[bytes, bytes]] = {}

    def keys(self, engine_id: bytes) -> tuple[bytes, bytes]:
        """(auth key, priv key) localised to `engine_id` (computed once per engine)."""
        keys = self._keys.get(engine_id)
        if keys is None:
            if len(self._keys) >= _MAX_ENGINES_PER_USER:
                del self._keys[next(iter(self._keys))]
            auth_key = localize(self.auth_master, engine_id, self.hash_name) if self.auth else b""
            priv_key = b""
            if self.priv:
                priv_key = extend_key(
                    localize(self.priv_master, engine_id, self.hash_name), self.hash_name, PRIV_KEY_BYTES[self.priv]
                )
            keys = self._keys[engine_id] = (auth_key, priv_key)
        return keys

    @property
    def engines(self) -> int:
        return len(self._keys)


@dataclass(slots=True)
class V3Message:
    """The parsed outer layers of an SNMPv3 message."""

    msg_id: int
    flags: int
    engine_id: bytes
    boots: int
    time: int
    user: bytes
    auth_span: tuple[int, int]  # msgAuthenticationParameters inside the datagram
    priv_params: bytes
    data_pos: int


@dataclass(slots=True)
class Accepted:
    user: str
    message: V3Message
    context_engine_id: bytes
    context_name: bytes
    pdu: Pdu
    source: bytes  # the buffer `pdu`'s spans point into (the plaintext when it was encrypted)


@dataclass(slots=True)
class Refused:
    reason: str  # a counter name: unknown_user, wrong_digest, ... or "discovery"
    report: bytes | None = None  # a Report to send back at once (discovery, time window)
    user: str | None = None


def parse_header(buf: bytes, pos: int, end: int) -> V3Message:
    """The header and security parameters of a v3 message whose msgVersion ends at `pos`."""
    g_start, g_stop = ber.expect(buf, pos, end, ber.SEQUENCE)
    msg_id, p = ber.read_integer(buf, g_start, g_stop)
    _max_size, p = ber.read_integer(buf, p, g_stop)
    flags_raw, p = ber.read_octets(buf, p, g_stop)
    model, p = ber.read_integer(buf, p, g_stop)
    if p != g_stop or len(flags_raw) != 1:
        raise Malformed("bad msgGlobalData")
    if model != USM_SECURITY_MODEL:
        raise Malformed(f"security model {model} is not USM")
    flags = flags_raw[0]
    if flags & FLAG_PRIV and not flags & FLAG_AUTH:
        raise Malformed("privacy without authentication")
    s_start, s_stop = ber.expect(buf, g_stop, end, ber.OCTET_STRING)
    u_start, u_stop = ber.expect(buf, s_start, s_stop, ber.SEQUENCE)
    if u_stop != s_stop:
        raise Malformed("trailing bytes in msgSecurityParameters")
    engine_id, p = ber.read_octets(buf, u_start, u_stop)
    boots, p = ber.read_integer(buf, p, u_stop)
    time, p = ber.read_integer(buf, p, u_stop)
    user, p = ber.read_octets(buf, p, u_stop)
    a_start, a_stop = ber.expect(buf, p, u_stop, ber.OCTET_STRING)
    priv_params, p = ber.read_octets(buf, a_stop, u_stop)
    if p != u_stop or len(engine_id) > 32 or len(user) > 32:
        raise Malformed("bad USM security parameters")
    if not (0 <= boots <= _MAX_INT32 and 0 <= time <= _MAX_INT32):
        raise Malformed("engine boots or time out of range")
    return V3Message(msg_id, flags, engine_id, boots, time, user, (a_start, a_stop), priv_params, s_stop)


class Usm:
    """Authenticates and decrypts v3 messages for the configured users; builds our replies."""

    def __init__(self, users: list[SnmpUser], engine_id: bytes, engine_boots: int, started: float) -> None:
        self.users = {user.name.encode(): User(user) for user in users}
        self.engine_id = engine_id
        self.engine_boots = engine_boots
        self._started = started
        self._salt = int.from_bytes(os.urandom(8), "big")
        self.unknown_engine_ids = 0
        self._aes_keys: dict[bytes, algorithms.AES] = {}
        self.not_in_time_windows = 0

    def engine_time(self, now: float) -> int:
        return int(now - self._started) & 0x7FFFFFFF

    def process(self, buf: bytes, pos: int, end: int, now: float) -> Accepted | Refused:
        """Check one v3 message whose msgVersion ends at `pos`; raises `Malformed`."""
        msg = parse_header(buf, pos, end)
        if not msg.engine_id and msg.flags & FLAG_REPORTABLE:
            return self._discovery(buf, msg, end, now)
        user = self.users.get(msg.user)
        if user is None:
            return Refused("unknown_user", user=msg.user.decode("utf-8", "replace"))
        if msg.flags & (FLAG_AUTH | FLAG_PRIV) != user.level:
            return Refused("wrong_security_level", user=user.name)
        auth_key, priv_key = user.keys(msg.engine_id)
        if user.auth and not self._authentic(buf, msg, user, auth_key):
            return Refused("wrong_digest", user=user.name)
        if user.priv:
            plain = self._decrypt(buf, msg, user.priv, priv_key)
            if plain is None:
                return Refused("decryption_error", user=user.name)
            try:
                accepted = _scoped_pdu(plain, 0, len(plain), user.name, msg, strict_end=False)
            except Malformed:
                return Refused("decryption_error", user=user.name)
        else:
            accepted = _scoped_pdu(buf, msg.data_pos, end, user.name, msg, strict_end=True)
        # RFC 3414 §3.2 step 7: timeliness is checked for authenticated messages to our engine.
        if user.auth and msg.engine_id == self.engine_id and not self._timely(msg, now):
            self.not_in_time_windows += 1
            report = self.report(msg, accepted.pdu.request_id, NOT_IN_TIME_WINDOWS_0, self.not_in_time_windows, now)
            return Refused("not_in_time_window", report=report if msg.flags & FLAG_REPORTABLE else None)
        if accepted.pdu.tag == ber.INFORM_REQUEST and msg.engine_id != self.engine_id:
            return Refused("unknown_engine_id", user=user.name)
        return accepted

    def _authentic(self, buf: bytes, msg: V3Message, user: User, auth_key: bytes) -> bool:
        start, stop = msg.auth_span
        if stop - start != user.mac_len:
            return False
        whole = buf[:start] + bytes(user.mac_len) + buf[stop:]
        digest = hmac.digest(auth_key, whole, user.hash_name)[: user.mac_len]
        return hmac.compare_digest(digest, buf[start:stop])

    def _decrypt(self, buf: bytes, msg: V3Message, priv: str, key: bytes) -> bytes | None:
        try:
            start, stop = ber.expect(buf, msg.data_pos, len(buf), ber.OCTET_STRING)
        except Malformed:
            return None
        cipher_text = buf[start:stop]
        salt = msg.priv_params
        if len(salt) != 8:
            return None
        if priv == "DES":
            if len(cipher_text) % 8:
                return None
            iv = bytes(a ^ b for a, b in zip(key[8:16], salt, strict=True))
            decryptor = Cipher(TripleDES(key[:8] * 3), modes.CBC(iv)).decryptor()
        else:
            iv = msg.boots.to_bytes(4, "big") + msg.time.to_bytes(4, "big") + salt
            decryptor = Cipher(self._aes(key), CFB(iv)).decryptor()
        return decryptor.update(cipher_text) + decryptor.finalize()

    def _aes(self, key: bytes) -> algorithms.AES:
        """The AES algorithm object of a localised key (kept: building it costs per message)."""
        algorithm = self._aes_keys.get(key)
        if algorithm is None:
            if len(self._aes_keys) >= _MAX_ENGINES_PER_USER:
                self._aes_keys.clear()
            algorithm = self._aes_keys[key] = algorithms.AES(key)
        return algorithm

    def _timely(self, msg: V3Message, now: float) -> bool:
        return msg.boots == self.engine_boots and abs(msg.time - self.engine_time(now)) <= TIME_WINDOW_S

    def _discovery(self, buf: bytes, msg: V3Message, end: int, now: float) -> Refused:
        """RFC 3414 §4: answer an engine ID probe with our engine ID, boots and time."""
        request_id = 0
        if not msg.flags & FLAG_PRIV:
            with contextlib.suppress(Malformed):
                request_id = _scoped_pdu(buf, msg.data_pos, end, "", msg, strict_end=True).pdu.request_id
        self.unknown_engine_ids += 1
        plain = V3Message(msg.msg_id, 0, msg.engine_id, 0, 0, msg.user, (0, 0), b"", 0)
        return Refused("discovery", self.report(plain, request_id, UNKNOWN_ENGINE_IDS_0, self.unknown_engine_ids, now))

    # ---- writing -----------------------------------------------------------------------------

    def report(self, msg: V3Message, request_id: int, counter_oid: str, count: int, now: float) -> bytes:
        """A Report carrying one usmStats counter; authenticated (not encrypted) if `msg` was."""
        varbind = ber.tlv(ber.SEQUENCE, ber.encode_oid(counter_oid) + ber.encode_unsigned(ber.COUNTER32, count))
        pdu = ber.encode_pdu(ber.REPORT, request_id, ber.tlv(ber.SEQUENCE, varbind))
        user = self.users.get(msg.user) if msg.flags & FLAG_AUTH else None
        return self.encode_message(msg.msg_id, user, FLAG_AUTH if user else 0, self.engine_id, b"", pdu, now)

    def response(self, accepted: Accepted, now: float) -> bytes:
        """The Response to an InformRequest, at the security level it came with."""
        start, stop = accepted.pdu.varbind_span
        pdu = ber.encode_pdu(ber.RESPONSE, accepted.pdu.request_id, accepted.source[start:stop])
        user = self.users[accepted.message.user]
        level = accepted.message.flags & (FLAG_AUTH | FLAG_PRIV)
        context = (accepted.context_engine_id, accepted.context_name)
        return self.encode_message(accepted.message.msg_id, user, level, *context, pdu, now)

    def encode_message(
        self,
        msg_id: int,
        user: User | None,
        level: int,
        context_engine_id: bytes,
        context_name: bytes,
        pdu: bytes,
        now: float,
    ) -> bytes:
        boots, time = self.engine_boots, self.engine_time(now)
        scoped = ber.tlv(
            ber.SEQUENCE, ber.tlv(ber.OCTET_STRING, context_engine_id) + ber.tlv(ber.OCTET_STRING, context_name) + pdu
        )
        auth_key, priv_key = user.keys(self.engine_id) if user else (b"", b"")
        salt = b""
        if user and level & FLAG_PRIV:
            scoped, salt = self._encrypt(scoped, user.priv, priv_key, boots, time)
        mac_len = user.mac_len if user and level & FLAG_AUTH else 0
        security = ber.tlv(
            ber.SEQUENCE,
            ber.tlv(ber.OCTET_STRING, self.engine_id)
            + ber.encode_integer(boots)
            + ber.encode_integer(time)
            + ber.tlv(ber.OCTET_STRING, user.name.encode() if user else b"")
            + ber.tlv(ber.OCTET_STRING, bytes(mac_len))
            + ber.tlv(ber.OCTET_STRING, salt),
        )
        head = ber.encode_integer(3) + ber.tlv(
            ber.SEQUENCE,
            ber.encode_integer(msg_id)
            + ber.encode_integer(_MAX_MESSAGE_SIZE)
            + ber.tlv(ber.OCTET_STRING, bytes((level,)))
            + ber.encode_integer(USM_SECURITY_MODEL),
        )
        security_octets = ber.tlv(ber.OCTET_STRING, security)
        body = head + security_octets + scoped
        message = ber.tlv(ber.SEQUENCE, body)
        if not mac_len or user is None:
            return message
        # msgAuthenticationParameters is the zero-filled string just before msgPrivacyParameters.
        mac_at = len(message) - len(body) + len(head) + len(security_octets) - len(ber.tlv(ber.OCTET_STRING, salt))
        mac_at -= mac_len
        digest = hmac.new(auth_key, message, user.hash_name).digest()[:mac_len]
        return message[:mac_at] + digest + message[mac_at + mac_len :]

    def _encrypt(self, scoped: bytes, priv: str, key: bytes, boots: int, time: int) -> tuple[bytes, bytes]:
        self._salt = (self._salt + 1) & 0xFFFFFFFFFFFFFFFF
        if priv == "DES":
            salt = boots.to_bytes(4, "big") + (self._salt & 0xFFFFFFFF).to_bytes(4, "big")
            iv = bytes(a ^ b for a, b in zip(key[8:16], salt, strict=True))
            padded = scoped + bytes(-len(scoped) % 8)
            encryptor = Cipher(TripleDES(key[:8] * 3), modes.CBC(iv)).encryptor()
            return ber.tlv(ber.OCTET_STRING, encryptor.update(padded) + encryptor.finalize()), salt
        salt = self._salt.to_bytes(8, "big")
        iv = boots.to_bytes(4, "big") + time.to_bytes(4, "big") + salt
        encryptor = Cipher(algorithms.AES(key), CFB(iv)).encryptor()
        return ber.tlv(ber.OCTET_STRING, encryptor.update(scoped) + encryptor.finalize()), salt


def _scoped_pdu(buf: bytes, pos: int, end: int, user: str, msg: V3Message, strict_end: bool) -> Accepted:
    start, stop = ber.expect(buf, pos, end, ber.SEQUENCE)
    if strict_end and stop != end:
        raise Malformed("trailing bytes after the scoped PDU")
    context_engine_id, p = ber.read_octets(buf, start, stop)
    context_name, p = ber.read_octets(buf, p, stop)
    pdu, p = decode_pdu(buf, p, stop)
    if p != stop:
        raise Malformed("trailing bytes in the scoped PDU")
    return Accepted(user, msg, context_engine_id, context_name, pdu, buf)
