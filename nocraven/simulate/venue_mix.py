"""A varied venue syslog mix, for measuring what the buffer stores per byte received.

A venue's devices each speak their own dialect: Cisco IOS switches (sequence numbers, origin
hostnames), Junos, FortiGate key=value traffic logs, Palo Alto CSV, Meraki, UniFi access
points, Linux daemons, Windows through Snare. Each simulated device keeps its own address,
hostname, counters and clock; what changes from message to message (ports, byte counts, client
addresses, session ids, times) is drawn at random from realistically sized pools, so the mix
is neither one repeated line nor noise. Deterministic for a seed. No sockets: it yields
datagrams and receive times; the caller sends or parses them.
"""

# Templates stay one line each, as the device sends them: easier to check against vendor docs.
# ruff: noqa: E501
from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
USERS = ["ops", "noc", "tech1", "root", "backup", "svc_pos", "svc_cam", "jsmith", "akhan", "mgarcia"]
WIN_EVENTS = [
    (4624, "Microsoft-Windows-Security-Auditing", "Success Audit", "An account was successfully logged on."),
    (4625, "Microsoft-Windows-Security-Auditing", "Failure Audit", "An account failed to log on."),
    (4634, "Microsoft-Windows-Security-Auditing", "Success Audit", "An account was logged off."),
    (7036, "Service Control Manager", "Information", "The Print Spooler service entered the running state."),
]


@dataclass(slots=True)
class Device:
    """One sender: its dialect, name, address and the counters it carries between messages."""

    dialect: str
    hostname: str
    address: str
    sequence: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence


@dataclass(slots=True)
class Pools:
    """What devices talk about: client MACs and addresses, servers, internet peers."""

    rng: random.Random
    macs: list[str]
    clients: list[str]
    servers: list[str]
    internet: list[str]

    @classmethod
    def make(cls, rng: random.Random) -> Pools:
        macs = [":".join(f"{rng.randrange(256):02x}" for _ in range(6)) for _ in range(3000)]
        clients = [f"10.{rng.randint(20, 39)}.{rng.randrange(256)}.{rng.randint(2, 254)}" for _ in range(3000)]
        servers = [f"10.50.0.{n}" for n in range(2, 60)]
        internet = [
            f"{rng.randint(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randint(1, 254)}" for _ in range(800)
        ]
        return cls(rng, macs, clients, servers, internet)

    def mac(self) -> str:
        return self.macs[min(int(self.rng.paretovariate(1.1)) - 1, len(self.macs) - 1)]

    def client(self) -> str:
        # The same few hundred clients are busy at any moment; the rest come and go.
        return self.clients[min(int(self.rng.paretovariate(0.9)) - 1, len(self.clients) - 1)]

    def peer(self) -> str:
        # A few destinations (CDNs, the ticketing cloud) take most of the traffic.
        return self.internet[min(int(self.rng.paretovariate(0.8)) - 1, len(self.internet) - 1)]


def bsd_time(moment: datetime) -> str:
    return f"{MONTHS[moment.month - 1]} {moment.day:2d} {moment:%H:%M:%S}"


def cisco_ios(d: Device, p: Pools, now: datetime) -> str:
    r = p.rng
    stamp = f"{bsd_time(now)}.{now.microsecond // 1000:03d} UTC"
    seq = d.next_sequence()
    head = f"<189>{seq + 1000}: {d.hostname}: {seq:06d}: {stamp}:"
    choice = r.randrange(5)
    port = f"GigabitEthernet1/0/{r.randint(1, 48)}"
    if choice == 0:
        return f"{head} %LINK-3-UPDOWN: Interface {port}, changed state to {r.choice(['up', 'down'])}"
    if choice == 1:
        return f"{head} %LINEPROTO-5-UPDOWN: Line protocol on Interface {port}, changed state to {r.choice(['up', 'down'])}"
    if choice == 2:
        return (
            f"<190>{seq + 1000}: {d.hostname}: {seq:06d}: {stamp}: %SEC-6-IPACCESSLOGP: list 101 denied tcp "
            f"{p.client()}({r.randint(1024, 65535)}) -> {r.choice(p.servers)}({r.choice([22, 23, 3389, 445])}), 1 packet"
        )
    if choice == 3:
        mac = p.mac()
        session = f"0A{zlib.crc32(mac.encode()):08X}{p.macs.index(mac):08X}"  # a client keeps its session id
        return f"{head} %DOT1X-5-FAIL: Authentication failed for client ({mac}) on Interface {port} AuditSessionID {session}"
    return f"<187>{seq + 1000}: {d.hostname}: {seq:06d}: {stamp}: %PM-4-ERR_DISABLE: bpduguard error detected on {port}, putting {port} in err-disable state"


