#!/usr/bin/env python3
"""The conntrack source against real connection tracking: two network
namespaces joined by a veth pair (IPv4 and IPv6), spin_ctdump running in one
of them ("b", the gateway's view) while known traffic crosses the link:

- UDP datagrams of known sizes (each answered by a shorter one), ICMP echo
  (`ping -c N`) and a TCP connection with a known exchange, IPv4 and IPv6:
  spin's per-second records must add up exactly to the packets and IP-layer
  bytes that crossed the link, per direction (the reply direction as the
  reversed original tuple);
- the kernel's counters stay untouched for other readers: `conntrack -L`
  shows them growing to the full totals during and after the run (spin never
  zeroes them);
- nf_conntrack_acct is switched off first (it is per namespace): the source
  turns it on and logs so;
- a connection deleted with `conntrack -D` between two dumps is still counted
  completely (from its DESTROY event).

Ground truth. UDP and ICMP sizes are exact by construction: IPv4 header 20 +
UDP header 8 + payload (IPv6: 40 + 8 + payload); ping's default 56 bytes of
data make 84-byte IPv4 and 104-byte IPv6 packets. TCP's packet count depends
on the stack (delayed ACKs, piggy-backed FINs), so for TCP the truth is a raw
AF_PACKET capture on b's veth end, which sees every frame that crosses the
link, in both directions, once; its IP-layer bytes come from the IP header
(IPv4 total length, IPv6 payload length + 40), the same length conntrack
counts (skb->len at the conntrack hook). The capture itself is checked against
the exact UDP and ICMP totals, and reports no drops.

Needs root (namespaces), nft, conntrack (package conntrack), ping (package
iputils-ping) and sysctl (package procps). The namespaces are removed and
every helper process is stopped afterwards, also on failure. Helpers run in
the namespaces as this same script with --helper."""

import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

from spintest import check, main, wait_for

CTDUMP = os.environ.get("SPIN_CTDUMP", "")
SCRIPT = os.path.abspath(__file__)

A4, B4 = "10.79.0.1", "10.79.0.2"
A6, B6 = "fd79::1", "fd79::2"
UDP_PORT, TCP_PORT, DESTROY_PORT = 7001, 7002, 7003
# Fixed client ports, so that the test knows every tuple in advance.
UDP4_CLIENT, UDP6_CLIENT, TCP4_CLIENT, TCP6_CLIENT, DESTROY_CLIENT = (
    41001, 41002, 41003, 41004, 41005)
ACCT = "net.netfilter.nf_conntrack_acct"
HELPER_LIMIT_S = 120  # no helper outlives this, whatever happens


# ---------------------------------------------------------------------------
# Helpers that run inside a namespace (python3 test_conntrack.py --helper ...)
# ---------------------------------------------------------------------------

def reply_size(n):
    """The UDP server answers a datagram of n bytes with one of this size."""
    return max(1, n // 2)


def stdin_closed():
    return sys.stdin.buffer.read1(4096) == b""


def helper_server():
    """UDP answer servers on UDP_PORT (both families) and DESTROY_PORT, a TCP
    echo server on TCP_PORT (both families), until stdin closes."""
    socks = []
    for fam, addr in ((socket.AF_INET, B4), (socket.AF_INET6, B6)):
        u = socket.socket(fam, socket.SOCK_DGRAM)
        u.bind((addr, UDP_PORT))
        t = socket.socket(fam, socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind((addr, TCP_PORT))
        t.listen(8)
        socks += [u, t]
    d = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    d.bind((B4, DESTROY_PORT))
    socks.append(d)
    listeners = [s for s in socks if s.type == socket.SOCK_STREAM]
    conns = []
    print("ready", flush=True)
    deadline = time.monotonic() + HELPER_LIMIT_S
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sys.stdin] + socks + conns, [], [], 1.0)
        for s in ready:
            if s is sys.stdin:
                if stdin_closed():
                    return
            elif s in listeners:
                c, _ = s.accept()
                conns.append(c)
            elif s in conns:
                data = s.recv(65536)
                if data:
                    s.sendall(data)
                else:
                    s.close()
                    conns.remove(s)
            else:
                data, peer = s.recvfrom(65536)
                s.sendto(b"r" * reply_size(len(data)), peer)


