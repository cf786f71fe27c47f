#!/usr/bin/env python3
"""The HTTP API over real HTTP (doc/web_api.md): spind replays a generated
capture in a loop into a real mosquitto and serves the API and a web root on a
free port. Every endpoint: devices, appliedProfiles (JSON and form bodies),
toggleNew, profiles, notifications (new_device, profile_set_to, profile_error,
create, delete), configuration (persisted across a restart), JSON-RPC,
status, /metrics, the per-device capture (pcap header, status, stop; needs
root for libpcap), static files; errors: bad JSON, oversized bodies, invalid
MACs, unknown routes and methods, cross-origin POSTs, and basic auth."""

import http.client
import json
import os
import socket
import subprocess
import sys
import time

from spintest import (Broker, Spind, Workdir, check, free_port, generate, main, read_csv,
                      wait_for)


class Api:
    def __init__(self, port, auth=None):
        self.port = port
        self.auth = auth

    def request(self, method, path, body=None, headers=None, raw=False):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = dict(headers or {})
        if self.auth:
            import base64
            h["Authorization"] = "Basic " + base64.b64encode(self.auth.encode()).decode()
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        if raw:
            return r.status, data, r
        text = data.decode("utf-8", "replace")
        try:
            doc = json.loads(text) if text else None
        except ValueError:
            doc = text
        return r.status, doc

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, body=None, headers=None):
        return self.request("POST", path, body if body is not None else {}, headers)


def start(wd, pcap, broker, port, extra=()):
    web = os.path.join(wd, "web")
    os.makedirs(web, exist_ok=True)
    with open(os.path.join(web, "index.html"), "w") as f:
        f.write("<!doctype html><title>spin test</title>")
    profiles = os.path.join(wd, "profiles")
    os.makedirs(profiles, exist_ok=True)
    with open(os.path.join(profiles, "kids.json"), "w") as f:
        json.dump({"id": "kids", "name": "Kids", "description": "no IPv6", "block": "ipv6"}, f)
    with open(os.path.join(profiles, "broken.json"), "w") as f:
        f.write("{broken")
    args = ["--profiles_dir", profiles, "--source", "pcap:" + pcap, "--replay", "loop", "--mqtt_port", str(broker.port),
            "--state_dir", os.path.join(wd, "state"), "--http_port", str(port),
            "--web_root", web, "--control_socket", os.path.join(wd, "spind.sock"),
            "--state_write_interval", "0"] + list(extra)
    sp = Spind(args, os.path.join(wd, "spind-%d.log" % time.monotonic_ns())).__enter__()

    def up():
        check(sp.proc.poll() is None, "spind exited:\n" + sp.output()[-3000:])
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False
    wait_for(up, 30, "spind's HTTP server on port %d" % port)
    return sp


def wait_devices(api, macs):
    got = {}

    def seen():
        status, doc = api.get("/spin_api/devices")
        if status == 200 and isinstance(doc, dict):
            got.clear()
            got.update(doc)
        return set(macs) <= set(got)
    wait_for(seen, 60, "every device of the capture in /spin_api/devices", interval=0.5)
    return got


