#!/usr/bin/env python3
"""Checks what spind published inside the kernel-module VM (vm-init.sh's
spind phase, one MQTT payload per line): the per-second `traffic` reports
sum, per direction, exactly to the UDP datagrams sent between the client
(10.1.0.2 / 2001:db8:1::2) and the server (10.2.0.2 / 2001:db8:2::2)
before the block; `blocked` reports name the blocked server; the JSON-RPC
answers succeeded. IP-layer bytes: payload + 28 (IPv4) or + 48 (IPv6)."""

import json
import sys

# (client ip, server ip, protocol, datagrams, payload) sent and echoed while
# nothing was blocked; 41004's 5 datagrams come after the unblock.
EXPECT = {
    ("10.1.0.2", "10.2.0.2"): (35, 30 * 128 + 5 * 128),
    ("10.2.0.2", "10.1.0.2"): (35, 30 * 128 + 5 * 128),
    ("2001:db8:1::2", "2001:db8:2::2"): (20, 20 * 348),
    ("2001:db8:2::2", "2001:db8:1::2"): (20, 20 * 348),
}


def main(path):
    msgs = []
    with open(path, errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                msgs.append(json.loads(line))
            except ValueError:
                print("not ok - a published line is not JSON: %r" % line[:200])
                return 1
    failures = 0

    def check(cond, what):
        nonlocal failures
        print(("ok - " if cond else "not ok - ") + what)
        failures += 0 if cond else 1

    traffic = [m for m in msgs if m.get("command") == "traffic"]
    check(len(traffic) > 0, "spind published traffic reports (%d)" % len(traffic))
    sums = {k: [0, 0] for k in EXPECT}
    for m in traffic:
        for fl in m["result"]["flows"]:
            if fl.get("protocol") != 17 or fl.get("port") != 7000:
                continue
            for a in fl["from"].get("ips", []):
                for b in fl["to"].get("ips", []):
                    if (a, b) in sums:
                        sums[(a, b)][0] += fl["count"]
                        sums[(a, b)][1] += fl["size"]
    for k, (packets, size) in EXPECT.items():
        got = tuple(sums[k])
        check(got == (packets, size), "%s -> %s udp/7000: %d packets, %d bytes (got %s)" %
              (k[0], k[1], packets, size, got))
    blocked = [m for m in msgs if m.get("command") == "blocked"]
    check(any("10.2.0.2" in json.dumps(m) for m in blocked),
          "a blocked report names 10.2.0.2 (%d blocked reports)" % len(blocked))
    answers = {m.get("id"): m for m in msgs if m.get("jsonrpc") == "2.0"}
    for i in (71, 72, 73):
        check(i in answers and "error" not in answers[i],
              "JSON-RPC request %d succeeded: %s" % (i, answers.get(i)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
