#!/usr/bin/env python3
"""SPIN's verdict in spind's nftables table, with real packets. Three network
namespaces, lan -- router -- wan (veth pairs, forwarding in router, two
addresses of each family on the lan and on the wan side, static neighbours so
no ARP or ND is needed); the table is installed in router with spin_nftctl,
and the sets are changed with it:

  - block a wan address: ping and TCP to it (and from it) fail at once, the
    other wan address still answers, the drops are reported on NFLOG group 2
    (read with spin_nflogdump); unblock: traffic flows again; IPv6 the same;
  - allow beats block;
  - a node pair drops both directions between those two addresses only;
  - a flood to a blocked address: every packet is dropped (nft counters of a
    probe table before and after spind's chain), and at most burst + rate *
    seconds of them are reported;
  - passive mode: block succeeds and drops nothing;
  - a change with a bad delete fails naming the element, and none of its
    other elements is applied.

Needs root (namespaces, nftables), ping, nft and python3; every namespace is
removed afterwards, also on failure. Every wait has a deadline and a
condition; "fails" means one ping or connect with a 1 s timeout fails."""

import itertools
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

from spintest import check, main, wait_for

NFTCTL = os.environ.get("SPIN_NFTCTL", "")
NFLOGDUMP = os.environ.get("SPIN_NFLOGDUMP", "")
PY = sys.executable

LAN1, LAN2, R_LAN = "10.77.1.10", "10.77.1.11", "10.77.1.1"
WAN1, WAN2, R_WAN = "10.77.2.10", "10.77.2.11", "10.77.2.1"
LAN1_6, LAN2_6, R_LAN6 = "fd77:1::10", "fd77:1::11", "fd77:1::1"
WAN1_6, WAN2_6, R_WAN6 = "fd77:2::10", "fd77:2::11", "fd77:2::1"
PORT = 8080
BLOCK_GROUP = 2
RATE, BURST = 20, 40  # spin_nftctl's (and spind's) defaults

# Accepts TCP connections on every address (both families) and closes them;
# ends by itself after 10 minutes at the latest.
TCP_SERVER = """
import socket, time
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", %d))
s.listen(64)
s.settimeout(1)
print("listening", flush=True)
deadline = time.monotonic() + 600
while time.monotonic() < deadline:
    try:
        c, _ = s.accept()
        c.close()
    except socket.timeout:
        pass
""" % PORT

TCP_CONNECT = """
import socket, sys
src, dst = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(1)
s.bind((src, 0))
try:
    s.connect((dst, %d))
    print("connected")
except OSError as e:
    print("failed", e)
""" % PORT

_ns_counter = itertools.count()


def sh(*args, **kw):
    return subprocess.run(list(args), check=True, stdout=subprocess.PIPE, text=True,
                          timeout=60, **kw).stdout


