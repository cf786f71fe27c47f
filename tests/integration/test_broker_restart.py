#!/usr/bin/env python3
"""The broker goes away and comes back while spind replays a capture at its
recorded pace: spind keeps running, drops (and counts) the reports it cannot
publish, reconnects with backoff, republishes its retained nodes, and carries
on publishing. Also: spind started before any broker exists."""

import os
import time

from spintest import (Broker, Spind, Subscriber, Workdir, check, generate, main,
                      retained, wait_for)


def args(pcap, port, wd, *extra):
    return ["--source", "pcap:" + pcap, "--replay", "realtime", "--mqtt_port", str(port),
            "--state_dir", os.path.join(wd, "state"), "--mqtt_reconnect_min", "1",
            "--mqtt_reconnect_max", "2", "--stat_interval", "1", *extra]


def traffic_times(sub):
    return [m.time for m in sub.snapshot()
            if m.topic == "SPIN/traffic" and '"command":"traffic"' in m.payload]


def test_broker_killed_and_restarted():
    with Workdir() as wd:
        # ~14 s of traffic at 400 packets/s.
        pcap, _ = generate(wd, "live", 5600, seed=2, extra=["--rate", "400"], flows=False)
        broker = Broker(wd).start()
        try:
            with Spind(args(pcap, broker.port, wd), os.path.join(wd, "spind.log")) as sp:
                with Subscriber(broker.port) as sub:
                    wait_for(lambda: len(traffic_times(sub)) >= 3, 15, "first reports")
                broker.stop()
                killed = time.monotonic()
                time.sleep(3)
                check(sp.proc.poll() is None, "spind survives the broker going away")
                broker.start()
                with Subscriber(broker.port) as sub2:
                    wait_for(lambda: len(traffic_times(sub2)) >= 3, 15,
                             "reports after the broker came back")
                    # Retained nodes were republished after the reconnect (the
                    # restarted broker had lost them).
                    nodes = retained(broker.port, "SPIN/traffic/node/+")
                    check(len(nodes) > 0, "nodeInfo retained again after the reconnect")
                    # The status document is published retained as well.
                    stat = retained(broker.port, "SPIN/stat/spind", settle=1.5)
                    check("SPIN/stat/spind" in stat, "retained status document")
                rc = sp.wait(60)
                log = sp.output()
            check(rc == 0, "spind finishes the replay normally (rc %d)" % rc)
            check("reconnected" in log, "spind logs the reconnect")
            check("dropped" in log, "spind logs the dropped reports")
            check(time.monotonic() - killed > 3, "")
        finally:
            broker.stop()


def test_broker_starts_late():
    """spind holds reports while the broker is not reachable yet (within
    mqtt_connect_timeout), then publishes them."""
    with Workdir() as wd:
        pcap, prefix = generate(wd, "late", 800, seed=4, extra=["--rate", "400"],
                                flows=False)
        port_holder = Broker(wd)
        with Spind(args(pcap, port_holder.port, wd, "--mqtt_connect_timeout", "30"),
                   os.path.join(wd, "spind.log")) as sp:
            time.sleep(1.5)
            broker = port_holder.start()
            try:
                with Subscriber(broker.port) as sub:
                    rc = sp.wait(60)
                    time.sleep(0.5)
                    reports = traffic_times(sub)
                check(rc == 0, "spind exits 0")
                seconds = len(open(prefix + ".seconds.csv").readlines()) - 1
                # Reports of the first seconds were held, not lost.
                check(len(reports) >= seconds - 1,
                      "held reports were published (%d of %d)" % (len(reports), seconds))
            finally:
                broker.stop()