def junos(d: Device, p: Pools, now: datetime) -> str:
    r = p.rng
    stamp = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if r.random() < 0.6:
        src, dst = p.client(), p.peer()
        return (
            f"<14>1 {stamp} {d.hostname} RT_FLOW - RT_FLOW_SESSION_CREATE [junos@2636.1.1.1.2.129 "
            f'source-address="{src}" source-port="{r.randint(1024, 65535)}" destination-address="{dst}" '
            f'destination-port="443" connection-tag="0" service-name="junos-https" nat-source-address="203.0.113.9" '
            f'nat-source-port="{r.randint(1024, 65535)}" src-nat-rule-name="venue-out" protocol-id="6" '
            f'policy-name="guest-internet" source-zone-name="guest" destination-zone-name="untrust" '
            f'session-id-32="{d.next_sequence() + 400000}" username="N/A" packet-incoming-interface="ge-0/0/1.{r.choice([100, 110, 120])}"] '
            f"session created {src}/{r.randint(1024, 65535)}->{dst}/443"
        )
    return (
        f"<28>1 {stamp} {d.hostname} mib2d {r.randint(1000, 9000)} SNMP_TRAP_LINK_DOWN "
        f'[junos@2636.1.1.1.2.129 snmp-interface-index="{r.randint(500, 600)}" admin-status="up" '
        f'operational-status="down" interface-name="ge-0/0/{r.randint(0, 23)}"] ifIndex {r.randint(500, 600)}, '
        f"ifAdminStatus up(1), ifOperStatus down(2), ifName ge-0/0/{r.randint(0, 23)}"
    )


def fortigate(d: Device, p: Pools, now: datetime) -> str:
    r = p.rng
    session = d.next_sequence() + 81_000_000
    src, dst = p.client(), p.peer()
    sent, rcvd = r.randint(60, 90_000), r.randint(60, 2_000_000)
    return (
        f'<189>date={now:%Y-%m-%d} time={now:%H:%M:%S} devname="{d.hostname}" devid="FG100FTK2209{d.extra["serial"]:04d}" '
        f'eventtime={int(now.timestamp() * 1e9)} tz="+0000" logid="0000000013" type="traffic" subtype="forward" '
        f'level="notice" vd="root" srcip={src} srcport={r.randint(1024, 65535)} srcintf="guest-vlan" '
        f'srcintfrole="lan" dstip={dst} dstport={r.choice([443, 443, 443, 80, 53, 123])} dstintf="wan1" '
        f'dstintfrole="wan" srccountry="Reserved" dstcountry="United States" sessionid={session} proto=6 '
        f'action="{r.choice(["close", "close", "timeout", "client-rst"])}" policyid=12 policytype="policy" '
        f'service="HTTPS" trandisp="snat" transip=203.0.113.9 transport={r.randint(1024, 65535)} '
        f"duration={r.randint(1, 600)} sentbyte={sent} rcvdbyte={rcvd} sentpkt={sent // 700 + 1} "
        f'rcvdpkt={rcvd // 1200 + 1} appcat="unscanned" srcmac="{p.mac()}"'
    )


