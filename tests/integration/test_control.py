#!/usr/bin/env python3
"""Control, end to end, with real packets (doc/control.md): spind runs in the
router of the live rig (rig.py) with its nftables table; commands arrive over
MQTT (SPIN/commands, SPIN/jsonrpc/q) from a client in the router and over
spind's UNIX socket from spinctl; pings and TCP connections between the
devices and the wan services show what the firewall does.

1. block, allow, pair: add_block_node on a service stops ping and TCP from a
   device to every address of that node (IPv4 and IPv6) at once, a `blocked`
   message names both nodes, other services stay reachable; a new DNS answer
   gives the blocked node a new address, which is dropped too; unblocking
   removes exactly what the block added; an allowed device passes a block
   while another device does not; a node-pair block stops exactly that pair,
   both directions.
2. every SPIN/commands name and alias, and every JSON-RPC method through
   spinctl; malformed requests get errors and change nothing (the lists and
   the state file are compared before and after).
3. crash safety: SIGKILL right after an acknowledged command, restart: the
   list is intact and enforced before spind reports traffic, with exactly
   one `inet spin` table; a state file cut mid-write is moved aside with a
   log line; passive mode changes no firewall state.

Needs root (namespaces, nftables, NFLOG); prints SKIP and exits 77 otherwise.
Every namespace and process is removed afterwards, also on failure. No check
depends on timing except the issue's own "fails within one second", which is
a one-second timeout on each probe."""

import glob
import json
import os
import signal
import socket
import stat
import struct
import subprocess
import sys
import time

from spintest import SPIND, Workdir, check, main, wait_for

import rig
from rig import DEVICE_ADDRS, DEVICE_MACS, PY, SERVICE4, SERVICE6, Rig

SPINCTL = os.environ.get("SPINCTL", "")
NEW_ADDR = "10.200.1.9"     # svc1.test gains this address through a new answer
FAKE_DNS = "10.200.0.53"    # where that answer comes from
D1_4, D1_6 = DEVICE_ADDRS["d1"]
D2_4, D2_6 = DEVICE_ADDRS["d2"]


# --- probes ---------------------------------------------------------------

def ping(r, ns, dst, src=None):
    """True if one echo request is answered within one second."""
    args = ["ping", "-n", "-q", "-c", "1", "-W", "1"]
    if src:
        args += ["-I", src]
    return r.sh(ns, *args, dst, check_rc=False, timeout=10).returncode == 0


def tcp_ok(r, ns, dst, port=8001):
    """True if a TCP connection to dst:port is set up within one second."""
    code = ("import socket,sys\n"
            "s=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=1)\n"
            "s.close()\n")
    return r.sh(ns, PY, "-c", code, dst, str(port), check_rc=False,
                timeout=10).returncode == 0


def dns_response(name, addr, qid=0x4242):
    """A DNS answer message: `name` A `addr`, TTL 300."""
    q = rig.dns_name(name) + struct.pack("!HH", 1, 1)
    rr = rig.dns_name(name) + struct.pack("!HHIH", 1, 1, 300, 4) + socket.inet_aton(addr)
    return struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0) + q + rr


def send_answer(r, name, addr):
    """Sends a DNS answer from FAKE_DNS:53 in the wan to d1, through the
    router, where spind reads it like any other answer."""
    code = ("import socket,sys\n"
            "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
            "s.bind((sys.argv[1],53))\n"
            "s.sendto(bytes.fromhex(sys.argv[3]),(sys.argv[2],33333))\n")
    r.sh(r.wan, PY, "-c", code, FAKE_DNS, D1_4, dns_response(name, addr).hex())


# --- control clients ------------------------------------------------------

def mqtt_publish(r, topic, payload):
    """Publishes one message from a client in the router (the broker's
    namespace)."""
    code = ("import sys, paho.mqtt.publish as p\n"
            "p.single(sys.argv[1], sys.argv[2], hostname='127.0.0.1', port=%d)\n" %
            rig.MQTT_PORT)
    r.sh(r.router, PY, "-c", code, topic, payload)


