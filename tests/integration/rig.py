#!/usr/bin/env python3
"""The live-capture rig: a small home network in network namespaces, with a
router where spind runs as it would on a real gateway.

    d1 (192.168.50.11, fd50::11) --veth--+
                                         br-lan (192.168.50.1, fd50::1)  router
    d2 (192.168.50.12, fd50::12) --veth--+        wan0 (10.200.0.1, fd99::1)
                                                    |  veth
                                         wan (10.200.0.2, fd99::2, and the
                                              services 10.200.1.1-3, fd99:1::1-3)

- `d1`, `d2`: devices, each one veth into the router's bridge, with a MAC set
  by the rig (DEVICE_MACS), default routes via the router.
- `router`: bridge br-lan, IPv4 and IPv6 forwarding, a mosquitto broker on
  127.0.0.1 (MQTT clients must run in this namespace too: RouterSubscriber),
  and the oracle: nftables table `inet spintest` with one named counter per
  test flow and direction (nft counts IP-layer bytes, as spind does) and a
  conntrack match, as a router firewall has (a namespace tracks connections
  only when a rule needs it).
- `wan`: the internet: a DNS responder (UDP and TCP port 53) that answers A
  and AAAA for the names in ZONE (svc2.test is a CNAME), UDP echo services
  (UDP_PORTS: each datagram of n bytes is answered with one of
  udp_reply_size(n) bytes), TCP services (TCP_PORTS: read until the client
  shuts down, then answer tcp_reply_size(total) bytes and close) and UDP
  discard ports (DISCARD_PORTS: bound, never read, so floods are dropped
  without ICMP errors).

Devices resolve names by asking the wan responder through the router (the DNS
crosses the forward chain like any forwarded DNS), then talk to the answered
addresses (Rig.udp, Rig.tcp, Rig.blast). Neighbour entries are static, so no
ARP or neighbour discovery runs while a test counts.

Everything is removed afterwards, also on failure: helper processes are
stopped (their stdin closes, then SIGTERM, then SIGKILL), every process still
in a rig namespace is killed by pid, and the namespaces are deleted (in
__exit__, at interpreter exit, and on SIGTERM/SIGHUP). Namespace names carry
the pid. Every helper has a hard time limit; every traffic loop is bounded in
count and time.

This file is also the helpers' program: `python3 rig.py helper KIND ARGS`
(wan, client, mqtt-sub), run inside a namespace by the rig."""

import atexit
import itertools
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from spintest import SPIND, check, wait_for  # noqa: E402

PY = sys.executable
SCRIPT = os.path.abspath(__file__)
UDP_BLAST = os.environ.get("SPIN_UDP_BLAST", "")
NFLOG_COUNT = os.environ.get("SPIN_NFLOG_COUNT", "")
NFTCTL = os.environ.get("SPIN_NFTCTL", "")

LAN4, LAN6 = "192.168.50.0/24", "fd50::/64"
ROUTER_LAN4, ROUTER_LAN6 = "192.168.50.1", "fd50::1"
ROUTER_WAN4, ROUTER_WAN6 = "10.200.0.1", "fd99::1"
WAN4, WAN6 = "10.200.0.2", "fd99::2"
DEVICE_MACS = {"d1": "02:5e:00:00:00:11", "d2": "02:5e:00:00:00:12"}
DEVICE_ADDRS = {"d1": ("192.168.50.11", "fd50::11"), "d2": ("192.168.50.12", "fd50::12")}
ROUTER_LAN_MAC = "02:5e:00:00:00:01"
ROUTER_WAN_MAC = "02:5e:00:00:01:01"
WAN_MAC = "02:5e:00:00:01:02"
SERVICE4 = ["10.200.1.%d" % i for i in (1, 2, 3)]
SERVICE6 = ["fd99:1::%d" % i for i in (1, 2, 3)]
MQTT_PORT = 1883
UDP_PORTS = range(7001, 7021)
TCP_PORTS = range(8001, 8021)
DISCARD_PORTS = range(9000, 9032)
DISCARD_PORT = DISCARD_PORTS[0]

# name -> ("CNAME", target) or {"A": [...], "AAAA": [...]}
ZONE = {
    "svc1.test": {"A": [SERVICE4[0]], "AAAA": [SERVICE6[0]]},
    "svc2.test": ("CNAME", "alias.test"),
    "alias.test": {"A": [SERVICE4[1]], "AAAA": [SERVICE6[1]]},
    "svc3.test": {"A": [SERVICE4[2]], "AAAA": [SERVICE6[2]]},
}
DNS_TTL = 300


