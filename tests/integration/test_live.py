#!/usr/bin/env python3
"""spind with live sources, end to end, in the live-capture rig (rig.py):
devices d1 and d2 behind a router that runs spind, a broker and an MQTT
subscriber, and a wan namespace with a DNS responder and services. Devices
resolve names through the router and then talk to the answered addresses;
the oracle is the router's own nft table `inet spintest` (one named counter
per flow and direction, IP-layer bytes) and, for UDP, the exact arithmetic.

1. nflog per packet: each device node (with the MAC set on its veth) talks
   to the node named by the DNS answer (CNAME: both names), with packet and
   byte counts equal to the oracle per flow, per direction.
2. conntrack: the same totals from connection counters; `conntrack -L`
   running meanwhile sees the kernel's counters only grow (spind never
   zeroes them), and they end at the oracle's totals.
3. auto: spind logs what it chose and why, and reports traffic exactly.
4. overload: a small NFLOG buffer and a bounded flood: spind keeps running,
   its status document shows the loss, and a burst afterwards is exact.
5. kill -9 leaves `table inet spin`; the next spind replaces it (one table),
   and SIGTERM removes it.
6. without CAP_NET_ADMIN spind exits non-zero naming the capability, and
   leaves no table behind.

Needs root (namespaces, nftables, NFLOG, conntrack); prints SKIP and exits
77 otherwise. Every namespace and helper is removed afterwards, also on
failure. No test checks timing: every wait is a condition with a deadline."""

import os
import signal
import struct
import subprocess
import sys
import threading
import time

from spintest import SPIND, TestFailure, Workdir, check, main, wait_for

import rig
from rig import DEVICE_MACS, Rig, flows_touching, pair_totals, udp_ip_bytes

SERVICES = {  # name -> (names the node must carry, IPv4, IPv6)
    "svc1.test": (["svc1.test"], rig.SERVICE4[0], rig.SERVICE6[0]),
    "svc2.test": (["svc2.test", "alias.test"], rig.SERVICE4[1], rig.SERVICE6[1]),
}


class Sent:
    """A flow sent through the rig: the oracle's flow, what the client
    reported, and the service it talked to."""

    def __init__(self, flow, service, result, udp=None):
        self.flow, self.service, self.result, self.udp = flow, service, result, udp


def send(r, name, device, service, family, proto, port, dns_family=4, dns_tcp=False,
         count=0, size=0, nbytes=0):
    """Adds the oracle counters, then lets `device` resolve `service` and
    send (UDP: `count` datagrams of `size` bytes, each answered; TCP: one
    connection with `nbytes`). Checks that the client got the zone's answer."""
    names, a4, a6 = SERVICES[service]
    addr = a4 if family == 4 else a6
    flow = r.add_flow(name, device, family, proto, addr, port)
    if proto == "udp":
        res = r.udp(device, service, family, port, count, size, dns_family, dns_tcp)
    else:
        res = r.tcp(device, service, family, port, nbytes, dns_family, dns_tcp)
    check(res["names"] == names, "%s: the DNS answer names %s (got %s)" %
          (name, names, res["names"]))
    check(res["dst"] == addr, "%s: %s resolves to %s (got %s)" % (name, service, addr,
                                                                   res["dst"]))
    if proto == "udp":
        check(res["sent"] == count and len(res["replies"]) == count,
              "%s: %d datagrams sent and answered: %s" % (name, count, res))
    else:
        check(res["received"] == rig.tcp_reply_size(nbytes),
              "%s: the TCP answer arrived: %s" % (name, res))
    return Sent(flow, service, res, (count, size) if proto == "udp" else None)


def check_udp_oracle(r, sent):
    """The nft counters of UDP flows equal the arithmetic: every datagram
    is payload + 28 (IPv4) or + 48 (IPv6) IP-layer bytes."""
    for s in sent:
        if not s.udp:
            continue
        count, size = s.udp
        up, down = r.flow_counters(s.flow.name)
        fam = s.flow.family
        want_up = (count, count * udp_ip_bytes(fam, size))
        want_down = (count, sum(udp_ip_bytes(fam, n) for n in s.result["replies"]))
        check(up == want_up and down == want_down,
              "oracle of %s: nft counted up %s down %s, the arithmetic says %s and %s" %
              (s.flow.name, up, down, want_up, want_down))


