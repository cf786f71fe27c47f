#!/usr/bin/env python3
"""spind's own nftables table (spin::nft_table, driven by spin_nftctl) in
private network namespaces, inspected with Debian's `nft`: the table, its three
base chains, its enforcement sets and rules (allow, block with limited reports,
node pairs; first in every chain) and its DNS and per-packet log rules are
exactly as configured, and the kernel holds the same expressions as for the
same rules written by `nft` itself; passive mode has no sets and no drop rules;
installing twice or over a leftover gives the same table; other tables are
never touched; remove and exists behave; set changes (thousands of elements,
flush, a bad delete that changes nothing and names the element) reach the
sets; without CAP_NET_ADMIN install fails with a message that says so. Needs
root (network namespaces, nftables); every namespace is deleted afterwards,
also on failure.

Whether the logged packets reach NFLOG is the NFLOG source's test, and what
the rules do to real packets is test_nft_enforce.py's."""

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


def payload_text(p):
    return "%s %s" % (p["payload"]["protocol"], p["payload"]["field"])


def expr_text(e):
    """One JSON expression in a short nft-like form; anything unexpected stays
    JSON, so it can never equal an expected rule by accident."""
    if "match" in e and e["match"].get("op") == "==":
        left, right = e["match"]["left"], e["match"]["right"]
        if "payload" in left and "protocol" in left["payload"]:
            return "%s %s" % (payload_text(left), right)
        if "concat" in left and all("payload" in p for p in left["concat"]):
            return "%s %s" % (" . ".join(payload_text(p) for p in left["concat"]), right)
        if "meta" in left:
            return "%s %s" % (left["meta"]["key"], right)
    if "limit" in e and set(e["limit"]) == {"rate", "burst", "per"}:
        return "limit rate %d/%s burst %d packets" % (
            e["limit"]["rate"], e["limit"]["per"], e["limit"]["burst"])
    if e == {"drop": None}:
        return "drop"
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


# The enforcement sets: plain sets (no flags, no elements at install).
SETS = {"allow4": "ipv4_addr", "allow6": "ipv6_addr", "block4": "ipv4_addr",
        "block6": "ipv6_addr", "pair4": ["ipv4_addr", "ipv4_addr"],
        "pair6": ["ipv6_addr", "ipv6_addr"]}


def enforcement(block_group=2, rate=20, burst=40):
    """The enforcement rules, first in every chain, in order: allow accepts,
    then for every drop condition a limited report and a drop."""
    rules = [["%s %s @allow%s" % (ip, a, v), "accept"]
             for ip, v in (("ip", 4), ("ip6", 6)) for a in ("saddr", "daddr")]
    report = ["limit rate %d/second burst %d packets" % (rate, burst),
              "log group %d snaplen 128 queue-threshold 64" % block_group]
    conditions = ["%s %s @block%s" % (ip, a, v) for ip, v in (("ip", 4), ("ip6", 6))
                  for a in ("saddr", "daddr")]
    conditions += ["ip saddr . ip daddr @pair4", "ip6 saddr . ip6 daddr @pair6"]
    for c in conditions:
        rules.append([c] + report)
        rules.append([c, "drop"])
    return rules


def expected(priority=-10, dns_group=1, per_packet=False, packet_group=3, lan=(),
             enforce=True, block_group=2, rate=20, burst=40):
    """What the table must contain for a configuration (defaults as spind's)."""
    dns_log = "log group %d snaplen 4096 queue-threshold 64" % dns_group
    pkt_log = "log group %d snaplen 128 queue-threshold 64" % packet_group
    dns = [["%s %s 53" % (p, d), dns_log, "accept"] for p in ("udp", "tcp")
           for d in ("sport", "dport")]
    first = enforcement(block_group, rate, burst) if enforce else []
    chains, rules = {}, {}
    for hook in ("forward", "input", "output"):
        chains[hook] = ("filter", hook, priority, "accept")
        rules[hook] = first + dns
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