class Topology:
    """Namespaces lan, router and wan (unique names), veth lan:l0 <->
    router:rl and router:rw <-> wan:w0, a TCP server in lan and in wan."""

    def __init__(self):
        n = next(_ns_counter)
        tag = "%d-%d" % (os.getpid(), n)
        self.lan, self.router, self.wan = ("spin-enf-%s-%s" % (r, tag)
                                           for r in ("lan", "rt", "wan"))
        self.servers = []

    def __enter__(self):
        try:
            self._setup()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _setup(self):
        lan, router, wan = self.lan, self.router, self.wan
        for ns in (lan, router, wan):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", lan, "link", "add", "l0", "type", "veth", "peer", "name", "rl",
           "netns", router)
        sh("ip", "-n", wan, "link", "add", "w0", "type", "veth", "peer", "name", "rw",
           "netns", router)
        addrs = {(lan, "l0"): [LAN1 + "/24", LAN2 + "/24", LAN1_6 + "/64", LAN2_6 + "/64"],
                 (router, "rl"): [R_LAN + "/24", R_LAN6 + "/64"],
                 (router, "rw"): [R_WAN + "/24", R_WAN6 + "/64"],
                 (wan, "w0"): [WAN1 + "/24", WAN2 + "/24", WAN1_6 + "/64", WAN2_6 + "/64"]}
        for (ns, dev), list_ in addrs.items():
            sh("ip", "-n", ns, "link", "set", dev, "up")
            for a in list_:
                extra = ["nodad"] if ":" in a else []
                sh("ip", "-n", ns, "addr", "add", a, "dev", dev, *extra)
        for ns, v4, v6 in ((lan, R_LAN, R_LAN6), (wan, R_WAN, R_WAN6)):
            sh("ip", "-n", ns, "route", "add", "default", "via", v4)
            sh("ip", "-n", ns, "-6", "route", "add", "default", "via", v6)
        sh("ip", "netns", "exec", router, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1",
           "net.ipv6.conf.all.forwarding=1")
        # Static neighbours: no ARP or ND, so blocking an address never
        # interferes with address resolution.
        mac = {k: self.mac(*k) for k in addrs}
        neigh = [(lan, "l0", (R_LAN, R_LAN6), mac[(router, "rl")]),
                 (router, "rl", (LAN1, LAN2, LAN1_6, LAN2_6), mac[(lan, "l0")]),
                 (router, "rw", (WAN1, WAN2, WAN1_6, WAN2_6), mac[(wan, "w0")]),
                 (wan, "w0", (R_WAN, R_WAN6), mac[(router, "rw")])]
        for ns, dev, peers, lladdr in neigh:
            for a in peers:
                sh("ip", "-n", ns, "neigh", "replace", a, "lladdr", lladdr, "dev", dev,
                   "nud", "permanent")
        for ns in (lan, wan):
            p = subprocess.Popen(["ip", "netns", "exec", ns, PY, "-c", TCP_SERVER],
                                 stdout=subprocess.PIPE, text=True)
            self.servers.append(p)
            check(p.stdout.readline().strip() == "listening", "TCP server in %s" % ns)

    def __exit__(self, *exc):
        for p in self.servers:
            if p.poll() is None:
                p.kill()
            p.wait()
        for ns in (self.lan, self.router, self.wan):
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)

    @staticmethod
    def mac(ns, dev):
        return json.loads(sh("ip", "-j", "-n", ns, "link", "show", dev))[0]["address"]

    def ns_of(self, addr):
        return self.lan if addr in (LAN1, LAN2, LAN1_6, LAN2_6) else self.wan

    def nftctl(self, *args):
        return subprocess.run(["ip", "netns", "exec", self.router, NFTCTL, *args],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=60)

    def ctl(self, *args):
        p = self.nftctl(*args)
        check(p.returncode == 0, "spin_nftctl %s: exit %d: %s" %
              (" ".join(args[:6]), p.returncode, p.stderr))

    def nft(self, ns, *args, input=None):
        return sh("ip", "netns", "exec", ns, "nft", *args, input=input)

    def ping(self, src, dst):
        """One echo request from src (in its namespace) to dst, 1 s wait."""
        p = subprocess.run(["ip", "netns", "exec", self.ns_of(src), "ping", "-n", "-q",
                            "-c", "1", "-W", "1", "-I", src, dst],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        return p.returncode == 0

    def connect(self, src, dst):
        """One TCP connect from src to dst:PORT, 1 s timeout."""
        out = sh("ip", "netns", "exec", self.ns_of(src), PY, "-c", TCP_CONNECT, src, dst)
        return out.startswith("connected")

    def works(self, src, dst, tcp=True):
        """src reaches dst (waits for it, 10 s at most)."""
        wait_for(lambda: self.ping(src, dst), 10, "ping %s -> %s to work" % (src, dst),
                 interval=0.1)
        if tcp:
            wait_for(lambda: self.connect(src, dst), 10,
                     "TCP %s -> %s to connect" % (src, dst), interval=0.1)

    def fails(self, src, dst, tcp=True):
        """src does not reach dst: a ping and a connect get no answer."""
        check(not self.ping(src, dst), "ping %s -> %s is dropped" % (src, dst))
        if tcp:
            check(not self.connect(src, dst), "TCP %s -> %s is dropped" % (src, dst))


class Dump:
    """spin_nflogdump on the block group in the router namespace."""

    def __init__(self, ns):
        self.cmd = ["ip", "netns", "exec", ns, NFLOGDUMP, "300", str(BLOCK_GROUP)]
        self.out, self.err = [], []

    def __enter__(self):
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._read, args=(stream, lines), daemon=True).start()
        wait_for(lambda: "ready" in self.err or self.proc.poll() is not None, 20,
                 "spin_nflogdump to bind group %d" % BLOCK_GROUP)
        check("ready" in self.err, "spin_nflogdump starts: %s" % "\n".join(self.err))
        return self

    @staticmethod
    def _read(stream, lines):
        for line in stream:
            lines.append(line.rstrip("\n"))

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)

    def intervals(self):
        res = []
        for line in list(self.err):
            f = line.split()
            if f and f[0] == "interval":
                d = {"second": int(f[1])}
                d.update((k, int(v)) for k, v in zip(f[2::2], f[3::2]))
                res.append(d)
        return res

    def stop(self):
        """Waits until every report logged so far has been read, stops the
        tool and returns {(family, proto, src, dst, sport, dport): packets}
        and its final counters. The kernel hands queued reports over within
        10 ms (the source's flush timeout), so once an interval that began
        a whole second after this call has closed, everything is in."""
        after = int(time.time()) + 1
        wait_for(lambda: any(i["second"] >= after for i in self.intervals()), 10,
                 "spin_nflogdump to close the interval of second %d" % after)
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=60)
        wait_for(lambda: any(l.startswith("status ") for l in self.err), 10,
                 "the final status line")
        wait_for(lambda: any(l.startswith("dns_records ") for l in self.out), 10,
                 "the final output")
        check(rc == 0, "spin_nflogdump exits cleanly (rc %d): %s" %
              (rc, "\n".join(self.err)))
        flows = {}
        for line in self.out:
            f = line.split()
            if f[0] in ("dns", "dns_records"):
                continue
            key = (int(f[1]), int(f[2]), f[3], f[4], int(f[5]), int(f[6]))
            flows[key] = flows.get(key, 0) + int(f[7])
        status = [l for l in self.err if l.startswith("status ")][-1]
        counters = {k: int(v) for k, v in (kv.split("=") for kv in status.split()[1:])}
        return flows, counters