def udp_reply_size(n):
    """The wan UDP services answer a datagram of n bytes with this many."""
    return max(1, n // 2)


def tcp_reply_size(total):
    """The wan TCP services answer a connection that sent `total` bytes with
    this many, then close."""
    return max(1, total // 10)


def udp_ip_bytes(family, payload):
    """IP-layer length of one UDP datagram: payload + 28 (IPv4) or + 48 (IPv6)."""
    return payload + (28 if family == 4 else 48)


def resolve_zone(name):
    """(names along the CNAME chain, {"A": [...], "AAAA": [...]}) of ZONE."""
    names = [name]
    entry = ZONE.get(name)
    while isinstance(entry, tuple):
        names.append(entry[1])
        entry = ZONE.get(entry[1])
    return names, entry or {"A": [], "AAAA": []}


# ---------------------------------------------------------------------------
# DNS wire format (just what the rig needs)
# ---------------------------------------------------------------------------

def dns_name(name):
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".") if p) + b"\0"


def read_name(msg, off):
    """(name, offset after it), following compression pointers."""
    labels, end, hops = [], None, 0
    while True:
        n = msg[off]
        if n & 0xC0 == 0xC0:
            if end is None:
                end = off + 2
            off = ((n & 0x3F) << 8) | msg[off + 1]
            hops += 1
            if hops > 32:
                raise ValueError("compression loop")
            continue
        off += 1
        if n == 0:
            break
        labels.append(msg[off:off + n].decode("ascii", "replace"))
        off += n
    return ".".join(labels), end if end is not None else off


def dns_query(qid, name, qtype):
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + dns_name(name) + struct.pack(
        "!HH", qtype, 1)


def dns_answer(query):
    """The responder's answer to a query message (bytes), or None."""
    if len(query) < 12:
        return None
    qid, flags, qd = struct.unpack("!HHH", query[:6])
    if flags & 0x8000 or qd != 1:
        return None
    name, off = read_name(query, 12)
    qtype, qclass = struct.unpack("!HH", query[off:off + 4])
    question = query[12:off + 4]
    key = name.lower().rstrip(".")
    records = []
    rcode = 0
    if key not in ZONE:
        rcode = 3  # NXDOMAIN
    else:
        owner, entry = key, ZONE[key]
        while isinstance(entry, tuple):  # CNAME chain
            records.append((owner, 5, dns_name(entry[1])))
            owner, entry = entry[1], ZONE.get(entry[1])
        want = {1: "A", 28: "AAAA"}.get(qtype)
        if want and entry:
            fam = socket.AF_INET if want == "A" else socket.AF_INET6
            for addr in entry.get(want, []):
                records.append((owner, qtype, socket.inet_pton(fam, addr)))
    out = struct.pack("!HHHHHH", qid, 0x8180 | rcode, 1, len(records), 0, 0) + question
    for owner, rtype, rdata in records:
        out += dns_name(owner) + struct.pack("!HHIH", rtype, 1, DNS_TTL, len(rdata)) + rdata
    return out


def parse_answer(msg):
    """(rcode, [(owner, type, value)]) of a response."""
    _, flags, qd, an = struct.unpack("!HHHH", msg[:8])
    off = 12
    for _ in range(qd):
        _, off = read_name(msg, off)
        off += 4
    out = []
    for _ in range(an):
        owner, off = read_name(msg, off)
        rtype, _, _, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
        off += 10
        rdata = msg[off:off + rdlen]
        if rtype == 1:
            out.append((owner, "A", socket.inet_ntop(socket.AF_INET, rdata)))
        elif rtype == 28:
            out.append((owner, "AAAA", socket.inet_ntop(socket.AF_INET6, rdata)))
        elif rtype == 5:
            out.append((owner, "CNAME", read_name(msg, off)[0]))
        off += rdlen
    return flags & 0xF, out


# ---------------------------------------------------------------------------
# Helpers: run inside a namespace as `python3 rig.py helper KIND ...`
# ---------------------------------------------------------------------------

def stdin_closed():
    return os.read(sys.stdin.fileno(), 4096) == b""


