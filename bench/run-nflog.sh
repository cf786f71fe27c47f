#!/bin/bash
# NFLOG benchmark: how many packets per second spind's NFLOG source counts
# without loss, next to a minimal libmnl reader (spin-nflog-count) on the same
# group and the same rule, in the live-capture rig (tests/integration/rig.py:
# d1 -> router -> wan over veth, network namespaces).
#
#   sudo bench/run-nflog.sh [REPS] [RATES]
#       REPS   repetitions of the whole series (default 3)
#       RATES  target rates in packets/s (default "100000 200000 300000 400000
#              500000 600000")
#   SPIN_BENCH_SENDERS=N: N sender processes in d1 share each rate (default 1)
#   SPIN_BENCH_CPU=C: pin the sender(s) and the reader to CPU C (taskset), as
#       on a single-core router: the reader's CPU cost then decides where loss
#       starts (by default the 2-core rig's sender is the limit, not the reader)
#
# For every rate: UDP with 18-byte payloads from d1 to a wan discard port,
# 3-second bursts paced by spin-udp-blast. Reader 1: spind --source nflog
# --nflog_per_packet on (the packet group, default settings); its count is
# the sum of total flows' `count` of its traffic messages for the burst's
# port. Reader 2: spin-nflog-count on the same group, the rule installed by
# spin_nftctl (spind's own nft_table code, so the very same rule), spind not
# running. The kernel's forwarded count is an nft counter in the router
# (`inet spintest`). Loss = forwarded - counted (spind; also its sequence-gap
# count) or the sequence gaps (minimal reader). CPU: utime + stime from
# /proc/PID/stat over the burst and its drain (spind: the whole process and
# its busiest thread, the NFLOG reader).
#
# Needs root and a built tree: targets spind spin-udp-blast spin-nflog-count
# spin_nftctl (SPIN_BUILD_DIR, default build/). The machine is shared and has
# 2 cores (sender + forwarding on one, the reader on the other): run it a few
# times and compare within one session.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${SPIN_BUILD_DIR:-$top/build}
reps=${1:-3}
rates=${2:-"100000 200000 300000 400000 500000 600000"}

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: the NFLOG benchmark needs root (network namespaces, nftables, NFLOG)"
  exit 77
fi
export SPIND=${SPIND:-$build/actors/spind}
export SPIN_UDP_BLAST=${SPIN_UDP_BLAST:-$build/bench/spin-udp-blast}
export SPIN_NFLOG_COUNT=${SPIN_NFLOG_COUNT:-$build/bench/spin-nflog-count}
export SPIN_NFTCTL=${SPIN_NFTCTL:-$build/tests/spin_nftctl}
for b in "$SPIND" "$SPIN_UDP_BLAST" "$SPIN_NFLOG_COUNT" "$SPIN_NFTCTL"; do
  if [ ! -x "$b" ]; then
    echo "run-nflog.sh: $b is missing; build the targets spind spin-udp-blast" \
      "spin-nflog-count spin_nftctl (SPIN_BUILD_DIR=$build)" >&2
    exit 1
  fi
done
for t in ip nft mosquitto sysctl; do
  command -v "$t" >/dev/null || { echo "run-nflog.sh: $t is not installed" >&2; exit 1; }
done
export SPIN_RIG_DIR="$top/tests/integration"

exec /usr/bin/python3 - "$reps" "$rates" <<'PY'
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.environ["SPIN_RIG_DIR"])
import rig  # noqa: E402
from spintest import Workdir  # noqa: E402

REPS = int(sys.argv[1])
RATES = [int(x) for x in sys.argv[2].split()]
assert 2 * len(RATES) < len(rig.DISCARD_PORTS), "one discard port per burst"
BURST_S = 3
PAYLOAD = 18
SENDERS = int(os.environ.get("SPIN_BENCH_SENDERS", "1"))
# One core for everything (sender, forwarding, reader), like a single-core
# router: the reader's CPU cost then decides where loss starts.
CPU = os.environ.get("SPIN_BENCH_CPU", "")
PIN = ["taskset", "-c", CPU] if CPU else []
PACKET_GROUP = 3  # spind's default nflog_packet_group; the minimal reader reads it too
SINK = rig.SERVICE4[2]


