#!/usr/bin/env python3
"""End-to-end: a generated capture goes through spind (fast replay) into a real
mosquitto; a real MQTT subscriber checks that the traffic messages add up
exactly to the generator's ground truth, that every flow carries complete node
objects, that serverRestart came first, that nodeInfo topics are retained, and
that a second run clears the first run's retained topics."""

import collections
import ipaddress
import os

from spintest import (Broker, Subscriber, Workdir, check, generate, main, read_csv,
                      retained, run_spind, wait_for)

NODE_KEYS = {"id", "lastseen", "ips", "domains"}
OPTIONAL_NODE_KEYS = {"mac", "name", "is_blocked", "is_excepted"}


def service_port(proto, sport, dport):
    if proto in (1, 58):
        return dport
    return min(sport, dport)


def spind_args(pcap, port, workdir, *extra):
    return ["--source", "pcap:" + pcap, "--replay", "fast", "--mqtt_port", str(port),
            "--state_dir", os.path.join(workdir, "state"), "--stat_interval", "0",
            *extra]


def traffic_reports(messages):
    return [m.json()["result"] for m in messages
            if m.topic == "SPIN/traffic" and m.json()["command"] == "traffic"]


def check_node(node, timestamp, where):
    keys = set(node)
    check(NODE_KEYS <= keys, "%s: node has id, lastseen, ips, domains: %s" % (where, node))
    check(keys <= NODE_KEYS | OPTIONAL_NODE_KEYS, "%s: no unknown node keys: %s" % (where, node))
    check(isinstance(node["id"], int) and node["id"] > 0, "%s: integer id" % where)
    check(node["lastseen"] == timestamp, "%s: lastseen is the interval" % where)
    check(isinstance(node["ips"], list) and node["ips"], "%s: node has addresses" % where)
    for ip in node["ips"]:
        ipaddress.ip_address(ip)  # raises if not an address
    check(isinstance(node["domains"], list), "%s: domains is a list" % where)


def compare_with_truth(reports, prefix):
    seconds = {int(r["second"]): (int(r["packets"]), int(r["bytes"]))
               for r in read_csv(prefix + ".seconds.csv")}
    got = {r["timestamp"]: (r["total_count"], r["total_size"]) for r in reports}
    check(len(got) == len(reports), "one traffic message per second")
    check(set(got) == set(seconds),
          "the published seconds are the capture's seconds (%d published, %d in truth)"
          % (len(got), len(seconds)))
    for s, want in seconds.items():
        check(got[s] == want, "second %d: published (packets, bytes) %s == truth %s"
              % (s, got[s], want))
    # Per flow: map the truth's 5-tuples to the nodes named in that report.
    truth = collections.defaultdict(lambda: collections.Counter())
    for f in read_csv(prefix + ".flows.csv"):
        proto, sport, dport = int(f["proto"]), int(f["sport"]), int(f["dport"])
        key = (f["src"], f["dst"], proto, service_port(proto, sport, dport))
        truth[int(f["second"])][key + ("packets",)] += int(f["packets"])
        truth[int(f["second"])][key + ("bytes",)] += int(f["bytes"])
    flows_checked = 0
    for r in reports:
        ts = r["timestamp"]
        owner = {}
        published = collections.Counter()
        for i, f in enumerate(r["flows"]):
            for side in ("from", "to"):
                check_node(f[side], ts, "second %d flow %d %s" % (ts, i, side))
                for ip in f[side]["ips"]:
                    prev = owner.setdefault(ip, f[side]["id"])
                    check(prev == f[side]["id"], "address %s in one node per report" % ip)
            k = (f["from"]["id"], f["to"]["id"], f["protocol"], f["port"])
            published[k + ("packets",)] += f["count"]
            published[k + ("bytes",)] += f["size"]
        check(sum(f["size"] for f in r["flows"]) == r["total_size"],
              "second %d: flows add up to total_size (nothing folded at this size)" % ts)
        expected = collections.Counter()
        for (src, dst, proto, port, what), v in truth[ts].items():
            check(src in owner and dst in owner,
                  "second %d: %s -> %s appears in a node" % (ts, src, dst))
            expected[(owner[src], owner[dst], proto, port, what)] += v
        check(expected == published, "second %d: flows equal the truth grouped by node,"
              " protocol and service port" % ts)
        flows_checked += len(r["flows"])
    return flows_checked


def check_devices(reports, prefix):
    """Every device of the capture is a node with its MAC and its addresses."""
    nodes_by_mac = {}
    for r in reports:
        for f in r["flows"]:
            for side in ("from", "to"):
                n = f[side]
                if "mac" in n:
                    nodes_by_mac.setdefault(n["mac"], set()).update(n["ips"])
    devices = read_csv(prefix + ".devices.csv")
    found = 0
    for d in devices:
        if d["mac"] not in nodes_by_mac:
            continue
        found += 1
        if d["ipv4"]:
            check(d["ipv4"] in nodes_by_mac[d["mac"]],
                  "device %s carries its IPv4 %s" % (d["mac"], d["ipv4"]))
    check(found >= len(devices) * 3 // 4,
          "most devices appear with their MAC (%d of %d)" % (found, len(devices)))