def sets_of(objs, name="spin"):
    """{set name: type} of a table; anything more than a type (flags,
    elements, a size) is kept, so it cannot equal SETS by accident."""
    out = {}
    for o in objs:
        if "set" in o and o["set"]["family"] == "inet" and o["set"]["table"] == name:
            extra = {k: v for k, v in o["set"].items()
                     if k not in ("family", "name", "table", "type", "handle")}
            out[o["set"]["name"]] = [o["set"]["type"], extra] if extra else o["set"]["type"]
    return out


def check_table(ns, what, **cfg):
    objs = ns.ruleset()
    check(tables(objs).count(("inet", "spin")) == 1,
          "%s: exactly one table inet spin, tables: %s" % (what, tables(objs)))
    want_sets = SETS if cfg.get("enforce", True) else {}
    check(sets_of(objs) == want_sets,
          "%s: sets\n got  %s\n want %s" % (what, sets_of(objs), want_sets))
    got = chains_and_rules(objs)
    want = expected(**cfg)
    check(got[0] == want[0], "%s: chains\n got  %s\n want %s" % (what, got[0], want[0]))
    for chain in want[1]:
        check(got[1].get(chain) == want[1][chain],
              "%s: rules of chain %s\n got  %s\n want %s" %
              (what, chain, got[1].get(chain), want[1][chain]))
    return objs


def netlink_blocks(ns, name="spin"):
    """`nft --debug=netlink list table inet <name>`: the kernel's expressions
    of every rule, as {chain: [list of expression lines]}."""
    text = ns.nft("--debug=netlink", "list", "table", "inet", name)
    blocks = {}
    current = None
    for line in text.splitlines():
        if line.startswith("inet %s " % name):
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
            check(len(blocks.get(chain, [])) == 20, "20 rules in %s: %s" % (chain, blocks))
            check(blocks[chain][:16] == enforcement_netlink(),
                  "enforcement rules in %s\n got  %s\n want %s" %
                  (chain, blocks[chain][:16], enforcement_netlink()))
            for rule, (proto, off) in zip(blocks[chain][16:], [(0x11, 0), (0x11, 2),
                                                               (0x06, 0), (0x06, 2)]):
                want = ["[ meta load l4proto => reg 1 ]",
                        "[ cmp eq reg 1 0x%08x ]" % proto,
                        "[ payload load 2b @ transport header + %d => reg 1 ]" % off,
                        "[ cmp eq reg 1 0x00003500 ]",
                        "[ log group 1 snaplen 4096 qthreshold 64 ]",
                        "[ immediate reg 0 accept ]"]
                check(rule == want, "DNS rule in %s\n got  %s\n want %s" %
                      (chain, rule, want))


def enforcement_netlink(block_group=2):
    """The kernel's expressions of the enforcement rules (as nft writes them:
    `ip saddr` in an inet table checks nfproto first; a concatenation puts the
    second IPv4 address in the 32-bit register after the first, reg 9)."""
    def nfproto(v):
        return ["[ meta load nfproto => reg 1 ]",
                "[ cmp eq reg 1 0x%08x ]" % (2 if v == 4 else 10)]

    def addr(v, source, reg=1):
        size, off = (4, 12 if source else 16) if v == 4 else (16, 8 if source else 24)
        return "[ payload load %db @ network header + %d => reg %d ]" % (size, off, reg)

    report = ["[ limit rate 20/second burst 40 type packets flags 0x0 ]",
              "[ log group %d snaplen 128 qthreshold 64 ]" % block_group]
    drop = ["[ immediate reg 0 drop ]"]
    rules = [nfproto(v) + [addr(v, s), "[ lookup reg 1 set allow%d 0x0 ]" % v,
                           "[ immediate reg 0 accept ]"]
             for v in (4, 6) for s in (True, False)]
    for v in (4, 6):
        for s in (True, False):
            match = nfproto(v) + [addr(v, s), "[ lookup reg 1 set block%d 0x0 ]" % v]
            rules += [match + report, match + drop]
    for v, reg in ((4, 9), (6, 2)):
        match = nfproto(v) + [addr(v, True), addr(v, False, reg),
                              "[ lookup reg 1 set pair%d 0x0 ]" % v]
        rules += [match + report, match + drop]
    return rules


