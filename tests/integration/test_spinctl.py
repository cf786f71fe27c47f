#!/usr/bin/env python3
"""spinctl against spin_ctlecho, a small JSON-RPC server on spin's control
socket: parameter typing (KEY=VALUE, KEY:=JSON), --raw, exit codes and
messages for JSON-RPC errors, a missing socket, a silent server and bad
usage; the socket file's mode 0600 and what it means for another user
(needs root to run spinctl as nobody: that part is skipped otherwise);
SIGTERM removes the socket file. Everything runs in a fresh temporary
directory, removed afterwards, also on failure."""

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading

from spintest import check, main, wait_for

SPINCTL = os.environ.get("SPINCTL", "")
CTLECHO = os.environ.get("SPIN_CTLECHO", "")
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


class Workdir:
    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="spin-ctl-%d-" % os.getpid())
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


class Ctlecho:
    """spin_ctlecho serving on `path`, stopped again (SIGTERM, then SIGKILL)."""

    def __init__(self, path):
        self.path = path
        self.lines = []
        self.stderr = ""

    def __enter__(self):
        self.proc = subprocess.Popen([CTLECHO, self.path], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)

        def read_stdout():
            for line in self.proc.stdout:
                self.lines.append(line.strip())
        threading.Thread(target=read_stdout, daemon=True).start()
        wait_for(lambda: "ready" in self.lines or self.proc.poll() is not None, 10,
                 "spin_ctlecho to listen")
        check(self.proc.poll() is None, "spin_ctlecho starts")
        return self

    def terminate(self):
        """SIGTERM; returns the exit code and keeps stderr."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            _, self.stderr = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, self.stderr = self.proc.communicate()
        return self.proc.returncode

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.terminate()


def spinctl(*args, env=None, prefix=()):
    full_env = dict(os.environ)
    full_env.pop("SPINCTL_SOCKET", None)
    if env:
        full_env.update(env)
    return subprocess.run([*prefix, SPINCTL, *args], capture_output=True, text=True,
                          env=full_env, timeout=60)


def check_exit(r, code, what):
    check(r.returncode == code, "%s: exit %d expected, got %d (stdout %r, stderr %r)"
          % (what, code, r.returncode, r.stdout, r.stderr))


def test_parameters_and_results():
    with Workdir() as d, Ctlecho(os.path.join(d, "spind.sock")) as srv:
        r = spinctl("--socket", srv.path, "echo", "node=12", "neg=-3", "zero=0",
                    "lead=012", "name=thermostat", "ip=192.0.2.1", "mac=e4:11:e0:1a:11:6b",
                    "empty=", "big=123456789012345678901234567890")
        check_exit(r, 0, "echo")
        check(json.loads(r.stdout) == {
            "node": 12, "neg": -3, "zero": 0, "lead": "012", "name": "thermostat",
            "ip": "192.0.2.1", "mac": "e4:11:e0:1a:11:6b", "empty": "",
            "big": "123456789012345678901234567890"},
            "KEY=VALUE: decimal integers become numbers, the rest strings: %s" % r.stdout)
        check(r.stdout.startswith("{\n  \""), "the result is printed indented: %r" % r.stdout)

        r = spinctl("--socket", srv.path, "echo", "block:=true", "node:=7",
                    'name:="42"', 'list:=[1,"a",{"b":null}]', "nested:={}")
        check_exit(r, 0, "echo with :=")
        check(json.loads(r.stdout) == {"block": True, "node": 7, "name": "42",
                                       "list": [1, "a", {"b": None}], "nested": {}},
              "KEY:=JSON takes raw JSON: %s" % r.stdout)

        r = spinctl("--socket", srv.path, "echo")
        check_exit(r, 0, "echo without params")
        check(r.stdout.strip() == "null", "no params: none are sent (%r)" % r.stdout)

        # SPINCTL_SOCKET replaces the default; --socket beats it.
        r = spinctl("echo", "a=1", env={"SPINCTL_SOCKET": srv.path})
        check_exit(r, 0, "SPINCTL_SOCKET")
        check(json.loads(r.stdout) == {"a": 1}, "SPINCTL_SOCKET is used")
        r = spinctl("--socket=" + srv.path, "echo", "a=2",
                    env={"SPINCTL_SOCKET": os.path.join(d, "elsewhere.sock")})
        check_exit(r, 0, "--socket over SPINCTL_SOCKET")


def test_raw():
    with Workdir() as d, Ctlecho(os.path.join(d, "s")) as srv:
        req = '{"jsonrpc":"2.0","id":"x7","method":"echo","params":{"list":"allow"}}'
        r = spinctl("--socket", srv.path, "--raw", req)
        check_exit(r, 0, "--raw")
        check(json.loads(r.stdout) == {"list": "allow"}, "--raw result: %r" % r.stdout)

        # A request typed over several lines is still one request.
        r = spinctl("--socket", srv.path, "--raw",
                    '{\n  "jsonrpc": "2.0", "id": 3,\n  "method": "echo", "params": [1]\n}\n')
        check_exit(r, 0, "--raw over several lines")
        check(json.loads(r.stdout) == [1], "multi-line --raw result: %r" % r.stdout)

        # A notification gets no response: exit 0, nothing printed.
        r = spinctl("--socket", srv.path, "--raw",
                    '{"jsonrpc":"2.0","method":"echo","params":{}}')
        check_exit(r, 0, "--raw notification")
        check(r.stdout == "", "a notification prints nothing: %r" % r.stdout)

        r = spinctl("--socket", srv.path, "--raw", "this is not json")
        check_exit(r, 1, "--raw with a parse error")
        check("(code -32700)" in r.stderr, "the parse error is reported: %r" % r.stderr)

        r = spinctl("--socket", srv.path, "--raw", req, "echo")
        check_exit(r, 64, "--raw with a METHOD as well")


def test_errors():
    with Workdir() as d, Ctlecho(os.path.join(d, "s")) as srv:
        r = spinctl("--socket", srv.path, "fail", "x=1")
        check_exit(r, 1, "fail")
        check(r.stderr.strip() == "spinctl: fail: bad (code -32602)",
              "the JSON-RPC error is printed: %r" % r.stderr)
        check(r.stdout == "", "nothing on stdout for an error")

        r = spinctl("--socket", srv.path, "no_such_method")
        check_exit(r, 1, "unknown method")
        check("spinctl: no_such_method:" in r.stderr and "(code -32601)" in r.stderr,
              "unknown method message: %r" % r.stderr)

    with Workdir() as d:
        missing = os.path.join(d, "missing.sock")
        r = spinctl("--socket", missing, "echo")
        check_exit(r, 2, "no socket")
        check(missing in r.stderr, "the message names the socket: %r" % r.stderr)
        check("is spind running?" in r.stderr, "the message gives a hint: %r" % r.stderr)

        # The default path (or SPINCTL_SOCKET) appears in the message too.
        r = spinctl("echo", env={"SPINCTL_SOCKET": missing})
        check_exit(r, 2, "no socket via SPINCTL_SOCKET")
        check(missing in r.stderr, "SPINCTL_SOCKET is named: %r" % r.stderr)

        # A server that accepts but never answers: a timeout, exit 2.
        silent = os.path.join(d, "silent.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.bind(silent)
            s.listen(4)
            r = spinctl("--socket", silent, "--timeout", "0.3", "echo")
            check_exit(r, 2, "silent server")
            check("no response" in r.stderr and silent in r.stderr,
                  "the timeout is reported: %r" % r.stderr)

        # A server that answers with something that is not JSON-RPC.
        garbage = os.path.join(d, "garbage.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.bind(garbage)
            s.listen(4)
            s.settimeout(30)

            def answer_garbage():
                conn, _ = s.accept()
                with conn:
                    conn.recv(4096)
                    conn.sendall(b"garbage\n")
            t = threading.Thread(target=answer_garbage, daemon=True)
            t.start()
            r = spinctl("--socket", garbage, "--timeout", "20", "echo")
            t.join(10)
            check_exit(r, 2, "malformed response")
            check("malformed response" in r.stderr and garbage in r.stderr,
                  "the malformed response is reported: %r" % r.stderr)


def test_usage():
    r = spinctl("--help")
    check_exit(r, 0, "--help")
    for method in ("add_iplist_node", "list_devices", "set_flow_block", "list_rpc_methods"):
        check(method in r.stdout, "--help lists %s" % method)
    check(r.stdout.count("spinctl ") >= 4, "--help has examples")

    r = spinctl("--version")
    check_exit(r, 0, "--version")
    check(r.stdout.startswith("spinctl "), "--version: %r" % r.stdout)

    for args, what in [((), "no method"),
                       (("--bogus", "echo"), "an unknown option"),
                       (("echo", "novalue"), "a parameter without ="),
                       (("echo", "=1"), "a parameter without a name"),
                       (("echo", "a=1", "a=2"), "a parameter given twice"),
                       (("echo", "a:={broken"), "bad JSON after :="),
                       (("--timeout", "soon", "echo"), "a bad timeout"),
                       (("--socket",), "--socket without a path")]:
        r = spinctl(*args)
        check_exit(r, 64, what)
        check(r.stderr.startswith("spinctl: ") and "usage:" in r.stderr,
              "%s: a message and the usage: %r" % (what, r.stderr))


def test_permissions_and_sigterm():
    with Workdir() as d:
        path = os.path.join(d, "spind.sock")
        with Ctlecho(path) as srv:
            st = os.lstat(path)
            check(stat.S_ISSOCK(st.st_mode), "the socket file is a socket")
            check(stat.S_IMODE(st.st_mode) == 0o600,
                  "the socket file has mode 0600, not %o" % stat.S_IMODE(st.st_mode))
            refused = 0
            if os.geteuid() != 0:
                print("SKIP part: running spinctl as another user needs root", flush=True)
            elif subprocess.run([*NOBODY, SPINCTL, "--version"], capture_output=True,
                                timeout=30).returncode != 0:
                print("SKIP part: user nobody cannot run %s (is the build directory "
                      "readable by others?)" % SPINCTL, flush=True)
            else:
                # The directory is open to everyone: only the socket's mode stops them.
                os.chmod(d, 0o755)
                r = spinctl("--socket", path, "echo", prefix=NOBODY)
                check_exit(r, 2, "spinctl as nobody")
                check(path in r.stderr and "Permission denied" in r.stderr,
                      "nobody gets EACCES from the mode: %r" % r.stderr)
                # Even with the mode opened up, the server refuses another user
                # (SO_PEERCRED): the connection closes without an answer.
                os.chmod(path, 0o666)
                try:
                    r = spinctl("--socket", path, "echo", prefix=NOBODY)
                finally:
                    os.chmod(path, 0o600)
                check_exit(r, 2, "spinctl as nobody on an open socket")
                check(path in r.stderr and "without a response" in r.stderr,
                      "the server refuses another user: %r" % r.stderr)
                refused = 1
            # Root and the server's own user are served.
            check_exit(spinctl("--socket", path, "echo"), 0, "spinctl as the owner")

            code = srv.terminate()
            check(code == 0, "spin_ctlecho exits 0 on SIGTERM, got %d: %s"
                  % (code, srv.stderr))
            check(not os.path.lexists(path), "SIGTERM removes the socket file")
            check("refused %d" % refused in srv.stderr,
                  "the refused counter says %d: %r" % (refused, srv.stderr))
        r = spinctl("--socket", path, "echo")
        check_exit(r, 2, "spinctl after the server stopped")


if __name__ == "__main__":
    for name, value in (("SPINCTL", SPINCTL), ("SPIN_CTLECHO", CTLECHO)):
        if not value or not os.access(value, os.X_OK):
            print("%s must name the built binary (got %r)" % (name, value))
            sys.exit(1)
    main([test_parameters_and_results, test_raw, test_errors, test_usage,
          test_permissions_and_sigterm])