def reported(flows, family, proto, src, dst, dport=None):
    """Packets reported from src to dst (any ports unless dport is given)."""
    return sum(n for (f, p, s, d, _, dp), n in flows.items()
               if (f, p, s, d) == (family, proto, src, dst) and dport in (None, dp))


def set_elements(t, name):
    objs = json.loads(t.nft(t.router, "-j", "list", "set", "inet", "spin", name))
    body = next(o["set"] for o in objs["nftables"] if "set" in o)
    return sorted(str(e) for e in body.get("elem", []))


# --------------------------------------------------------------------- tests

def test_block_and_unblock():
    with Topology() as t:
        t.ctl("install")
        t.works(LAN1, WAN1)
        t.works(LAN1, WAN2)
        with Dump(t.router) as d:
            t.ctl("block", WAN1)
            t.fails(LAN1, WAN1)
            t.fails(WAN1, LAN1)  # as a source too
            t.works(LAN1, WAN2)
            t.works(WAN2, LAN2)
            flows, counters = d.stop()
        check(reported(flows, 4, 1, LAN1, WAN1) >= 1,
              "the dropped ping to WAN1 is reported: %s" % flows)
        check(reported(flows, 4, 6, LAN1, WAN1, PORT) >= 1,
              "the dropped TCP connect to WAN1 is reported: %s" % flows)
        check(reported(flows, 4, 1, WAN1, LAN1) >= 1,
              "the dropped ping from WAN1 is reported: %s" % flows)
        others = [k for k in flows if WAN1 not in k[2:4]]
        check(not others, "only traffic of WAN1 is reported: %s" % others)
        t.ctl("unblock", WAN1)
        t.works(LAN1, WAN1)
        t.works(WAN1, LAN1)
        check(set_elements(t, "block4") == [], "block4 is empty again")


