"""Command line, logging, pid file and signals (cli.md §1-3, 7, 8.2, 8.6, 9, 10)."""

import os
import re
import signal
import socket
import subprocess
import time

from harness import Server, Client, server_bin, HOST, free_port, wait_own_port

# [pid] date time.micro [LVL] message  (cli.md §8.2)
LOG_LINE = re.compile(r"^\[(\d+)\] \d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6} \[(INF|WRN|ERR|FTL|DBG|TRC)\] ")
INF_LINE = re.compile(r"^\[\d+\] \d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6} \[INF\] ")
# the program name is the invoked name: nats-server (reference) or gnatsd (ours)
PROG = r"(nats-server|gnatsd)"


def _run(*args, timeout=10):
    """Run the binary to completion (for flags that exit): (rc, stdout, stderr)."""
    p = subprocess.run([server_bin()] + list(args), stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def _usage_ok(text):
    assert re.search(r"^Usage: \S+ \[options\]$", text, re.M), "no usage line in %r" % text[:200]
    for section in ("Server Options:", "Logging Options:", "Authorization Options:",
                    "TLS Options:", "Cluster Options:", "Common Options:"):
        assert re.search(r"^" + re.escape(section) + r"$", text, re.M), "usage lacks %s" % section
    assert re.search(r"^    -p, --port <port>\s+\S", text, re.M), "usage lacks the -p line"


# --- flags that print and exit ------------------------------------------------------------

def test_version_flag():
    for arg in ("-v", "--version", "version", "VERSION"):
        rc, out, err = _run(arg)
        assert rc == 0, "%s: exit %d" % (arg, rc)
        assert re.fullmatch(PROG + r": v2\.9\.10\n?", out), "%s: stdout %r" % (arg, out)


def test_help_flag_usage_on_stdout():
    for arg in ("-h", "--help", "help"):
        rc, out, err = _run(arg)
        assert rc == 0, "%s: exit %d" % (arg, rc)
        _usage_ok(out)
        assert "Usage:" not in err, "usage must go to stdout"


def test_unknown_flag_prints_usage_exit_0():
    rc, out, err = _run("--bogus")
    assert rc == 0, "unknown flag exit %d (2.9 exits 0)" % rc
    assert "flag provided but not defined: -bogus" in err, err
    _usage_ok(out)


def test_bad_flag_value():
    rc, out, err = _run("-p", "abc")
    assert rc == 0, rc
    assert 'invalid value "abc" for flag -p' in err, err
    _usage_ok(out)


def test_unrecognized_positional_exit_1():
    rc, out, err = _run("foo")
    assert rc == 1, rc
    assert re.search(PROG + r': unrecognized command: "foo"', err), err


# --- listening flags -------------------------------------------------------------------------

def test_port_and_addr_flags_long_forms():
    port = free_port()
    with Server(args=["--addr=127.0.0.1", "--port=%d" % port], listen_flags=False, port=port) as s:
        c = s.client()
        assert c.info["port"] == port and c.info["host"] == "127.0.0.1", c.info
    port = free_port()
    with Server(args=["-addr", "127.0.0.1", "-port", str(port)], listen_flags=False, port=port) as s:
        assert s.client().info["port"] == port


def test_random_port():
    with Server(args=["-a", HOST, "-p", "-1"], listen_flags=False, wait=False) as s:
        m = s.wait_log(r"Listening for client connections on 127\.0\.0\.1:(\d+)$")
        port = int(m.group(1))
        assert port > 0
        assert wait_own_port(s.proc, port, 5)
        c = Client(port)
        assert c.info["port"] == port, "INFO must carry the resolved port"


def test_server_name_flag():
    for flag in ("-n", "--name", "--server_name"):
        with Server(args=[flag, "my-srv"]) as s:
            i = s.client().info
            assert i["server_name"] == "my-srv", (flag, i)
            assert i["server_id"] != "my-srv"
            s.wait_log(r"\[INF\]   Name:     my-srv$")


def test_port_in_use_is_fatal():
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind((HOST, 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    try:
        s = Server(port=port, wait=False).start()
        rc = s.wait_exit(10)
        assert rc == 1, "exit status %r" % rc
        assert re.search(r"\[FTL\] .*Error listening on port: 127\.0\.0\.1:%d" % port, s.log()), s.log_tail()
    finally:
        blocker.close()


# --- logging ------------------------------------------------------------------------------------

def test_startup_banner_and_line_format():
    with Server() as s:
        s.wait_log(r"Server is ready$")
        lines = s.log().splitlines()
        for ln in lines:
            assert LOG_LINE.match(ln), "bad log line format: %r" % ln
        assert {LOG_LINE.match(l).group(1) for l in lines} == {str(s.proc.pid)}, "pid in brackets"
        msgs = [LOG_LINE.sub("", l) for l in lines if INF_LINE.match(l)]
        wanted = ["Starting nats-server", "  Version:  2.9.10",
                  "Listening for client connections on 127.0.0.1:%d" % s.port,
                  "Server is ready"]
        pos = [msgs.index(w) if w in msgs else -1 for w in wanted]
        assert -1 not in pos, "missing banner lines: %r in %r" % (
            [w for w, p in zip(wanted, pos) if p < 0], msgs)
        assert pos == sorted(pos), "banner order wrong: %r" % msgs
        assert any(re.fullmatch(r"  Git:      \[.*\]", m) for m in msgs), msgs
        assert any(m.startswith("  ID:       ") for m in msgs), msgs
        # no DBG/TRC without -D/-V
        assert "[DBG]" not in s.log() and "[TRC]" not in s.log()
        # the log lines end with LF only
        with open(s.log_path, "rb") as f:
            assert b"\r\n" not in f.read()


def test_logtime_false():
    with Server(args=["-T=false"]) as s:
        s.wait_log(r"Server is ready$")
        for ln in s.log().splitlines():
            assert re.match(r"^\[\d+\] \[(INF|WRN|DBG|TRC|ERR)\] ", ln), "timestamp not removed: %r" % ln
        assert re.search(r"^\[%d\] \[INF\] Starting nats-server$" % s.proc.pid, s.log(), re.M)


def test_log_file_flag():
    with Server(args=["-l", "server.log"]) as s:
        path = os.path.join(s.dir, "server.log")
        def logged():
            try:
                with open(path) as f:
                    return "Server is ready" in f.read()
            except OSError:
                return False
        deadline = time.monotonic() + 5
        while not logged() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert logged(), "log file lacks the banner"
        with open(path) as f:
            first = f.readline()
        assert INF_LINE.match(first) and first.rstrip("\n").endswith("Starting nats-server"), first
        assert "Server is ready" not in s.log(), "with -l nothing is logged to stderr"


def test_debug_flag():
    with Server(args=["-D"]) as s:
        c = connected_client(s)
        s.wait_log(r"\[DBG\] 127\.0\.0\.1:\d+ - cid:\d+ - Client connection created$")
        c.send(b"SUB foo 1\r\n")
        c.ping_pong()
        time.sleep(0.2)
        assert "[TRC]" not in s.log(), "-D must not trace"


def test_trace_flag():
    with Server(args=["-V"]) as s:
        c = connected_client(s)
        c.send(b"SUB foo 1\r\n")
        c.ping_pong()
        s.wait_log(r"\[TRC\] 127\.0\.0\.1:\d+ - cid:\d+ - <<- \[SUB foo 1\]$")
        assert "[DBG]" not in s.log(), "-V does not imply -D"


def test_debug_and_trace_flag():
    with Server(args=["-DV"]) as s:
        c = connected_client(s)
        c.send(b"PUB foo 2\r\nhi\r\n")
        c.ping_pong()
        s.wait_log(r"\[TRC\] 127\.0\.0\.1:\d+ - cid:\d+ - <<- \[PUB foo 2\]$")
        s.wait_log(r"\[DBG\] ")


def test_connection_log_prefix_has_client_info():
    with Server(args=["-D"]) as s:
        c = s.client()
        c.send(b'CONNECT {"verbose":false,"name":"app","lang":"python","version":"1.2.3"}\r\n')
        c.ping_pong()
        c.close()
        s.wait_log(r' - cid:\d+ - "v1\.2\.3:python:app" - Client connection closed')


# --- pid file ---------------------------------------------------------------------------------------

def test_pid_file():
    with Server(args=["-P", "gnatsd.pid"]) as s:
        path = os.path.join(s.dir, "gnatsd.pid")
        with open(path, "rb") as f:
            content = f.read()
        assert content == str(s.proc.pid).encode(), "pid file %r, pid %d" % (content, s.proc.pid)
        s.signal(signal.SIGINT)
        assert s.wait_exit(5) is not None
        assert os.path.exists(path), "2.9 does not delete the pid file at shutdown"


# --- signals -------------------------------------------------------------------------------------------

def test_sigint_graceful_exit_0():
    with Server() as s:
        c = connected_client(s)
        s.signal(signal.SIGINT)
        rc = s.wait_exit(5)
        assert rc == 0, "SIGINT exit status %r" % rc
        # clients are just disconnected, no -ERR
        c.expect_closed(3)
        log = s.log()
        assert "Initiating Shutdown..." in log and "Server Exiting.." in log, s.log_tail()


def test_sigterm_exits():
    with Server() as s:
        c = connected_client(s)
        s.signal(signal.SIGTERM)
        rc = s.wait_exit(5)
        assert rc is not None, "SIGTERM did not stop the server"
        # 2.9 exits 1 here (cli.md §7); a clean 0 is tolerated but not a crash
        assert rc in (0, 1), "SIGTERM exit status %r" % rc
        c.expect_closed(3)


def test_sigquit_exits():
    with Server() as s:
        s.signal(signal.SIGQUIT)
        rc = s.wait_exit(5)
        assert rc is not None, "SIGQUIT did not stop the server"
        assert not s.alive()


def test_port_released_after_shutdown():
    with Server() as s:
        s.signal(signal.SIGINT)
        assert s.wait_exit(5) == 0
        try:
            with socket.create_connection((HOST, s.port), timeout=1):
                raise AssertionError("port still accepting after exit")
        except OSError:
            pass


def connected_client(s):
    c = s.client()
    c.connect()
    c.ping_pong()
    return c