def test_same_as_nft():
    """The kernel holds exactly what it holds when `nft` itself creates the
    same table from the text `nft` prints for ours: same set types, same
    expressions, rule by rule."""
    with Namespace() as ns:
        ok(ns.nftctl("install", "--per-packet", "--lan", "veth0"), "install")
        text = ns.nft("list", "table", "inet", "spin")
        check(text.startswith("table inet spin {"), "listing: %s" % text)
        ns.nft("-f", "-", input=text.replace("table inet spin {", "table inet spin_ref {", 1))
        objs = ns.ruleset()
        check(sets_of(objs) == sets_of(objs, "spin_ref") == SETS,
              "sets as nft makes them: %s / %s" % (sets_of(objs),
                                                    sets_of(objs, "spin_ref")))
        ours, ref = netlink_blocks(ns), netlink_blocks(ns, "spin_ref")
        for chain in ("forward", "input", "output"):
            check(len(ours[chain]) == len(ref[chain]) and ours[chain] == ref[chain],
                  "expressions of chain %s as nft writes them\n ours %s\n nft  %s" %
                  (chain, ours[chain], ref[chain]))


def test_passive():
    with Namespace() as ns:
        ok(ns.nftctl("install", "--passive", "--per-packet"), "install --passive")
        check_table(ns, "passive", enforce=False, per_packet=True)
        text = ns.nft("--debug=netlink", "list", "table", "inet", "spin")
        check("drop" not in text and "lookup" not in text and "limit" not in text,
              "no drop, lookup or limit in passive mode: %s" % text)
        # Set changes succeed without touching anything.
        before = ns.ruleset()
        for cmd in (["block", "192.0.2.1"], ["allow", "2001:db8::1"],
                    ["pair", "192.0.2.1", "192.0.2.2"], ["flush"]):
            ok(ns.nftctl(*cmd, "--passive"), "passive %s" % cmd[0])
        check(ns.ruleset() == before, "passive set changes change nothing")
        # Without --passive the tool asks for sets that are not there.
        p = ns.nftctl("block", "192.0.2.1")
        check(p.returncode == 1 and "block4" in p.stderr and "does not exist" in p.stderr,
              "block on a passive table: the set does not exist: %d %r" %
              (p.returncode, p.stderr))
        # Passive -> enforcing and back, in place.
        ok(ns.nftctl("install"), "install enforcing")
        check_table(ns, "enforcing after passive")
        ok(ns.nftctl("install", "--passive"), "install passive again")
        check_table(ns, "passive again", enforce=False)


def test_install_configured():
    with Namespace() as ns:
        ok(ns.nftctl("install", "--priority", "-150", "--dns-group", "7"), "install")
        check_table(ns, "priority -150, DNS group 7", priority=-150, dns_group=7)
        ok(ns.nftctl("install", "--priority", "5", "--per-packet", "--packet-group", "9"),
           "install --per-packet")
        check_table(ns, "per packet", priority=5, per_packet=True, packet_group=9)
        ok(ns.nftctl("install", "--block-group", "12", "--block-rate", "5",
                     "--block-burst", "7"), "install --block-group 12")
        check_table(ns, "block group 12, 5/second burst 7", block_group=12, rate=5,
                    burst=7)


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
                    if ("set" in o and o["set"]["name"] not in SETS) or
                    ("chain" in o and o["chain"]["name"] == "extra")]
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
        for opt in ("--block-rate", "--block-burst"):
            p = ns.nftctl("install", opt, "0")
            check(p.returncode == 1 and "at least 1" in p.stderr,
                  "%s 0 is refused: %d %r" % (opt, p.returncode, p.stderr))
            check(tables(ns.ruleset()) == [], "nothing was created")


def elements(ns, name):
    """The elements of one set: addresses, or (a, b) for a pair."""
    objs = json.loads(ns.nft("-j", "list", "set", "inet", "spin", name))["nftables"]
    body = next(o["set"] for o in objs if "set" in o)
    return {tuple(e["concat"]) if isinstance(e, dict) else e for e in body.get("elem", [])}