class Ctl:
    """spinctl against spind's socket."""

    def __init__(self, sock):
        self.sock = sock

    def raw(self, *args):
        p = subprocess.run([SPINCTL, "--socket", self.sock] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=30)
        return p.returncode, p.stdout, p.stderr

    def __call__(self, method, *params):
        rc, out, err = self.raw(method, *params)
        check(rc == 0, "spinctl %s %s succeeds (exit %d): %s" % (method, " ".join(params),
                                                                 rc, err.strip()))
        return json.loads(out)

    def fails(self, method, *params, code=None):
        rc, out, err = self.raw(method, *params)
        check(rc == 1, "spinctl %s %s fails with exit 1 (got %d): %s %s" %
              (method, " ".join(params), rc, out, err))
        if code is not None:
            check("(code %d)" % code in err, "spinctl %s: error code %d: %s" %
                  (method, code, err.strip()))
        return err

    def lists(self):
        """Every list and the pairs, for before/after comparisons."""
        return {k: sorted(self("list_iplist", "list=" + k)) for k in ("block", "allow", "ignore")
                } | {"pairs": self("get_flow_block")}


class Legacy:
    """SPIN/commands over MQTT, replies read from the subscriber."""

    def __init__(self, r, sub):
        self.r, self.sub = r, sub

    def count(self, command):
        return len(self.sub.commands(command))

    def send(self, command, argument=None, raw=None):
        payload = raw if raw is not None else json.dumps(
            {"command": command} if argument is None else
            {"command": command, "argument": argument})
        mqtt_publish(self.r, "SPIN/commands", payload)

    def ask(self, command, argument, reply, pred=lambda m: True, timeout=15):
        """Sends a command and waits for a new `reply` message that satisfies
        `pred`; returns it."""
        before = self.count(reply)
        self.send(command, argument)
        found = []

        def arrived():
            new = self.sub.commands(reply)[before:]
            found[:] = [m for m in new if pred(m)]
            return bool(found)
        wait_for(arrived, timeout, "a %s message after %s %r" % (reply, command, argument))
        return found[-1]

    def error(self, raw_or_command, argument=None, contains=""):
        before = self.count("error")
        if argument is None and raw_or_command.startswith(("{", "[", "n")):
            self.send(None, raw=raw_or_command)
        else:
            self.send(raw_or_command, argument)
        wait_for(lambda: self.count("error") > before, 15,
                 "an error reply to %r %r" % (raw_or_command, argument))
        msg = self.sub.commands("error")[-1]["argument"]
        check(contains in msg, "the error %r says %r" % (msg, contains))
        return msg


# --- nodes as the subscriber saw them ---------------------------------------

def node_infos(sub):
    out = {}
    for m in sub.messages():
        if m.topic.startswith("SPIN/traffic/node/") and m.payload:
            n = m.json()["result"]
            out[n["id"]] = n
    return out


def wait_node(sub, pred, what, timeout=30):
    found = []

    def seen():
        found[:] = [n for n in node_infos(sub).values() if pred(n)]
        return bool(found)
    wait_for(seen, timeout, what)
    return found[-1]


def service_node(sub, a4, a6):
    return wait_node(sub, lambda n: a4 in n["ips"] and a6 in n["ips"],
                     "a node with %s and %s" % (a4, a6))["id"]


def device_node(sub, dev):
    return wait_node(sub, lambda n: n.get("mac") == DEVICE_MACS[dev],
                     "the device node of %s" % dev)["id"]


def start_spind(r, sock, extra=()):
    sp = r.spind(["--source", "nflog", "--nflog_per_packet", "on", "--control_socket", sock,
                  "--state_write_interval", "1"] + list(extra)).start()
    sp.wait_started()
    return sp


def meet(r, sub):
    """Traffic that makes d1, d2, svc1 and svc3 nodes; returns their ids."""
    r.udp("d1", "svc1.test", 4, 7001, 2, 40)
    r.udp("d1", "svc1.test", 6, 7001, 2, 40)
    r.udp("d1", "svc3.test", 4, 7002, 2, 40)
    r.udp("d2", "svc3.test", 6, 7002, 2, 40)
    r.udp("d2", "svc1.test", 4, 7003, 2, 40)
    return {"d1": device_node(sub, "d1"), "d2": device_node(sub, "d2"),
            "svc1": service_node(sub, SERVICE4[0], SERVICE6[0]),
            "svc3": service_node(sub, SERVICE4[2], SERVICE6[2])}


def router_addresses(r):
    """Every address of the router's interfaces, now."""
    out = set()
    for link in json.loads(r.sh(r.router, "ip", "-j", "addr").stdout):
        for a in link.get("addr_info", []):
            out.add(a["local"])
    return out


