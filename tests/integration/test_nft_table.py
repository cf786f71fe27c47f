#!/usr/bin/env python3
"""spind's own nftables table (spin::nft_table, driven by spin_nftctl) in
private network namespaces, inspected with Debian's `nft`: the table, its three
base chains and its DNS and per-packet log rules are exactly as configured;
installing twice or over a leftover gives the same table; other tables are
never touched; remove and exists behave; without CAP_NET_ADMIN install fails
with a message that says so. Needs root (network namespaces, nftables); every
namespace is deleted afterwards, also on failure.

Whether the logged packets reach NFLOG is the NFLOG source's test, not this
one's."""

import itertools
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

from spintest import check, main

NFTCTL = os.environ.get("SPIN_NFTCTL", "")
_ns_counter = itertools.count()


class Namespace:
    """A fresh, empty network namespace with a unique name."""

    def __init__(self):
        self.name = "spin-nft-%d-%d" % (os.getpid(), next(_ns_counter))

    def __enter__(self):
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        return self

    def __exit__(self, *exc):
        subprocess.run(["ip", "netns", "del", self.name], stderr=subprocess.DEVNULL)

    def run(self, *cmd, input=None, timeout=30):
        return subprocess.run(["ip", "netns", "exec", self.name, *cmd], input=input,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=timeout)

    def nftctl(self, *args):
        return self.run(NFTCTL, *args)

    def nft(self, *args, input=None):
        p = self.run("nft", *args, input=input)
        check(p.returncode == 0, "nft %s failed: %s" % (" ".join(args), p.stderr))
        return p.stdout

    def ruleset(self):
        """The namespace's ruleset as the list of objects of `nft -j`."""
        objs = json.loads(self.nft("-j", "list", "ruleset"))["nftables"]
        return [o for o in objs if "metainfo" not in o]


def ok(p, what):
    check(p.returncode == 0, "%s: exit %d, stderr: %s" % (what, p.returncode, p.stderr))


def tables(objs):
    return [(o["table"]["family"], o["table"]["name"]) for o in objs if "table" in o]


def of_table(objs, family, name):
    """The objects (chains, rules, ...) of one table, without handles, in order."""
    out = []
    for o in objs:
        kind, body = next(iter(o.items()))
        if kind == "table" or body.get("family") != family or body.get("table") != name:
            continue
        body = {k: v for k, v in body.items() if k != "handle"}
        out.append({kind: body})
    return out


def expr_text(e):
    """One JSON expression in a short nft-like form; anything unexpected stays
    JSON, so it can never equal an expected rule by accident."""
    if "match" in e and e["match"].get("op") == "==":
        left, right = e["match"]["left"], e["match"]["right"]
        if "payload" in left and "protocol" in left["payload"]:
            return "%s %s %s" % (left["payload"]["protocol"], left["payload"]["field"],
                                 right)
        if "meta" in left:
            return "%s %s" % (left["meta"]["key"], right)
    if "log" in e and set(e["log"]) == {"group", "snaplen", "queue-threshold"}:
        return "log group %d snaplen %d queue-threshold %d" % (
            e["log"]["group"], e["log"]["snaplen"], e["log"]["queue-threshold"])
    if e == {"accept": None}:
        return "accept"
    return json.dumps(e, sort_keys=True)


def chains_and_rules(objs, name="spin"):
    """{chain: (type, hook, prio, policy)} and {chain: [rule as [expr text]]}."""
    chains, rules = {}, {}
    for o in objs:
        if "chain" in o and o["chain"]["family"] == "inet" and o["chain"]["table"] == name:
            c = o["chain"]
            chains[c["name"]] = (c.get("type"), c.get("hook"), c.get("prio"),
                                 c.get("policy"))
            rules.setdefault(c["name"], [])
        if "rule" in o and o["rule"]["family"] == "inet" and o["rule"]["table"] == name:
            r = o["rule"]
            rules.setdefault(r["chain"], []).append([expr_text(e) for e in r["expr"]])
    return chains, rules