def helper_wan(limit):
    """DNS (UDP, TCP), UDP echo, TCP services and the discard port, until
    stdin closes or `limit` seconds pass."""
    def dual(kind, port):
        # TCP: one socket for every address of both families (an accepted
        # connection answers from the address it was made to).
        s = socket.socket(socket.AF_INET6, kind)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("::", port))
        if kind == socket.SOCK_STREAM:
            s.listen(64)
        s.setblocking(False)
        return s

    def per_address(port, addrs):
        # UDP: one socket per address, so that every answer leaves from the
        # address the client asked (a wildcard socket would answer from the
        # interface's first address, which the client's socket ignores).
        out = []
        for a in addrs:
            s = socket.socket(socket.AF_INET6 if ":" in a else socket.AF_INET,
                              socket.SOCK_DGRAM)
            s.bind((a, port))
            s.setblocking(False)
            out.append(s)
        return out

    services = [WAN4, WAN6] + SERVICE4 + SERVICE6
    dns_udp = per_address(53, [WAN4, WAN6])
    dns_tcp = dual(socket.SOCK_STREAM, 53)
    udp = [s for p in UDP_PORTS for s in per_address(p, services)]
    tcp = [dual(socket.SOCK_STREAM, p) for p in TCP_PORTS]
    # Bound and never read: a flood fills their buffers and is dropped there,
    # without ICMP errors going back. Kept open until the helper ends.
    discard = [s for p in DISCARD_PORTS for s in per_address(p, services)]
    conns = {}  # socket -> [kind, buffer, received bytes]
    print("ready", flush=True)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        watch = [sys.stdin, dns_tcp] + dns_udp + udp + tcp + list(conns)
        ready, _, _ = select.select(watch, [], [], 1.0)
        for s in ready:
            if s is sys.stdin:
                if stdin_closed():
                    return
            elif s in dns_udp:
                try:
                    q, peer = s.recvfrom(65535)
                except BlockingIOError:
                    continue
                a = dns_answer(q)
                if a:
                    s.sendto(a, peer)
            elif s is dns_tcp or s in tcp:
                try:
                    c, _ = s.accept()
                except BlockingIOError:
                    continue
                c.settimeout(10)
                conns[c] = ["dns" if s is dns_tcp else "tcp", b"", 0]
            elif s in conns:
                kind, buf, total = conns[s]
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                    kind = "drop"
                if kind == "dns" and data:
                    buf += data
                    while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                        n = struct.unpack("!H", buf[:2])[0]
                        a = dns_answer(buf[2:2 + n])
                        buf = buf[2 + n:]
                        if a:
                            s.sendall(struct.pack("!H", len(a)) + a)
                    conns[s] = [kind, buf, total]
                elif data:
                    conns[s] = [kind, buf, total + len(data)]
                else:
                    if kind == "tcp":
                        try:
                            s.sendall(b"r" * tcp_reply_size(total))
                        except OSError:
                            pass
                    s.close()
                    del conns[s]
            else:  # a UDP echo port
                try:
                    data, peer = s.recvfrom(65535)
                except BlockingIOError:
                    continue
                s.sendto(b"e" * udp_reply_size(len(data)), peer)
    for s in discard:
        s.close()


def resolve(server, name, qtype, use_tcp, qid):
    """Asks `server` (port 53) for name/qtype; returns parse_answer()."""
    fam = socket.AF_INET6 if ":" in server else socket.AF_INET
    q = dns_query(qid, name, qtype)
    if use_tcp:
        with socket.create_connection((server, 53), timeout=5) as s:
            s.sendall(struct.pack("!H", len(q)) + q)
            buf = b""
            while len(buf) < 2 or len(buf) < 2 + struct.unpack("!H", buf[:2])[0]:
                chunk = s.recv(65536)
                if not chunk:
                    raise RuntimeError("DNS over TCP: connection closed early")
                buf += chunk
            return parse_answer(buf[2:])
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        for _ in range(3):  # UDP: retry a lost answer, bounded
            s.sendto(q, (server, 53))
            try:
                return parse_answer(s.recvfrom(65535)[0])
            except socket.timeout:
                continue
    raise RuntimeError("no DNS answer from %s for %s" % (server, name))


def helper_client(spec_json):
    """A device's application: resolves spec["name"] (A and AAAA) through
    spec["dns"], then talks to the first address of spec["family"]:
      udp: spec["count"] datagrams of spec["size"] bytes, each waiting for its
           answer (lock-step, bounded by timeouts), spec["interval"] seconds
           apart (at most 1 s; default 0);
      tcp: one connection sending spec["bytes"], then reading the answer;
      none: only resolves.
    Prints a JSON result."""
    spec = json.loads(spec_json)
    qid = os.getpid() & 0xFFFF
    names, addrs = [], {"A": [], "AAAA": []}
    for i, qtype in enumerate((1, 28)):
        rcode, records = resolve(spec["dns"], spec["name"], qtype, spec.get("dns_tcp", False),
                                 (qid + i) & 0xFFFF)
        if rcode != 0:
            raise RuntimeError("DNS rcode %d for %s" % (rcode, spec["name"]))
        for owner, rtype, value in records:
            if owner not in names:
                names.append(owner)
            if rtype in addrs:
                addrs[rtype].append(value)
    result = {"names": names, "addrs": addrs}
    proto = spec.get("proto", "none")
    if proto == "none":
        print(json.dumps(result), flush=True)
        return
    family = spec["family"]
    dst = addrs["A" if family == 4 else "AAAA"][0]
    fam = socket.AF_INET if family == 4 else socket.AF_INET6
    result["dst"] = dst
    if proto == "udp":
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.settimeout(2)
        s.connect((dst, spec["port"]))
        sent, replies = 0, []
        for i in range(spec["count"]):
            if i and spec.get("interval"):
                time.sleep(min(float(spec["interval"]), 1.0))
            s.send(b"u" * spec["size"])
            sent += 1
            try:
                replies.append(len(s.recv(65535)))
            except socket.timeout:
                pass  # counted: the test sees fewer replies
        result.update(sport=s.getsockname()[1], sent=sent, replies=replies)
        s.close()
    elif proto == "tcp":
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect((dst, spec["port"]))
        s.sendall(b"t" * spec["bytes"])
        s.shutdown(socket.SHUT_WR)
        got = 0
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += len(chunk)
        result.update(sport=s.getsockname()[1], sent=spec["bytes"], received=got)
        s.close()
    print(json.dumps(result), flush=True)