def last_list(sub, name):
    msgs = sub.commands(name)
    return sorted(msgs[-1]["result"]) if msgs else None


def wait_list(sub, name, pred, what):
    wait_for(lambda: last_list(sub, name) is not None and pred(set(last_list(sub, name))),
             15, "the %s broadcast: %s" % (name, what))


def set_elements(r, name):
    """Elements of a set of spind's table, as text."""
    out = json.loads(r.nft("-j", "list", "set", "inet", "spin", name))
    for o in out["nftables"]:
        if "set" in o:
            return [json.dumps(e, sort_keys=True) for e in o["set"].get("elem", [])]
    return []


# --- 1. block, allow, pair --------------------------------------------------

def test_block_allow_pair():
    with Workdir() as wd, Rig(wd) as r, r.subscriber() as sub:
        sock = os.path.join(wd, "spind.sock")
        sp = start_spind(r, sock)
        ids = meet(r, sub)
        legacy = Legacy(r, sub)
        ctl = Ctl(sock)
        svc1 = (SERVICE4[0], SERVICE6[0])
        for a in svc1:
            check(ping(r, r.d1, a), "before any block, d1 reaches %s" % a)
        check(tcp_ok(r, r.d1, SERVICE4[0]), "before any block, d1 connects to svc1")

        # Block the node of svc1.test: both of its addresses, at once.
        legacy.send("add_block_node", ids["svc1"])
        wait_list(sub, "blocks", lambda s: set(svc1) <= s, "svc1's addresses are blocked")
        for a in svc1:
            check(not ping(r, r.d1, a), "blocked: d1 cannot ping %s" % a)
        check(not tcp_ok(r, r.d1, SERVICE4[0]), "blocked: no TCP from d1 to svc1 (IPv4)")
        check(not tcp_ok(r, r.d1, SERVICE6[0]), "blocked: no TCP from d1 to svc1 (IPv6)")
        check(ping(r, r.d1, SERVICE4[2]) and tcp_ok(r, r.d1, SERVICE4[2]),
              "svc3 stays reachable")
        blocked = []

        def seen_blocked():
            blocked[:] = [m["result"] for m in sub.commands("blocked")
                          if m["result"]["from"].get("mac") == DEVICE_MACS["d1"]
                          and SERVICE4[0] in m["result"]["to"]["ips"]]
            return bool(blocked)
        wait_for(seen_blocked, 15, "a blocked message from d1 to svc1")
        check(blocked[0]["from"]["id"] == ids["d1"] and blocked[0]["to"]["id"] == ids["svc1"],
              "the blocked message names both nodes: %s" % blocked[0])
        check(ctl("get_device_data", "node=%d" % ids["svc1"]).get("is_blocked") is True,
              "the node is_blocked")

        # The blocked node gains an address through a new DNS answer.
        r.ip(r.wan, "addr", "add", NEW_ADDR + "/32", "dev", "eth0")
        r.ip(r.wan, "addr", "add", FAKE_DNS + "/32", "dev", "eth0")
        check(ping(r, r.d1, NEW_ADDR), "the new address answers before the DNS answer")
        send_answer(r, "svc1.test", NEW_ADDR)
        wait_list(sub, "blocks", lambda s: NEW_ADDR in s, "the new address is blocked too")
        check(not ping(r, r.d1, NEW_ADDR), "the blocked node's new address is dropped")

        # Unblock (the web client's alias, a numeric string id): exactly what
        # the block added goes, and traffic flows again.
        legacy.send("stopblockdata", str(ids["svc1"]))
        wait_list(sub, "blocks", lambda s: not s, "the block list is empty again")
        check(set_elements(r, "block4") == [] and set_elements(r, "block6") == [],
              "the firewall's block sets are empty")
        for a in svc1 + (NEW_ADDR,):
            check(ping(r, r.d1, a), "unblocked: d1 reaches %s again" % a)

        # Allow beats block: d1 allowed, svc1 blocked.
        legacy.send("blockdata", ids["svc1"])
        wait_list(sub, "blocks", lambda s: set(svc1) <= s, "svc1 blocked again")
        legacy.send("allowdata", ids["d1"])
        wait_list(sub, "alloweds", lambda s: {D1_4, D1_6} <= s, "d1 is allowed")
        check(ping(r, r.d1, SERVICE4[0]) and ping(r, r.d1, SERVICE6[0]),
              "the allowed device passes the block")
        check(not ping(r, r.d2, SERVICE4[0]), "another device does not")
        check(ctl("get_device_data", "node=%d" % ids["d1"]).get("is_excepted") is True,
              "d1 is_excepted")
        legacy.send("stopallowdata", ids["d1"])
        wait_list(sub, "allows", lambda s: not s, "the allow list is empty again")
        check(not ping(r, r.d1, SERVICE4[0]), "without the allow, d1 is blocked again")
        legacy.send("remove_block_node", ids["svc1"])
        wait_list(sub, "blocks", lambda s: not s, "the block list is empty again")

        # A node-pair block: d1 <-> svc3 only, both directions, both families.
        ctl("set_flow_block", "node1=%d" % ids["d1"], "node2=%d" % ids["svc3"], "block:=true")
        pairs = ctl("get_flow_block")
        check(len(pairs) == 1 and {pairs[0]["node1"], pairs[0]["node2"]} ==
              {ids["d1"], ids["svc3"]}, "get_flow_block shows the pair: %s" % pairs)
        check(not ping(r, r.d1, SERVICE4[2]) and not ping(r, r.d1, SERVICE6[2]),
              "the pair is blocked from d1 to svc3")
        check(not ping(r, r.wan, D1_4, src=SERVICE4[2]), "and from svc3 to d1")
        check(ping(r, r.d2, SERVICE4[2]), "d2 still reaches svc3")
        check(ping(r, r.d1, SERVICE4[0]), "d1 still reaches svc1")
        check(ping(r, r.wan, D2_4, src=SERVICE4[2]), "svc3 still reaches d2")
        ctl("set_flow_block", "node1=%d" % ids["svc3"], "node2=%d" % ids["d1"], "block=0")
        check(ctl("get_flow_block") == [], "the pair block is gone")
        check(ping(r, r.d1, SERVICE4[2]), "d1 reaches svc3 again")
        check(sp.stop() == 0, "spind stops cleanly:\n" + sp.output()[-3000:])