def expected(r, sent):
    """[(label, mac, service addresses, port, protocol, up, down)] from the
    oracle, one per flow, plus one per device/service pair over all ports."""
    out = []
    pairs = {}
    for s in sent:
        f = s.flow
        up, down = r.flow_counters(f.name)
        check(up[0] > 0 and down[0] > 0,
              "the oracle counted %s both ways (up %s, down %s)" % (f.name, up, down))
        names, a4, a6 = SERVICES[s.service]
        proto = 17 if f.proto == "udp" else 6
        mac = DEVICE_MACS[f.device]
        out.append((f.name, mac, (a4, a6), f.port, proto, tuple(up), tuple(down)))
        p = pairs.setdefault((f.device, s.service), [mac, (a4, a6), [0, 0], [0, 0]])
        for i in range(2):
            p[2][i] += up[i]
            p[3][i] += down[i]
    for (device, service), (mac, addrs, up, down) in sorted(pairs.items()):
        out.append(("%s<->%s" % (device, service), mac, addrs, None, None, tuple(up),
                    tuple(down)))
    return out


def last_status(sub, components=("conntrack_source", "nflog_source", "node_registry",
                                  "mqtt_publisher")):
    """The counters of `components` in the newest status document (for
    failure messages)."""
    docs = [m for m in sub.messages() if m.topic == "SPIN/stat/spind" and m.payload]
    if not docs:
        return "no status document"
    comps = docs[-1].json().get("result", {}).get("components", {})
    return "\n  ".join("%s: %s" % (c, comps.get(c, {}).get("counters")) for c in components)


def wait_counted(r, sub, sent, timeout=30, sp=None):
    """Waits until spind's traffic messages add up to the oracle for every
    flow and every device/service pair, both directions; then checks that
    the service node carries the DNS names and that no traffic of the
    service addresses went to another node."""
    def mismatches():
        reports = sub.traffic()
        bad = []
        for label, mac, addrs, port, proto, up, down in expected(r, sent):
            got = pair_totals(reports, mac, addrs, port, proto)
            if tuple(got["up"]) != up or tuple(got["down"]) != down:
                bad.append("%s: spind up %s down %s, nft up %s down %s" %
                           (label, got["up"], got["down"], up, down))
        return bad

    try:
        wait_for(lambda: not mismatches(), timeout, "spind's totals to match the oracle",
                 interval=0.25)
    except TestFailure:
        addrs = [a for s in sent for a in SERVICES[s.service][1:]]
        raise TestFailure("spind's totals differ from the oracle:\n  %s\nflows of the "
                          "service addresses:\n  %s\n%d traffic reports; status:\n  %s%s" %
                          ("\n  ".join(mismatches()),
                           "\n  ".join(flows_touching(sub.traffic(), addrs)[-40:]),
                           len(sub.traffic()), last_status(sub),
                           ("\nspind's log:\n" + sp.output()[-4000:]) if sp else ""))
    reports = sub.traffic()
    for device in sorted({s.flow.device for s in sent}):
        for service in sorted({s.service for s in sent if s.flow.device == device}):
            names, a4, a6 = SERVICES[service]
            got = pair_totals(reports, DEVICE_MACS[device], (a4, a6))
            check(len(got["nodes"]) == 1,
                  "%s talks to one node for %s (IPv4 and IPv6): %s" %
                  (device, service, got["nodes"]))
            for domains in got["domains"]:
                check(set(names) <= set(domains),
                      "the node %s talks to carries %s (domains %s)" %
                      (device, names, list(domains)))
    # Every flow that touches a service address is one of the pairs' flows.
    for s in {x.service for x in sent}:
        addrs = SERVICES[s][1:]
        touching = sum(f["count"] for rep in reports for f in rep["flows"]
                       if set(addrs) & (set(f["from"]["ips"]) | set(f["to"]["ips"])))
        paired = 0
        for device in DEVICE_MACS:
            got = pair_totals(reports, DEVICE_MACS[device], addrs)
            paired += got["up"][0] + got["down"][0]
        check(touching == paired,
              "every packet of %s is between it and a device node (%d of %d):\n  %s" %
              (s, paired, touching, "\n  ".join(flows_touching(reports, addrs)[-20:])))


