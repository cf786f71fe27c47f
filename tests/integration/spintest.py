"""Helpers for spin's integration tests: a real mosquitto broker on a free
loopback port, a real MQTT subscriber (paho), spind and the traffic generator
as subprocesses, and the generator's ground truth. Everything a test starts
is stopped again, also when the test fails (context managers)."""

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import paho.mqtt.client as mqtt

BUILD_DIR = os.environ.get("SPIN_BUILD_DIR", "")
SPIND = os.environ.get("SPIND", os.path.join(BUILD_DIR, "actors", "spind"))
TRAFFICGEN = os.environ.get(
    "SPIN_TRAFFICGEN", os.path.join(BUILD_DIR, "bench", "trafficgen", "spin-trafficgen"))


class TestFailure(AssertionError):
    pass


def check(cond, what):
    """A named assertion: raises with `what` when `cond` is false."""
    if not cond:
        raise TestFailure(what)


def wait_for(predicate, timeout, what, interval=0.02):
    """Waits until predicate() is true, or fails naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TestFailure("timed out after %.1f s waiting for %s" % (timeout, what))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Workdir:
    """A temporary directory, removed afterwards unless SPIN_KEEP_TMP is set."""

    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="spin-it-")
        # mosquitto started as root drops to its own user: it must be able to
        # read the files a test writes for it.
        os.chmod(self.path, 0o755)
        return self.path

    def __exit__(self, *exc):
        if not os.environ.get("SPIN_KEEP_TMP"):
            shutil.rmtree(self.path, ignore_errors=True)


class Broker:
    """A private mosquitto on 127.0.0.1:<free port>, without persistence (a
    restart loses retained messages, like a broker that crashed)."""

    def __init__(self, workdir, port=None):
        self.port = port or free_port()
        self.conf = os.path.join(workdir, "mosquitto-%d.conf" % self.port)
        self.logfile = os.path.join(workdir, "mosquitto-%d.log" % self.port)
        with open(self.conf, "w") as f:
            f.write("listener %d 127.0.0.1\n" % self.port)
            f.write("allow_anonymous true\n")
            # Tests must see every message: no per-client queue limits.
            f.write("max_queued_messages 0\n")
            f.write("max_queued_bytes 0\n")
            f.write("persistence false\n")
        self.proc = None

    def start(self):
        log = open(self.logfile, "a")
        self.proc = subprocess.Popen(["mosquitto", "-c", self.conf], stdout=log,
                                     stderr=subprocess.STDOUT)
        def accepting():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return True
            except OSError:
                check(self.proc.poll() is None, "mosquitto exited: see " + self.logfile)
                return False
        wait_for(accepting, 10, "mosquitto on port %d" % self.port)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Message:
    __slots__ = ("topic", "payload", "retain", "time")

    def __init__(self, topic, payload, retain, t):
        self.topic, self.payload, self.retain, self.time = topic, payload, retain, t

    def json(self):
        return json.loads(self.payload)


class Subscriber:
    """A real MQTT client that records every message on `topics`."""

    def __init__(self, port, topics=("SPIN/#",), name=None):
        self.messages = []
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.sub_mid = None
        self.client = mqtt.Client(client_id=name or "spin-test-%d-%d" % (os.getpid(),
                                                                         free_port()),
                                  clean_session=True)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.topics = topics
        self.port = port

    def _on_connect(self, client, userdata, flags, rc):
        with self.lock:
            _, self.sub_mid = client.subscribe([(t, 0) for t in self.topics])
        self.connected.set()

    def _on_subscribe(self, client, userdata, mid, granted_qos):
        with self.lock:
            if mid == self.sub_mid:
                self.subscribed.set()

    def _on_message(self, client, userdata, msg):
        with self.lock:
            self.messages.append(Message(msg.topic, msg.payload.decode("utf-8", "replace"),
                                         bool(msg.retain), time.monotonic()))

    def start(self):
        self.client.connect("127.0.0.1", self.port, keepalive=10)
        self.client.loop_start()
        check(self.connected.wait(10), "subscriber connected")
        # Nothing may be published before the broker has the subscription.
        check(self.subscribed.wait(10), "subscriber's SUBACK")
        return self

    def stop(self):
        self.client.disconnect()
        self.client.loop_stop()

    def snapshot(self):
        with self.lock:
            return list(self.messages)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def retained(port, pattern, settle=1.0):
    """Every retained message currently on the broker under `pattern`, as
    {topic: payload}. Retained messages are delivered right after SUBACK, so a
    fresh subscriber that waits `settle` seconds sees them all."""
    with Subscriber(port, topics=(pattern,)) as s:
        time.sleep(settle)
        msgs = s.snapshot()
    # While spind runs, new publishes arrive too, with the retain flag clear
    # (MQTT sets it only for messages from the retained store).
    return {m.topic: m.payload for m in msgs if m.retain}


def generate(workdir, name, packets, seed=1, extra=(), flows=True):
    """Runs the traffic generator; returns (pcap path, truth prefix)."""
    pcap = os.path.join(workdir, name + ".pcap")
    prefix = os.path.join(workdir, name)
    cmd = [TRAFFICGEN, "--packets", str(packets), "--seed", str(seed), "--out", pcap,
           "--truth", prefix] + (["--truth-flows"] if flows else []) + list(extra)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return pcap, prefix


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# Tests run in parallel: no shared HTTP port and no shared control socket
# unless a test asks for them (a later flag overrides these).
QUIET = ["--http_port", "0", "--control_socket", ""]


def run_spind(args, timeout=120, check_rc=True, logfile=None):
    """Runs spind to completion; returns (returncode, log text)."""
    cmd = [SPIND] + QUIET + list(args)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout)
    out = p.stdout.decode("utf-8", "replace")
    if logfile:
        with open(logfile, "w") as f:
            f.write(out)
    if check_rc:
        check(p.returncode == 0, "spind exited %d:\n%s" % (p.returncode, out[-3000:]))
    return p.returncode, out


class Spind:
    """spind running in the background (for tests that act while it runs)."""

    def __init__(self, args, logfile):
        self.args = list(args)
        self.logfile = logfile
        self.proc = None

    def __enter__(self):
        self.log = open(self.logfile, "w")
        self.proc = subprocess.Popen([SPIND] + QUIET + self.args, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        return self

    def wait(self, timeout):
        return self.proc.wait(timeout=timeout)

    def output(self):
        with open(self.logfile) as f:
            return f.read()

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def main(tests):
    """Runs test functions in order; prints a line per test; exit 1 on failure."""
    failed = 0
    for t in tests:
        start = time.monotonic()
        try:
            t()
            print("PASS %s (%.1f s)" % (t.__name__, time.monotonic() - start), flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure the same way
            failed += 1
            print("FAIL %s: %s: %s" % (t.__name__, type(e).__name__, e), flush=True)
            traceback.print_exc()
    sys.exit(1 if failed else 0)