# --- 2. every command -------------------------------------------------------

def test_every_command():
    with Workdir() as wd, Rig(wd) as r, r.subscriber() as sub:
        sock = os.path.join(wd, "spind.sock")
        sp = start_spind(r, sock)
        mode = stat.S_IMODE(os.stat(sock).st_mode)
        check(mode == 0o600, "the control socket is mode 0600 (got %o)" % mode)
        ids = meet(r, sub)
        legacy = Legacy(r, sub)
        ctl = Ctl(sock)
        svc1 = {SERVICE4[0], SERVICE6[0]}
        svc3 = {SERVICE4[2], SERVICE6[2]}

        # Every SPIN/commands name and alias.
        for name, reply in (("get_blocks", "blocks"), ("get_ignores", "ignores"),
                            ("get_filters", "filters"), ("get_alloweds", "alloweds"),
                            ("get_allows", "allows"), ("get_names", "names")):
            legacy.ask(name, None, reply)
        # The router's own addresses, as the kernel has them now (link-local
        # addresses of new interfaces may still be appearing).
        seen = []

        def own_addresses():
            seen[:] = [set(legacy.ask("get_ignores", None, "ignores")["result"]),
                       router_addresses(r)]
            return seen[0] == seen[1]
        try:
            wait_for(own_addresses, 30, "the ignore list to be the router's own addresses",
                     interval=0.5)
        except Exception:
            print("  ignore list - router: %s; router - ignore list: %s" %
                  (seen[0] - seen[1], seen[1] - seen[0]), flush=True)
            raise
        ignores = router_addresses(r)
        check(rig.ROUTER_LAN4 in ignores and rig.ROUTER_WAN6 in ignores,
              "by default the router's own addresses are ignored: %s" % ignores)
        for add, remove in (("add_block_node", "remove_block_node"),
                            ("blockdata", "stopblockdata")):
            legacy.ask(add, ids["svc1"], "blocks", lambda m: svc1 <= set(m["result"]))
            legacy.ask(remove, str(ids["svc1"]), "blocks", lambda m: not m["result"])
        legacy.ask("add_block_node", ids["svc1"], "blocks", lambda m: svc1 <= set(m["result"]))
        legacy.ask("remove_block_ip", SERVICE6[0], "blocks",
                   lambda m: m["result"] == [SERVICE4[0]])
        legacy.ask("remove_block_ip", SERVICE4[0], "blocks", lambda m: not m["result"])
        for add, (remove, arg) in (("add_ignore_node", ("remove_ignore_node", ids["svc3"])),
                                   ("add_filter", ("remove_filter", SERVICE4[2])),
                                   ("add_ignore_node", ("remove_ignore_ip", SERVICE4[2]))):
            legacy.ask(add, ids["svc3"], "filters", lambda m: svc3 <= set(m["result"]))
            legacy.ask(remove, arg, "ignores", lambda m: SERVICE4[2] not in m["result"])
        for reset in ("reset_ignores", "reset_filters"):
            legacy.ask("add_filter", ids["svc3"], "ignores", lambda m: svc3 <= set(m["result"]))
            legacy.ask(reset, None, "filters",
                       lambda m: set(m["result"]) == router_addresses(r))
        for add, remove in (("add_allow_node", "remove_allow_node"),
                            ("allowdata", "stopallowdata")):
            legacy.ask(add, ids["d2"], "allows", lambda m: D2_4 in m["result"])
            legacy.ask(remove, ids["d2"], "alloweds", lambda m: not m["result"])
        legacy.ask("add_allow_node", ids["d2"], "allows", lambda m: D2_4 in m["result"])
        legacy.ask("remove_allow_ip", D2_4, "allows", lambda m: D2_4 not in m["result"])
        legacy.ask("remove_allow_ip", D2_6, "allows", lambda m: not m["result"])
        names = legacy.ask("add_name", {"node_id": str(ids["d1"]), "name": "thermostat"},
                           "names", lambda m: m["result"].get(D1_4) == "thermostat")
        check(names["result"].get(D1_6) == "thermostat", "every address of d1 is named")
        before = len([m for m in sub.messages()
                      if m.topic == "SPIN/traffic/node/%d" % ids["d1"]])
        legacy.send("missingNodeInfo", ids["d1"])
        wait_for(lambda: len([m for m in sub.messages()
                              if m.topic == "SPIN/traffic/node/%d" % ids["d1"]]) > before,
                 15, "missingNodeInfo republishes the node")
        check(node_infos(sub)[ids["d1"]].get("name") == "thermostat", "with its new name")
        h = legacy.ask("ip2hostname", SERVICE4[0], "ip2hostname")
        check(h["argument"] == SERVICE4[0] and h["result"] == ["svc1.test"],
              "ip2hostname: %s" % h)

        # JSON-RPC over MQTT.
        before = len([m for m in sub.messages() if m.topic == "SPIN/jsonrpc/a"])
        mqtt_publish(r, "SPIN/jsonrpc/q", json.dumps(
            {"jsonrpc": "2.0", "id": "q1", "method": "list_iplist", "params": {"list": "ignore"}}))
        wait_for(lambda: len([m for m in sub.messages() if m.topic == "SPIN/jsonrpc/a"]) > before,
                 15, "a JSON-RPC answer on SPIN/jsonrpc/a")
        a = [m for m in sub.messages() if m.topic == "SPIN/jsonrpc/a"][-1].json()
        check(a["id"] == "q1" and set(a["result"]) == router_addresses(r),
              "JSON-RPC over MQTT: %s" % a)

        # Every JSON-RPC method through spinctl.
        methods = {m["name"] for m in ctl("list_rpc_methods")}
        want = {"list_rpc_methods", "list_devices", "get_device_data", "list_device_flows",
                "set_device_name", "add_iplist_node", "remove_iplist_node", "add_iplist_ip",
                "remove_iplist_ip", "list_iplist", "reset_iplist_ignore", "set_flow_block",
                "get_flow_block"}
        check(want <= methods, "list_rpc_methods lists %s" % sorted(want - methods))
        macs = {d.get("mac") for d in ctl("list_devices")}
        check(set(DEVICE_MACS.values()) <= macs, "list_devices: %s" % macs)
        d1 = ctl("get_device_data", "node=%d" % ids["d1"])
        check(d1["mac"] == DEVICE_MACS["d1"] and d1["name"] == "thermostat",
              "get_device_data: %s" % d1)
        flows = ctl("list_device_flows", "device=" + DEVICE_MACS["d1"])
        check(any(SERVICE4[0] in f["to"]["ips"] and f["dst_port"] == 7001 and f["packets"] > 0
                  for f in flows), "list_device_flows shows d1 -> svc1:7001: %s" % flows)
        check(ctl("set_device_name", "node=%d" % ids["d2"], "name=tv") is None,
              "set_device_name")
        check(ctl("get_device_data", "node=%d" % ids["d2"])["name"] == "tv", "d2 is named tv")
        ctl("add_iplist_node", "list=block", "node=%d" % ids["svc3"])
        check(svc3 <= set(ctl("list_iplist", "list=block")), "add_iplist_node")
        check(not ping(r, r.d1, SERVICE4[2]), "add_iplist_node blocks")
        ctl("remove_iplist_node", "list=block", "node=%d" % ids["svc3"])
        check(ctl("list_iplist", "list=block") == [], "remove_iplist_node")
        ctl("add_iplist_ip", "list=allow", "ip=" + D2_6)
        check(ctl("list_iplist", "list=allow") == [D2_6], "add_iplist_ip")
        ctl("remove_iplist_ip", "list=allow", "ip=" + D2_6)
        check(ctl("list_iplist", "list=allow") == [], "remove_iplist_ip")
        ctl("add_iplist_ip", "list=ignore", "ip=" + SERVICE4[1])
        ctl("reset_iplist_ignore")
        check(set(ctl("list_iplist", "list=ignore")) == router_addresses(r),
              "reset_iplist_ignore")
        ctl("set_flow_block", "node1=%d" % ids["d2"], "node2=%d" % ids["svc1"], "block=1")
        check(len(ctl("get_flow_block")) == 1, "set_flow_block / get_flow_block")
        check(not ping(r, r.d2, SERVICE4[0]) and ping(r, r.d1, SERVICE4[0]),
              "the pair block holds")

        # Profiles (JSON-RPC extensions): per device, following its addresses.
        d2mac = "device=" + DEVICE_MACS["d2"]
        ctl("set_device_profile", d2mac, "profile=ipv4_only")
        check(ping(r, r.d2, SERVICE4[2]) and not ping(r, r.d2, SERVICE6[2]),
              "ipv4_only: d2 keeps IPv4 and loses IPv6")
        ctl("set_device_profile", d2mac, "profile=deny_all")
        check(not ping(r, r.d2, SERVICE4[2]) and ping(r, r.d1, SERVICE4[2]),
              "deny_all: d2 reaches nothing, d1 still does")
        profiles = ctl("list_profiles")
        check({p["id"] for p in profiles["profiles"]} ==
              {"allow_all", "deny_all", "ipv4_only", "ipv6_only", "blocked_by_ad"} and
              profiles["devices"] == {DEVICE_MACS["d2"]: "deny_all"},
              "list_profiles: %s" % profiles)
        ctl.fails("set_device_profile", d2mac, "profile=nonsense", code=-32602)
        ctl("set_device_profile", d2mac, "profile=allow_all")
        check(ping(r, r.d2, SERVICE4[2]) and ping(r, r.d2, SERVICE6[2]),
              "allow_all: d2 reaches svc3 again")
        check(ctl("list_profiles")["devices"] == {}, "no device has a profile")

        # Malformed requests: errors, and nothing changes.
        state_path = os.path.join(wd, "state", "state.json")
        lists_before = ctl.lists()
        with open(state_path) as f:
            state_before = f.read()
        legacy.error("add_block_node", "abc", "node id")
        legacy.error("add_block_node", -3, "node id")
        legacy.error("blockdata", None, "node id")
        legacy.error("add_block_node", 99999, "unknown node 99999")
        legacy.error("remove_block_ip", "300.1.1.1", "")
        legacy.error("remove_block_ip", SERVICE4[1], "not on the block list")
        legacy.error("remove_allow_node", ids["d1"], "not on the allow list")
        legacy.error("add_name", {"node_id": ids["d1"]}, "")
        legacy.error("add_name", {"node_id": ids["d1"], "name": 7}, "")
        legacy.error("no_such_command", 1, "Unknown command: no_such_command")
        legacy.error('{"command": 5}', None, "")
        legacy.error("not json at all", None, "")
        legacy.error('["add_block_node", 1]', None, "")
        ctl.fails("no_such_method", code=-32601)
        ctl.fails("list_iplist", "list=b", code=-32602)
        ctl.fails("list_iplist", code=-32602)
        ctl.fails("add_iplist_ip", "list=block", "ip=1.2.3", code=-32602)
        ctl.fails("add_iplist_node", "list=block", "node=99999", code=-32602)
        ctl.fails("set_flow_block", "node1=%d" % ids["d1"], "node2=%d" % ids["d1"],
                  "block=1", code=-32602)
        ctl.fails("set_flow_block", "node1=%d" % ids["d1"], "node2=%d" % ids["svc3"],
                  "block=0", code=-32602)
        ctl.fails("list_device_flows", "device=ff:ff:ff:ff:ff:ff", code=-32602)
        rc, out, err = ctl.raw("--raw", "{not json")
        check(rc == 1 and "-32700" in err, "spinctl --raw with bad JSON: %d %s %s" %
              (rc, out, err))
        check(ctl.lists() == lists_before, "malformed requests changed no list")
        with open(state_path) as f:
            check(f.read() == state_before, "malformed requests changed no saved state")
        check(sp.running(), "spind is still running")
        check(sp.stop() == 0, "spind stops cleanly:\n" + sp.output()[-3000:])