def expected(priority=-10, dns_group=1, per_packet=False, packet_group=3, lan=()):
    """What the table must contain for a configuration (defaults as spind's)."""
    dns_log = "log group %d snaplen 4096 queue-threshold 64" % dns_group
    pkt_log = "log group %d snaplen 128 queue-threshold 64" % packet_group
    dns = [["%s %s 53" % (p, d), dns_log, "accept"] for p in ("udp", "tcp")
           for d in ("sport", "dport")]
    chains, rules = {}, {}
    for hook in ("forward", "input", "output"):
        chains[hook] = ("filter", hook, priority, "accept")
        rules[hook] = list(dns)
        if not per_packet:
            continue
        if not lan:
            rules[hook].append([pkt_log])
        elif hook == "forward":
            for i in lan:
                rules[hook].append(['iifname %s' % i, pkt_log, "accept"])
                rules[hook].append(['oifname %s' % i, pkt_log, "accept"])
        else:
            key = "iifname" if hook == "input" else "oifname"
            rules[hook] += [["%s %s" % (key, i), pkt_log] for i in lan]
    return chains, rules


def check_table(ns, what, **cfg):
    objs = ns.ruleset()
    check(tables(objs).count(("inet", "spin")) == 1,
          "%s: exactly one table inet spin, tables: %s" % (what, tables(objs)))
    got = chains_and_rules(objs)
    want = expected(**cfg)
    check(got[0] == want[0], "%s: chains\n got  %s\n want %s" % (what, got[0], want[0]))
    for chain in want[1]:
        check(got[1].get(chain) == want[1][chain],
              "%s: rules of chain %s\n got  %s\n want %s" %
              (what, chain, got[1].get(chain), want[1][chain]))
    return objs


def netlink_blocks(ns):
    """`nft --debug=netlink list table inet spin`: the kernel's expressions of
    every rule, as {chain: [list of expression lines]}."""
    text = ns.nft("--debug=netlink", "list", "table", "inet", "spin")
    blocks = {}
    current = None
    for line in text.splitlines():
        if line.startswith("inet spin "):
            current = []
            blocks.setdefault(line.split()[2], []).append(current)
        elif line.strip().startswith("[") and current is not None:
            current.append(line.strip())
        elif not line.strip():
            current = None
    return blocks


def ifname_words(name):
    """How nft prints a 16-byte zero-padded interface name in a cmp."""
    words = struct.unpack("=4I", name.encode().ljust(16, b"\0"))
    return " ".join("0x%08x" % w for w in words)


def test_install_default():
    with Namespace() as ns:
        p = ns.nftctl("exists")
        check(p.returncode == 1, "exists before install: exit 1, got %d" % p.returncode)
        ok(ns.nftctl("install"), "install")
        ok(ns.nftctl("exists"), "exists after install")
        check_table(ns, "default install")
        # The expressions are the ones nft writes for `meta l4proto udp udp
        # sport 53` (not `ip protocol`, which would miss IPv6).
        blocks = netlink_blocks(ns)
        for chain in ("forward", "input", "output"):
            check(len(blocks.get(chain, [])) == 4, "4 rules in %s: %s" % (chain, blocks))
            for rule, (proto, off) in zip(blocks[chain], [(0x11, 0), (0x11, 2),
                                                          (0x06, 0), (0x06, 2)]):
                want = ["[ meta load l4proto => reg 1 ]",
                        "[ cmp eq reg 1 0x%08x ]" % proto,
                        "[ payload load 2b @ transport header + %d => reg 1 ]" % off,
                        "[ cmp eq reg 1 0x00003500 ]",
                        "[ log group 1 snaplen 4096 qthreshold 64 ]",
                        "[ immediate reg 0 accept ]"]
                check(rule == want, "DNS rule in %s\n got  %s\n want %s" %
                      (chain, rule, want))


