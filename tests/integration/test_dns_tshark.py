#!/usr/bin/python3
"""integration.dns_tshark: spin's DNS answer extraction against tshark.

Runs spin_dnsdump (parse_frame + dns_extractor) and tshark over

* every capture of the corpus (SPIN_CORPUS_DIR, default
  <repo>/../shared/corpus/pcap): the files named dns*, edns-opts.pcap and
  dnssec.pcap are always compared; any other file is compared when tshark
  finds DNS responses on port 53 in it or spin reports answers from it;
* a capture this script writes with hand-made responses for the cases the
  unit tests cover (CNAME chains in any order, branches, loops, the depth
  and answer bounds, escapes, TTLs, classes, EDNS, IPv6, DNS over TCP);
* a capture made by spin-trafficgen (SPIN_TRAFFICGEN, --packets 50000
  --cdn-overlap), which is also checked against its ground truth dns.csv,

and compares, frame by frame, the (address, name, ttl) triples.

Mapping rules (tshark lists records, spin lists address -> name pairs):

* tshark side: frames matching
  `dns.flags.response==1 && (udp.srcport==53 || tcp.srcport==53)`; of each
  DNS message in such a frame (several with DNS over TCP), opcode QUERY only,
  the answer section only (never authority/additional), class IN only; at
  most the first 64 A/AAAA/CNAME records per message (spin's documented
  bound). Names are lower-cased (ASCII), tshark's "<Root>" is "". A TTL with
  the top bit set counts as 0 (RFC 2181; tshark shows the raw value). An
  IPv4-mapped AAAA value (::ffff:a.b.c.d) is the IPv4 address, as spin keeps
  addresses.
* owner records: for every A/AAAA record, (address, owner name, TTL); one per
  (address, name) and message, the larger TTL for duplicates. spin must print
  exactly these, frame by frame.
* chain names: the names that reach an address owner through the message's
  CNAME records (at most 16 hops, loops ignored), with the smallest TTL along
  the path (the best path when there are several). spin must print exactly
  these too; they are counted separately.
* Names with unusual bytes: tshark writes '.', '\\' and spaces inside a label
  as they are, control bytes as \\DDD and bytes above 0x7f as U+FFFD; spin
  writes \\DDD for all but printable ASCII other than '.' and '\\'. spin's
  form is converted to tshark's before comparing.
* Frames tshark marks as malformed, or with an expert error in DNS, or whose
  DNS tshark decoded from inside an ICMP error or from reassembled IP
  fragments (spin reassembles neither), are not compared; they are listed
  with the reason, and spin's lines for them are ignored.
* spin lines in frames tshark does not show as port-53 responses are
  differences. Files whose link type spin does not read are skipped with the
  reason.

Without tshark (and when it cannot be installed), prints SKIP and exits 77.
Exit 0 when everything matches, 1 otherwise. Python 3 standard library only.
"""

import collections
import concurrent.futures
import csv
import ipaddress
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.environ.get("SPIN_CORPUS_DIR",
                        os.path.join(REPO, "..", "shared", "corpus", "pcap"))
DNSDUMP = os.environ.get("SPIN_DNSDUMP", "")
TRAFFICGEN = os.environ.get("SPIN_TRAFFICGEN", "")
JOBS = 2  # the machine is shared: at most two tshark processes at once

FILTER = "dns.flags.response==1 && (udp.srcport==53 || tcp.srcport==53)"
NAMED = ("edns-opts.pcap", "dnssec.pcap")
MAX_ANSWERS = 64
MAX_DEPTH = 16
EXPERT_ERROR = 0x00800000  # PI_ERROR in wireshark's expert severities
ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


class Obj(list):
    """A JSON object as its (key, value) pairs: tshark repeats keys."""

    def all(self, key):
        return [v for k, v in self if k == key]

    def get(self, key, default=None):
        for k, v in self:
            if k == key:
                return v
        return default