# --- 3. crash safety, corrupt state, passive ---------------------------------

def count_spin_tables(r):
    return sum(1 for fam, name in r.tables() if (fam, name) == ("inet", "spin"))


def test_crash_and_state():
    with Workdir() as wd, Rig(wd) as r, r.subscriber() as sub:
        sock = os.path.join(wd, "spind.sock")
        sp = start_spind(r, sock)
        ctl = Ctl(sock)
        ctl("add_iplist_ip", "list=block", "ip=" + SERVICE4[2])
        sp.stop(sig=signal.SIGKILL)  # right after the acknowledgement
        check(count_spin_tables(r) == 1, "kill -9 leaves the table behind")
        sp = start_spind(r, sock)
        log = sp.output()
        check(log.find("firewall: enforcing 1 blocked") != -1 and
              log.find("firewall: enforcing 1 blocked") < log.find("spind started"),
              "the saved block is enforced before spind starts reporting:\n" + log[-3000:])
        check(count_spin_tables(r) == 1, "exactly one table inet spin: %s" % r.tables())
        check(ctl("list_iplist", "list=block") == [SERVICE4[2]], "the list is intact")
        check(not ping(r, r.d1, SERVICE4[2]), "and enforced")
        check(ping(r, r.d1, SERVICE4[0]), "other services are reachable")
        check(sp.stop() == 0, "spind stops cleanly")
        check(count_spin_tables(r) == 0, "SIGTERM removes the table")

        # A state file cut in the middle of a write.
        path = os.path.join(wd, "state", "state.json")
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text[:len(text) // 2])
        sp = start_spind(r, sock)
        kept = glob.glob(path + ".corrupt-*")
        check(len(kept) == 1, "the corrupt file is kept aside: %s" % kept)
        check(kept[0] in sp.output(), "the log names where it went:\n" + sp.output()[-2000:])
        check(ctl("list_iplist", "list=block") == [], "spind starts with empty lists")
        check(ping(r, r.d1, SERVICE4[2]), "and blocks nothing")
        check(sp.stop() == 0, "spind stops cleanly")

        # Passive: no firewall state at all, the lists are still kept. (With
        # one command per second per client: a burst of two, then refusals.)
        sp = start_spind(r, sock, ["--firewall", "passive", "--command_rate", "1"])
        check(count_spin_tables(r) == 0, "passive: no table inet spin: %s" % r.tables())
        ctl("add_iplist_ip", "list=block", "ip=" + SERVICE4[2])
        check(ctl("list_iplist", "list=block") == [SERVICE4[2]], "passive: the list is kept")
        refused = [ctl.raw("list_iplist", "list=block") for _ in range(3)]
        check(any(rc == 1 and "(code -32000)" in err and "too many requests" in err
                  for rc, out, err in refused),
              "requests beyond the rate are refused with -32000: %s" % refused)
        check(ping(r, r.d1, SERVICE4[2]), "passive: nothing is dropped")
        check(sp.stop() == 0, "spind stops cleanly")


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("SKIP: the control test needs root (network namespaces, nftables, NFLOG)")
        sys.exit(77)
    for tool in ("ip", "nft", "mosquitto", "sysctl", "ping"):
        if subprocess.run(["which", tool], stdout=subprocess.DEVNULL).returncode != 0:
            print("SKIP: %s is not installed" % tool)
            sys.exit(77)
    for var, path in (("SPIND", SPIND), ("SPINCTL", SPINCTL)):
        if not path or not os.access(path, os.X_OK):
            print("SKIP: %s does not name the binary (%r)" % (var, path))
            sys.exit(77)
    main([test_block_allow_pair, test_every_command, test_crash_and_state])