def flow_of(frame):
    """(key, ip_bytes) of an Ethernet frame carrying IPv4/IPv6, else None. The
    key follows spin's flow_key convention and spin_ctdump's text form."""
    if len(frame) < 14:
        return None
    ethertype = struct.unpack("!H", frame[12:14])[0]
    ip = frame[14:]
    if ethertype == 0x0800 and len(ip) >= 20:
        ihl = (ip[0] & 0x0F) * 4
        length = struct.unpack("!H", ip[2:4])[0]
        frag = struct.unpack("!H", ip[6:8])[0] & 0x1FFF
        proto = ip[9]
        src, dst = socket.inet_ntop(socket.AF_INET, ip[12:16]), socket.inet_ntop(
            socket.AF_INET, ip[16:20])
        fam, l4 = 4, ip[ihl:] if frag == 0 else b""
    elif ethertype == 0x86DD and len(ip) >= 40:
        length = struct.unpack("!H", ip[4:6])[0] + 40
        proto = ip[6]
        src, dst = socket.inet_ntop(socket.AF_INET6, ip[8:24]), socket.inet_ntop(
            socket.AF_INET6, ip[24:40])
        fam, l4 = 6, ip[40:]
    else:
        return None
    sport = dport = 0
    if proto in (6, 17) and len(l4) >= 4:
        sport, dport = struct.unpack("!HH", l4[0:4])
    elif proto in (1, 58) and len(l4) >= 2:
        dport = l4[0] * 256 + l4[1]
    return flow_key(fam, proto, src, dst, sport, dport), length


def helper_capture(ifname):
    """Counts every IP packet crossing `ifname` (both directions) per flow
    until stdin closes; prints {"flows": {key: [packets, bytes]}, "drops": n}."""
    eth_p_all = 0x0003
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(eth_p_all))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((ifname, eth_p_all))
    flows = {}

    def take(frame):
        f = flow_of(frame)
        if f:
            v = flows.setdefault(f[0], [0, 0])
            v[0] += 1
            v[1] += f[1]

    print("ready", flush=True)
    deadline = time.monotonic() + HELPER_LIMIT_S
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sys.stdin, s], [], [], 1.0)
        if s in ready:
            take(s.recv(256))
        if sys.stdin in ready and stdin_closed():
            break
    s.setblocking(False)
    try:
        while True:
            take(s.recv(256))
    except BlockingIOError:
        pass
    sol_packet, packet_statistics = 263, 6
    _, drops = struct.unpack("II", s.getsockopt(sol_packet, packet_statistics, 8))
    print(json.dumps({"flows": flows, "drops": drops}), flush=True)


def helper_udp(family, src, sport, dst, dport, *sizes):
    """Sends one datagram per size and waits for each answer."""
    fam = socket.AF_INET if family == "4" else socket.AF_INET6
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src, int(sport)))
    s.settimeout(5)
    replies = []
    for n in sizes:
        s.sendto(b"q" * int(n), (dst, int(dport)))
        data, _ = s.recvfrom(65536)
        replies.append(len(data))
    print(json.dumps({"sent": [int(n) for n in sizes], "replies": replies}), flush=True)


def helper_tcp(family, src, sport, dst, dport, *sizes):
    """One connection: each message is echoed before the next is sent; then
    an orderly close (client first, so the client side ends in TIME_WAIT)."""
    fam = socket.AF_INET if family == "4" else socket.AF_INET6
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(5)
    s.bind((src, int(sport)))
    s.connect((dst, int(dport)))
    for n in sizes:
        s.sendall(b"t" * int(n))
        got = 0
        while got < int(n):
            chunk = s.recv(65536)
            if not chunk:
                raise RuntimeError("the echo server closed early")
            got += len(chunk)
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):
        pass
    s.close()
    print(json.dumps({"sent": [int(n) for n in sizes]}), flush=True)