def thread_cpu(pid):
    """{tid: cpu seconds} of every thread of pid."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            out[int(tid)] = rig.proc_cpu_seconds(pid, int(tid))
        except OSError:
            pass
    return out


def settle(read, target, deadline_s=30, quiet_s=3):
    """Waits until read() reaches target, or stops changing for quiet_s."""
    start = last_change = time.monotonic()
    last = read()
    while time.monotonic() - start < deadline_s:
        v = read()
        if v >= target:
            return v
        if v != last:
            last, last_change = v, time.monotonic()
        elif time.monotonic() - last_change >= quiet_s:
            return v
        time.sleep(0.25)
    return read()


def burst(r, name, i, rate):
    """One paced burst to its own discard port, from SENDERS processes in d1
    (rate / SENDERS each); returns (port, {"seconds": longest sender})."""
    port = rig.DISCARD_PORTS[1 + i]
    r.add_flow(name, "d1", 4, "udp", SINK, port)
    results = []

    def one():
        per = rate // SENDERS
        results.append(r.blast("d1", SINK, port, pps=per, seconds=BURST_S, size=PAYLOAD,
                               count=per * BURST_S, prefix=PIN))
    threads = [threading.Thread(target=one) for _ in range(SENDERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if len(results) != SENDERS:
        raise RuntimeError("a sender failed")
    return port, {"seconds": max(x["seconds"] for x in results)}


def run_spind(r):
    rows = []
    with r.subscriber() as sub:
        sp = r.spind(["--source", "nflog", "--nflog_per_packet", "on",
                      "--nflog_packet_group", str(PACKET_GROUP)], prefix=PIN).start()
        try:
            sp.wait_started()
            rig.wait_for(lambda: sub.commands("serverRestart"), 20, "spind to connect")
            for i, rate in enumerate(RATES):
                name = "spind_%d" % rate
                lost0 = sub.component("nflog_source").get("lost", 0)
                cpu0, threads0 = sp.cpu_seconds(), thread_cpu(sp.pid)
                port, res = burst(r, name, i, rate)
                forwarded = r.flow_counters(name)[0][0]

                def counted():
                    return rig.pair_totals(sub.traffic(), rig.DEVICE_MACS["d1"], [SINK],
                                           port=port, proto=17)["up"][0]
                got = settle(counted, forwarded)
                cpu1, threads1 = sp.cpu_seconds(), thread_cpu(sp.pid)
                # One more status round, for the sequence-gap count.
                t = time.monotonic()
                rig.wait_for(lambda: any(m.topic == "SPIN/stat/spind" and m.time > t + 1.1
                                         for m in sub.messages()[-20:]), 10,
                             "a fresh status document", interval=0.2)
                lost = sub.component("nflog_source").get("lost", 0) - lost0
                busiest = max(threads1[k] - threads0.get(k, 0) for k in threads1)
                rows.append(dict(rate=rate, seconds=res["seconds"], forwarded=forwarded,
                                 counted=got, loss=max(0, forwarded - got), seq_lost=lost,
                                 cpu=cpu1 - cpu0, cpu_reader=busiest))
        finally:
            sp.stop()
    return rows


def run_minimal(r):
    rows = []
    rig.run("ip", "netns", "exec", r.router, rig.NFTCTL, "install", "--per-packet",
            "--lan", "br-lan", "--packet-group", str(PACKET_GROUP))
    lines = []
    proc = subprocess.Popen(["ip", "netns", "exec", r.router] + PIN +
                            [rig.NFLOG_COUNT, str(PACKET_GROUP), "--seconds", "3600"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reader = threading.Thread(target=lambda: [lines.append(l.strip()) for l in proc.stderr],
                              daemon=True)
    reader.start()

    def progress():
        for l in reversed(lines):
            if l.startswith("progress "):
                return {k: int(v) for k, v in (kv.split("=") for kv in l.split()[1:])}
        return {"packets": 0, "lost": 0}

    try:
        rig.wait_for(lambda: any(l.startswith("ready") for l in lines) or
                     proc.poll() is not None, 20, "spin-nflog-count to bind")
        if proc.poll() is not None:
            raise RuntimeError("spin-nflog-count failed: %s" % lines)
        for i, rate in enumerate(RATES):
            name = "minimal_%d" % rate
            p0 = progress()
            cpu0 = rig.proc_cpu_seconds(proc.pid)
            port, res = burst(r, name, len(RATES) + i, rate)
            forwarded = r.flow_counters(name)[0][0]
            seen = lambda: (progress()["packets"] + progress()["lost"] -  # noqa: E731
                            p0["packets"] - p0["lost"])
            settle(seen, forwarded)
            p1 = progress()
            cpu1 = rig.proc_cpu_seconds(proc.pid)
            got = p1["packets"] - p0["packets"]
            lost = p1["lost"] - p0["lost"]
            rows.append(dict(rate=rate, seconds=res["seconds"], forwarded=forwarded, counted=got,
                             loss=max(lost, forwarded - got), seq_lost=lost,
                             cpu=cpu1 - cpu0, cpu_reader=cpu1 - cpu0))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        rig.run("ip", "netns", "exec", r.router, rig.NFTCTL, "remove", check_rc=False)
    return rows


def table(title, rows):
    print("\n%s (load average %s)" % (title, open("/proc/loadavg").read().split()[0]))
    print("%8s %8s %9s %9s %8s %7s %7s %7s %8s %8s" % (
        "target", "fwd/s", "forwarded", "counted", "loss", "loss%", "seqlost", "cpu s",
        "us/pkt", "rd us/pkt"))
    for x in rows:
        fwd = max(1, x["forwarded"])
        print("%8d %8.0f %9d %9d %8d %6.2f%% %7d %7.2f %8.3f %8.3f" % (
            x["rate"], x["forwarded"] / x["seconds"], x["forwarded"], x["counted"],
            x["loss"], 100.0 * x["loss"] / fwd, x["seq_lost"], x["cpu"],
            1e6 * x["cpu"] / fwd, 1e6 * x["cpu_reader"] / fwd))
    sys.stdout.flush()


def best(rows):
    """(target, forwarded pps, limited) of the highest target rate with zero
    loss; limited is False when no rate lost anything (the sender, not the
    reader, was the limit: the reader's real limit is higher)."""
    ok = [x for x in rows if x["loss"] == 0 and x["seq_lost"] == 0]
    if not ok:
        return 0, 0, True
    x = max(ok, key=lambda x: x["rate"])
    return x["rate"], x["forwarded"] / x["seconds"], len(ok) < len(rows)


def show(b):
    return "%d(%.0f%s)" % (b[0], b[1], "" if b[2] else "+")


summary = []
for rep in range(REPS):
    with Workdir() as wd, rig.Rig(wd, helper_limit=3600) as r:
        s = run_spind(r)
        table("rep %d: spind --source nflog --nflog_per_packet on" % (rep + 1), s)
        m = run_minimal(r)
        table("rep %d: spin-nflog-count (minimal libmnl reader), same rule" % (rep + 1), m)
    summary.append((s, m))
    print("rep %d: highest zero-loss target (forwarded/s): spind %s, minimal %s" % (
        rep + 1, show(best(s)), show(best(m))), flush=True)

print("\nsummary over %d repetitions (target rates %s; %d s bursts of %d-byte UDP payloads, "
      "%d sender(s)%s)" % (REPS, " ".join(str(x) for x in RATES), BURST_S, PAYLOAD, SENDERS,
                           ", all on CPU " + CPU if CPU else ""))
print("'+': no loss at any rate, so the sender was the limit and the reader's is higher")
print("%-8s %-40s %-28s %s" % ("reader", "highest zero-loss target (fwd/s)",
                                "us CPU/pkt process (reader)", "loss at the highest rate"))
medians = {}
for idx, name in ((0, "spind"), (1, "minimal")):
    bests = [best(x[idx]) for x in summary]
    medians[name] = (statistics.median(b[1] for b in bests), all(not b[2] for b in bests))
    rows = [x[idx] for x in summary]
    us = statistics.median(1e6 * row["cpu"] / max(1, row["forwarded"])
                           for rr in rows for row in rr)
    us_rd = statistics.median(1e6 * row["cpu_reader"] / max(1, row["forwarded"])
                              for rr in rows for row in rr)
    top_loss = ["%.2f%%" % (100.0 * rr[-1]["loss"] / max(1, rr[-1]["forwarded"]))
                for rr in rows]
    print("%-8s %-40s %-28s %s" % (name, " ".join(show(b) for b in bests),
                                   "%.3f (%.3f)" % (us, us_rd), " ".join(top_loss)))
(ms, s_free), (mm, m_free) = medians["spind"], medians["minimal"]
print("ratio spind/minimal of the median highest zero-loss forwarded rates: %.0f%% "
      "(target >= 90%%)%s" % (100.0 * ms / max(1, mm),
                              "; both loss-free at every rate: sender-limited, a lower "
                              "bound only" if s_free and m_free else ""))
print("CPU per packet, spind/minimal: %s" % " ".join(
    "%.1fx" % ((x[0][i]["cpu"] / max(1, x[0][i]["forwarded"])) /
               max(1e-12, x[1][i]["cpu"] / max(1, x[1][i]["forwarded"])))
    for x in summary for i in range(len(RATES))))
PY
