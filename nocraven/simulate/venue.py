"""A simulated venue for `nocraven demo`: a few dozen devices sending every kind of telemetry.

Switches, firewalls, wireless controllers, servers, ticketing gates and UPSes send syslog in
their own dialects, each from its own loopback address (127.0.1.N) so the console sees distinct
sources; two routers export NetFlow v9 and IPFIX and a core switch sFlow; switches send link
flap traps and a UPS goes on battery now and then; two domain controllers post Windows
security events over HTTPS. Everything goes only to the engine's listeners on loopback, at a
modest rate with an occasional burst.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import random
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from collectors.snmptrap import ber
from collectors.snmptrap.compose import v2c_notification
from nocraven.simulate import flows

Template = Callable[[random.Random, datetime, str], str]
Address = tuple[str, int]

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def bsd_time(now: datetime) -> str:
    return f"{MONTHS[now.month - 1]} {now.day:2d} {now:%H:%M:%S}"


# ---- syslog dialects: (rng, now, hostname) -> message -----------------------------------------


def cisco_ios(rng: random.Random, now: datetime, host: str) -> str:
    port = rng.randint(1, 48)
    kind = rng.random()
    if kind < 0.5:
        body = f"%LINK-3-UPDOWN: Interface GigabitEthernet1/0/{port}, changed state to {rng.choice(['up', 'down'])}"
    elif kind < 0.8:
        client = f"3c22.fb{rng.randint(10, 99)}.1a2b"
        body = f"%DOT1X-5-SUCCESS: Authentication successful for client ({client}) on Gi1/0/{port}"
    else:
        body = f"%SYS-5-CONFIG_I: Configured from console by netadmin on vty0 (10.50.0.{rng.randint(2, 250)})"
    return f"<189>{rng.randint(1000, 99999)}: {host}: *{bsd_time(now)}.{rng.randint(0, 999):03d} UTC: {body}"


def fortios(rng: random.Random, now: datetime, host: str) -> str:
    action = rng.choice(["accept", "accept", "accept", "deny"])
    return (
        f'<189>date={now:%Y-%m-%d} time={now:%H:%M:%S} devname="{host}" devid="FG100F{abs(hash(host)) % 10**10:010d}" '
        f'logid="0000000013" type="traffic" subtype="forward" level="notice" srcip=10.20.{rng.randint(0, 31)}.'
        f"{rng.randint(2, 254)} srcport={rng.randint(1024, 65535)} dstip=203.0.113.{rng.randint(1, 254)} "
        f'dstport={rng.choice([443, 80, 53])} proto=6 action="{action}" sentbyte={rng.randint(100, 90000)} '
        f"rcvdbyte={rng.randint(100, 900000)}"
    )


def aruba(rng: random.Random, now: datetime, host: str) -> str:
    ap = rng.randint(1, 220)
    return (
        f"<12>{bsd_time(now)} {now.year} {host} stm[2841]: <501080> <NOTI> |AP ap-{ap:03d}@10.1.{ap}.2 stm| "
        f"Deauth from sta: 3c:22:fb:{rng.randint(0, 255):02x}:{rng.randint(0, 255):02x}:10 reason 8"
    )


def linux_server(rng: random.Random, now: datetime, host: str) -> str:
    if rng.random() < 0.6:
        return (
            f"<38>{bsd_time(now)} {host} sshd[{rng.randint(300, 30000)}]: Accepted publickey for ops from "
            f"10.50.0.{rng.randint(2, 250)} port {rng.randint(30000, 60000)} ssh2"
        )
    return (
        f"<78>{bsd_time(now)} {host} CRON[{rng.randint(300, 30000)}]: (root) CMD (/usr/local/bin/backup --incremental)"
    )


def ticketing(rng: random.Random, now: datetime, host: str) -> str:
    stamp = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    gate = rng.randint(1, 24)
    result = rng.choice(["ok", "ok", "ok", "denied"])
    return (
        f'<134>1 {stamp} {host} ticketing {rng.randint(100, 999)} SCAN [gate@32473 id="{gate}" '
        f'result="{result}"] ticket scanned at gate {gate}'
    )


def apc_ups(rng: random.Random, now: datetime, host: str) -> str:
    event = rng.choice(
        [
            "UPS: Passed a self-test.",
            f"UPS: Battery capacity {rng.randint(85, 100)}%, load {rng.randint(10, 60)}%.",
            "UPS: On battery power in response to an input power problem.",
            "UPS: No longer on battery power.",
        ]
    )
    return f"<14>{bsd_time(now)} {host} {event}"


@dataclass
class Device:
    name: str
    address: str  # the loopback address it sends from
    dialect: Template
    weight: int  # share of the syslog traffic
    sock: socket.socket | None = field(default=None, repr=False)


def venue_devices() -> list[Device]:
    """The venue: 34 devices, each sending from 127.0.1.N."""
    plan: list[tuple[str, int, Template, int]] = [
        ("sw-access", 14, cisco_ios, 3),
        ("fw-edge", 3, fortios, 8),
        ("wlc", 2, aruba, 10),
        ("srv", 8, linux_server, 1),
        ("gate-gw", 3, ticketing, 4),
        ("ups", 4, apc_ups, 1),
    ]
    devices: list[Device] = []
    for prefix, count, dialect, weight in plan:
        for n in range(1, count + 1):
            devices.append(Device(f"{prefix}-{n:02d}", f"127.0.1.{len(devices) + 10}", dialect, weight))
    return devices


# ---- SNMP traps ---------------------------------------------------------------------------------

LINK_DOWN, LINK_UP = "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.6.3.1.1.5.4"
IF_INDEX, IF_ADMIN, IF_OPER, IF_DESCR = (
    "1.3.6.1.2.1.2.2.1.1",
    "1.3.6.1.2.1.2.2.1.7",
    "1.3.6.1.2.1.2.2.1.8",
    "1.3.6.1.2.1.2.2.1.2",
)
UPS_ON_BATTERY = "1.3.6.1.2.1.33.2.0.1"  # UPS-MIB upsTrapOnBattery
UPS_SECONDS_ON_BATTERY, UPS_MINUTES_REMAINING = "1.3.6.1.2.1.33.1.2.2.0", "1.3.6.1.2.1.33.1.2.3.0"


def link_trap(rng: random.Random, up: bool, if_index: int, uptime: int, request_id: int) -> bytes:
    status = 1 if up else 2
    varbinds: list[ber.Varbind] = [
        (f"{IF_INDEX}.{if_index}", ber.INTEGER, if_index),
        (f"{IF_ADMIN}.{if_index}", ber.INTEGER, 1),
        (f"{IF_OPER}.{if_index}", ber.INTEGER, status),
        (f"{IF_DESCR}.{if_index}", ber.OCTET_STRING, f"GigabitEthernet1/0/{if_index}"),
    ]
    return v2c_notification("public", LINK_UP if up else LINK_DOWN, varbinds, uptime=uptime, request_id=request_id)


def ups_on_battery(seconds: int, uptime: int, request_id: int) -> bytes:
    varbinds: list[ber.Varbind] = [
        (UPS_SECONDS_ON_BATTERY, ber.INTEGER, seconds),
        (UPS_MINUTES_REMAINING, ber.INTEGER, max(1, 42 - seconds // 60)),
    ]
    return v2c_notification("public", UPS_ON_BATTERY, varbinds, uptime=uptime, request_id=request_id)


# ---- Windows security events ------------------------------------------------------------------


def windows_events(
    rng: random.Random, now: datetime, computer: str, record_ids: itertools.count[int]
) -> list[dict[str, Any]]:
    events = []
    for _ in range(rng.randint(2, 6)):
        user = rng.choice(["alice", "bob", "carol", "svc-backup", "kiosk07"])
        event_id, message, level = rng.choice(
            [
                (4624, "An account was successfully logged on.", "information"),
                (4624, "An account was successfully logged on.", "information"),
                (4634, "An account was logged off.", "information"),
                (4625, "An account failed to log on.", "information"),
                (4672, "Special privileges assigned to new logon.", "information"),
                (4740, "A user account was locked out.", "information"),
            ]
        )
        events.append(
            {
                "event_id": event_id,
                "channel": "Security",
                "provider": "Microsoft-Windows-Security-Auditing",
                "computer": computer,
                "level": level,
                "record_id": next(record_ids),
                "time_created": now.isoformat(timespec="microseconds").replace("+00:00", "Z"),
                "message": message,
                "event_data": {
                    "TargetUserName": user,
                    "TargetDomainName": "VENUE",
                    "IpAddress": f"10.30.0.{rng.randint(2, 250)}",
                    "LogonType": str(rng.choice([2, 3, 10])),
                },
            }
        )
    return events


class WinEventsAgent(threading.Thread):
    """Two domain controllers posting batches over HTTPS, as NXLog or Vector would; in a thread
    so a slow answer never holds up the UDP senders."""

    def __init__(self, url: str, token: str, ca_file: str, stop: threading.Event) -> None:
        super().__init__(name="winevents", daemon=True)
        self.url, self.token, self.ca_file, self.stop_event = url, token, ca_file, stop
        self.posted = 0
        self.failures = 0

    def run(self) -> None:
        import httpx

        rng = random.Random(7)
        record_ids = itertools.count(2_000_000)
        context = ssl.create_default_context(cafile=self.ca_file)
        with httpx.Client(verify=context, timeout=10.0) as client:
            while not self.stop_event.wait(1.0):
                computer = rng.choice(["DC01.venue.local", "DC02.venue.local"])
                body = json.dumps(windows_events(rng, datetime.now(UTC), computer, record_ids))
                try:
                    answer = client.post(
                        self.url,
                        content=body,
                        headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
                    )
                    if answer.status_code < 300:
                        self.posted += 1
                    else:
                        self.failures += 1
                except httpx.HTTPError:
                    self.failures += 1  # the engine restarting: the next batch tries again


# ---- the venue ----------------------------------------------------------------------------------


@dataclass
class Targets:
    syslog: Address | None = None
    netflow: Address | None = None
    ipfix: Address | None = None
    sflow: Address | None = None
    trap: Address | None = None
    winevents_url: str = ""
    token: str = ""
    ca_file: str = ""


class Venue:
    def __init__(self, targets: Targets, rate: float, seed: int = 42) -> None:
        self.targets = targets
        self.rate = rate
        self.rng = random.Random(seed)
        self.devices = venue_devices()
        for device in self.devices:
            device.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            device.sock.bind((device.address, 0))
        self.weights = [d.weight for d in self.devices]
        self.started = time.monotonic()
        self.flow_sequence = 0
        self.request_ids = itertools.count(1)
        self.ups_on_battery_since: float | None = None

    def device(self, prefix: str) -> Device:
        return self.rng.choice([d for d in self.devices if d.name.startswith(prefix)])

    def send(self, device: Device, payload: bytes, target: Address | None) -> None:
        if target is None or device.sock is None:
            return
        with contextlib.suppress(OSError):  # the engine restarting: UDP senders do not notice
            device.sock.sendto(payload, target)

    def uptime(self) -> int:
        return int((time.monotonic() - self.started) * 100) + 8_640_000

    def syslog_tick(self, count: int) -> None:
        now = datetime.now(UTC)
        for device in self.rng.choices(self.devices, self.weights, k=count):
            self.send(device, device.dialect(self.rng, now, device.name).encode(), self.targets.syslog)

    def flow_tick(self) -> None:
        now_ms = int(time.time() * 1000)
        uptime_ms = self.uptime() * 10
        self.flow_sequence += 1
        seq = self.flow_sequence
        router_a, router_b, core = self.devices[14], self.devices[15], self.devices[0]  # the firewalls, a switch
        v9 = flows.netflow_v9(flows.random_flows(self.rng, 20, now_ms), seq, 1, now_ms, uptime_ms)
        self.send(router_a, v9, self.targets.netflow)
        fix = flows.ipfix(flows.random_flows(self.rng, 20, now_ms), seq * 20, 1, now_ms)
        self.send(router_b, fix, self.targets.ipfix)
        sf = flows.sflow(flows.random_flows(self.rng, 8, now_ms), core.address, seq, uptime_ms)
        self.send(core, sf, self.targets.sflow)

    def trap_tick(self) -> None:
        switch = self.device("sw-access")
        if_index = self.rng.randint(1, 48)
        uptime = self.uptime()
        self.send(switch, link_trap(self.rng, False, if_index, uptime, next(self.request_ids)), self.targets.trap)
        self.send(switch, link_trap(self.rng, True, if_index, uptime + 150, next(self.request_ids)), self.targets.trap)
        now = time.monotonic()
        if self.ups_on_battery_since is None and self.rng.random() < 0.3:
            self.ups_on_battery_since = now
        if self.ups_on_battery_since is not None:
            seconds = int(now - self.ups_on_battery_since)
            ups = self.devices[-1]
            self.send(ups, ups_on_battery(seconds, uptime, next(self.request_ids)), self.targets.trap)
            if seconds > 60:
                self.ups_on_battery_since = None  # the mains came back

    def run(self, duration: float | None, stop: threading.Event) -> None:
        agent = None
        if self.targets.winevents_url:
            agent = WinEventsAgent(self.targets.winevents_url, self.targets.token, self.targets.ca_file, stop)
            agent.start()
        tick = 0.1
        next_flow = next_trap = time.monotonic()
        owed = 0.0
        while not stop.is_set() and (duration is None or time.monotonic() - self.started < duration):
            owed += self.rate * tick
            if self.rng.random() < 0.01:
                owed += 30  # now and then a device floods for a moment
            count, owed = int(owed), owed - int(owed)
            self.syslog_tick(count)
            now = time.monotonic()
            if now >= next_flow:
                self.flow_tick()
                next_flow = now + 1.0
            if now >= next_trap:
                self.trap_tick()
                next_trap = now + 3.0
            stop.wait(tick)
        stop.set()
        if agent is not None:
            agent.join(15)


def parse_address(text: str) -> Address | None:
    if not text:
        return None
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def main() -> None:
    parser = argparse.ArgumentParser(description="Send simulated venue telemetry to a NoC Raven engine on loopback.")
    for name in ("syslog", "netflow", "ipfix", "sflow", "trap"):
        parser.add_argument(f"--{name}", default="", help=f"the engine's {name} UDP listener, HOST:PORT")
    parser.add_argument("--winevents", default="", help="the engine's winevents URL (https://HOST:PORT/v1/events)")
    parser.add_argument("--token", default="", help="the winevents bearer token")
    parser.add_argument("--ca", default="", help="the winevents endpoint's certificate, to trust")
    parser.add_argument("--rate", type=float, default=200.0, help="syslog messages per second (default 200)")
    parser.add_argument("--duration", type=float, default=None, help="seconds to run (default: until stopped)")
    args = parser.parse_args()
    targets = Targets(
        syslog=parse_address(args.syslog),
        netflow=parse_address(args.netflow),
        ipfix=parse_address(args.ipfix),
        sflow=parse_address(args.sflow),
        trap=parse_address(args.trap),
        winevents_url=args.winevents,
        token=args.token,
        ca_file=args.ca,
    )
    stop = threading.Event()
    try:
        Venue(targets, args.rate).run(args.duration, stop)
    except KeyboardInterrupt:
        stop.set()
        sys.exit(0)


if __name__ == "__main__":
    main()