def test_block_ipv6():
    with Topology() as t:
        t.ctl("install")
        t.works(LAN1_6, WAN1_6)
        with Dump(t.router) as d:
            t.ctl("block", WAN1_6)
            t.fails(LAN1_6, WAN1_6)
            t.fails(WAN1_6, LAN2_6)
            t.works(LAN1_6, WAN2_6)
            t.works(LAN1, WAN1)  # the IPv4 address of the same host is not blocked
            flows, _ = d.stop()
        check(reported(flows, 6, 58, LAN1_6, WAN1_6) >= 1,
              "the dropped ping6 to WAN1 is reported: %s" % flows)
        check(reported(flows, 6, 6, LAN1_6, WAN1_6, PORT) >= 1,
              "the dropped TCP connect over IPv6 is reported: %s" % flows)
        t.ctl("unblock", WAN1_6)
        t.works(LAN1_6, WAN1_6)


def test_allow_beats_block():
    with Topology() as t:
        t.ctl("install")
        t.ctl("block", WAN1, WAN1_6)
        t.fails(LAN1, WAN1)
        t.fails(LAN1_6, WAN1_6)
        t.ctl("allow", LAN1, LAN1_6)
        t.works(LAN1, WAN1)
        t.works(WAN1, LAN1)
        t.works(LAN1_6, WAN1_6)
        t.fails(LAN2, WAN1)  # LAN2 is not allowed: still blocked
        t.fails(LAN2_6, WAN1_6)
        t.ctl("disallow", LAN1, LAN1_6)
        t.fails(LAN1, WAN1)
        t.fails(LAN1_6, WAN1_6)


def test_pair():
    with Topology() as t:
        t.ctl("install")
        for lan, wan in ((LAN1, WAN1), (LAN1_6, WAN1_6)):
            t.works(lan, wan)
        t.ctl("pair", LAN1, WAN1, "pair", LAN1_6, WAN1_6)
        check(set_elements(t, "pair4") == sorted(
            str({"concat": c}) for c in ([LAN1, WAN1], [WAN1, LAN1])),
            "pair4 holds both directions: %s" % set_elements(t, "pair4"))
        for (lan, lan2, wan, wan2) in ((LAN1, LAN2, WAN1, WAN2),
                                       (LAN1_6, LAN2_6, WAN1_6, WAN2_6)):
            t.fails(lan, wan)
            t.fails(wan, lan)  # the other direction, from wan1 to lan
            t.works(lan, wan2)
            t.works(lan2, wan)
            t.works(wan, lan2)
        t.ctl("unpair", LAN1, WAN1, "unpair", LAN1_6, WAN1_6)
        t.works(LAN1, WAN1)
        t.works(WAN1_6, LAN1_6)


PROBE = """
table inet spin_probe {
  counter arrived {}
  counter passed {}
  chain before { type filter hook forward priority -20; policy accept;
    ip daddr %(wan)s udp dport 9 counter name "arrived"
  }
  chain after { type filter hook forward priority 10; policy accept;
    ip daddr %(wan)s udp dport 9 counter name "passed"
  }
}
""" % {"wan": WAN1}

WAN_PROBE = """
table inet spin_probe {
  counter got {}
  chain in { type filter hook input priority -300; policy accept;
    udp dport 9 counter name "got"
  }
}
"""

# A flood of about a second: bursts of 100 datagrams, 30 ms apart, so the
# limit's rate matters as well as its burst.
FLOOD = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((%r, 0))
for i in range(int(sys.argv[1])):
    s.sendto(b"f" * 32, (%r, 9))
    if i %% 100 == 99:
        time.sleep(0.03)
