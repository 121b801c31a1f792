#!/usr/bin/env python3
"""The Windows service scenario of docs/windows.md, run under Wine's own SCM.

    GNATSD_WIN_BIN=build/win64/gnatsd.exe WINEPREFIX=... python3 tests/windows/service_test.py

sc.exe creates the service "gnatsd" with a config file in its command line and
starts it; a client connects; the config changes and `gnatsd.exe -sl reload`
applies it; `-sl reopen` reopens the log; `-sl stop` stops it and sc.exe reports
STOPPED. Then `-s` in a console run writes to the event log. Prints `ok  name` or
`FAIL name` per check and ends with `N passed, N failed`.

Wine ends every process it counts as a system process, the services among them,
once no ordinary Windows process is left; a `wine cmd` that waits on stdin
holds the session open while the test runs. The test waits until that holder has
printed a line before its first sc.exe: on a fresh prefix, an sc.exe started while
the holder's process was still bringing the session up hung (measured: `sc.exe
delete` never returned in 120 s, every time, on a prefix just made by wineboot;
after the holder's line, 0.2 s).
"""

import os
import select
import socket
import subprocess
import sys
import tempfile
import time

BIN = os.path.abspath(os.environ.get("GNATSD_WIN_BIN", "build/win64/gnatsd.exe"))
SCALE = float(os.environ.get("WINE_TIMEOUT_SCALE", "1"))
ENV = dict(os.environ, WINEDEBUG=os.environ.get("WINEDEBUG", "-all"))
results = []


def check(name, cond, detail=""):
    results.append(bool(cond))
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else ": " + detail), flush=True)
    return cond


def winpath(p):
    """Wine's Z: drive is the Unix root."""
    return "Z:" + os.path.abspath(p).replace("/", "\\")


def wine(*args, timeout=60, inp=None):
    try:
        return subprocess.run(["wine", *args], env=ENV, capture_output=True, text=True,
                              timeout=timeout * SCALE, input=inp)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, -1, "", "timed out after %.0f s" % (timeout * SCALE))


def start_holder(timeout=60):
    """The session holder (see the docstring), once it runs: None if it printed
    nothing within timeout."""
    holder = subprocess.Popen(["wine", "cmd.exe", "/c", "echo holder& pause"], env=ENV,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL)
    ready, _, _ = select.select([holder.stdout], [], [], timeout * SCALE)
    if ready and holder.stdout.readline().strip() == b"holder":
        return holder
    holder.kill()
    holder.wait()
    return None


def wait_for(cond, timeout, step=0.2):
    end = time.monotonic() + timeout * SCALE
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return cond()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def info(port):
    """The INFO line of a new connection, or None."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    return None
                data += chunk
            s.sendall(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
            while b"PONG" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    return None
                data += chunk
            return data.split(b"\r\n")[0].decode()
    except OSError:
        return None


def sc_state(name):
    out = wine("sc.exe", "query", name).stdout
    for line in out.splitlines():
        if "STATE" in line:
            return line.split()[-1]
    return out.strip() or "?"


def main():
    if not os.path.exists(BIN):
        print(f"FAIL setup: {BIN} not built")
        print("0 passed, 1 failed")
        return 1
    work = tempfile.mkdtemp(prefix="gnatsd-winsvc-")
    port, mport = free_port(), free_port()
    conf = os.path.join(work, "svc.conf")
    log = os.path.join(work, "svc.log")

    def write_conf(max_payload):
        with open(conf, "w") as f:
            f.write(f"port: {port}\nhttp_port: {mport}\nmax_payload: {max_payload}\n"
                    # single quotes: no escapes ("Z:\tmp" would hold a tab)
                    f"log_file: '{winpath(log)}'\n")

    write_conf(65536)
    # holds the Wine session (see the docstring); ends when its stdin closes
    holder = start_holder()
    if not check("wine session holder runs", holder):
        print("0 passed, 1 failed")
        return 1
    name = "gnatsd"
    try:
        wine("sc.exe", "delete", name)
        r = wine("sc.exe", "create", name, "binPath=", f"{winpath(BIN)} -c {winpath(conf)}")
        check("sc create", r.returncode == 0, r.stdout + r.stderr)
        r = wine("sc.exe", "start", name)
        check("sc start", r.returncode == 0, r.stdout + r.stderr)
        check("service reports RUNNING", wait_for(lambda: sc_state(name) == "RUNNING", 30),
              sc_state(name))
        first = wait_for(lambda: info(port), 30)
        check("client connects to the service", first and '"max_payload":65536' in first,
              str(first))

        write_conf(32768)
        r = wine(BIN, "-sl", "reload")  # default service name: the program's, gnatsd
        check("-sl reload exits 0", r.returncode == 0, r.stdout + r.stderr)
        again = wait_for(lambda: (i := info(port)) and '"max_payload":32768' in i and i, 20)
        check("-sl reload applied the changed config", again, str(info(port)))

        os.rename(log, log + ".1")
        r = wine(BIN, "-sl", f"reopen={name}")
        check("-sl reopen exits 0", r.returncode == 0, r.stdout + r.stderr)
        check("-sl reopen recreated the log file",
              wait_for(lambda: os.path.exists(log) and "File log re-opened" in open(log).read(), 20))

        r = wine(BIN, "-sl", "bogus")
        check("-sl with an unknown command fails", r.returncode != 0 and
              'unknown signal "bogus"' in r.stderr, r.stderr)
        r = wine(BIN, "-sl", "stop=nosuchservice")
        check("-sl to a missing service fails", r.returncode != 0 and
              "could not access service" in r.stderr, r.stderr)

        r = wine(BIN, "-sl", f"stop={name}")
        check("-sl stop exits 0", r.returncode == 0, r.stdout + r.stderr)
        check("service reports STOPPED", wait_for(lambda: sc_state(name) == "STOPPED", 30),
              sc_state(name))
        check("port closed after stop", wait_for(lambda: info(port) is None, 10))
        text = open(log).read() if os.path.exists(log) else ""
        check("shutdown logged", "Server Exiting.." in text, text[-500:])

        # -s: the event log (Wine keeps no event store; its advapi32 traces each
        # reported string on the eventlog debug channel, which is what is read here)
        p2 = free_port()
        ev = subprocess.Popen(["wine", BIN, "-s", "-p", str(p2)],
                              env=dict(ENV, WINEDEBUG="+eventlog"), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        try:
            check("-s server up", wait_for(lambda: info(p2), 30))
        finally:
            ev.terminate()
            try:
                out = ev.communicate(timeout=10 * SCALE)[0]
            except subprocess.TimeoutExpired:
                ev.kill()
                out = ev.communicate()[0]
        check("-s writes to the event log", "][NOTICE]: Server is ready" in out, out[-800:])
        r = wine("reg", "query",
                 r"HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\NATS-Server")
        check("event source registered", "EventMessageFile" in r.stdout, r.stdout + r.stderr)
    finally:
        wine("sc.exe", "stop", name)
        wine("sc.exe", "delete", name)
        holder.stdin.close()
        try:
            holder.wait(timeout=10)
        except subprocess.TimeoutExpired:
            holder.kill()
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