def helper_mqtt_sub(port, out_path, limit):
    """Subscribes to SPIN/# on 127.0.0.1:port (retrying until the broker
    accepts) and appends every message to out_path as a JSON line; prints
    "ready" once subscribed. Ends when stdin closes or `limit` seconds pass."""
    import paho.mqtt.client as mqtt

    out = open(out_path, "a")
    lock = threading.Lock()
    subscribed = threading.Event()

    def on_connect(client, userdata, flags, rc):
        client.subscribe("SPIN/#", qos=0)

    def on_subscribe(client, userdata, mid, granted):
        subscribed.set()

    def on_message(client, userdata, msg):
        line = json.dumps({"topic": msg.topic,
                           "payload": msg.payload.decode("utf-8", "replace"),
                           "retain": bool(msg.retain), "time": time.monotonic()})
        with lock:
            out.write(line + "\n")
            out.flush()

    client = mqtt.Client(client_id="spin-rig-sub-%d" % os.getpid(), clean_session=True)
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.reconnect_delay_set(min_delay=1, max_delay=1)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.connect("127.0.0.1", port, keepalive=10)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    client.loop_start()
    if not subscribed.wait(20):
        raise RuntimeError("no SUBACK from the broker")
    print("ready", flush=True)
    end = time.monotonic() + limit
    while time.monotonic() < end:
        r, _, _ = select.select([sys.stdin], [], [], 1.0)
        if r and stdin_closed():
            break
    client.disconnect()
    client.loop_stop()


def helper_main(argv):
    kind = argv[0]
    if kind == "wan":
        helper_wan(float(argv[1]))
    elif kind == "client":
        helper_client(argv[1])
    elif kind == "mqtt-sub":
        helper_mqtt_sub(int(argv[1]), argv[2], float(argv[3]))
    else:
        raise SystemExit("unknown helper " + kind)


# ---------------------------------------------------------------------------
# The rig, used by tests and benchmarks
# ---------------------------------------------------------------------------

_live_rigs = []
_rig_counter = itertools.count()
_signals_installed = False


def _cleanup_all():
    for r in list(_live_rigs):
        r.close()


def _on_signal(signum, frame):
    # Turn SIGTERM/SIGHUP (ctest's timeout, a closed terminal) into an
    # exception, so that every finally block and __exit__ runs.
    raise SystemExit(128 + signum)


def _install_cleanup():
    global _signals_installed
    if _signals_installed:
        return
    _signals_installed = True
    atexit.register(_cleanup_all)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, _on_signal)


def run(*args, input=None, timeout=60, check_rc=True):
    p = subprocess.run(list(args), input=input, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=timeout)
    if check_rc and p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(args), p.returncode,
                                                   p.stderr.strip()))
    return p


class Helper:
    """A process in a namespace, its stdout collected by a thread. Its stdin
    is a pipe: closing it asks the rig's own helpers to end."""

    def __init__(self, ns, argv, stderr_path=None, graceful=True):
        self.argv = ["ip", "netns", "exec", ns] + list(argv)
        self.graceful = graceful
        self.lines = []
        self.err = open(stderr_path, "w") if stderr_path else subprocess.DEVNULL
        # `ip netns exec` execs the program: the pid is the program's.
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.err, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_line(self, text, timeout, what):
        wait_for(lambda: text in self.lines or self.proc.poll() is not None, timeout, what)
        check(text in self.lines, "%s (exit %s)" % (what, self.proc.poll()))

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=timeout if self.graceful else 0.01)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        self.thread.join(timeout=5)
        if self.err is not subprocess.DEVNULL:
            self.err.close()


class Message:
    __slots__ = ("topic", "payload", "retain", "time")

    def __init__(self, d):
        self.topic, self.payload = d["topic"], d["payload"]
        self.retain, self.time = d["retain"], d["time"]

    def json(self):
        return json.loads(self.payload)


