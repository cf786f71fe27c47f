#!/usr/bin/env python3
"""spin's HTTP server (spin_httpecho, a tiny handler on it) as Python's
http.client and ssl see it: IPv4 and IPv6 listeners at once, keep-alive,
HTTPS with a self-signed certificate made by `openssl req` (and a clear
start-up error for a missing key), basic authentication with a hash from
`openssl passwd -6`, gzip-compressed static files, a chunked stream read to
the end, a body over --max-body, 100 concurrent connections against
--max-connections 10 (some get 503, the server never crashes), and SIGTERM
with a stream open. Needs no root: everything is on the loopback interface,
in a fresh temporary directory removed afterwards, also on failure."""

import base64
import gzip
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

from spintest import check, main, wait_for

HTTPECHO = os.environ.get("SPIN_HTTPECHO", "")


class Workdir:
    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="spin-http-%d-" % os.getpid())
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


class Httpecho:
    """spin_httpecho with `args`, stopped again (SIGTERM, then SIGKILL)."""

    def __init__(self, *args):
        self.args = [str(a) for a in args]
        self.ports = []
        self.stderr = ""

    def __enter__(self):
        self.proc = subprocess.Popen([HTTPECHO, *self.args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines = []

        def read_stdout():
            for line in self.proc.stdout:
                self.lines.append(line.strip())
        threading.Thread(target=read_stdout, daemon=True).start()
        wait_for(lambda: any(l.startswith("ready") for l in self.lines)
                 or self.proc.poll() is not None, 20, "spin_httpecho to listen")
        if self.proc.poll() is not None:
            raise AssertionError("spin_httpecho exited: %s" % self.proc.stderr.read())
        ready = next(l for l in self.lines if l.startswith("ready"))
        self.ports = [int(p) for p in ready.split()[1:]]
        return self

    @property
    def port(self):
        return self.ports[0]

    def terminate(self):
        """SIGTERM; returns the exit code and keeps stderr."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            _, self.stderr = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, self.stderr = self.proc.communicate()
        return self.proc.returncode

    def counters(self):
        out = {}
        for line in self.stderr.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].lstrip("-").isdigit():
                out[parts[0]] = int(parts[1])
        return out

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.terminate()


def request(conn, method, path, body=None, headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    return r, r.read()


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_ipv4_ipv6_and_keep_alive():
    v6 = ipv6_loopback()
    addresses = ["--address", "127.0.0.1"] + (["--address", "::1"] if v6 else [])
    with Httpecho("--port", 0, *addresses) as srv:
        check(len(srv.ports) == (2 if v6 else 1), "one port per address")
        conn = http.client.HTTPConnection("127.0.0.1", srv.ports[0], timeout=10)
        r, body = request(conn, "GET", "/spin_api/echo?x=1&y=a%20b")
        check(r.status == 200, "GET over IPv4: %d" % r.status)
        doc = json.loads(body)
        check(doc["method"] == "GET" and doc["path"] == "/spin_api/echo",
              "echo names the request: %r" % doc)
        check(doc["params"] == {"x": "1", "y": "a b"}, "decoded params: %r" % doc["params"])
        check(doc["remote"].startswith("127.0.0.1:"), "remote address: %r" % doc["remote"])
        sock = conn.sock
        r, body = request(conn, "POST", "/spin_api/echo", body=b'{"a":1}',
                          headers={"Content-Type": "application/json"})
        check(r.status == 200 and json.loads(body)["body"] == '{"a":1}', "POST body echoed")
        check(conn.sock is sock, "keep-alive: the second request used the same connection")
        r, body = request(conn, "GET", "/spin_api/missing")
        check(r.status == 404 and json.loads(body) == {
            "status": 404, "error": "no such endpoint: /spin_api/missing"},
            "404 in the error shape: %r" % body)
        conn.close()
        if v6:
            conn6 = http.client.HTTPConnection("::1", srv.ports[1], timeout=10)
            r, body = request(conn6, "GET", "/spin_api/echo")
            check(r.status == 200, "GET over IPv6")
            check(json.loads(body)["remote"].startswith("[::1]:"), "IPv6 remote in brackets")
            conn6.close()
        else:
            print("SKIP (part): no IPv6 loopback here")
        check(srv.terminate() == 0, "clean exit on SIGTERM")


def make_certificate(work):
    cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def test_tls():
    with Workdir() as work:
        cert, key = make_certificate(work)
        with Httpecho("--tls-cert", cert, "--tls-key", key) as srv:
            ctx = ssl.create_default_context(cafile=cert)
            conn = http.client.HTTPSConnection("127.0.0.1", srv.port, context=ctx,
                                               timeout=10)
            r, body = request(conn, "GET", "/spin_api/echo?tls=1")
            check(r.status == 200 and json.loads(body)["params"] == {"tls": "1"},
                  "GET over HTTPS")
            check(conn.sock.version() in ("TLSv1.2", "TLSv1.3"),
                  "TLS 1.2 or later: %s" % conn.sock.version())
            r, body = request(conn, "GET", "/spin_api/stream?n=4")
            check(body == b"".join(b"chunk %d\n" % i for i in range(4)),
                  "a chunked stream over HTTPS: %r" % body)
            r, body = request(conn, "GET", "/spin_api/echo")
            check(r.status == 200, "keep-alive over HTTPS after a stream")
            conn.close()
            # Plain HTTP to the HTTPS port gets nothing useful, and the server lives on.
            plain = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
            try:
                request(plain, "GET", "/spin_api/echo")
            except (http.client.HTTPException, OSError):
                pass
            plain.close()
            conn = http.client.HTTPSConnection("127.0.0.1", srv.port, context=ctx,
                                               timeout=10)
            check(request(conn, "GET", "/spin_api/echo")[0].status == 200,
                  "still serving after a plain-HTTP client")
            conn.close()
            check(srv.terminate() == 0, "clean exit on SIGTERM")

        missing = os.path.join(work, "missing-key.pem")
        r = subprocess.run([HTTPECHO, "--tls-cert", cert, "--tls-key", missing],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode != 0, "a missing key file is a start-up error")
        check(missing in r.stderr, "the error names the key file: %r" % r.stderr)


def test_basic_auth():
    with Workdir() as work:
        hashed = subprocess.run(["openssl", "passwd", "-6", "s3cret"], check=True,
                                capture_output=True, text=True, timeout=30).stdout.strip()
        users = os.path.join(work, "users")
        with open(users, "w") as f:
            f.write("# spin web users\nadmin:%s\n" % hashed)
        os.chmod(users, 0o600)
        www = os.path.join(work, "www")
        os.mkdir(www)
        with open(os.path.join(www, "index.html"), "w") as f:
            f.write("<html>spin</html>")
        with Httpecho("--password-file", users, "--static", www) as srv:
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
            r, body = request(conn, "GET", "/spin_api/echo")
            check(r.status == 401, "no credentials: 401")
            check(r.getheader("WWW-Authenticate") == 'Basic realm="spin"',
                  "401 asks for basic auth")
            bad = base64.b64encode(b"admin:wrong").decode()
            r, _ = request(conn, "GET", "/spin_api/echo",
                           headers={"Authorization": "Basic " + bad})
            check(r.status == 401, "a wrong password: 401")
            good = base64.b64encode(b"admin:s3cret").decode()
            r, body = request(conn, "GET", "/spin_api/echo",
                              headers={"Authorization": "Basic " + good})
            check(r.status == 200 and json.loads(body)["user"] == "admin",
                  "the right password: 200 with the user")
            r, _ = request(conn, "GET", "/")
            check(r.status == 401, "static files need authentication too")
            r, body = request(conn, "GET", "/", headers={"Authorization": "Basic " + good})
            check(r.status == 200 and body == b"<html>spin</html>", "index.html with auth")
            conn.close()
            check(srv.terminate() == 0, "clean exit")
            check(srv.counters().get("auth_failures") == 3,
                  "auth failures counted: %r" % srv.counters())

        with open(users, "w") as f:
            f.write("admin:%s\nguest:guest\n" % hashed)
        r = subprocess.run([HTTPECHO, "--password-file", users], capture_output=True,
                           text=True, timeout=30)
        check(r.returncode != 0 and "line 2" in r.stderr,
              "a plain-text password is refused naming its line: %r" % r.stderr)


def test_gzip_static():
    with Workdir() as work:
        www = os.path.join(work, "www")
        os.makedirs(os.path.join(www, "assets"))
        script = ("console.log('spin');\n" * 200).encode()
        with open(os.path.join(www, "assets", "app.js"), "wb") as f:
            f.write(script)
        with open(os.path.join(www, "assets", "app.js.gz"), "wb") as f:
            f.write(gzip.compress(script))
        with open(os.path.join(www, "index.html"), "w") as f:
            f.write("<html>spin</html>")
        with open(os.path.join(work, "private.txt"), "w") as f:
            f.write("private")
        with Httpecho("--static", www) as srv:
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
            r, body = request(conn, "GET", "/assets/app.js",
                              headers={"Accept-Encoding": "gzip, deflate"})
            check(r.status == 200, "the script")
            check(r.getheader("Content-Encoding") == "gzip", "sent compressed")
            check(r.getheader("Vary") == "Accept-Encoding", "Vary: Accept-Encoding")
            check(r.getheader("Content-Type").startswith("text/javascript"),
                  "a JavaScript content type: %s" % r.getheader("Content-Type"))
            check(gzip.decompress(body) == script, "the compressed file is the script")
            r, body = request(conn, "GET", "/assets/app.js",
                              headers={"Accept-Encoding": "identity"})
            check(r.getheader("Content-Encoding") is None and body == script,
                  "uncompressed for a client without gzip")
            r, body = request(conn, "GET", "/")
            check(body == b"<html>spin</html>" and r.getheader("Cache-Control") == "no-cache",
                  "index.html, revalidated every time")
            r, body = request(conn, "GET", "/../private.txt")
            check(r.status == 404 and b"private" not in body, "no way out of the directory")
            r, body = request(conn, "HEAD", "/assets/app.js")
            check(r.status == 200 and body == b"" and
                  int(r.getheader("Content-Length")) == len(script), "HEAD: headers only")
            conn.close()


def test_stream_and_limits():
    with Httpecho("--max-body", 100) as srv:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        r, body = request(conn, "GET", "/spin_api/stream?n=5&interval_ms=20")
        check(r.status == 200, "stream answered")
        check(r.getheader("Transfer-Encoding") == "chunked", "chunked transfer encoding")
        check(body == b"".join(b"chunk %d\n" % i for i in range(5)),
              "the whole stream: %r" % body)
        r, body = request(conn, "POST", "/spin_api/echo", body=b"x" * 200)
        check(r.status == 413, "a body over --max-body: 413 (%d)" % r.status)
        check(json.loads(body)["status"] == 413, "413 in the error shape")
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        r, body = request(conn, "POST", "/spin_api/echo", body=b"x" * 100)
        check(r.status == 200, "a body of exactly --max-body is fine")
        r, body = request(conn, "BREW", "/spin_api/echo")
        check(r.status == 405, "an unknown method: 405")
        r, body = request(conn, "POST", "/spin_api/echo", body=b"{}",
                          headers={"Origin": "http://evil.example"})
        check(r.status == 403, "a cross-origin POST: 403")
        conn.close()

        # A long stream and SIGTERM: the server stops promptly and closes it.
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        conn.request("GET", "/spin_api/stream?n=100000&interval_ms=50")
        r = conn.getresponse()
        check(r.read(8) == b"chunk 0\n", "a long stream is running")
        start = time.monotonic()
        check(srv.terminate() == 0, "SIGTERM with an open stream: exit 0")
        check(time.monotonic() - start < 15, "stopped within the deadline")
        check(srv.counters().get("streams_closed") == 2,
              "every stream closed once: %r" % srv.counters())
        conn.close()


def test_connection_limit():
    with Httpecho("--max-connections", 10, "--threads", 2) as srv:
        results = []
        lock = threading.Lock()
        sockets = []
        try:
            for _ in range(100):
                sockets.append(socket.create_connection(("127.0.0.1", srv.port), timeout=15))
            barrier = threading.Barrier(len(sockets))

            def talk(s):
                status = "error"
                try:
                    barrier.wait(timeout=15)
                    s.sendall(b"GET /spin_api/echo HTTP/1.1\r\nHost: x\r\n\r\n")
                    data = b""
                    while b"\r\n" not in data:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    if data.startswith(b"HTTP/1.1 "):
                        status = int(data[9:12])
                except (OSError, threading.BrokenBarrierError):
                    pass
                with lock:
                    results.append(status)

            threads = [threading.Thread(target=talk, args=(s,)) for s in sockets]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=30)
        finally:
            for s in sockets:
                s.close()
        ok = results.count(200)
        refused = results.count(503)
        check(len(results) == 100, "every client finished")
        check(refused > 0, "some connections over the limit got 503: %r" % results)
        check(0 < ok <= 10, "at most max_connections were served: %d" % ok)
        check(srv.proc.poll() is None, "the server is still running")

        def served():
            try:
                conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
                status = request(conn, "GET", "/spin_api/echo")[0].status
                conn.close()
                return status == 200
            except OSError:
                return False
        wait_for(served, 30, "the server to serve again once the clients left")
        check(srv.terminate() == 0, "clean exit after the flood")
        counters = srv.counters()
        check(counters.get("responses_5xx", 0) >= refused, "503s counted: %r" % counters)


if __name__ == "__main__":
    if not HTTPECHO or not os.access(HTTPECHO, os.X_OK):
        print("SPIN_HTTPECHO must name the built spin_httpecho (got %r)" % HTTPECHO)
        sys.exit(1)
    if not shutil.which("openssl"):
        print("SKIP: the openssl command is needed (Debian package openssl)")
        sys.exit(77)
    main([test_ipv4_ipv6_and_keep_alive, test_tls, test_basic_auth, test_gzip_static,
          test_stream_and_limits, test_connection_limit])
