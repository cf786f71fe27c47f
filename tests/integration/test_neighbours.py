#!/usr/bin/env python3
"""The rtnetlink neighbour reader in a real network namespace: an entry that
exists before the reader starts comes with the initial dump, one added later
arrives as RTM_NEWNEIGH, and a deleted one as RTM_DELNEIGH. Needs root (to
create the namespace); the namespace and its veth pair are removed afterwards,
also on failure."""

import os
import subprocess
import sys
import threading
import time

from spintest import check, main, wait_for

NEIGHDUMP = os.environ.get("SPIN_NEIGHDUMP", "")


def ip(*args):
    subprocess.run(["ip", *args], check=True, stdout=subprocess.DEVNULL)


class Namespace:
    def __init__(self):
        self.name = "spin-neigh-%d" % os.getpid()

    def __enter__(self):
        ip("netns", "add", self.name)
        ip("-n", self.name, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1")
        ip("-n", self.name, "link", "set", "veth0", "up")
        ip("-n", self.name, "link", "set", "veth1", "up")
        ip("-n", self.name, "addr", "add", "10.77.0.1/24", "dev", "veth0")
        ip("-n", self.name, "addr", "add", "fd77::1/64", "dev", "veth0", "nodad")
        return self

    def __exit__(self, *exc):
        subprocess.run(["ip", "netns", "del", self.name], stderr=subprocess.DEVNULL)


def test_neighbours_appear_and_go():
    with Namespace() as ns:
        ip("-n", ns.name, "neigh", "add", "10.77.0.2", "lladdr", "02:00:00:00:00:02",
           "dev", "veth0", "nud", "permanent")
        proc = subprocess.Popen(["ip", "netns", "exec", ns.name, NEIGHDUMP],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        lines = []

        def reader():
            for line in proc.stdout:
                lines.append(line.strip())
        t = threading.Thread(target=reader, daemon=True)
        t.start()
        try:
            wait_for(lambda: "ready" in lines, 10, "the reader to start")
            wait_for(lambda: "+ 10.77.0.2 02:00:00:00:00:02" in " ".join(lines), 5,
                     "the entry from the initial dump")
            # The machine's own addresses come from the address dump.
            wait_for(lambda: any(l.startswith("+ local 10.77.0.1 ") for l in lines), 5,
                     "the namespace's own IPv4 address")
            wait_for(lambda: any(l.startswith("+ local fd77::1 ") for l in lines), 5,
                     "the namespace's own IPv6 address")
            ip("-n", ns.name, "addr", "add", "10.78.0.1/24", "dev", "veth0")
            wait_for(lambda: any(l.startswith("+ local 10.78.0.1 ") for l in lines), 5,
                     "an address added later")
            ip("-n", ns.name, "addr", "del", "10.78.0.1/24", "dev", "veth0")
            wait_for(lambda: any(l.startswith("- local 10.78.0.1 ") for l in lines), 5,
                     "the address removed")
            ip("-n", ns.name, "neigh", "add", "fd77::3", "lladdr", "02:00:00:00:00:03",
               "dev", "veth0", "nud", "reachable")
            wait_for(lambda: any(l.startswith("+ fd77::3 02:00:00:00:00:03") for l in lines),
                     5, "the IPv6 neighbour added later")
            ip("-n", ns.name, "neigh", "del", "10.77.0.2", "dev", "veth0")
            wait_for(lambda: "- 10.77.0.2" in lines, 5, "the deletion")
        finally:
            proc.stdin.close()
            proc.wait(timeout=10)
        check(proc.returncode == 0, "the reader exits cleanly")


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("SKIP: network namespaces need root")
        sys.exit(77)
    main([test_neighbours_appear_and_go])
