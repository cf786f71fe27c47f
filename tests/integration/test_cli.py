#!/usr/bin/env python3
"""spind's command line and config file: --help lists every option, bad input
gives a clear message and exit code 2, a missing capture gives exit code 1."""

import os
import re
import subprocess

from spintest import QUIET, SPIND, Workdir, check, main


def run(*args, timeout=30):
    p = subprocess.run([SPIND, *QUIET, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def test_help_lists_every_documented_option():
    rc, out, _ = run("--help")
    check(rc == 0, "--help exits 0")
    doc = open(os.path.join(os.path.dirname(__file__), "..", "..", "doc",
                            "configuration.md")).read()
    documented = re.findall(r"^\| `(\w+)` \|", doc, re.M)
    check(len(documented) > 20, "doc/configuration.md has the option table")
    for name in documented:
        check("--%s " % name in out, "--help lists --%s" % name)


def test_malformed_config_names_the_line():
    with Workdir() as wd:
        path = os.path.join(wd, "spin.conf")
        with open(path, "w") as f:
            f.write("config spin 'spind'\n\toption mqtt_port '1883'\n\toption 'broken\n")
        rc, _, err = run("-c", path)
        check(rc == 2, "exit code 2 (got %d)" % rc)
        check("%s:3:" % path in err, "the message names line 3: " + err)
        with open(path, "w") as f:
            f.write("config spin 'spind'\n\toption mqtt_port 'seventeen'\n")
        rc, _, err = run("-c", path)
        check(rc == 2 and "%s:2: option mqtt_port" % path in err, "bad value: " + err)
        rc, _, err = run("-c", os.path.join(wd, "missing.conf"))
        check(rc == 2 and "cannot open" in err, "missing config file: " + err)


def test_bad_flags():
    rc, _, err = run("--frobnicate", "1")
    check(rc == 2 and "unknown option --frobnicate" in err, err)
    rc, _, err = run("--replay", "sideways")
    check(rc == 2 and "replay" in err, err)


def test_missing_capture_file():
    with Workdir() as wd:
        rc, _, err = run("--source", "pcap:" + os.path.join(wd, "nope.pcap"), "--replay",
                         "fast", "--mqtt_port", "1", "--mqtt_connect_timeout", "0",
                         "--state_dir", os.path.join(wd, "state"))
        check(rc == 1, "exit code 1 for an unreadable capture (got %d)" % rc)
        check("cannot read capture file" in err, err)


def test_kmod_without_the_module():
    """This host cannot load spin.ko (the VM test loads it): --source kmod
    says so and exits; kmod with nflog is a usage error."""
    with Workdir() as wd:
        rc, _, err = run("--source", "kmod", "--mqtt_port", "1", "--mqtt_connect_timeout", "0",
                         "--state_dir", os.path.join(wd, "state"))
        check(rc != 0 and "spin kernel module is not loaded" in err,
              "--source kmod without spin.ko (rc %d): %s" % (rc, err[-1500:]))
        rc, _, err = run("--source", "kmod,nflog", "--state_dir", os.path.join(wd, "state"))
        check(rc != 0 and "does not run together" in err, "kmod with nflog: " + err[-800:])


def test_spin1_config_file():
    """An existing SPIN 1.0 /etc/config/spin keeps working."""
    with Workdir() as wd:
        path = os.path.join(wd, "spin")
        with open(path, "w") as f:
            f.write("config spind 'spind'\n"
                    "\toption pubsub_host '127.0.0.1'\n"
                    "\toption pubsub_port '1'\n"
                    "\toption pubsub_run_mosquitto '1'\n"
                    "\toption spinweb_port '13026'\n")
        rc, _, err = run("-c", path, "--source", "pcap:" + os.path.join(wd, "none.pcap"),
                         "--replay", "fast", "--mqtt_connect_timeout", "0",
                         "--state_dir", os.path.join(wd, "state"))
        check(rc == 1, "the file is accepted; only the capture is missing (rc %d)" % rc)
        check("pubsub_host is SPIN 1.0's name for mqtt_host" in err, err)
        check("pubsub_run_mosquitto is not used" in err, err)


if __name__ == "__main__":
    main([test_help_lists_every_documented_option, test_malformed_config_names_the_line,
          test_bad_flags, test_missing_capture_file, test_kmod_without_the_module,
          test_spin1_config_file])