def test_install_configured():
    with Namespace() as ns:
        ok(ns.nftctl("install", "--priority", "-150", "--dns-group", "7"), "install")
        check_table(ns, "priority -150, DNS group 7", priority=-150, dns_group=7)
        ok(ns.nftctl("install", "--priority", "5", "--per-packet", "--packet-group", "9"),
           "install --per-packet")
        check_table(ns, "per packet", priority=5, per_packet=True, packet_group=9)


def test_install_per_packet_lan():
    lan = ("veth-lan0", "br-lan")
    with Namespace() as ns:
        ok(ns.nftctl("install", "--per-packet", "--lan", *lan), "install --lan")
        check_table(ns, "per packet on LAN interfaces", per_packet=True, lan=lan)
        # Interface names are compared as nft does: 16 bytes, zero padded.
        blocks = netlink_blocks(ns)
        for name in lan:
            cmp = "[ cmp eq reg 1 %s ]" % ifname_words(name)
            for chain, key in (("forward", "iifname"), ("forward", "oifname"),
                               ("input", "iifname"), ("output", "oifname")):
                check(any(b[:2] == ["[ meta load %s => reg 1 ]" % key, cmp]
                          for b in blocks[chain]),
                      "%s %s in %s as 16 padded bytes: %s" % (key, name, chain,
                                                               blocks[chain]))


def test_install_twice():
    with Namespace() as ns:
        ok(ns.nftctl("install", "--per-packet"), "first install")
        first = of_table(ns.ruleset(), "inet", "spin")
        ok(ns.nftctl("install", "--per-packet"), "second install")
        objs = check_table(ns, "installed twice", per_packet=True)
        check(of_table(objs, "inet", "spin") == first, "the same table after a reinstall")


def test_leftover_replaced():
    with Namespace() as ns:
        ns.nft("-f", "-", input="""
table inet spin {
  set stale { type ipv4_addr; elements = { 10.1.2.3 } }
  chain extra { type filter hook prerouting priority 0; policy accept;
    ip saddr @stale counter drop
  }
  chain forward { type filter hook forward priority 0; policy drop; counter; }
}
""")
        ok(ns.nftctl("install"), "install over a leftover")
        objs = check_table(ns, "after a leftover")
        leftover = [o for o in of_table(objs, "inet", "spin")
                    if "set" in o or ("chain" in o and o["chain"]["name"] == "extra")]
        check(not leftover, "the leftover's set and chain are gone: %s" % leftover)


def other_tables(ns):
    """Every object of the hand-made tables, handles included."""
    out = []
    for o in ns.ruleset():
        body = next(iter(o.values()))
        key = (body.get("family"), body.get("name") if "table" in o else body.get("table"))
        if key in (("inet", "other"), ("ip", "filter")):
            out.append(o)
    return out


def test_other_tables_untouched():
    with Namespace() as ns:
        ns.nft("-f", "-", input="""
table inet other {
  chain input { type filter hook input priority 0; policy accept;
    tcp dport 22 accept
    udp dport 53 drop
  }
}
table ip filter {
  chain INPUT { type filter hook input priority 0; policy accept;
    ip saddr 192.0.2.1 drop
  }
  chain custom { ip daddr 198.51.100.0/24 accept; }
}
""")
        before = other_tables(ns)
        check(len(before) == 9, "the hand-made tables are there: %s" % before)
        ok(ns.nftctl("install", "--per-packet"), "install")
        check(other_tables(ns) == before, "other tables unchanged by install")
        ok(ns.nftctl("remove"), "remove")
        check(other_tables(ns) == before, "other tables unchanged by remove")
        check(sorted(tables(ns.ruleset())) == [("inet", "other"), ("ip", "filter")],
              "only the hand-made tables are left: %s" % tables(ns.ruleset()))