def standard_traffic(r):
    """UDP and TCP, IPv4 and IPv6, from both devices; DNS over IPv4 and
    IPv6, UDP and TCP. Returns the Sent flows."""
    return [
        send(r, "d1_udp4", "d1", "svc1.test", 4, "udp", 7001, count=40, size=300),
        send(r, "d1_udp6", "d1", "svc1.test", 6, "udp", 7002, count=30, size=500),
        send(r, "d1_tcp4", "d1", "svc1.test", 4, "tcp", 8001, nbytes=100000),
        send(r, "d1_tcp6", "d1", "svc1.test", 6, "tcp", 8002, nbytes=60000, dns_tcp=True),
        send(r, "d2_udp4", "d2", "svc2.test", 4, "udp", 7003, dns_family=6, count=25,
             size=200),
        send(r, "d2_udp6", "d2", "svc2.test", 6, "udp", 7004, dns_family=6, count=35,
             size=1000),
        send(r, "d2_tcp4", "d2", "svc2.test", 4, "tcp", 8003, dns_family=6, dns_tcp=True,
             nbytes=50000),
        send(r, "d2_tcp6", "d2", "svc2.test", 6, "tcp", 8004, dns_family=6, nbytes=80000),
    ]


def fresh_status(sub, component, timeout=15):
    """The counters of `component` in the first status document published
    after this call (spind publishes one every second in the rig)."""
    since = time.monotonic()

    def newest():
        docs = [m for m in sub.messages() if m.topic == "SPIN/stat/spind" and m.payload and
                m.time > since]
        return docs[-1].json()["result"] if docs else None
    wait_for(lambda: newest() is not None, timeout, "a new status document")
    return newest().get("components", {}).get(component, {}).get("counters", {})


def start_spind(r, sub, args):
    sp = r.spind(args).start()
    sp.wait_started()
    wait_for(lambda: sub.commands("serverRestart") or not sp.running(), 20,
             "spind to connect to the broker")
    check(sp.running(), "spind runs:\n" + sp.output()[-3000:])
    return sp


# ---------------------------------------------------------------------- tests

def test_nflog_per_packet():
    with Workdir() as wd, Rig(wd) as r, r.subscriber() as sub:
        sp = start_spind(r, sub, ["--source", "nflog", "--nflog_per_packet", "on"])
        sent = standard_traffic(r)
        check_udp_oracle(r, sent)
        wait_counted(r, sub, sent, sp=sp)
        nflog = fresh_status(sub, "nflog_source")
        check(nflog.get("lost") == 0 and nflog.get("enobufs") == 0 and
              nflog.get("dropped") == 0, "no loss at this rate: %s" % nflog)
        check(sp.running(), "spind still runs")
        check(sp.stop() == 0, "spind stops cleanly:\n" + sp.output()[-3000:])
        check(("inet", "spin") not in r.tables(), "SIGTERM removes table inet spin")


class ConntrackWatcher:
    """Runs `conntrack -L` in the router over and over (like another
    monitoring tool on the router) and records every connection's counters;
    a counter that goes down is a reset."""

    def __init__(self, r):
        self.r = r
        self.last = {}
        self.values = {}  # key -> every distinct counter tuple seen
        self.resets = []
        self.rounds = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        deadline = time.monotonic() + 300
        while not self.stopping.is_set() and time.monotonic() < deadline:
            self.poll()
            self.stopping.wait(0.2)

    def poll(self):
        for key, counts in self.r.conntrack_list().items():
            prev = self.last.get(key)
            if prev and any(c < p for c, p in zip(counts, prev)):
                self.resets.append((key, prev, counts))
            self.last[key] = counts
            self.values.setdefault(key, set()).add(counts)
        self.rounds += 1

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join(timeout=60)


