#!/usr/bin/env python3
"""Names end to end, with a real mosquitto: DNS answers group addresses into
nodes that carry the right names (CDN-like overlaps stay separate and
bounded), devices are one node per MAC, dnsquery events name the asking
device and the queried node, the naming commands work and user names
survive a restart, and a rewritten DHCP lease file renames a device."""

import collections
import json
import os
import signal
import time

import paho.mqtt.client as mqtt

from spintest import (Broker, Spind, Subscriber, Workdir, check, free_port, generate, main,
                      read_csv, run_spind, wait_for)


def live_nodes(msgs):
    """The last nodeInfo of every node still alive after `msgs`."""
    nodes = {}
    for m in msgs:
        if not m.topic.startswith("SPIN/traffic/node/") or m.retain:
            continue
        nid = int(m.topic.rsplit("/", 1)[1])
        if m.payload:
            nodes[nid] = m.json()["result"]
        else:
            nodes.pop(nid, None)
    return nodes


def dns_closure(prefix):
    """name -> every address it resolves to (following CNAMEs), from dns.csv."""
    direct = collections.defaultdict(set)
    cname = collections.defaultdict(set)
    for r in read_csv(prefix + ".dns.csv"):
        if r["type"] in ("A", "AAAA"):
            direct[r["name"]].add(r["value"])
        elif r["type"] == "CNAME":
            cname[r["name"]].add(r["value"])
    out = {}
    for name in set(direct) | set(cname):
        seen, todo, addrs = set(), [name], set()
        while todo:
            n = todo.pop()
            if n in seen:
                continue
            seen.add(n)
            addrs |= direct.get(n, set())
            todo.extend(cname.get(n, ()))
        out[name] = addrs
    return out


def test_cdn_overlap_nodes():
    with Workdir() as wd, Broker(wd) as broker:
        pcap, prefix = generate(wd, "cdn", 40000, seed=3, extra=["--cdn-overlap"], flows=False)
        with Subscriber(broker.port) as sub:
            run_spind(["--source", "pcap:" + pcap, "--replay", "fast", "--mqtt_port",
                       str(broker.port), "--state_dir", os.path.join(wd, "state"),
                       "--stat_interval", "0", "--max_names_per_node", "4",
                       "--max_ips_per_node", "8", "--dnsquery_rate", "1000",
                       "--lan_prefixes", "192.168.1.0/24 fd00:1::/64 fe80::/10"])
            n = len(read_csv(prefix + ".seconds.csv"))
            wait_for(lambda: sum(1 for m in sub.snapshot() if '"command":"traffic"' in m.payload)
                     >= n, 20, "all reports")
            msgs = sub.snapshot()
        closure = dns_closure(prefix)
        names_of = collections.defaultdict(set)  # address -> names resolving to it
        for name, addrs in closure.items():
            for a in addrs:
                names_of[a].add(name)
        shared = [a for a, ns in names_of.items() if len(ns) > 1]
        check(len(shared) > 5, "the capture has CDN-like shared addresses (%d)" % len(shared))
        # Bounds, on every announcement.
        for m in msgs:
            if m.topic.startswith("SPIN/traffic/node/") and m.payload and not m.retain:
                node = m.json()["result"]
                check(len(node["domains"]) <= 4, "at most 4 names: %s" % node)
                check(len(node["ips"]) <= 8, "at most 8 addresses: %s" % node)
        # Devices: one node per MAC, never another device's address.
        devices = {d["mac"]: d for d in read_csv(prefix + ".devices.csv")}
        ip_owner = {d["ipv4"]: d["mac"] for d in devices.values() if d["ipv4"]}
        reports = [m.json()["result"] for m in msgs if '"command":"traffic"' in m.payload]
        mac_node = {}
        attributed = named = 0
        for r in reports:
            for f in r["flows"]:
                for side in ("from", "to"):
                    node = f[side]
                    if "mac" in node:
                        prev = mac_node.setdefault(node["mac"], node["id"])
                        check(prev == node["id"], "MAC %s is one node" % node["mac"])
                        for ip in node["ips"]:
                            check(ip_owner.get(ip, node["mac"]) == node["mac"],
                                  "device %s does not hold %s" % (node["mac"], ip))
                        continue
                    # A remote node: its names resolve to its addresses...
                    for d in node["domains"]:
                        check(closure.get(d, set()) & set(node["ips"]),
                              "name %s of node %d resolves to one of its addresses %s"
                              % (d, node["id"], node["ips"]))
                    # ...and traffic to an answered address carries a right name.
                    for ip in node["ips"]:
                        if ip in names_of:
                            attributed += 1
                            check(set(node["domains"]) & names_of[ip],
                                  "traffic to %s is attributed to a name of it (node %s)"
                                  % (ip, node))
                            named += 1
        check(attributed > 100, "many flows to answered addresses were checked (%d)"
              % attributed)
        # dnsquery: the asking device (with its MAC) and the node of the name.
        queries = [m.json()["result"] for m in msgs if '"command":"dnsquery"' in m.payload]
        check(len(queries) > 50, "dnsquery events were published (%d)" % len(queries))
        for q in queries:
            check("mac" in q["from"], "a dnsquery comes from a device: %s" % q["from"])
            check(q["query"] in q["queriednode"]["domains"],
                  "the queried node carries the name %s" % q["query"])


def publish(port, payload):
    c = mqtt.Client(client_id="spin-test-pub-%d" % free_port())
    c.connect("127.0.0.1", port)
    c.loop_start()
    info = c.publish("SPIN/commands", payload, qos=1)
    info.wait_for_publish()
    c.loop_stop()
    c.disconnect()