def test_other_name():
    with Namespace() as ns:
        ok(ns.nftctl("install"), "install spin")
        spin = of_table(ns.ruleset(), "inet", "spin")
        ok(ns.nftctl("install", "--name", "spin_other"), "install spin_other")
        objs = ns.ruleset()
        check(sorted(tables(objs)) == [("inet", "spin"), ("inet", "spin_other")],
              "two tables: %s" % tables(objs))
        check(of_table(objs, "inet", "spin") == spin, "table spin untouched")
        check(chains_and_rules(objs, "spin_other") == expected(),
              "spin_other has the configured content")
        ok(ns.nftctl("remove", "--name", "spin_other"), "remove spin_other")
        check(tables(ns.ruleset()) == [("inet", "spin")], "only spin is left")


def test_remove_and_exists():
    with Namespace() as ns:
        ok(ns.nftctl("install", "--per-packet"), "install")
        ok(ns.nftctl("exists"), "exists after install")
        ok(ns.nftctl("remove"), "remove")
        check(tables(ns.ruleset()) == [], "no table left: %s" % tables(ns.ruleset()))
        p = ns.nftctl("exists")
        check(p.returncode == 1 and not p.stderr,
              "exists after remove: exit 1 without an error, got %d %r" %
              (p.returncode, p.stderr))
        ok(ns.nftctl("remove"), "remove when absent")
        check(tables(ns.ruleset()) == [], "still no table")
        # A table made by hand under the name counts too.
        ns.nft("add", "table", "inet", "spin")
        ok(ns.nftctl("exists"), "exists for a hand-made table")
        p = ns.nftctl("exists", "--name", "spin2")
        check(p.returncode == 1, "another name does not exist")


def unprivileged_copy(tmp):
    """spin_nftctl where user nobody can run it (the build tree may not be
    readable for it)."""
    os.chmod(tmp, 0o755)
    path = os.path.join(tmp, "spin_nftctl")
    shutil.copy(NFTCTL, path)
    os.chmod(path, 0o755)
    return path


def test_without_cap_net_admin():
    tmp = tempfile.mkdtemp(prefix="spin-nft-")
    try:
        tool = unprivileged_copy(tmp)
        drop = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", tool]
        with Namespace() as ns:
            p = ns.run(*drop, "install")
            check(p.returncode == 1, "unprivileged install: exit 1, got %d" % p.returncode)
            check("CAP_NET_ADMIN" in p.stderr,
                  "the error names CAP_NET_ADMIN: %r" % p.stderr)
            check(tables(ns.ruleset()) == [], "nothing was created")
            # With the table there, an unprivileged install or remove changes
            # nothing.
            ok(ns.nftctl("install"), "privileged install")
            before = ns.ruleset()
            for cmd in (["install", "--per-packet"], ["remove"]):
                p = ns.run(*drop, *cmd)
                check(p.returncode == 1 and "CAP_NET_ADMIN" in p.stderr,
                      "unprivileged %s fails naming CAP_NET_ADMIN: %d %r" %
                      (cmd, p.returncode, p.stderr))
            check(ns.ruleset() == before, "the table is unchanged")
            p = ns.run(*drop, "exists")
            check(p.returncode == 2 and "CAP_NET_ADMIN" in p.stderr,
                  "unprivileged exists cannot answer: %d %r" % (p.returncode, p.stderr))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_bad_configuration():
    with Namespace() as ns:
        p = ns.nftctl("install", "--per-packet", "--lan", "an-interface-name-too-long")
        check(p.returncode == 1 and "interface" in p.stderr,
              "a too long interface name is refused: %d %r" % (p.returncode, p.stderr))
        check(tables(ns.ruleset()) == [], "nothing was created")


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("SKIP: network namespaces and nftables need root")
        sys.exit(77)
    if not shutil.which("nft"):
        print("SKIP: nft (Debian package nftables) is needed to inspect the ruleset")
        sys.exit(77)
    if not NFTCTL or not os.access(NFTCTL, os.X_OK):
        print("FAIL: SPIN_NFTCTL must name the spin_nftctl binary")
        sys.exit(1)
    main([test_install_default, test_install_configured, test_install_per_packet_lan,
          test_install_twice, test_leftover_replaced, test_other_tables_untouched,
          test_other_name, test_remove_and_exists, test_without_cap_net_admin,
          test_bad_configuration])