def test_api():
    with Workdir() as wd, Broker(wd) as broker:
        pcap, truth = generate(wd, "api", 20000, seed=3)
        macs = sorted({d["mac"] for d in read_csv(truth + ".devices.csv")})
        port = free_port()
        sp = start(wd, pcap, broker, port)
        try:
            api = Api(port)
            devices = wait_devices(api, macs)
            mac = macs[0]
            d = devices[mac]
            for key in ("mac", "name", "lastSeen", "appliedProfiles", "new", "enforcement",
                        "logging"):
                check(key in d, "a device has %s: %s" % (key, d))
            check(d["mac"] == mac and d["appliedProfiles"] == ["allow_all"] and d["new"] is True,
                  "a device seen for the first time: %s" % d)
            check(d["name"], "every device has a name (user, DHCP, or its first IP): %s" % d)

            # Profiles.
            status, profiles = api.get("/spin_api/profiles")
            check(status == 200 and {p["id"] for p in profiles} ==
                  {"allow_all", "deny_all", "ipv4_only", "ipv6_only", "blocked_by_ad", "kids"}
                  and all(p["type"] == ("CREATED_BY_USER" if p["id"] == "kids" else
                                        "CREATED_BY_SYSTEM") for p in profiles),
                  "profiles, the user's from --profiles_dir: %s %s" % (status, profiles))
            check("broken.json" in sp.output() and "skipped" in sp.output(),
                  "a broken profile file is named in the log")
            status, doc = api.post("/spin_api/devices/%s/appliedProfiles" % mac,
                                   {"profile_id": "kids"})
            check(status == 200 and doc == ["kids"], "a user profile applies: %s %s" %
                  (status, doc))
            status, doc = api.post("/spin_api/devices/%s/appliedProfiles" % mac,
                                   {"profile_id": "deny_all"})
            check(status == 200 and doc == ["deny_all"], "set a profile: %s %s" % (status, doc))
            status, doc = api.get("/spin_api/devices/%s/appliedProfiles" % mac)
            check(doc == ["deny_all"], "the device's profile list: %s" % doc)
            check(api.get("/spin_api/devices")[1][mac]["appliedProfiles"] == ["deny_all"],
                  "devices shows it")
            status, doc = api.post("/spin_api/devices/%s/appliedProfiles" % mac,
                                   "profile_id=allow_all",
                                   {"Content-Type": "application/x-www-form-urlencoded"})
            check(status == 200 and doc == ["allow_all"], "a form body works: %s %s" %
                  (status, doc))
            status, doc = api.post("/spin_api/devices/%s/appliedProfiles" % mac,
                                   {"profile_id": "nonsense"})
            check(status == 400 and "unknown profile" in doc["error"] and doc["status"] == 400,
                  "an unknown profile: %s %s" % (status, doc))

            # Notifications: new devices, profile changes, user messages.
            status, notes = api.get("/spin_api/notifications")
            keys = [(n["messageKey"], n.get("deviceMac")) for n in notes]
            check(("new_device", mac) in keys, "a new_device notification for %s" % mac)
            check(("profile_set_to", mac) in keys and ("profile_error", mac) in keys,
                  "profile notifications: %s" % keys)
            psets = [n for n in notes if n["messageKey"] == "profile_set_to"]
            check(any(n["messageArgs"] == ["deny_all"] and "deny_all" in n["message"]
                      for n in psets), "profile_set_to names the profile: %s" % psets)
            for n in notes:
                for key in ("id", "message", "messageKey", "messageArgs", "timestamp"):
                    check(key in n, "a notification has %s: %s" % (key, n))
            status, doc = api.post("/spin_api/notifications/create", {"message": "hello"})
            check(status == 200 and isinstance(doc["id"], int), "create: %s %s" % (status, doc))
            nid = doc["id"]
            check(any(n["id"] == nid and n["message"] == "hello"
                      for n in api.get("/spin_api/notifications")[1]), "it is listed")
            check(api.post("/spin_api/notifications/%d/delete" % nid)[0] == 200, "delete")
            check(api.post("/spin_api/notifications/%d/delete" % nid)[0] == 404,
                  "deleting it again: 404")
            check(api.post("/spin_api/notifications/abc/delete")[0] == 400, "a bad id: 400")
            check(api.post("/spin_api/notifications/create", {"message": ""})[0] == 400,
                  "an empty message: 400")

            # toggleNew.
            status, doc = api.post("/spin_api/devices/%s/toggleNew" % mac)
            check(status == 200 and doc == {"mac": mac, "new": False}, "toggleNew: %s" % doc)
            check(api.get("/spin_api/devices")[1][mac]["new"] is False, "no longer new")
            check(api.post("/spin_api/devices/%s/toggleNew" % mac)[1]["new"] is True,
                  "toggled back")
            check(api.post("/spin_api/devices/02:00:00:00:99:99/toggleNew")[0] == 404,
                  "a MAC never seen: 404")
            for bad in ("zz:00:00:00:00:01", "ff:ff:ff:ff:ff:ff", "aa:bb", "..%2f..%2fetc"):
                status, doc = api.get("/spin_api/devices/%s/appliedProfiles" % bad)
                check(status in (400, 404) and doc["status"] == status,
                      "an invalid MAC %r: %s %s" % (bad, status, doc))

            # Configuration.
            conf = {"theme": "dark", "fade": 30, "list": [1, 2, {"x": None}]}
            check(api.post("/spin_api/configuration", {"config": conf})[0] == 200,
                  "store the configuration")
            check(api.get("/spin_api/configuration")[1] == {"config": conf}, "read it back")
            check(api.post("/spin_api/configuration", "{not json")[0] == 400, "bad JSON: 400")
            check(api.post("/spin_api/configuration", {"other": 1})[0] == 400,
                  "no config member: 400")
            status, doc = api.post("/spin_api/configuration",
                                   {"config": "x" * (2 << 20)})
            check(status == 413 and doc["status"] == 413, "an oversized body: %s" % status)

            # JSON-RPC over HTTP.
            status, doc = api.post("/spin_api/jsonrpc", {"jsonrpc": "2.0", "id": 5,
                                                         "method": "list_iplist",
                                                         "params": {"list": "block"}})
            check(status == 200 and doc == {"jsonrpc": "2.0", "id": 5, "result": []},
                  "JSON-RPC: %s %s" % (status, doc))
            status, doc = api.post("/spin_api/jsonrpc", "{oops")
            check(status == 200 and doc["error"]["code"] == -32700, "a parse error: %s" % doc)
            status, doc = api.post("/spin_api/jsonrpc", {"jsonrpc": "2.0", "method": "get_names"})
            check(status == 204, "a notification: 204 (got %s)" % status)

            # Status and metrics.
            status, doc = api.get("/spin_api/status")
            check(status == 200 and "node_registry" in doc["components"] and
                  "api_server" in doc["components"], "status: %s" % list(doc["components"]))
            status, text, resp = api.request("GET", "/metrics", raw=True)
            text = text.decode()
            check(status == 200 and resp.getheader("Content-Type").startswith("text/plain") and
                  "\nspin_node_registry_nodes " in "\n" + text, "metrics:\n" + text[:500])
            check('\nspin_flow_aggregator_queue_depth{shard="0"} ' in text and
                  text.count("# TYPE spin_flow_aggregator_queue_depth ") == 1,
                  "per-shard metrics are one family with a shard label:\n" + text[:800])
            for line in text.splitlines():
                check(line.startswith("# TYPE spin_") or
                      (line.startswith("spin_") and line.rsplit(" ", 1)[1].lstrip("-").isdigit()),
                      "a well-formed metrics line: %r" % line)

            # DNS rebinding: the API answers to its addresses and known names only.
            status, doc = api.request("GET", "/spin_api/devices",
                                      headers={"Host": "evil.example:%d" % port})
            check(status == 403 and "host name" in doc["error"],
                  "an unknown Host name: 403 (%s %s)" % (status, doc))
            check(api.request("GET", "/spin_api/profiles",
                              headers={"Host": "localhost:%d" % port})[0] == 200,
                  "Host localhost is fine")
            check(api.request("GET", "/spin_api/profiles",
                              headers={"Host": "[::1]:%d" % port})[0] == 200,
                  "an IPv6 literal Host is fine")

            # curl -d sends JSON as a form: still read as JSON.
            status, doc = api.post("/spin_api/notifications/create", '{"message": "curl"}',
                                   {"Content-Type": "application/x-www-form-urlencoded"})
            check(status == 200 and isinstance(doc.get("id"), int),
                  "a JSON body labelled as a form: %s %s" % (status, doc))
            check(api.post("/spin_api/notifications/%d/delete" % doc["id"])[0] == 200,
                  "and deleted again")

            # Errors of the server and routing.
            status, doc = api.get("/spin_api/nothing")
            check(status == 404 and doc["status"] == 404, "unknown route: %s %s" % (status, doc))
            check(api.request("DELETE", "/spin_api/devices")[0] == 405, "wrong method: 405")
            status, _ = api.post("/spin_api/notifications/create", {"message": "x"},
                                 {"Origin": "http://evil.example"})
            check(status == 403, "a cross-origin POST: 403 (got %s)" % status)
            status, body, _ = api.request("GET", "/", raw=True)
            check(status == 200 and b"spin test" in body, "the web root is served")

            # Per-device capture (libpcap needs root).
            check(api.get("/spin_api/tcpdump?device=nonsense")[0] == 400, "capture: bad MAC")
            check(api.get("/spin_api/tcpdump")[0] == 400, "capture: no device")
            if os.geteuid() == 0:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                c.request("GET", "/spin_api/tcpdump?device=" + mac)
                r = c.getresponse()
                check(r.status == 200 and
                      r.getheader("Content-Type") == "application/vnd.tcpdump.pcap",
                      "capture: %s %s" % (r.status, r.getheader("Content-Type")))
                head = r.read(24)
                check(len(head) == 24 and head[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4"),
                      "capture: a pcap file header: %r" % head)
                status, doc = api.get("/spin_api/tcpdump_status?device=" + mac)
                check(doc["running"] is True and doc["bytes_sent"] >= 24, "status: %s" % doc)
                check(api.get("/spin_api/tcpdump?device=" + mac)[0] == 409,
                      "one capture per device")
                check(api.get("/spin_api/tcpdump_stop?device=" + mac)[0] == 200, "stop")
                r.read()  # the stream ends
                c.close()
                wait_for(lambda: api.get("/spin_api/tcpdump_status?device=" + mac)[1]
                         ["running"] is False, 10, "the capture to end")

                # A quiet device (the replay sends nothing live): the capture
                # still ends soon after its client goes away.
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                c.request("GET", "/spin_api/tcpdump?device=" + mac)
                r = c.getresponse()
                check(r.status == 200 and len(r.read(24)) == 24, "a quiet capture starts")
                c.close()
                wait_for(lambda: api.get("/spin_api/tcpdump_status?device=" + mac)[1]
                         ["running"] is False, 10, "a capture whose client left to end")

                # At most four captures at once.
                held = []
                try:
                    for m in macs[:4]:
                        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                        c.request("GET", "/spin_api/tcpdump?device=" + m)
                        r = c.getresponse()
                        check(r.status == 200, "capture %d of 4: %s" % (len(held) + 1, r.status))
                        r.read(24)
                        held.append(c)
                    status, doc = api.get("/spin_api/tcpdump?device=" + macs[4])
                    check(status == 429 and "captures are running" in doc["error"],
                          "a fifth capture: 429 (%s %s)" % (status, doc))
                finally:
                    for c in held:
                        c.close()
                for m in macs[:4]:
                    wait_for(lambda: api.get("/spin_api/tcpdump_status?device=" + m)[1]
                             ["running"] is False, 10, "capture of %s to end" % m)

                # Captures change state over GET: not from another site, not by HEAD.
                status, _ = api.request("GET", "/spin_api/tcpdump?device=" + mac,
                                        headers={"Sec-Fetch-Site": "cross-site"})
                check(status == 403, "a cross-site capture request: 403 (%s)" % status)
                status, _ = api.request("GET", "/spin_api/tcpdump_stop?device=" + mac,
                                        headers={"Origin": "http://evil.example"})
                check(status == 403, "a cross-origin tcpdump_stop: 403 (%s)" % status)
                check(api.request("HEAD", "/spin_api/tcpdump?device=" + mac, raw=True)[0] == 405,
                      "HEAD does not start a capture")
                check(api.get("/spin_api/tcpdump_status?device=" + mac)[1]["running"] is False,
                      "none of them started one")
            else:
                print("  (capture part skipped: libpcap needs root)")
        finally:
            sp.__exit__(None, None, None)

        # A restart keeps the configuration and does not announce devices again.
        sp = start(wd, pcap, broker, port)
        try:
            api = Api(port)
            check(api.get("/spin_api/configuration")[1] == {"config": conf},
                  "the configuration survives a restart")
            wait_devices(api, macs)
            time.sleep(2)  # a few more intervals: any new_device would be announced now
            news = [n for n in api.get("/spin_api/notifications")[1]
                    if n["messageKey"] == "new_device"]
            check(len(news) == len({n["deviceMac"] for n in news}),
                  "no device is announced twice: %s" % [n["deviceMac"] for n in news])
            check(api.get("/spin_api/devices")[1][macs[1]]["new"] is True,
                  "the new flags survive a restart")
        finally:
            sp.__exit__(None, None, None)


def test_basic_auth():
    with Workdir() as wd, Broker(wd) as broker:
        pcap, _ = generate(wd, "auth", 2000, seed=4)
        hashed = subprocess.run(["openssl", "passwd", "-6", "-salt", "spinsalt", "s3cret"],
                                stdout=subprocess.PIPE, text=True, check=True).stdout.strip()
        pw = os.path.join(wd, "users")
        with open(pw, "w") as f:
            f.write("# spin users\nadmin:%s\n" % hashed)
        port = free_port()
        sp = start(wd, pcap, broker, port, ["--http_password_file", pw])
        try:
            status, doc = Api(port).get("/spin_api/profiles")
            check(status == 401 and doc["status"] == 401, "no credentials: 401 (%s)" % status)
            check(Api(port, "admin:wrong").get("/spin_api/profiles")[0] == 401,
                  "a wrong password: 401")
            check(Api(port, "admin:s3cret").get("/spin_api/profiles")[0] == 200,
                  "the right password: 200")
            check(Api(port, "admin:s3cret").request("GET", "/", raw=True)[0] == 200,
                  "static files with the password")
            # Guessing: after 10 failures in a minute the address gets 429
            # without a password check, even with the right password.
            codes = [Api(port, "admin:guess%d" % i).get("/spin_api/profiles")[0]
                     for i in range(12)]
            check(codes[:9] == [401] * 9 and codes[-1] == 429,
                  "failed logins are limited per address: %s" % codes)
            check(Api(port, "admin:s3cret").get("/spin_api/profiles")[0] == 429,
                  "the address waits a minute, whatever it sends")
        finally:
            sp.__exit__(None, None, None)
        with open(pw, "w") as f:
            f.write("admin:plaintext\n")
        rc, out = None, ""
        sp = Spind(["--source", "pcap:" + pcap, "--replay", "fast", "--mqtt_port",
                    str(broker.port), "--state_dir", os.path.join(wd, "state2"),
                    "--http_port", str(free_port()), "--http_password_file", pw],
                   os.path.join(wd, "plain.log")).__enter__()
        try:
            sp.wait(60)
            out = sp.output()
        finally:
            sp.__exit__(None, None, None)
        check("plain" in out.lower() and "http" in out.lower(),
              "a plain-text password is refused with a clear message:\n" + out[-2000:])


if __name__ == "__main__":
    for tool in ("mosquitto", "openssl"):
        if subprocess.run(["which", tool], stdout=subprocess.DEVNULL).returncode != 0:
            print("SKIP: %s is not installed" % tool)
            sys.exit(77)
    main([test_api, test_basic_auth])