def test_conntrack():
    with Workdir() as wd, Rig(wd) as r, r.subscriber() as sub:
        sp = start_spind(r, sub, ["--source", "conntrack"])
        check("adding nflog for DNS" in sp.output(),
              "spind says it adds NFLOG for DNS:\n" + sp.output()[-2000:])
        with ConntrackWatcher(r) as watcher:
            sent = standard_traffic(r)
            # A slow flow, so the watcher sees its counters while spind takes
            # several dumps: 30 datagrams, one every 0.1 s.
            slow = r.add_flow("d1_slow", "d1", 4, "udp", rig.SERVICE4[0], 7005)
            res = r.client("d1", {"dns": rig.WAN4, "name": "svc1.test", "family": 4,
                                  "proto": "udp", "port": 7005, "count": 30, "size": 100,
                                  "interval": 0.1})
            check(len(res["replies"]) == 30, "the slow flow was answered: %s" % res)
            sent.append(Sent(slow, "svc1.test", res, (30, 100)))
            check_udp_oracle(r, sent)
            wait_counted(r, sub, sent, sp=sp)
            watcher.poll()
        check(watcher.rounds >= 5, "conntrack -L ran meanwhile (%d rounds)" % watcher.rounds)
        slow_key = ("udp", slow.device_addr, slow.service_addr, str(res["sport"]), "7005")
        seen = len(watcher.values.get(slow_key, ()))
        check(seen >= 3, "conntrack -L saw the slow flow's counters grow while spind "
              "counted (%d distinct values)" % seen)
        check(not watcher.resets, "conntrack counters never go down: %s" % watcher.resets[:5])
        # The kernel's counters still hold the whole history of every UDP flow.
        for s in sent:
            if not s.udp:
                continue
            f = s.flow
            key = ("udp", f.device_addr, f.service_addr, str(s.result["sport"]), str(f.port))
            up, down = r.flow_counters(f.name)
            got = watcher.last.get(key)
            check(got == (up[0], up[1], down[0], down[1]),
                  "conntrack -L shows %s with the oracle's totals %s %s (got %s)" %
                  (key, up, down, got))
        ct = fresh_status(sub, "conntrack_source")
        check(ct.get("counter_resets") == 0 and ct.get("records", 0) > 0,
              "conntrack_source counted and saw no resets: %s" % ct)
        check(sp.stop() == 0, "spind stops cleanly:\n" + sp.output()[-3000:])
        check(("inet", "spin") not in r.tables(), "SIGTERM removes table inet spin")


def test_auto():
    with Workdir() as wd, Rig(wd) as r, r.subscriber() as sub:
        sp = start_spind(r, sub, ["--source", "auto"])
        lines = [l for l in sp.output().splitlines() if "source auto:" in l]
        check(lines, "spind logs what --source auto chose:\n" + sp.output()[-2000:])
        check("conntrack" in lines[0] and "NFLOG" in lines[0],
              "the line names the choice and the reason: %s" % lines[0])
        print("  " + lines[0].split(": ", 1)[1], flush=True)
        sent = [
            send(r, "d1_udp4", "d1", "svc1.test", 4, "udp", 7001, count=30, size=400),
            send(r, "d2_tcp6", "d2", "svc2.test", 6, "tcp", 8001, dns_family=6,
                 nbytes=40000),
        ]
        check_udp_oracle(r, sent)
        wait_counted(r, sub, sent, sp=sp)
        check(fresh_status(sub, "conntrack_source").get("records", 0) > 0,
              "conntrack counts the volume")
        check(sp.stop() == 0, "spind stops cleanly:\n" + sp.output()[-3000:])


def test_overload_and_recovery():
    with Workdir() as wd, Rig(wd) as r, r.subscriber() as sub:
        sp = start_spind(r, sub, ["--source", "nflog", "--nflog_per_packet", "on",
                                  "--nflog_rcvbuf", "65536"])
        check("receive buffer 131072 bytes" in sp.output(),
              "the small receive buffer is in force:\n" + sp.output()[-2000:])

        def lossy():
            c = sub.component("nflog_source")
            return c.get("lost", 0) > 0 or c.get("enobufs", 0) > 0

        floods = []
        for _ in range(3):  # bounded: three floods of 3 s at most
            floods.append(r.blast("d1", rig.SERVICE4[2], rig.DISCARD_PORT, pps=1000000,
                                  seconds=3, size=18, count=3000000))
            check(sp.running(), "spind survives the flood:\n" + sp.output()[-3000:])
            try:
                wait_for(lossy, 10, "the status document to show the loss", interval=0.2)
                break
            except TestFailure:
                continue
        c = sub.component("nflog_source")
        check(lossy(), "the status document shows loss after %d floods (%s): %s" %
              (len(floods), floods, c))
        print("  overload: sent %s; nflog_source packets %d lost %d enobufs %d dropped %d" %
              ([int(f["sent"]) for f in floods], c.get("packets"), c.get("lost"),
               c.get("enobufs"), c.get("dropped")), flush=True)
        # Recovery: once the flood is over, a known burst is counted exactly.
        sent = [send(r, "burst", "d1", "svc1.test", 4, "udp", 7010, count=50, size=300)]
        check_udp_oracle(r, sent)
        wait_counted(r, sub, sent, sp=sp)
        check(sp.running(), "spind still runs")
        check(sp.stop() == 0, "spind stops cleanly:\n" + sp.output()[-3000:])


