#!/usr/bin/env python3
"""Broker options: user name and password (a broker that refuses anonymous
clients), and TLS with a CA file (certificates made by openssl for the test)."""

import os
import subprocess

from spintest import (Broker, Subscriber, Workdir, check, free_port, generate, main,
                      run_spind)
import paho.mqtt.client as mqtt


def write_broker_conf(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


class ConfiguredBroker(Broker):
    """A Broker whose config file the test writes itself."""

    def __init__(self, workdir, lines):
        super().__init__(workdir)
        write_broker_conf(self.conf, ["listener %d 127.0.0.1" % self.port,
                                      "persistence false"] + lines)


def spind_args(pcap, port, wd, *extra):
    return ["--source", "pcap:" + pcap, "--replay", "fast", "--mqtt_port", str(port),
            "--state_dir", os.path.join(wd, "state"), "--stat_interval", "0",
            "--mqtt_connect_timeout", "3", *extra]


def test_password():
    with Workdir() as wd:
        pwfile = os.path.join(wd, "passwd")
        subprocess.run(["mosquitto_passwd", "-c", "-b", pwfile, "spind", "s3cret"],
                       check=True)
        subprocess.run(["mosquitto_passwd", "-b", pwfile, "viewer", "v"], check=True)
        os.chmod(pwfile, 0o644)
        pcap, _ = generate(wd, "pw", 2000, seed=9, flows=False)
        broker = ConfiguredBroker(wd, ["allow_anonymous false", "password_file " + pwfile])
        with broker:
            rc, log = run_spind(spind_args(pcap, broker.port, wd, "--mqtt_username", "spind",
                                           "--mqtt_password", "wrong"), check_rc=False)
            check(rc == 3, "wrong password: reports cannot be published (rc %d)" % rc)
            check("refused the connection" in log, "the refusal is logged:\n" + log[-800:])
            sub = Subscriber(broker.port)
            sub.client.username_pw_set("viewer", "v")
            with sub:
                run_spind(spind_args(pcap, broker.port, wd, "--mqtt_username", "spind",
                                     "--mqtt_password", "s3cret"))
                import time
                time.sleep(0.5)
                msgs = sub.snapshot()
            check(any('"command":"traffic"' in m.payload for m in msgs),
                  "with the right password, traffic is published")


def make_certs(wd):
    ca_key, ca_crt = os.path.join(wd, "ca.key"), os.path.join(wd, "ca.crt")
    key, csr, crt = (os.path.join(wd, n) for n in ("srv.key", "srv.csr", "srv.crt"))
    ext = os.path.join(wd, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    quiet = dict(check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", ca_key, "-out", ca_crt, "-subj", "/CN=spin test CA"], **quiet)
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", csr, "-subj", "/CN=localhost"], **quiet)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
                    "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext], **quiet)
    for path in (ca_crt, crt, key):
        os.chmod(path, 0o644)  # readable by the broker's user (test keys only)
    return ca_crt, crt, key


def test_tls():
    with Workdir() as wd:
        ca, crt, key = make_certs(wd)
        pcap, _ = generate(wd, "tls", 2000, seed=10, flows=False)
        broker = ConfiguredBroker(wd, ["allow_anonymous true", "cafile " + ca,
                                       "certfile " + crt, "keyfile " + key])
        with broker:
            got = []
            c = mqtt.Client(client_id="spin-test-tls-%d" % free_port())
            c.tls_set(ca_certs=ca)
            c.on_message = lambda cl, u, m: got.append(m.payload)
            c.connect("127.0.0.1", broker.port)
            c.subscribe("SPIN/traffic")
            c.loop_start()
            import time
            time.sleep(0.5)
            run_spind(spind_args(pcap, broker.port, wd, "--mqtt_tls_ca_file", ca))
            time.sleep(0.5)
            c.loop_stop()
            check(any(b'"command":"traffic"' in p for p in got), "traffic published over TLS")
            # A TLS broker spoken to in plain text never accepts the connection.
            rc, log = run_spind(spind_args(pcap, broker.port, wd), check_rc=False)
            check(rc == 3, "without TLS nothing is published (rc %d)" % rc)
            # A CA file that does not exist is a clear error.
            rc, log = run_spind(spind_args(pcap, broker.port, wd, "--mqtt_tls_ca_file",
                                           os.path.join(wd, "missing.crt")), check_rc=False)
            check(rc == 3 and "mqtt_tls_ca_file" in log, "missing CA file is reported:\n" +
                  log[-600:])


if __name__ == "__main__":
    main([test_password, test_tls])