class RouterSubscriber:
    """An MQTT subscriber running in the router namespace (SPIN/#), writing
    every message as a JSON line to a file that this object reads."""

    def __init__(self, rig, name="sub"):
        self.rig = rig
        self.path = os.path.join(rig.workdir, "%s-%d.jsonl" % (name, next(_rig_counter)))
        open(self.path, "w").close()
        self.helper = None
        self._offset = 0
        self._messages = []

    def __enter__(self):
        self.helper = Helper(self.rig.router, [PY, SCRIPT, "helper", "mqtt-sub",
                                               str(MQTT_PORT), self.path,
                                               str(self.rig.helper_limit)],
                             stderr_path=self.path + ".err")
        self.rig._helpers.append(self.helper)
        self.helper.wait_line("ready", 30, "the MQTT subscriber in the router to subscribe")
        return self

    def __exit__(self, *exc):
        self.helper.stop()

    def messages(self):
        """Every message so far (complete lines only)."""
        with open(self.path) as f:
            f.seek(self._offset)
            data = f.read()
        end = data.rfind("\n") + 1
        for line in data[:end].splitlines():
            if line:
                self._messages.append(Message(json.loads(line)))
        self._offset += len(data[:end].encode())
        return list(self._messages)

    def traffic(self):
        """The result objects of every traffic message so far."""
        out = []
        for m in self.messages():
            if m.topic == "SPIN/traffic" and '"command":"traffic"' in m.payload:
                out.append(m.json()["result"])
        return out

    def commands(self, command):
        return [m.json() for m in self.messages()
                if m.topic == "SPIN/traffic" and ('"command":"%s"' % command) in m.payload]

    def status(self):
        """The last status document (result) on SPIN/stat/spind, or None."""
        last = None
        for m in self.messages():
            if m.topic == "SPIN/stat/spind" and m.payload:
                last = m
        return last.json()["result"] if last else None

    def component(self, name):
        """Counters of one component in the last status document ({} if none)."""
        s = self.status()
        if not s:
            return {}
        return s.get("components", {}).get(name, {}).get("counters", {})


class LiveSpind:
    """spind running in the router namespace (as root, with the rig's
    defaults: the local broker, LAN prefixes and interface, a private state
    directory, a status document every second)."""

    def __init__(self, rig, args, name="spind", defaults=True, prefix=()):
        self.rig = rig
        self.logfile = os.path.join(rig.workdir, "%s-%d.log" % (name, next(_rig_counter)))
        base = []
        if defaults:
            base = ["--http_port", "0", "--control_socket", "",
                    "--mqtt_port", str(MQTT_PORT), "--state_dir",
                    os.path.join(rig.workdir, "state"), "--stat_interval", "1",
                    "--lan_prefixes", "%s %s" % (LAN4, LAN6), "--lan_interfaces", "br-lan",
                    "--dhcp_config_file", "", "--dhcp_lease_files", ""]
        self.argv = list(prefix) + [SPIND] + base + list(args)
        self.proc = None

    def start(self):
        self.log = open(self.logfile, "w")
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.rig.router] + self.argv,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.rig._spinds.append(self)
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def pid(self):
        return self.proc.pid

    def output(self):
        with open(self.logfile, errors="replace") as f:
            return f.read()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_log(self, text, timeout=30):
        wait_for(lambda: text in self.output() or not self.running(), timeout,
                 "spind to log %r" % text)
        check(text in self.output(), "spind logs %r (exit %s):\n%s" %
              (text, self.proc.poll(), self.output()[-3000:]))

    def wait_started(self, timeout=30):
        self.wait_log("spind started", timeout)

    def wait_exit(self, timeout=60):
        return self.proc.wait(timeout=timeout)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Signals spind and waits; returns its exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.log.closed:
            self.log.close()
        return self.proc.returncode

    def cpu_seconds(self):
        """utime + stime of the whole process (all threads), in seconds."""
        return proc_cpu_seconds(self.proc.pid)


def proc_cpu_seconds(pid, tid=None):
    path = "/proc/%d/stat" % pid if tid is None else "/proc/%d/task/%d/stat" % (pid, tid)
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state): utime is field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Flow:
    """One test flow: a device talking to a service address over UDP or TCP
    on one service port, with an oracle counter per direction in the
    router's `inet spintest` table."""

    def __init__(self, name, device, family, proto, service_addr, port):
        self.name, self.device, self.family = name, device, family
        self.proto, self.service_addr, self.port = proto, service_addr, port
        self.device_addr = DEVICE_ADDRS[device][0 if family == 4 else 1]

    def rules(self):
        ip = "ip" if self.family == 4 else "ip6"
        up = "%s saddr %s %s daddr %s %s dport %d" % (ip, self.device_addr, ip,
                                                      self.service_addr, self.proto,
                                                      self.port)
        down = "%s saddr %s %s daddr %s %s sport %d" % (ip, self.service_addr, ip,
                                                        self.device_addr, self.proto,
                                                        self.port)
        return [(up, self.name + "_up"), (down, self.name + "_down")]