def count_spin_tables(r):
    return sum(1 for t in r.tables() if t == ("inet", "spin"))


def test_kill_and_restart():
    with Workdir() as wd, Rig(wd) as r, r.subscriber() as sub:
        args = ["--source", "nflog", "--nflog_per_packet", "on"]
        first = start_spind(r, sub, args)
        check(count_spin_tables(r) == 1, "spind installed table inet spin")
        first.stop(sig=signal.SIGKILL)
        check(first.proc.returncode == -signal.SIGKILL, "kill -9 ended spind")
        check(count_spin_tables(r) == 1, "after kill -9 table inet spin is still there")
        second = start_spind(r, sub, args)
        check(count_spin_tables(r) == 1, "the new spind replaced it: exactly one table "
              "inet spin (%s)" % r.tables())
        sent = [send(r, "after", "d2", "svc1.test", 6, "udp", 7011, count=10, size=100)]
        wait_counted(r, sub, sent, sp=second)
        check(second.stop() == 0, "spind stops cleanly:\n" + second.output()[-3000:])
        check(count_spin_tables(r) == 0, "after SIGTERM table inet spin is gone (%s)" %
              r.tables())


def test_without_cap_net_admin():
    with Workdir() as wd, Rig(wd) as r:
        for source in ("nflog", "auto"):
            sp = r.spind(["--source", source, "--nflog_per_packet", "on"],
                         prefix=["setpriv", "--bounding-set=-net_admin"]).start()
            rc = sp.wait_exit(60)
            out = sp.output()
            check(rc != 0, "--source %s without CAP_NET_ADMIN fails (exit %d)" % (source, rc))
            check("CAP_NET_ADMIN" in out,
                  "--source %s: the message names CAP_NET_ADMIN:\n%s" % (source, out[-2000:]))
            check(count_spin_tables(r) == 0, "no table left behind (%s)" % r.tables())
            print("  --source %s: exit %d: %s" % (
                source, rc, [l for l in out.splitlines() if "CAP_NET_ADMIN" in l][-1]
                .split(": ", 1)[1]), flush=True)


CAPTURE_CLIENT = r"""
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=60)
c.request("GET", "/spin_api/tcpdump?device=" + sys.argv[2])
r = c.getresponse()
print(r.status, r.getheader("Content-Type"), flush=True)
data = r.read()  # until spind ends the stream
open(sys.argv[3], "wb").write(data)
print("saved", len(data), flush=True)
"""