HELPERS = {"server": helper_server, "capture": helper_capture, "udp": helper_udp,
           "tcp": helper_tcp}


# ---------------------------------------------------------------------------
# The test
# ---------------------------------------------------------------------------

def flow_key(fam, proto, src, dst, sport, dport):
    return "%d %d %s %s %d %d" % (fam, proto, src, dst, sport, dport)


def reverse(key):
    fam, proto, src, dst, sport, dport = key.split()
    if proto in ("1", "58"):
        raise ValueError("ICMP replies have their own type")
    return flow_key(int(fam), int(proto), dst, src, int(dport), int(sport))


def run(*args, **kw):
    return subprocess.run(list(args), check=True, text=True, timeout=30,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def in_ns(ns, *args):
    return run("ip", "netns", "exec", ns, *args)


class LineReader:
    """Collects the lines of a stream in a thread."""

    def __init__(self, stream):
        self.lines = []
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream):
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def text(self):
        return "\n".join(self.lines)


class Namespaces:
    """Namespaces a and b joined by veth va <-> vb; conntrack active in b."""

    def __init__(self):
        self.a = "spin-ct-a-%d" % os.getpid()
        self.b = "spin-ct-b-%d" % os.getpid()

    def __enter__(self):
        try:
            run("ip", "netns", "add", self.a)
            run("ip", "netns", "add", self.b)
            run("ip", "link", "add", "va", "netns", self.a, "type", "veth", "peer", "name",
                "vb", "netns", self.b)
            for ns, dev, a4, a6 in ((self.a, "va", A4, A6), (self.b, "vb", B4, B6)):
                run("ip", "-n", ns, "link", "set", "lo", "up")
                run("ip", "-n", ns, "addr", "add", a4 + "/24", "dev", dev)
                run("ip", "-n", ns, "addr", "add", a6 + "/64", "dev", dev, "nodad")
                run("ip", "-n", ns, "link", "set", dev, "up")
            # A fresh namespace does not track connections at all: the kernel
            # registers conntrack's hooks only when something needs them. On
            # a router the firewall's `ct` rules do; here a rule with a ct
            # match on input and output (the gateway's own traffic) does.
            t = "spin_ct_test"
            in_ns(self.b, "nft", "add", "table", "inet", t)
            for chain in ("input", "output"):
                in_ns(self.b, "nft", "add", "chain", "inet", t, chain,
                      "{ type filter hook %s priority 0 ; }" % chain)
                in_ns(self.b, "nft", "add", "rule", "inet", t, chain, "ct", "state", "new",
                      "counter")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        for ns in (self.a, self.b):
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)


class Helper:
    """A long-running helper in a namespace; stop() closes its stdin and
    returns its last output line (JSON) if it printed one."""

    def __init__(self, ns, *args):
        self.cmd = ["ip", "netns", "exec", ns, sys.executable, SCRIPT, "--helper", *args]

    def __enter__(self):
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.out = LineReader(self.proc.stdout)
        self.err = LineReader(self.proc.stderr)
        try:
            wait_for(lambda: "ready" in self.out.lines or self.proc.poll() is not None, 10,
                     "helper %s to start" % self.cmd[6:])
            check(self.proc.poll() is None,
                  "helper %s started: %s" % (self.cmd[6:], self.err.text()))
        except BaseException:
            self.__exit__()
            raise
        return self

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=15)
        self.out.thread.join(timeout=5)
        check(self.proc.returncode == 0,
              "helper %s exits cleanly: %s" % (self.cmd[6:], self.err.text()))
        return json.loads(self.out.lines[-1])

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