class Rig:
    """The four namespaces, the wan services, the broker and the oracle
    table. Use as a context manager; `close()` is idempotent."""

    def __init__(self, workdir, helper_limit=900):
        n = next(_rig_counter)
        tag = "%d-%d" % (os.getpid(), n)
        self.workdir = workdir
        self.helper_limit = helper_limit
        self.d1 = "spin-rig-d1-" + tag
        self.d2 = "spin-rig-d2-" + tag
        self.router = "spin-rig-router-" + tag
        self.wan = "spin-rig-wan-" + tag
        self.namespaces = [self.router, self.wan, self.d1, self.d2]
        self.devices = {"d1": self.d1, "d2": self.d2}
        self._helpers = []
        self._spinds = []
        self._created = []
        self._closed = False
        self.flows = {}
        self.broker = None

    # --- set-up ---------------------------------------------------------

    def __enter__(self):
        _install_cleanup()
        _live_rigs.append(self)
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def ip(self, ns, *args):
        return run("ip", "-n", ns, *args)

    def sh(self, ns, *args, input=None, timeout=60, check_rc=True):
        return run("ip", "netns", "exec", ns, *args, input=input, timeout=timeout,
                   check_rc=check_rc)

    def _build(self):
        for ns in self.namespaces:
            run("ip", "netns", "add", ns)
            self._created.append(ns)
            self.ip(ns, "link", "set", "lo", "up")
            # Before any interface exists (`default` applies to new ones): no
            # router solicitations, so the LAN stays quiet while tests count.
            self.sh(ns, "sysctl", "-q", "-w", "net.ipv6.conf.default.router_solicitations=0")
        r = self.router
        self.sh(r, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1",
                "net.ipv6.conf.all.forwarding=1")
        self.ip(r, "link", "add", "br-lan", "type", "bridge")
        self.ip(r, "link", "set", "br-lan", "address", ROUTER_LAN_MAC)
        for dev, ns in self.devices.items():
            port = "lan-" + dev
            self.ip(r, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
            self.ip(ns, "link", "set", "eth0", "address", DEVICE_MACS[dev])
            self.ip(r, "link", "set", port, "master", "br-lan")
            self.ip(r, "link", "set", port, "up")
        self.ip(r, "link", "add", "wan0", "type", "veth", "peer", "name", "eth0", "netns",
                self.wan)
        self.ip(r, "link", "set", "wan0", "address", ROUTER_WAN_MAC)
        self.ip(self.wan, "link", "set", "eth0", "address", WAN_MAC)
        self.ip(r, "addr", "add", ROUTER_LAN4 + "/24", "dev", "br-lan")
        self.ip(r, "addr", "add", ROUTER_LAN6 + "/64", "dev", "br-lan", "nodad")
        self.ip(r, "addr", "add", ROUTER_WAN4 + "/24", "dev", "wan0")
        self.ip(r, "addr", "add", ROUTER_WAN6 + "/64", "dev", "wan0", "nodad")
        self.ip(r, "link", "set", "br-lan", "up")
        self.ip(r, "link", "set", "wan0", "up")
        for dev, ns in self.devices.items():
            v4, v6 = DEVICE_ADDRS[dev]
            self.ip(ns, "addr", "add", v4 + "/24", "dev", "eth0")
            self.ip(ns, "addr", "add", v6 + "/64", "dev", "eth0", "nodad")
            self.ip(ns, "link", "set", "eth0", "up")
            self.ip(ns, "route", "add", "default", "via", ROUTER_LAN4)
            self.ip(ns, "-6", "route", "add", "default", "via", ROUTER_LAN6)
            for addr in (ROUTER_LAN4, ROUTER_LAN6):
                self.ip(ns, "neigh", "replace", addr, "lladdr", ROUTER_LAN_MAC, "dev", "eth0",
                        "nud", "permanent")
            for addr in (v4, v6):
                self.ip(r, "neigh", "replace", addr, "lladdr", DEVICE_MACS[dev], "dev",
                        "br-lan", "nud", "permanent")
        w = self.wan
        self.ip(w, "addr", "add", WAN4 + "/24", "dev", "eth0")
        self.ip(w, "addr", "add", WAN6 + "/64", "dev", "eth0", "nodad")
        for a in SERVICE4:
            self.ip(w, "addr", "add", a + "/32", "dev", "eth0")
        for a in SERVICE6:
            self.ip(w, "addr", "add", a + "/128", "dev", "eth0", "nodad")
        self.ip(w, "link", "set", "eth0", "up")
        self.ip(w, "route", "add", "default", "via", ROUTER_WAN4)
        self.ip(w, "-6", "route", "add", "default", "via", ROUTER_WAN6)
        for addr in (ROUTER_WAN4, ROUTER_WAN6):
            self.ip(w, "neigh", "replace", addr, "lladdr", ROUTER_WAN_MAC, "dev", "eth0", "nud",
                    "permanent")
        self.ip(r, "route", "add", "10.200.1.0/24", "via", WAN4)
        self.ip(r, "-6", "route", "add", "fd99:1::/64", "via", WAN6)
        for addr in [WAN4, WAN6]:
            self.ip(r, "neigh", "replace", addr, "lladdr", WAN_MAC, "dev", "wan0", "nud",
                    "permanent")

        # The oracle. `ct state` makes the namespace track connections, as a
        # router's firewall does.
        self.nft("-f", "-", input="""
table inet spintest {
  counter forwarded {}
  chain forward {
    type filter hook forward priority 0; policy accept;
    ct state new counter
    counter name "forwarded"
  }
}
""")
        wan = Helper(w, [PY, SCRIPT, "helper", "wan", str(self.helper_limit)],
                     stderr_path=os.path.join(self.workdir, "wan-%s.err" % w))
        self._helpers.append(wan)
        wan.wait_line("ready", 30, "the wan services to start")

        conf = os.path.join(self.workdir, "mosquitto-%s.conf" % r)
        with open(conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\n" % MQTT_PORT)
            f.write("max_queued_messages 0\nmax_queued_bytes 0\npersistence false\n")
        self.broker = Helper(r, ["mosquitto", "-c", conf],
                             stderr_path=os.path.join(self.workdir, "mosquitto-%s.log" % r),
                             graceful=False)
        self._helpers.append(self.broker)
        # Reachability: both devices reach the resolver over IPv4 and IPv6.
        for ns in self.devices.values():
            self.sh(ns, "ping", "-q", "-c", "1", "-W", "5", WAN4)
            self.sh(ns, "ping", "-q", "-6", "-c", "1", "-W", "5", WAN6)

    # --- tear-down ------------------------------------------------------

    def close(self):
        if self._closed:
            return
        self._closed = True
        for s in self._spinds:
            try:
                s.stop(timeout=10)
            except Exception:  # noqa: BLE001 - clean up whatever is left
                pass
        for h in reversed(self._helpers):
            try:
                h.stop(timeout=5)
            except Exception:  # noqa: BLE001
                pass
        for ns in reversed(self._created):
            # Anything a test started in the namespace and left behind.
            p = subprocess.run(["ip", "netns", "pids", ns], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
            for pid in p.stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
        if self in _live_rigs:
            _live_rigs.remove(self)

    # --- the oracle -----------------------------------------------------

    def nft(self, *args, input=None):
        return self.sh(self.router, "nft", *args, input=input).stdout

    def add_flow(self, name, device, family, proto, service_addr, port):
        """Adds the oracle counters <name>_up and <name>_down for one flow."""
        f = Flow(name, device, family, proto, service_addr, port)
        text = ""
        for match, counter in f.rules():
            text += "add counter inet spintest %s\n" % counter
            text += "add rule inet spintest forward %s counter name \"%s\"\n" % (match, counter)
        self.nft("-f", "-", input=text)
        self.flows[name] = f
        return f

    def counters(self):
        """{counter name: (packets, bytes)} of the oracle table."""
        out = json.loads(self.nft("-j", "list", "counters", "table", "inet", "spintest"))
        return {c["counter"]["name"]: (c["counter"]["packets"], c["counter"]["bytes"])
                for c in out["nftables"] if "counter" in c}

    def flow_counters(self, name):
        """((up packets, up bytes), (down packets, down bytes)) of a flow."""
        c = self.counters()
        return c[name + "_up"], c[name + "_down"]

    def tables(self):
        """[(family, name)] of every nftables table in the router."""
        out = json.loads(self.nft("-j", "list", "tables"))
        return [(o["table"]["family"], o["table"]["name"]) for o in out["nftables"]
                if "table" in o]

    def conntrack_list(self):
        """The router's conntrack table as parsed `conntrack -L` lines:
        {(proto, src, dst, sport, dport): (orig packets, orig bytes, reply
        packets, reply bytes)} (counters 0 while accounting is off)."""
        p = self.sh(self.router, "conntrack", "-L", check_rc=False)
        out = {}
        for line in p.stdout.splitlines():
            f = line.split()
            if len(f) < 3:
                continue
            kv = [x.split("=", 1) for x in f if "=" in x]
            first = {}
            counts = []
            for k, v in kv:
                if k in ("src", "dst", "sport", "dport") and k not in first:
                    first[k] = v
                elif k in ("packets", "bytes"):
                    counts.append(int(v))
            if len(first) < 2:
                continue
            key = (f[0], first.get("src"), first.get("dst"), first.get("sport", "-"),
                   first.get("dport", "-"))
            out[key] = tuple(counts + [0] * (4 - len(counts)))[:4]
        return out

    # --- traffic --------------------------------------------------------

    def client(self, device, spec, timeout=120):
        """Runs the client helper in a device; returns its JSON result."""
        p = self.sh(self.devices[device], PY, SCRIPT, "helper", "client", json.dumps(spec),
                    timeout=timeout)
        return json.loads(p.stdout.strip().splitlines()[-1])

    def resolver(self, family=4):
        return WAN4 if family == 4 else WAN6

    def udp(self, device, name, family, port, count, size, dns_family=4, dns_tcp=False):
        """A device resolves `name` and sends `count` datagrams of `size`
        bytes to the answered address, each answered by the service."""
        return self.client(device, {"dns": self.resolver(dns_family), "dns_tcp": dns_tcp,
                                    "name": name, "family": family, "proto": "udp",
                                    "port": port, "count": count, "size": size})

    def tcp(self, device, name, family, port, nbytes, dns_family=4, dns_tcp=False):
        """A device resolves `name`, opens one TCP connection to the answered
        address, sends `nbytes` and reads the service's answer."""
        return self.client(device, {"dns": self.resolver(dns_family), "dns_tcp": dns_tcp,
                                    "name": name, "family": family, "proto": "tcp",
                                    "port": port, "bytes": nbytes})

    def lookup(self, device, name, dns_family=4, dns_tcp=False):
        return self.client(device, {"dns": self.resolver(dns_family), "dns_tcp": dns_tcp,
                                    "name": name, "proto": "none"})

    def blast(self, device, dst, port, pps, seconds, size=18, count=0, timeout=None,
              prefix=()):
        """spin-udp-blast in a device (bounded by `seconds` and `count`);
        returns its result line as a dict. `prefix` runs it through another
        command (e.g. taskset)."""
        check(UDP_BLAST and os.access(UDP_BLAST, os.X_OK),
              "SPIN_UDP_BLAST names the spin-udp-blast binary")
        args = list(prefix) + [UDP_BLAST, "--dst", dst, "--port", str(port), "--pps",
                               str(pps), "--seconds", str(seconds), "--size", str(size)]
        if count:
            args += ["--count", str(count)]
        p = self.sh(self.devices[device], *args, timeout=timeout or seconds + 60)
        line = p.stdout.strip().splitlines()[-1]
        return {k: float(v) for k, v in (kv.split("=") for kv in line.split())}

    def spind(self, args, **kw):
        return LiveSpind(self, args, **kw)

    def subscriber(self):
        return RouterSubscriber(self)


# ---------------------------------------------------------------------------
# Reading spind's traffic messages
# ---------------------------------------------------------------------------

def pair_totals(reports, mac, service_addrs, port=None, proto=None):
    """Sums the flows between the device with `mac` and the node holding one
    of `service_addrs` over all `reports` (traffic results):
    {"up": [packets, bytes], "down": [packets, bytes], "domains": set of
    domain lists seen on the service node, "macs": MACs seen on the device
    node}. Only flows with the given service `port` / `protocol` when set."""
    addrs = set(service_addrs)
    out = {"up": [0, 0], "down": [0, 0], "domains": set(), "nodes": set()}
    for r in reports:
        for f in r["flows"]:
            if port is not None and f["port"] != port:
                continue
            if proto is not None and f["protocol"] != proto:
                continue
            for direction, dev, svc in (("up", f["from"], f["to"]),
                                        ("down", f["to"], f["from"])):
                if dev.get("mac") == mac and addrs & set(svc["ips"]):
                    out[direction][0] += f["count"]
                    out[direction][1] += f["size"]
                    out["domains"].add(tuple(sorted(svc["domains"])))
                    out["nodes"].add(svc["id"])
    return out


def flows_touching(reports, addrs):
    """Every flow (as JSON text) whose from or to node holds one of `addrs`,
    for failure messages."""
    addrs = set(addrs)
    out = []
    for r in reports:
        for f in r["flows"]:
            if addrs & (set(f["from"]["ips"]) | set(f["to"]["ips"])):
                out.append("%d: %s" % (r["timestamp"], json.dumps(f, sort_keys=True)))
    return out


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "helper":
        helper_main(sys.argv[2:])
    else:
        print(__doc__)
        print("usage: rig.py helper wan|client|mqtt-sub ARGS (run by the rig itself)")
        sys.exit(2)