def paloalto(d: Device, p: Pools, now: datetime) -> str:
    r = p.rng
    src, dst = p.client(), p.peer()
    stamp = f"{now:%Y/%m/%d %H:%M:%S}"
    sent, rcvd = r.randint(60, 90_000), r.randint(60, 2_000_000)
    return (
        f"<14>{bsd_time(now)} {d.hostname} 1,{stamp},0123456789{d.extra['serial']:02d},TRAFFIC,end,2561,{stamp},"
        f"{src},{dst},203.0.113.10,{dst},allow-guest,,,{r.choice(['ssl', 'web-browsing', 'dns', 'quic'])},vsys1,"
        f"guest,untrust,ethernet1/2,ethernet1/1,forward-all,{stamp},{d.next_sequence() + 200000},1,"
        f"{r.randint(1024, 65535)},443,{r.randint(1024, 65535)},443,0x400019,tcp,allow,{sent + rcvd},{sent},{rcvd},"
        f"{sent // 700 + rcvd // 1200 + 2},{stamp},{r.randint(0, 300)},any,0,{d.sequence * 7 + 6_900_000_000},0x0,10.0.0.0-10.255.255.255,"
        f"United States,0,{sent // 700 + 1},{rcvd // 1200 + 1},tcp-fin,0,0,0,0,,{d.hostname},from-policy,,,0,,0,,N/A,0,0,0,0"
    )


def meraki(d: Device, p: Pools, now: datetime) -> str:
    r = p.rng
    epoch = f"{now.timestamp():.9f}"
    if r.random() < 0.7:
        return (
            f"<134>1 {epoch} {d.hostname} flows src={p.client()} dst={p.peer()} mac={p.mac().upper()} "
            f"protocol={r.choice(['tcp', 'udp'])} sport={r.randint(1024, 65535)} dport={r.choice([443, 80, 53])} pattern: allow all"
        )
    return (
        f"<134>1 {epoch} {d.hostname} events type=association radio='{r.randint(0, 1)}' vap='{r.randint(0, 3)}' "
        f"client_mac='{p.mac().upper()}' channel='{r.choice([1, 6, 11, 36, 44, 149])}' rssi='{r.randint(10, 60)}'"
    )


def unifi(d: Device, p: Pools, now: datetime) -> str:
    r = p.rng
    head = f"<30>{bsd_time(now)} {d.hostname} {d.extra['mac']:012x},U6-LR-6.5.28+14491:"
    choice = r.randrange(3)
    if choice == 0:
        return f"{head} hostapd: ath{r.randint(0, 1)}: STA {p.mac()} IEEE 802.11: associated"
    if choice == 1:
        return f"{head} hostapd: ath{r.randint(0, 1)}: STA {p.mac()} WPA: pairwise key handshake completed (RSN)"
    return f"{head} kernel: [{r.randint(100000, 900000)}.{r.randint(0, 999999):06d}] wlan: [0:I:ANY] vap-{r.randint(0, 3)}: client {p.mac()} disassoc reason 8"


def linux(d: Device, p: Pools, now: datetime) -> str:
    r = p.rng
    head = f"<38>{bsd_time(now)} {d.hostname}"
    choice = r.randrange(5)
    if choice == 0:
        return (
            f"{head} sshd[{r.randint(300, 30000)}]: {r.choice(['Accepted publickey', 'Failed password'])} for "
            f"{r.choice(USERS)} from {p.client()} port {r.randint(30000, 60999)} ssh2"
        )
    if choice == 1:
        return f"<30>{bsd_time(now)} {d.hostname} dhcpd[{d.extra['pid']}]: DHCPACK on {p.client()} to {p.mac()} via eth1.{r.choice([100, 110, 120])}"
    if choice == 2:
        return f"<78>{bsd_time(now)} {d.hostname} CRON[{r.randint(300, 30000)}]: ({r.choice(USERS)}) CMD (/usr/lib/sa/sa1 1 1)"
    if choice == 3:
        return f"<30>{bsd_time(now)} {d.hostname} systemd[1]: Started Session {d.next_sequence()} of user {r.choice(USERS)}."
    return f"<29>{bsd_time(now)} {d.hostname} named[{d.extra['pid']}]: client @0x7f{r.getrandbits(36):09x} {p.client()}#{r.randint(1024, 65535)} (cdn.example.net): query: cdn.example.net IN A + (10.50.0.2)"