""" % (LAN1, WAN1)


def counters(t, ns, table):
    out = json.loads(t.nft(ns, "-j", "list", "counters", "table", "inet", table))
    return {c["counter"]["name"]: c["counter"]["packets"]
            for c in out["nftables"] if "counter" in c}


def test_report_flood():
    """Every packet to a blocked address is dropped, but only burst + rate *
    seconds of them are reported."""
    count = 3000
    with Topology() as t:
        t.ctl("install")  # a fresh table: the limits' buckets are full
        t.nft(t.router, "-f", "-", input=PROBE)
        t.nft(t.wan, "-f", "-", input=WAN_PROBE)
        t.ctl("block", WAN1)
        with Dump(t.router) as d:
            # The whole flood, sender start-up included, lasts `elapsed`.
            start = time.monotonic()
            sh("ip", "netns", "exec", t.lan, PY, "-c", FLOOD, str(count))
            elapsed = time.monotonic() - start
            flows, status = d.stop()
        # Exact: what reached the router's forward hook (some of the flood
        # may be lost in the veth's backlog before it) and what got past it.
        final = counters(t, t.router, "spin_probe")
        arrived = final["arrived"]
        check(arrived > BURST * 2, "the flood reached the router: %d of %d" %
              (arrived, count))
        check(final["passed"] == 0, "no packet got past spind's chain: %s" % final)
        check(counters(t, t.wan, "spin_probe")["got"] == 0, "no packet reached wan")
        n = reported(flows, 4, 17, LAN1, WAN1, 9)
        check(status.get("lost") == 0 and status.get("enobufs") == 0,
              "no report was lost on the way: %s" % status)
        bound = BURST + math.ceil(RATE * elapsed) + 1
        check(BURST <= n <= bound,
              "%d reports for %d dropped packets in %.2f s: between the burst %d and "
              "%d" % (n, arrived, elapsed, BURST, bound))
        check(sum(flows.values()) == n, "only the flood is reported: %s" % flows)


def test_passive():
    with Topology() as t:
        t.ctl("install", "--passive")
        t.ctl("block", WAN1, WAN1_6, "--passive")
        t.ctl("pair", LAN1, WAN2, "--passive")
        t.works(LAN1, WAN1)
        t.works(LAN1, WAN2)
        t.works(LAN1_6, WAN1_6)
        text = t.nft(t.router, "list", "table", "inet", "spin")
        check("set " not in text and "drop" not in text,
              "a passive table has no sets and no drop rules: %s" % text)


def test_bad_delete():
    with Topology() as t:
        t.ctl("install")
        t.ctl("block", WAN1)
        t.fails(LAN1, WAN1)
        # LAN2 was never blocked: the whole change fails, naming it, and
        # neither the unblock of WAN1 nor the block of WAN2 happens.
        p = t.nftctl("unblock", WAN1, LAN2, "block", WAN2, WAN2_6)
        check(p.returncode == 1, "the change fails: %d %r" % (p.returncode, p.stderr))
        check("deleting element %s from set block4" % LAN2 in p.stderr,
              "the error names the element: %r" % p.stderr)
        check(set_elements(t, "block4") == [WAN1] and set_elements(t, "block6") == [],
              "the sets are unchanged: %s %s" %
              (set_elements(t, "block4"), set_elements(t, "block6")))
        t.fails(LAN1, WAN1)
        t.works(LAN1, WAN2)
        t.works(LAN1_6, WAN2_6)


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("SKIP: network namespaces and nftables need root")
        sys.exit(77)
    for tool in ("nft", "ping"):
        if not shutil.which(tool):
            print("SKIP: %s is needed (Debian packages nftables, iputils-ping)" % tool)
            sys.exit(77)
    for var, path in (("SPIN_NFTCTL", NFTCTL), ("SPIN_NFLOGDUMP", NFLOGDUMP)):
        if not path or not os.access(path, os.X_OK):
            print("FAIL: %s must name the tool's binary" % var)
            sys.exit(1)
    main([test_block_and_unblock, test_block_ipv6, test_allow_beats_block, test_pair,
          test_report_flood, test_passive, test_bad_delete])