class CtDump:
    """spin_ctdump in a namespace; stop() ends it with SIGTERM and returns
    its per-second lines."""

    def __init__(self, ns):
        self.cmd = ["ip", "netns", "exec", ns, CTDUMP, str(HELPER_LIMIT_S)]

    def __enter__(self):
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.out = LineReader(self.proc.stdout)
        self.err = LineReader(self.proc.stderr)
        try:
            wait_for(lambda: "spin_ctdump: ready" in self.err.lines or
                     self.proc.poll() is not None, 15, "spin_ctdump to start")
            check(self.proc.poll() is None, "spin_ctdump started: " + self.err.text())
        except BaseException:
            self.__exit__()
            raise
        return self

    def intervals(self):
        return sum(1 for l in self.err.lines if l.startswith("spin_ctdump: interval "))

    def wait_intervals(self, n, what):
        """Waits until n more intervals closed: at least n - 1 complete dumps
        started after now."""
        target = self.intervals() + n
        wait_for(lambda: self.intervals() >= target, 10 + 2 * n, what)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        self.out.thread.join(timeout=5)
        self.err.thread.join(timeout=5)
        check(self.proc.returncode == 0,
              "spin_ctdump exits cleanly (rc %s): %s" % (self.proc.returncode,
                                                          self.err.text()))
        status = {}
        for line in self.err.lines:
            if line.startswith("spin_ctdump: status "):
                for kv in line.split()[2:]:
                    k, v = kv.split("=")
                    status[k] = int(v)
        records = []
        for line in self.out.lines:
            f = line.split()
            records.append((int(f[0]), " ".join(f[1:7]), int(f[7]), int(f[8])))
        return records, status

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def client(ns, *args):
    res = subprocess.run(["ip", "netns", "exec", ns, sys.executable, SCRIPT, "--helper",
                          *[str(a) for a in args]],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         timeout=30)
    check(res.returncode == 0, "client %s: %s" % (args, res.stderr))
    return json.loads(res.stdout.strip().splitlines()[-1])


def conntrack_counters(ns, proto, sport):
    """(orig packets, orig bytes, reply packets, reply bytes) of the
    connection with this original source port, as `conntrack -L` shows it."""
    out = in_ns(ns, "conntrack", "-L", "-p", proto, "--sport", str(sport)).stdout
    for line in out.splitlines():
        if "sport=%d " % sport in line:
            nums = [int(x) for x in re.findall(r"(?:packets|bytes)=(\d+)", line)]
            check(len(nums) == 4, "conntrack -L shows counters: " + line)
            return tuple(nums)
    raise AssertionError("conntrack -L does not list sport %d: %r" % (sport, out))


def read_acct(ns):
    return int(in_ns(ns, "sysctl", "-n", ACCT).stdout.strip())


def udp_volume(fam, sizes):
    hdr = 28 if fam == 4 else 48
    return len(sizes), sum(hdr + n for n in sizes)


RESULT = {}