def snare(d: Device, p: Pools, now: datetime) -> str:
    r = p.rng
    event_id, provider, kind, text = r.choice(WIN_EVENTS)
    stamp = f"{now:%a %b %d %H:%M:%S %Y}"
    user = r.choice(USERS)
    return (
        f"<14>{bsd_time(now)} {d.hostname} MSWinEventLog\t1\tSecurity\t{d.next_sequence() + 5000}\t{stamp}\t{event_id}\t"
        f"{provider}\tVENUE\\{user}\tN/A\t{kind}\t{d.hostname}.venue.local\tLogon\t\t{text}  Subject: Security ID: "
        f"S-1-5-18 Account Name: {d.hostname}$ Logon Type: {r.choice([2, 3, 10])} New Logon: Account Name: {user} "
        f"Source Network Address: {p.client()} Source Port: {r.randint(1024, 65535)}\t{r.getrandbits(20)}"
    )


DIALECTS: dict[str, tuple[Callable[[Device, Pools, datetime], str], int, int]] = {
    # name: (template, devices, relative message weight per device)
    "cisco_ios": (cisco_ios, 24, 3),
    "junos": (junos, 2, 20),
    "fortigate": (fortigate, 2, 60),
    "paloalto": (paloalto, 1, 60),
    "meraki": (meraki, 6, 8),
    "unifi": (unifi, 30, 2),
    "linux": (linux, 8, 5),
    "snare": (snare, 4, 6),
}


LINUX_HOSTS = ["pos-srv-01", "dns-01", "cam-nvr-02", "radius-01", "dhcp-01", "web-01", "db-01", "ntp-01"]


def _device_name(rng: random.Random, dialect: str, n: int) -> str:
    if dialect == "cisco_ios":
        return f"idf{n}-sw{rng.randint(1, 2)}"
    if dialect == "meraki":
        return f"MX250_Venue_{n}" if n <= 2 else f"MR46_Sec{100 + n}"
    if dialect == "linux":
        return LINUX_HOSTS[(n - 1) % len(LINUX_HOSTS)]
    prefix = {"junos": "srx-core-", "fortigate": "FG-VENUE-EDGE-", "paloalto": "PA-3220-", "unifi": "U6-LR-Sec1"}
    return f"{prefix.get(dialect, 'WIN-DC')}{n:02d}"


def make_devices(rng: random.Random) -> list[Device]:
    devices = []
    for dialect, (_, count, _) in DIALECTS.items():
        for n in range(1, count + 1):
            name = _device_name(rng, dialect, n)
            device = Device(dialect, name, f"10.{rng.randint(1, 9)}.{rng.randrange(256)}.{rng.randint(2, 254)}")
            device.extra = {"serial": rng.randrange(10_000), "mac": rng.getrandbits(48), "pid": rng.randint(300, 30000)}
            device.sequence = rng.randint(0, 500_000)
            devices.append(device)
    return devices


def venue_mix(seed: int, count: int, start: float, rate: float = 2000.0) -> Iterator[tuple[bytes, float, str]]:
    """`count` (datagram, received_at, "ip:port") triples from a simulated venue, about `rate`
    messages a second from `start` on, in receive order."""
    rng = random.Random(seed)
    pools = Pools.make(rng)
    devices = make_devices(rng)
    weights = [DIALECTS[d.dialect][2] for d in devices]
    moment = start
    for _ in range(count):
        moment += rng.expovariate(rate)
        device = rng.choices(devices, weights)[0]
        # Device clocks lag the wire by a little, and a few are minutes off.
        sent = datetime.fromtimestamp(moment - rng.random() * 0.05, UTC)
        text = DIALECTS[device.dialect][0](device, pools, sent)
        yield text.encode(), moment, f"{device.address}:514"