def test_truth_retained_and_restart():
    with Workdir() as wd, Broker(wd) as broker:
        pcap, prefix = generate(wd, "big", 120000, seed=11)
        with Subscriber(broker.port) as sub:
            rc, log = run_spind(spind_args(pcap, broker.port, wd),
                                logfile=os.path.join(wd, "spind1.log"))
            # spind exits once everything is written; let the broker deliver it.
            n_seconds = len(read_csv(prefix + ".seconds.csv"))
            wait_for(lambda: len(traffic_reports(sub.snapshot())) >= n_seconds, 20,
                     "all traffic messages")
            msgs = sub.snapshot()
        check(not any(m.retain for m in msgs), "a fresh broker holds nothing retained")
        first = msgs[0]
        check(first.topic == "SPIN/traffic" and first.json()["command"] == "serverRestart",
              "serverRestart is the first message (got %s)" % first.payload[:80])
        check(first.json() == {"command": "serverRestart", "argument": "", "result": ""},
              "serverRestart has the reference shape")
        reports = traffic_reports(msgs)
        flows = compare_with_truth(reports, prefix)
        check(flows > 1000, "a meaningful number of flows was compared (%d)" % flows)
        check_devices(reports, prefix)
        # nodeInfo: retained, one per live node, payload matching its topic.
        run1 = retained(broker.port, "SPIN/traffic/node/+")
        check(len(run1) > 20, "retained nodeInfo topics exist (%d)" % len(run1))
        referenced = set()
        for r in reports[-5:]:
            for f in r["flows"]:
                referenced.update((f["from"]["id"], f["to"]["id"]))
        for topic, payload in run1.items():
            import json
            msg = json.loads(payload)
            check(msg["command"] == "nodeInfo", "nodeInfo command on " + topic)
            check(topic == "SPIN/traffic/node/%d" % msg["result"]["id"],
                  "topic names the node id")
            check(NODE_KEYS <= set(msg["result"]), "nodeInfo carries a NODE")
        for nid in referenced:
            check("SPIN/traffic/node/%d" % nid in run1,
                  "node %d of the last reports has a retained nodeInfo" % nid)

        # A second run with a small capture: the first run's topics are gone.
        small, sprefix = generate(wd, "small", 300, seed=5)
        with Subscriber(broker.port) as sub2:
            run_spind(spind_args(small, broker.port, wd),
                      logfile=os.path.join(wd, "spind2.log"))
            wait_for(lambda: len(traffic_reports(sub2.snapshot())) >=
                     len(read_csv(sprefix + ".seconds.csv")), 20, "second run's reports")
            msgs2 = sub2.snapshot()
        live2 = [m for m in msgs2 if not m.retain]  # a new subscriber first gets run 1's
        check(live2[0].json()["command"] == "serverRestart", "second run restarts first")
        run2 = retained(broker.port, "SPIN/traffic/node/+")
        # The nodes the second run announced (flows, DNS-only names) and did
        # not delete or merge away are exactly what is retained now.
        import json
        alive = set()
        for m in msgs2:
            if m.retain:
                continue
            if m.topic.startswith("SPIN/traffic/node/"):
                if m.payload:
                    alive.add(m.topic)
                else:
                    alive.discard(m.topic)
        want = alive
        for r in traffic_reports(msgs2):
            for f in r["flows"]:
                for side in ("from", "to"):
                    check("SPIN/traffic/node/%d" % f[side]["id"] in want,
                          "node %d of a flow was announced" % f[side]["id"])
        check(set(run2) == want, "after the second run exactly its nodes are retained "
              "(%d retained, %d expected, %d from run 1)" % (len(run2), len(want), len(run1)))
        check(len(run1) > len(run2), "the first run had more nodes than the second")


def test_topic_root_and_flow_cap():
    """A configured topic root is used everywhere; max_flows_per_report caps
    the list but totals still count everything."""
    with Workdir() as wd, Broker(wd) as broker:
        pcap, prefix = generate(wd, "cap", 20000, seed=3)
        with Subscriber(broker.port, topics=("house2/#", "SPIN/#")) as sub:
            run_spind(spind_args(pcap, broker.port, wd, "--mqtt_topic_root", "house2/SPIN",
                                 "--max_flows_per_report", "3"))
            n = len(read_csv(prefix + ".seconds.csv"))
            wait_for(lambda: sum(1 for m in sub.snapshot()
                                 if m.topic == "house2/SPIN/traffic") >= n + 1, 20,
                     "reports under house2/SPIN")
            msgs = sub.snapshot()
        check(not any(m.topic.startswith("SPIN/") for m in msgs), "nothing under SPIN/")
        reports = [m.json()["result"] for m in msgs if m.topic == "house2/SPIN/traffic"
                   and m.json()["command"] == "traffic"]
        truth = {int(r["second"]): int(r["bytes"]) for r in read_csv(prefix + ".seconds.csv")}
        folded = 0
        for r in reports:
            check(len(r["flows"]) <= 3, "at most 3 flows listed")
            sizes = [f["size"] for f in r["flows"]]
            check(sizes == sorted(sizes, reverse=True), "largest flows first")
            check(r["total_size"] == truth[r["timestamp"]], "totals include folded flows")
            folded += r["total_size"] - sum(sizes)
        check(folded > 0, "some traffic was folded into the totals")
        check(any(m.topic.startswith("house2/SPIN/traffic/node/") for m in msgs),
              "nodeInfo under the root")


if __name__ == "__main__":
    main([test_truth_retained_and_restart, test_topic_root_and_flow_cap])