def replies(sub, command):
    return [m.json() for m in sub.snapshot()
            if m.topic == "SPIN/traffic" and ('"command":"%s"' % command) in m.payload]


def spind_loop_args(pcap, port, wd, *extra):
    return ["--source", "pcap:" + pcap, "--replay", "loop", "--mqtt_port", str(port),
            "--state_dir", os.path.join(wd, "state"), "--stat_interval", "0",
            "--state_write_interval", "1", *extra]


def test_commands_and_persistent_names():
    with Workdir() as wd, Broker(wd) as broker:
        pcap, prefix = generate(wd, "cmd", 3000, seed=8, extra=["--rate", "300"], flows=False)
        with Subscriber(broker.port) as sub:
            with Spind(spind_loop_args(pcap, broker.port, wd),
                       os.path.join(wd, "spind1.log")) as sp:
                wait_for(lambda: any(n.get("mac") for n in live_nodes(sub.snapshot()).values()),
                         20, "a device node")
                device = next(n for n in live_nodes(sub.snapshot()).values() if n.get("mac"))
                remote = None
                wait_for(lambda: any(n["domains"] and n["ips"] and "mac" not in n
                                     for n in live_nodes(sub.snapshot()).values()),
                         20, "a named remote node")
                remote = next(n for n in live_nodes(sub.snapshot()).values()
                              if n["domains"] and n["ips"] and "mac" not in n)
                # add_name, with the node id as a numeric string.
                publish(broker.port, json.dumps({"command": "add_name", "argument":
                                                 {"node_id": str(device["id"]),
                                                  "name": "hallway thermostat"}}))
                wait_for(lambda: any(r["result"].get(device["ips"][0]) == "hallway thermostat"
                                     for r in replies(sub, "names")), 10, "the names reply")
                wait_for(lambda: live_nodes(sub.snapshot())[device["id"]].get("name") ==
                         "hallway thermostat", 10, "nodeInfo with the user name")
                publish(broker.port, json.dumps({"command": "get_names"}))
                wait_for(lambda: len(replies(sub, "names")) >= 2, 10, "get_names")
                publish(broker.port, json.dumps({"command": "ip2hostname",
                                                 "argument": remote["ips"][0]}))
                wait_for(lambda: replies(sub, "ip2hostname"), 10, "ip2hostname")
                r = replies(sub, "ip2hostname")[0]
                check(r["argument"] == remote["ips"][0], "ip2hostname names the address")
                check(set(remote["domains"]) <= set(r["result"]),
                      "ip2hostname lists the node's names: %s" % r)
                # Bad input: an error reply, nothing changes.
                before = len(replies(sub, "error"))
                for bad in ['{"command":"add_name","argument":{"node_id":"abc","name":"x"}}',
                            '{"command":"add_name","argument":{"node_id":999999,"name":"x"}}',
                            '{"command":"add_name","argument":{"node_id":1}}',
                            '{"command":"ip2hostname","argument":"not-an-ip"}',
                            '{"command":"frobnicate"}', 'not json at all', '[1,2]']:
                    publish(broker.port, bad)
                wait_for(lambda: len(replies(sub, "error")) >= before + 7, 10, "7 error replies")
                errors = [e["argument"] for e in replies(sub, "error")]
                check(any("Unknown command: frobnicate" in e for e in errors), str(errors))
                check(any("unknown node 999999" in e for e in errors), str(errors))
                check(sp.proc.poll() is None, "spind survives bad commands")
                sp.proc.send_signal(signal.SIGTERM)
                check(sp.wait(20) == 0, "clean stop")
        state = json.load(open(os.path.join(wd, "state", "state.json")))
        check(state["names"]["by_mac"].get(device["mac"]) == "hallway thermostat",
              "the name is in the state file: %s" % state)
        # A restart keeps the user name (node ids are new).
        with Subscriber(broker.port) as sub2:
            with Spind(spind_loop_args(pcap, broker.port, wd), os.path.join(wd, "spind2.log")):
                wait_for(lambda: any(n.get("mac") == device["mac"] and
                                     n.get("name") == "hallway thermostat"
                                     for n in live_nodes(sub2.snapshot()).values()),
                         20, "the device named after the restart")


def test_lease_file_rewrite():
    with Workdir() as wd, Broker(wd) as broker:
        pcap, prefix = generate(wd, "lease", 3000, seed=9, extra=["--rate", "300"],
                                flows=False)
        dev = read_csv(prefix + ".devices.csv")[1]
        leases = os.path.join(wd, "dhcp.leases")
        with open(leases, "w") as f:
            f.write("1767229200 %s %s first-name *\n" % (dev["mac"], dev["ipv4"]))
            f.write("this line is malformed\n")
        with Subscriber(broker.port) as sub:
            with Spind(spind_loop_args(pcap, broker.port, wd, "--dhcp_lease_files", leases,
                                       "--dhcp_config_file", "", "--lease_check_interval",
                                       "1"), os.path.join(wd, "spind.log")) as sp:
                def named(name):
                    return any(n.get("mac") == dev["mac"] and n.get("name") == name
                               for n in live_nodes(sub.snapshot()).values())
                wait_for(lambda: named("first-name"), 20, "the DHCP name")
                time.sleep(1.1)  # a new modification time
                with open(leases + ".new", "w") as f:
                    f.write("1767229300 %s %s second-name *\n" % (dev["mac"], dev["ipv4"]))
                os.rename(leases + ".new", leases)
                wait_for(lambda: named("second-name"), 20, "the new name after the rewrite")
                log = sp.output()
        check("dhcp.leases:2" in log, "the malformed lease line is logged")


if __name__ == "__main__":
    main([test_cdn_overlap_nodes, test_commands_and_persistent_names, test_lease_file_rewrite])