def read_pcap_frames(path):
    """(link type, [frame bytes]) of a classic little/big-endian pcap file."""
    with open(path, "rb") as f:
        data = f.read()
    check(len(data) >= 24, "a pcap file header (%d bytes)" % len(data))
    magic = data[:4]
    check(magic in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4"), "pcap magic %r" % magic)
    e = "<" if magic == b"\xd4\xc3\xb2\xa1" else ">"
    linktype = struct.unpack(e + "I", data[20:24])[0]
    frames, off = [], 24
    while off + 16 <= len(data):
        incl = struct.unpack(e + "I", data[off + 8:off + 12])[0]
        frames.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    check(off == len(data), "the capture ends on a record boundary (%d of %d)" % (off, len(data)))
    return linktype, frames


def udp_ports(frame):
    """(source, destination) UDP ports of an Ethernet IPv4/IPv6 frame, or None."""
    ethertype = struct.unpack("!H", frame[12:14])[0]
    ip = frame[14:]
    if ethertype == 0x0800 and len(ip) >= 28 and ip[9] == 17:
        l4 = ip[(ip[0] & 0x0F) * 4:]
    elif ethertype == 0x86DD and len(ip) >= 48 and ip[6] == 17:
        l4 = ip[40:]
    else:
        return None
    return struct.unpack("!HH", l4[:4]) if len(l4) >= 4 else None


def test_device_capture():
    """/spin_api/tcpdump on the router's LAN bridge: the stream is a pcap of
    exactly the chosen device's frames, and every datagram it sent and got
    back is in it; the other device's traffic is not."""
    with Workdir() as wd, Rig(wd) as r, r.subscriber() as sub:
        port = 13026  # the router namespace has its own ports
        sp = start_spind(r, sub, ["--source", "nflog", "--http_port", str(port),
                                  "--capture_interface", "br-lan"])
        d1, d2 = rig.DEVICE_MACS["d1"], rig.DEVICE_MACS["d2"]
        out = os.path.join(wd, "capture.pcap")
        client = subprocess.Popen(["ip", "netns", "exec", r.router, sys.executable, "-c",
                                   CAPTURE_CLIENT, str(port), d1, out],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            first = client.stdout.readline().split()
            check(first[:2] == ["200", "application/vnd.tcpdump.pcap"],
                  "the capture starts: %s\n%s" % (first, sp.output()[-2000:]))
            send(r, "cap_d1", "d1", "svc1.test", 4, "udp", 7001, count=20, size=300)
            send(r, "cap_d1_6", "d1", "svc1.test", 6, "udp", 7002, count=15, size=200)
            send(r, "cap_d2", "d2", "svc2.test", 4, "udp", 7003, count=10, size=200)
            status = r.sh(r.router, sys.executable, "-c",
                          "import http.client,sys;c=http.client.HTTPConnection('127.0.0.1',%d);"
                          "c.request('GET','/spin_api/tcpdump_stop?device=%s');"
                          "print(c.getresponse().status)" % (port, d1)).stdout.strip()
            check(status == "200", "tcpdump_stop: %s" % status)
            rest = client.communicate(timeout=30)[0]
            check(client.returncode == 0 and "saved" in rest, "the stream ends: %s" % rest)
        finally:
            if client.poll() is None:
                client.kill()
                client.wait()
        linktype, frames = read_pcap_frames(out)
        check(linktype == 1, "an Ethernet capture (link type %d)" % linktype)
        macs = lambda f: (f[0:6].hex(":"), f[6:12].hex(":"))
        strangers = [macs(f) for f in frames if d1 not in macs(f)]
        check(not strangers, "every frame is to or from %s: %s" % (d1, strangers[:5]))
        for dport, n in ((7001, 20), (7002, 15)):
            up = sum(1 for f in frames if macs(f)[1] == d1 and udp_ports(f) and
                     udp_ports(f)[1] == dport)
            down = sum(1 for f in frames if macs(f)[0] == d1 and udp_ports(f) and
                       udp_ports(f)[0] == dport)
            check(up == n and down == n, "port %d: %d datagrams each way captured (%d up, %d "
                  "down)" % (dport, n, up, down))
        print("  captured %d frames of %s, none of %s" % (len(frames), d1, d2), flush=True)
        check(sp.stop() == 0, "spind stops cleanly")


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("SKIP: the live rig needs root (network namespaces, nftables, NFLOG)")
        sys.exit(77)
    for tool in ("ip", "nft", "conntrack", "setpriv", "mosquitto", "sysctl", "ping"):
        if subprocess.run(["which", tool], stdout=subprocess.DEVNULL).returncode != 0:
            print("SKIP: %s is not installed" % tool)
            sys.exit(77)
    for var, path in (("SPIND", SPIND), ("SPIN_UDP_BLAST", rig.UDP_BLAST)):
        if not path or not os.access(path, os.X_OK):
            print("SKIP: %s does not name the binary (%r)" % (var, path))
            sys.exit(77)
    main([test_nflog_per_packet, test_conntrack, test_auto, test_overload_and_recovery,
          test_kill_and_restart, test_without_cap_net_admin, test_device_capture])