def test_run_traffic():
    """Runs the scenario once; the tests below check its results."""
    with Namespaces() as ns:
        # Accounting off first; it is per network namespace.
        in_ns(ns.b, "sysctl", "-w", ACCT + "=0")
        RESULT["acct_before"] = read_acct(ns.b)
        with Helper(ns.b, "capture", "vb") as cap, Helper(ns.b, "server"), \
                CtDump(ns.b) as ct:
            RESULT["acct_after"] = read_acct(ns.b)
            expected = {}

            def add(key, packets, nbytes):
                v = expected.setdefault(key, [0, 0])
                v[0] += packets
                v[1] += nbytes

            # UDP over IPv4 in three batches, each followed by at least one
            # complete dump; another reader (conntrack -L) looks in between.
            udp4 = flow_key(4, 17, A4, B4, UDP4_CLIENT, UDP_PORT)
            readings, sent = [], [0, 0, 0, 0]
            for batch in ([100, 200], [300, 1000, 1400], [20]):
                r = client(ns.a, "udp", 4, A4, UDP4_CLIENT, B4, UDP_PORT, *batch)
                check(r["replies"] == [reply_size(n) for n in batch], "UDP answers: %s" % r)
                for i, v in enumerate(udp_volume(4, r["sent"]) + udp_volume(4, r["replies"])):
                    sent[i] += v
                add(udp4, *udp_volume(4, r["sent"]))
                add(reverse(udp4), *udp_volume(4, r["replies"]))
                ct.wait_intervals(2, "a dump after a UDP batch")
                readings.append((tuple(sent), conntrack_counters(ns.b, "udp", UDP4_CLIENT)))
            RESULT["readings"] = readings

            # UDP over IPv6.
            udp6 = flow_key(6, 17, A6, B6, UDP6_CLIENT, UDP_PORT)
            r = client(ns.a, "udp", 6, A6, UDP6_CLIENT, B6, UDP_PORT, 150, 600, 1200, 1452)
            add(udp6, *udp_volume(6, r["sent"]))
            add(reverse(udp6), *udp_volume(6, r["replies"]))

            # ICMP echo, both families (56 data bytes: 84 / 104 bytes on IP).
            in_ns(ns.a, "ping", "-c", "4", "-i", "0.2", "-W", "2", B4)
            add(flow_key(4, 1, A4, B4, 0, 8 * 256), 4, 4 * 84)
            add(flow_key(4, 1, B4, A4, 0, 0), 4, 4 * 84)
            in_ns(ns.a, "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", B6)
            add(flow_key(6, 58, A6, B6, 0, 128 * 256), 3, 3 * 104)
            add(flow_key(6, 58, B6, A6, 0, 129 * 256), 3, 3 * 104)

            # TCP, both families: a known exchange; packets from the capture.
            tcp4 = flow_key(4, 6, A4, B4, TCP4_CLIENT, TCP_PORT)
            tcp6 = flow_key(6, 6, A6, B6, TCP6_CLIENT, TCP_PORT)
            client(ns.a, "tcp", 4, A4, TCP4_CLIENT, B4, TCP_PORT, 10, 500, 1000, 3)
            client(ns.a, "tcp", 6, A6, TCP6_CLIENT, B6, TCP_PORT, 7, 1200, 64)

            # A short UDP exchange deleted from the table before a dump sees
            # it (started early in a second, as dumps run on the boundary; if
            # a dump sees it anyway, it must still count exactly once).
            wait_for(lambda: 0.05 < time.time() % 1.0 < 0.3, 3, "the start of a second",
                     interval=0.005)
            destroyed = flow_key(4, 17, A4, B4, DESTROY_CLIENT, DESTROY_PORT)
            r = client(ns.a, "udp", 4, A4, DESTROY_CLIENT, B4, DESTROY_PORT, 64, 256)
            deleted = in_ns(ns.b, "conntrack", "-D", "-p", "udp", "--sport",
                            str(DESTROY_CLIENT))
            RESULT["deleted"] = deleted.stdout + deleted.stderr
            add(destroyed, *udp_volume(4, r["sent"]))
            add(reverse(destroyed), *udp_volume(4, r["replies"]))

            # The TCP connections are over when conntrack saw the last ACK.
            for sport in (TCP4_CLIENT, TCP6_CLIENT):
                wait_for(lambda: "TIME_WAIT" in in_ns(ns.b, "conntrack", "-L", "-p", "tcp",
                                                     "--sport", str(sport)).stdout,
                         10, "TCP connection %d in TIME_WAIT" % sport)

            records, status = ct.stop()
            captured = cap.stop()
            RESULT.update(records=records, status=status, expected=expected,
                          captured=captured, log=ct.err.text(), udp4=udp4,
                          tcp=(tcp4, tcp6), destroyed=destroyed)
            RESULT["after"] = conntrack_counters(ns.b, "udp", UDP4_CLIENT)


def result(name):
    check(name in RESULT, "the traffic run completed (see test_run_traffic)")
    return RESULT[name]


def totals():
    sums = {}
    for _, key, packets, nbytes in result("records"):
        v = sums.setdefault(key, [0, 0])
        v[0] += packets
        v[1] += nbytes
    return sums