def parse_json(text):
    return json.loads(text, object_pairs_hook=Obj)


# ---------------------------------------------------------------- tshark


def ensure_tshark():
    """Path of tshark, installing it (Debian, non-interactive) if missing.
    Returns (path, None) or (None, reason)."""
    path = shutil.which("tshark")
    if path:
        return path, None
    if os.geteuid() == 0:
        prefix = []
    elif shutil.which("sudo") and subprocess.run(
            ["sudo", "-n", "true"], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL).returncode == 0:
        prefix = ["sudo", "-n", "env", "DEBIAN_FRONTEND=noninteractive"]
    else:
        return None, "tshark is not installed and this user cannot install packages"
    if not shutil.which("apt-get"):
        return None, "tshark is not installed and there is no apt-get"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # wireshark-common asks whether non-root users may capture: answer no.
    subprocess.run(prefix + ["debconf-set-selections"], env=env,
                   input=b"wireshark-common wireshark-common/install-setuid boolean false\n",
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    install = prefix + ["apt-get", "install", "-y", "-q", "--no-install-recommends", "tshark"]
    log = []
    for attempt in range(2):
        if attempt == 1:
            r = subprocess.run(prefix + ["apt-get", "update", "-q"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            log.append(r.stdout.decode(errors="replace"))
        r = subprocess.run(install, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        log.append(r.stdout.decode(errors="replace"))
        path = shutil.which("tshark")
        if r.returncode == 0 and path:
            return path, None
    tail = "".join(log).strip().splitlines()[-3:]
    return None, "apt-get install tshark failed: " + " | ".join(tail)


def ascii_lower(s):
    return s.translate(ASCII_LOWER)


def norm_addr(text):
    a = ipaddress.ip_address(text)
    if a.version == 6 and a.ipv4_mapped is not None:
        a = a.ipv4_mapped
    return str(a)


def norm_ttl(text):
    ttl = int(text)
    return 0 if ttl < 0 or ttl >= 0x80000000 else ttl


def norm_tshark_name(name):
    """Lower-cased name, or None when tshark could not decode it."""
    if name == "<Root>":
        return ""
    if "<" in name:  # "<Unknown extended label>" and the like
        return None
    return ascii_lower(name)


def has_expert_error(node):
    """True if any expert item below `node` has severity error."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Obj):
            for k, v in n:
                if k == "_ws.expert.severity":
                    try:
                        if int(v) >= EXPERT_ERROR:
                            return True
                    except ValueError:
                        pass
                stack.append(v)
        elif isinstance(n, list):
            stack.extend(n)
    return False


def expected_for_message(records):
    """records: (type, owner, value, ttl) of one message in order, IN only.
    Returns (owner triples, chain triples) as Counters, as spin must print."""
    records = records[:MAX_ANSWERS]
    addrs = [(o, v, t) for typ, o, v, t in records if typ in (1, 28)]
    edges = [(o, v, t) for typ, o, v, t in records if typ == 5]
    owners, chains = collections.Counter(), collections.Counter()
    for address in dict.fromkeys(v for _, v, _ in addrs):
        best = {}
        for o, v, t in addrs:
            if v == address:
                best[o] = max(best.get(o, -1), t)
        owner_names = set(best)
        frontier = set(best)
        for _ in range(MAX_DEPTH):
            pending = {}
            for alias, target, t in edges:
                if target in frontier:
                    cand = min(t, best[target])
                    if cand > best.get(alias, -1) and cand > pending.get(alias, -1):
                        pending[alias] = cand
            frontier = {n for n, v in pending.items() if v > best.get(n, -1)}
            if not frontier:
                break
            for n in frontier:
                best[n] = pending[n]
        for name, t in best.items():
            (owners if name in owner_names else chains)[(address, name, t)] += 1
    return owners, chains


def tshark_frames(tshark, path):
    """Per frame number: ('ok', owners, chains) or ('skip', reason).
    Returns (frames, error text or None)."""
    r = subprocess.run([tshark, "-r", path, "-n", "-Y", FILTER, "-T", "json",
                        "-J", "frame ip ipv6 dns"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
    text = r.stdout.decode(errors="replace").strip()
    err = r.stderr.decode(errors="replace")
    err = "\n".join(line for line in err.splitlines() if "Running as user" not in line)
    if not text:
        return {}, (err.strip() or None)
    try:
        packets = parse_json(text)
    except ValueError as e:
        return {}, "tshark output is not JSON (%s): %s" % (e, err.strip())
    frames = {}
    for pkt in packets:
        layers = pkt.get("_source").get("layers")
        frame = layers.get("frame")
        number = int(frame.get("frame.number"))
        protocols = frame.get("frame.protocols", "")
        reason = None
        if layers.all("_ws.malformed"):
            reason = "tshark: malformed packet"
        elif "icmp" in protocols.split(":"):
            reason = "DNS inside an ICMP error (spin does not look there)"
        elif any(ip.get("ip.fragments") is not None or ip.get("ipv6.fragments") is not None
                 for ip in layers.all("ip") + layers.all("ipv6") if isinstance(ip, Obj)):
            reason = "reassembled IP fragments (spin does not reassemble IP)"
        owners, chains = collections.Counter(), collections.Counter()
        for dns in layers.all("dns"):
            if reason:
                break
            if not isinstance(dns, Obj):
                continue
            if has_expert_error(dns):
                reason = "tshark: expert error in DNS"
                break
            flags = dns.get("dns.flags_tree", Obj())
            if flags.get("dns.flags.response") != "1" or flags.get("dns.flags.opcode") != "0":
                continue
            records = []
            answers = dns.get("Answers")
            for _, rr in (answers if isinstance(answers, Obj) else []):
                if not isinstance(rr, Obj):
                    continue
                try:
                    typ = int(rr.get("dns.resp.type", "0"))
                    cls = int(rr.get("dns.resp.class", "0"), 0)
                except ValueError:
                    continue
                if cls != 1 or typ not in (1, 5, 28):
                    continue
                owner = norm_tshark_name(rr.get("dns.resp.name", ""))
                value = rr.get({1: "dns.a", 28: "dns.aaaa", 5: "dns.cname"}[typ])
                if owner is None or value is None:
                    reason = "tshark could not decode a name"
                    break
                value = norm_addr(value) if typ != 5 else norm_tshark_name(value)
                if value is None:
                    reason = "tshark could not decode a name"
                    break
                records.append((typ, owner, value, norm_ttl(rr.get("dns.resp.ttl", "0"))))
            o, c = expected_for_message(records)
            owners += o
            chains += c
        frames[number] = ("skip", reason) if reason else ("ok", owners, chains)
    return frames, None


# ---------------------------------------------------------------- spin


def tshark_style(name):
    """spin's presentation form written as tshark writes names: '.', '\\'
    and other printable bytes as they are, control bytes as \\DDD, bytes
    above 0x7f as U+FFFD (tshark shows label text as UTF-8)."""
    def one(m):
        v = int(m.group(1))
        if v < 0x20 or v == 0x7f:
            return "\\%03d" % v
        return "\ufffd" if v > 0x7f else chr(v)
    return re.sub(r"\\(\d{3})", one, name)


def spin_frames(path):
    """(per frame Counter of (address, name, ttl), stderr, skipped reason)."""
    r = subprocess.run([DNSDUMP, "--frames", path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=600)
    err = r.stderr.decode(errors="replace")
    if r.returncode != 0:
        raise RuntimeError("spin_dnsdump %s exited with %d: %s" % (path, r.returncode, err))
    if "is not supported, skipped" in err:
        return {}, err, err.strip().splitlines()[-1]
    frames = collections.defaultdict(collections.Counter)
    for line in r.stdout.decode(errors="replace").splitlines():
        frame, addr, name, ttl = line.split("\t")
        frames[int(frame)][(norm_addr(addr), tshark_style(name), int(ttl))] += 1
    return frames, err, None


# ---------------------------------------------------------------- comparison


class Tally:
    def __init__(self):
        self.files = 0
        self.frames = 0
        self.owner_records = 0
        self.chain_names = 0
        self.skipped_frames = []
        self.skipped_files = []
        self.differences = []


def fmt(counter):
    return ", ".join("%s %s %d" % k + ("" if n == 1 else " (x%d)" % n)
                     for k, n in sorted(counter.items()))


def compare_file(label, tshark_result, spin_result, tally):
    (tframes, terror), (sframes, serr, sskip) = tshark_result, spin_result
    if sskip:
        tally.skipped_files.append((label, sskip))
        return
    if terror and not tframes:
        # tshark could not read the file; spin must then not invent answers.
        if sframes:
            tally.differences.append("%s: tshark failed (%s) but spin printed answers" %
                                     (label, terror))
        else:
            tally.skipped_files.append((label, "tshark: " + terror.splitlines()[-1]))
        return
    tally.files += 1
    for number in sorted(set(tframes) | set(sframes)):
        spin = sframes.get(number, collections.Counter())
        t = tframes.get(number)
        if t is None:
            tally.differences.append(
                "%s frame %d: spin printed answers tshark does not show as a port-53 "
                "response: %s" % (label, number, fmt(spin)))
            continue
        if t[0] == "skip":
            tally.skipped_frames.append((label, number, t[1], sum(spin.values())))
            continue
        _, owners, chains = t
        tally.frames += 1
        tally.owner_records += sum(owners.values())
        tally.chain_names += sum(chains.values())
        spin_owners = collections.Counter({k: n for k, n in spin.items() if k in owners})
        spin_rest = spin - spin_owners
        if spin_owners != owners:
            tally.differences.append(
                "%s frame %d: A/AAAA owner records differ: tshark [%s], spin [%s]" %
                (label, number, fmt(owners), fmt(spin_owners)))
        if spin_rest != chains:
            tally.differences.append(
                "%s frame %d: CNAME chain names differ: expected from tshark's CNAMEs [%s], "
                "spin [%s]" % (label, number, fmt(chains), fmt(spin_rest)))


def corpus_files():
    names = sorted(f for f in os.listdir(CORPUS)
                   if f.endswith((".pcap", ".pcapng", ".cap"))
                   and os.path.isfile(os.path.join(CORPUS, f)))
    return names


def run_corpus(tshark, tally):
    names = corpus_files()
    print("corpus: %s, %d capture files" % (os.path.normpath(CORPUS), len(names)))
    with concurrent.futures.ThreadPoolExecutor(max_workers=JOBS) as pool:
        tres = {n: pool.submit(tshark_frames, tshark, os.path.join(CORPUS, n)) for n in names}
        sres = {n: pool.submit(spin_frames, os.path.join(CORPUS, n)) for n in names}
        for n in names:
            t = tres[n].result()
            s = sres[n].result()
            named = n.startswith("dns") or n in NAMED
            if not named and not t[0] and not s[0]:
                continue  # no DNS responses on either side
            before = len(tally.differences)
            compare_file(n, t, s, tally)
            owners = sum(sum(v[1].values()) for v in t[0].values() if v[0] == "ok")
            print("  %-40s tshark responses %3d, owner records %3d, spin lines %3d%s" %
                  (n, len(t[0]), owners, sum(sum(c.values()) for c in s[0].values()),
                   "" if len(tally.differences) == before else "  DIFFERENT"))
    for n in NAMED:
        if n not in names:
            print("  %-40s not in this corpus" % n)


# ---------------------------------------------------------------- trafficgen


def check_truth(prefix, spin_path, tally):
    """Every A/AAAA record of dns.csv appears in spin's output as (address,
    owner, ttl); every alias whose CNAME chain leads to an owner appears with
    each of the owner's addresses of a family spin saw answered for the alias,
    with the smallest TTL on the chain; and every spin line is explained by
    dns.csv."""
    addrs = collections.defaultdict(list)  # owner -> [(address, ttl, family)]
    cname = {}
    with open(prefix + ".dns.csv", newline="") as f:
        for row in csv.DictReader(f):
            name = ascii_lower(row["name"])
            ttl = int(row["ttl"])
            if row["type"] in ("A", "AAAA"):
                a = norm_addr(row["value"])
                addrs[name].append((a, ttl, ipaddress.ip_address(a).version))
            elif row["type"] == "CNAME":
                cname[name] = (ascii_lower(row["value"]), ttl)
    frames, _, _ = spin_frames(spin_path)
    spin = set()
    for c in frames.values():
        spin.update(c)
    families = collections.defaultdict(set)  # name -> families spin printed
    for a, name, _ in spin:
        families[name].add(ipaddress.ip_address(a).version)

    expected_pairs = {}  # (address, name) -> ttl
    missing = []
    owner_count = 0
    for owner, lst in addrs.items():
        for a, ttl, _ in lst:
            owner_count += 1
            expected_pairs[(a, owner)] = ttl
            if (a, owner, ttl) not in spin:
                missing.append("owner record %s %s %d" % (a, owner, ttl))
    chain_count = unasked = 0
    for alias in cname:
        name, low, hops, seen = alias, None, 0, set()
        while name in cname and name not in seen and hops < MAX_DEPTH:
            seen.add(name)
            target, ttl = cname[name]
            low = ttl if low is None else min(low, ttl)
            name, hops = target, hops + 1
        for a, ttl, fam in addrs.get(name, []):
            expected_pairs[(a, alias)] = min(low, ttl)
            if fam not in families[alias]:
                unasked += 1  # no response for this family of the alias
                continue
            chain_count += 1
            if (a, alias, min(low, ttl)) not in spin:
                missing.append("chain name %s %s %d (via %s)" % (a, alias, min(low, ttl), name))
    extra = ["%s %s %d" % t for t in sorted(spin)
             if expected_pairs.get((t[0], t[1])) != t[2]]
    print("trafficgen truth: %d A/AAAA records, %d chain pairs checked (%d not: the "
          "capture has no answer of that family for the alias), %d distinct spin lines; "
          "missing %d, unexplained %d" %
          (owner_count, chain_count, unasked, len(spin), len(missing), len(extra)))
    for m in missing[:20]:
        tally.differences.append("trafficgen dns.csv: spin lacks " + m)
    for e in extra[:20]:
        tally.differences.append("trafficgen dns.csv: spin line not in the truth: " + e)
    if len(missing) > 20 or len(extra) > 20:
        tally.differences.append("trafficgen dns.csv: ... (%d missing, %d unexplained)" %
                                 (len(missing), len(extra)))


def run_trafficgen(tshark, tally):
    if not TRAFFICGEN or not os.path.exists(TRAFFICGEN):
        tally.differences.append("SPIN_TRAFFICGEN is not set to the spin-trafficgen binary")
        return
    work = tempfile.mkdtemp(prefix="spin-dns-")
    try:
        prefix = os.path.join(work, "dns")
        pcap = prefix + ".pcap"
        subprocess.run([TRAFFICGEN, "--packets", "50000", "--cdn-overlap", "--truth", prefix,
                        "--out", pcap], check=True, stdout=subprocess.DEVNULL, timeout=600)
        t = tshark_frames(tshark, pcap)
        s = spin_frames(pcap)
        before = len(tally.differences)
        compare_file("trafficgen", t, s, tally)
        print("trafficgen capture (50000 packets, --cdn-overlap): tshark responses %d, spin "
              "lines %d%s" % (len(t[0]), sum(sum(c.values()) for c in s[0].values()),
                              "" if len(tally.differences) == before else "  DIFFERENT"))
        sys.stdout.write("".join("  " + line + "\n" for line in s[1].strip().splitlines()))
        check_truth(prefix, pcap, tally)
    finally:
        if not os.environ.get("SPIN_KEEP_TMP"):
            shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------- hand-made capture


def labels(name):
    """A name as a list of label bytes: "a.b" or [b"a.b", b"c"]."""
    if isinstance(name, list):
        return name
    return [l.encode() for l in name.split(".")] if name else []


class Msg:
    """Builds a DNS message; `ptr` arguments append a compression pointer."""

    def __init__(self, flags=0x8180, ident=1):
        self.b = bytearray(struct.pack("!HH", ident, flags) + bytes(8))
        self.counts = [0, 0, 0, 0]

    def name(self, name, ptr=None):
        at = len(self.b)
        for label in labels(name):
            self.b += bytes([len(label)]) + label
        self.b += struct.pack("!H", 0xc000 | ptr) if ptr is not None else b"\0"
        return at

    def question(self, name, qtype=1, ptr=None):
        at = self.name(name, ptr)
        self.b += struct.pack("!HH", qtype, 1)
        self.counts[0] += 1
        return at

    def rr(self, owner, rtype, rclass, ttl, rdata, section=1, ptr=None):
        at = self.name(owner, ptr)
        self.b += struct.pack("!HHIH", rtype, rclass, ttl, len(rdata)) + rdata
        self.counts[section] += 1
        return at

    def addr(self, owner, text, ttl=300, ptr=None):
        a = ipaddress.ip_address(text)
        return self.rr(owner, 1 if a.version == 4 else 28, 1, ttl, a.packed, ptr=ptr)

    def cname(self, owner, target, ttl=300, ptr=None, target_ptr=None):
        self.name(owner, ptr)
        self.b += struct.pack("!HHI", 5, 1, ttl)
        at = len(self.b)
        self.b += b"\0\0"
        t = self.name(target, target_ptr)
        struct.pack_into("!H", self.b, at, len(self.b) - t)
        self.counts[1] += 1
        return t

    def done(self):
        struct.pack_into("!HHHH", self.b, 4, *self.counts)
        return bytes(self.b)


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff


def ip_packet(src, dst, proto, l4):
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if s.version == 4:
        pseudo = s.packed + d.packed + struct.pack("!BBH", 0, proto, len(l4))
    else:
        pseudo = s.packed + d.packed + struct.pack("!IxxxB", len(l4), proto)
    csum_at = 6 if proto == 17 else 16
    l4 = bytearray(l4)
    struct.pack_into("!H", l4, csum_at, checksum(pseudo + bytes(l4)) or 0xffff)
    if s.version == 4:
        h = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0, 64, proto, 0,
                                  s.packed, d.packed))
        struct.pack_into("!H", h, 10, checksum(bytes(h)))
        return 0x0800, bytes(h) + bytes(l4)
    h = struct.pack("!IHBB16s16s", 0x60000000, len(l4), proto, 64, s.packed, d.packed)
    return 0x86dd, h + bytes(l4)


def udp(sport, dport, payload):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def tcp(sport, dport, seq, ack, flags, payload=b""):
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 0x50, flags, 65535, 0, 0) + payload


def frame(src, dst, proto, l4):
    ethertype, packet = ip_packet(src, dst, proto, l4)
    return (b"\xaa\xbb\xcc\xdd\xee\x01\x00\x11\x22\x33\x44\x55" + struct.pack("!H", ethertype)
            + packet)


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1767225600 + i, 0, len(fr), len(fr)) + fr)


def handmade_frames():
    """Responses that exercise what the unit tests check, so that tshark
    confirms them: chains in every order, branches, loops, bounds, escapes,
    TTLs, classes, EDNS, IPv6, both ports 53, DNS over TCP."""
    srv, cli, srv6, cli6 = "192.0.2.53", "192.168.1.10", "2001:db8::53", "fd00::10"
    msgs = []
    m = Msg()  # compression everywhere, reversed chain order
    m.question("www.Shop.example")
    t1 = m.cname("", "shop.edge-cdn", 600, ptr=12, target_ptr=21)
    t2 = m.cname("", "e123.cdn", 120, ptr=t1, target_ptr=21)
    m.addr("", "203.0.113.7", 20, ptr=t2)
    m.addr("", "2001:db8::7", 3000, ptr=t2)
    m.rr("", 41, 4096, 0, b"\x00\x0a\x00\x08" + bytes(8), section=3)
    msgs.append(m.done())
    m = Msg()
    m.question("q.example")
    m.addr("a2.example", "198.51.100.1", 50)
    m.cname("a1.example", "A2.example", 100)
    m.cname("", "a1.example", 200, ptr=12)
    msgs.append(m.done())
    m = Msg()  # branching, two paths to one address, a loop
    m.question("b.example")
    m.cname("", "x.example", 100, ptr=12)
    m.cname("", "y.example", 200, ptr=12)
    m.cname("y.example", "b.example", 300)
    m.addr("x.example", "198.51.100.2", 1000)
    m.addr("y.example", "198.51.100.3", 1000)
    m.addr("y.example", "198.51.100.2", 1000)
    m.addr("Y.example", "198.51.100.2", 10)
    msgs.append(m.done())
    m = Msg()  # a chain longer than spin follows
    m.question("n0.example")
    for i in range(20):
        m.cname("n%d.example" % i, "n%d.example" % (i + 1), 1000 - i)
    m.addr("n20.example", "198.51.100.20", 5000)
    msgs.append(m.done())
    m = Msg()  # more answers than spin considers
    m.question("many.example")
    for i in range(70):
        m.addr("", "198.51.100.%d" % (100 + i), 60, ptr=12)
    msgs.append(m.done())
    m = Msg(flags=0x8183)  # NXDOMAIN with an answer; TTL top bit; other classes
    m.question("t.example")
    m.addr("", "198.51.100.30", 0x80000005, ptr=12)
    m.addr("", "198.51.100.31", 0x7fffffff, ptr=12)
    m.rr("", 1, 3, 60, b"\x01\x02\x03\x04\x05", ptr=12)
    m.rr("", 46, 1, 60, bytes(40), ptr=12)
    m.rr("", 16, 1, 60, b"\x03abc", ptr=12)
    msgs.append(m.done())
    m = Msg()  # unusual label bytes
    m.question([b"a.b\\ ", b"\x01\xff~", b"COM"])
    m.addr("", "198.51.100.40", 30, ptr=12)
    msgs.append(m.done())
    m = Msg(flags=0x8180 | (4 << 11))  # NOTIFY: not answers
    m.question("notify.example", 6)
    m.addr("", "198.51.100.50", 30, ptr=12)
    msgs.append(m.done())
    m = Msg()
    m.question("mapped.example", 28)
    m.addr("", "::ffff:198.51.100.60", 30, ptr=12)
    msgs.append(m.done())
    bad = Msg()  # compression loop: tshark marks it malformed, spin rejects it
    bad.question("loop.example")
    bad.b += b"\xc0" + bytes([len(bad.b)]) + struct.pack("!HHIH", 1, 1, 60, 4) + bytes(4)
    bad.counts[1] = 1

    frames = [frame(srv, cli, 17, udp(53, 40000 + i, msg)) for i, msg in enumerate(msgs)]
    frames.append(frame(srv, cli, 17, udp(53, 40100, bad.done())))
    frames.append(frame(srv6, cli6, 17, udp(53, 40200, msgs[0])))
    frames.append(frame(srv, cli, 17, udp(53, 53, msgs[1])))  # both ports 53
    q = Msg(flags=0x0100)
    q.question("query.example")
    frames.append(frame(cli, srv, 17, udp(40300, 53, q.done())))

    # DNS over TCP: two messages in one segment, then one over three segments.
    one = Msg()
    one.question("tcp1.example")
    one.addr("", "198.51.100.70", 70, ptr=12)
    two = Msg()
    two.question("tcp2.example")
    two.cname("", "tcp2.cdn.example", 700, ptr=12)
    two.addr("tcp2.cdn.example", "198.51.100.71", 71)
    three = Msg()
    three.question("tcp3.example", 28)
    for i in range(5):
        three.addr("", "2001:db8::7%d" % i, 72, ptr=12)
    stream = b"".join(struct.pack("!H", len(x)) + x for x in (one.done(), two.done()))
    split = struct.pack("!H", len(three.done())) + three.done()
    isn, cisn = 1000, 5000
    frames.append(frame(cli, srv, 6, tcp(40400, 53, cisn, 0, 0x02)))
    frames.append(frame(srv, cli, 6, tcp(53, 40400, isn, cisn + 1, 0x12)))
    frames.append(frame(cli, srv, 6, tcp(40400, 53, cisn + 1, isn + 1, 0x10)))
    seq = isn + 1
    for chunk in (stream, split[:1], split[1:30], split[30:]):
        frames.append(frame(srv, cli, 6, tcp(53, 40400, seq, cisn + 1, 0x18, chunk)))
        seq += len(chunk)
    frames.append(frame(srv, cli, 6, tcp(53, 40400, seq, cisn + 1, 0x11)))
    return frames


def run_handmade(tshark, tally):
    work = tempfile.mkdtemp(prefix="spin-dns-")
    try:
        pcap = os.path.join(work, "handmade.pcap")
        write_pcap(pcap, handmade_frames())
        t = tshark_frames(tshark, pcap)
        s = spin_frames(pcap)
        before = len(tally.differences)
        compare_file("handmade", t, s, tally)
        owners = sum(sum(v[1].values()) for v in t[0].values() if v[0] == "ok")
        print("hand-made capture: tshark responses %d, owner records %d, spin lines %d%s" %
              (len(t[0]), owners, sum(sum(c.values()) for c in s[0].values()),
               "" if len(tally.differences) == before else "  DIFFERENT"))
    finally:
        if not os.environ.get("SPIN_KEEP_TMP"):
            shutil.rmtree(work, ignore_errors=True)


def main():
    if not DNSDUMP or not os.path.exists(DNSDUMP):
        print("FAIL: SPIN_DNSDUMP is not set to the spin_dnsdump binary")
        return 1
    tshark, reason = ensure_tshark()
    if not tshark:
        print("SKIP: %s" % reason)
        return 77
    version = subprocess.run([tshark, "--version"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL).stdout
    print("tshark: %s" % version.decode(errors="replace").splitlines()[0])
    tally = Tally()
    if os.path.isdir(CORPUS):
        run_corpus(tshark, tally)
    else:
        tally.differences.append("corpus directory %s does not exist" % CORPUS)
    run_handmade(tshark, tally)
    run_trafficgen(tshark, tally)

    for label, number, why, lines in tally.skipped_frames:
        print("not compared: %s frame %d: %s (spin printed %d lines)" %
              (label, number, why, lines))
    for label, why in tally.skipped_files:
        print("skipped file: %s: %s" % (label, why))
    print("summary: %d files compared, %d response frames, %d A/AAAA owner records and "
          "%d CNAME chain names compared; %d frames and %d files not compared; "
          "%d differences" % (tally.files, tally.frames, tally.owner_records,
                              tally.chain_names, len(tally.skipped_frames),
                              len(tally.skipped_files), len(tally.differences)))
    for d in tally.differences:
        print("DIFFERENCE: " + d)
    return 1 if tally.differences else 0


if __name__ == "__main__":
    sys.exit(main())