def all_elements(ns):
    return {name: elements(ns, name) for name in SETS}


def v4(n, base=10):
    return ["%d.%d.%d.%d" % (base, i >> 16 & 255, i >> 8 & 255, i & 255)
            for i in range(1, n + 1)]


def v6(n, prefix="2001:db8:5"):
    return ["%s::%x" % (prefix, i) for i in range(1, n + 1)]


def test_set_changes():
    with Namespace() as ns:
        ok(ns.nftctl("install"), "install")
        check(all(not e for e in all_elements(ns).values()), "the sets start empty")
        # Several messages per set (1024 elements each) in one transaction.
        block4, block6 = v4(3000), v6(1500)
        allow4, allow6 = v4(1100, base=11), v6(5, prefix="2001:db8:a")
        pairs4 = list(zip(v4(1200, base=12), v4(1200, base=13)))
        pairs6 = list(zip(v6(3, prefix="fd00:1"), v6(3, prefix="fd00:2")))
        args = ["block", *block4, *block6, "allow", *allow4, *allow6, "pair"]
        for a, b in pairs4 + pairs6:
            args += [a, b]
        ok(ns.nftctl(*args), "one change of %d elements" % (len(args) - 3))
        both = lambda pairs: set(pairs) | {(b, a) for a, b in pairs}
        want = {"block4": set(block4), "block6": set(block6), "allow4": set(allow4),
                "allow6": set(allow6), "pair4": both(pairs4), "pair6": both(pairs6)}
        check(all_elements(ns) == want, "the sets hold exactly what was added")
        # Adding what is there is fine (and duplicates in one change too).
        ok(ns.nftctl("block", block4[0], block4[0], block6[7]), "adding existing elements")
        check(all_elements(ns) == want, "still the same elements")

        # A bad delete in the second message of a set: the kernel names the
        # element, nothing of the change is applied.
        bad = "10.200.0.1"
        p = ns.nftctl("unblock", *block4[:2000], bad, "allow", "192.0.2.55")
        check(p.returncode == 1, "a bad delete fails: %d %r" % (p.returncode, p.stderr))
        check("deleting element %s from set block4" % bad in p.stderr and
              "not in the set" in p.stderr and "nothing was changed" in p.stderr,
              "the error names the element: %r" % p.stderr)
        check(all_elements(ns) == want, "nothing of the failed change was applied")
        p = ns.nftctl("unpair", "fd00:9::1", "fd00:9::2")
        check(p.returncode == 1 and "from set pair6" in p.stderr and
              "fd00:9::" in p.stderr, "a bad pair delete is named: %r" % p.stderr)

        # Deleting (deletions before additions: in both lists it stays).
        ok(ns.nftctl("unblock", *block4[:2500], *block6, "block", block4[0], "disallow",
                     *allow6, "unpair", *pairs4[0]), "deleting")
        want["block4"] = set(block4[2500:]) | {block4[0]}
        want["block6"] = set()
        want["allow6"] = set()
        want["pair4"] -= both(pairs4[:1])
        check(all_elements(ns) == want, "the deleted elements are gone")

        p = ns.nftctl("pair", "192.0.2.1", "2001:db8::1")
        check(p.returncode == 1 and "mixes IPv4 and IPv6" in p.stderr,
              "a pair of two families is refused: %r" % p.stderr)
        check(all_elements(ns) == want, "nothing changed")

        ok(ns.nftctl("flush"), "flush")
        check(all(not e for e in all_elements(ns).values()), "flush empties every set")
        ok(ns.nftctl("flush"), "flushing empty sets")
        # The table is still whole.
        check_table(ns, "after the set changes")


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
    main([test_install_default, test_same_as_nft, test_passive, test_install_configured,
          test_install_per_packet_lan, test_set_changes,
          test_install_twice, test_leftover_replaced, test_other_tables_untouched,
          test_other_name, test_remove_and_exists, test_without_cap_net_admin,
          test_bad_configuration])