def test_accounting_turned_on():
    check(result("acct_before") == 0, "nf_conntrack_acct was 0 before the run")
    check(result("acct_after") == 1, "spin turned nf_conntrack_acct on")
    log = result("log")
    check("turned on connection tracking accounting" in log and "nf_conntrack_acct" in log,
          "spin logs that it turned accounting on: " + log)
    check(result("status").get("acct_enabled") == 1, "status says so too")


def test_capture_is_exact():
    """The raw capture (the truth for TCP) matches the exact UDP and ICMP
    totals and lost nothing."""
    cap = result("captured")
    check(cap["drops"] == 0, "the capture dropped no packet")
    for key, want in result("expected").items():
        check(cap["flows"].get(key) == want,
              "capture of %s: %s, sent %s" % (key, cap["flows"].get(key), want))


def test_volumes_exact():
    """Per-second records add up to exactly what crossed the link."""
    got = totals()
    check(all(sec >= 0 for sec, _, _, _ in result("records")),
          "every record belongs to a closed interval")
    for key, want in result("expected").items():
        check(got.get(key) == want, "spin counted %s: %s, sent %s" % (key, got.get(key), want))
    cap = result("captured")["flows"]
    for key in result("tcp"):
        for k in (key, reverse(key)):
            want = cap.get(k)
            check(want and want[0] >= 4, "the capture saw TCP %s: %s" % (k, want))
            check(got.get(k) == want, "spin counted TCP %s: %s, captured %s" % (k, got.get(k),
                                                                             want))
    # The UDP batches were counted in the seconds they happened: deltas, not
    # totals.
    seconds = {sec for sec, key, _, _ in result("records") if key == result("udp4")}
    check(len(seconds) >= 3, "UDP batches in %d seconds (want >= 3)" % len(seconds))
    status = result("status")
    check(status["dumps"] >= 5, "several dumps ran: %s" % status)
    check(status["counter_resets"] == 0 and status["dump_errors"] == 0,
          "no counter resets or dump errors: %s" % status)


def test_counters_unchanged_for_other_readers():
    """conntrack -L sees the kernel's counters grow to the full totals: spin
    never zeroes them (a reset would show smaller numbers after a dump)."""
    readings = result("readings")
    for sent, seen in readings:
        check(seen == sent, "conntrack -L after a dump shows %s, sent %s" % (seen, sent))
    last_sent = readings[-1][0]
    check(result("after") == last_sent,
          "conntrack -L after the run shows %s, sent %s" % (result("after"), last_sent))


def test_destroyed_connection_counted():
    check("1 flow entries have been deleted" in result("deleted"),
          "conntrack -D deleted the connection: " + result("deleted"))
    got = totals()
    key = result("destroyed")
    want = result("expected")
    for k in (key, reverse(key)):
        check(got.get(k) == want[k], "deleted %s counted %s, sent %s" % (k, got.get(k), want[k]))
    check(result("status")["events_destroy"] >= 1, "a DESTROY event was read")


def missing_tools():
    need = {"ip": "iproute2", "nft": "nftables", "conntrack": "conntrack",
            "ping": "iputils-ping", "sysctl": "procps"}
    return ["%s (package %s)" % (t, p) for t, p in need.items() if not shutil.which(t)]


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--helper":
        HELPERS[sys.argv[2]](*sys.argv[3:])
        sys.exit(0)
    if os.geteuid() != 0:
        print("SKIP: network namespaces and conntrack need root")
        sys.exit(77)
    if missing_tools():
        print("SKIP: missing " + ", ".join(missing_tools()))
        sys.exit(77)
    if not CTDUMP:
        print("SKIP: SPIN_CTDUMP is not set (run through ctest)")
        sys.exit(77)
    main([test_run_traffic, test_accounting_turned_on, test_capture_is_exact,
          test_volumes_exact, test_counters_unchanged_for_other_readers,
          test_destroyed_connection_counted])