def test_sigterm_stops_cleanly():
    """A looping replay (the demo) runs until SIGTERM, then exits 0 without a
    crash, having published while it ran."""
    import signal
    with Workdir() as wd, Broker(wd) as broker:
        pcap, _ = generate(wd, "loop", 600, seed=6, extra=["--rate", "300"], flows=False)
        for delay in (0.3, 1.5, 3.5):  # stop in different phases (start-up, between loops)
            with Subscriber(broker.port) as sub:
                with Spind(args(pcap, broker.port, wd, "--replay", "loop"),
                           os.path.join(wd, "spind.log")) as sp:
                    time.sleep(delay)
                    sp.proc.send_signal(signal.SIGTERM)
                    rc = sp.wait(20)
                    log = sp.output()
                check(rc == 0, "SIGTERM after %.1f s: exit 0 (got %d)\n%s" % (delay, rc,
                                                                         log[-1500:]))
                check("stopping on request" in log, "the stop is logged")
                if delay > 3:
                    check(len(traffic_times(sub)) >= 2, "reports were published meanwhile")


def test_fast_replay_waits_for_a_slow_broker():
    """A fast replay of a DNS-heavy capture to a broker that stops reading for
    5 s (SIGSTOP) once the first report is out: spind waits for it instead of
    dropping reports, and every report arrives."""
    import re
    import signal
    import threading
    with Workdir() as wd, Broker(wd) as broker:
        # 107 s of traffic, ~280 messages per second (reports of ~350 kB):
        # far more than the socket buffers (a few MB) and the 4,000-message
        # backlog hold, so while the broker is stopped spind must wait, however
        # fast or slow it runs.
        pcap, prefix = generate(wd, "dnsheavy", 1600000, seed=7,
                                extra=["--dns-share", "0.2"], flows=False)
        stop = threading.Event()

        def throttle():
            wait_for(lambda: stop.is_set() or traffic_times(sub), 60, "a first report",
                     interval=0.001)
            if stop.is_set():
                return
            broker.proc.send_signal(signal.SIGSTOP)
            # Longer than the whole replay takes (well under 2 s here), so the
            # rest of it has to queue behind the stopped broker.
            stop.wait(5.0)
            broker.proc.send_signal(signal.SIGCONT)

        with Subscriber(broker.port, topics=("SPIN/traffic",)) as sub:
            with Spind(["--source", "pcap:" + pcap, "--replay", "fast", "--mqtt_port",
                        str(broker.port), "--state_dir", os.path.join(wd, "state"),
                        "--stat_interval", "0"], os.path.join(wd, "spind.log")) as sp:
                t = threading.Thread(target=throttle)
                t.start()
                try:
                    rc = sp.wait(120)
                finally:
                    stop.set()
                    t.join()
                    broker.proc.send_signal(signal.SIGCONT)
                log = sp.output()
            check(rc == 0, "spind exits 0 (%d)\n%s" % (rc, log[-2000:]))

            def counter(component, name):
                m = re.search(r"final %s: .*\b%s=(-?\d+)" % (component, name), log)
                check(m is not None, "%s %s in the final status:\n%s" % (component, name,
                                                                       log[-2000:]))
                return int(m.group(1))

            published = counter("mqtt_publisher", "reports_published")
            check(counter("mqtt_publisher", "reports_dropped") == 0,
                  "no report dropped:\n" + log[-2000:])
            check(counter("mqtt_publisher", "lost_messages") == 0, "no message lost")
            check(counter("mqtt_publisher", "unsent_messages") == 0, "everything written")
            check(published + counter("mqtt_publisher", "reports_empty") ==
                  counter("pcap_source", "intervals"), "a report for every interval")
            check(counter("pcap_source", "backlog_waits") > 0,
                  "the replay waited for the broker")
            wait_for(lambda: len(traffic_times(sub)) >= published, 30,
                     "every report at the subscriber")
            check(len(traffic_times(sub)) == published,
                  "each report once (%d, %d)" % (len(traffic_times(sub)), published))


if __name__ == "__main__":
    main([test_broker_killed_and_restarted, test_broker_starts_late,
          test_sigterm_stops_cleanly, test_fast_replay_waits_for_a_slow_broker])
